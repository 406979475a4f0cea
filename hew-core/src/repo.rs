//! The git repository hew works in: found once, from where hew was started.

use std::path::{Path, PathBuf};

/// A problem finding the repository.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// No git repository at or above the directory.
    #[error("not in a git repository: `{}`", path.display())]
    NotARepo {
        /// Where the search started.
        path: PathBuf,
    },
    /// The repository has no working tree.
    #[error("`{}` is a bare git repository; hew needs a working tree", path.display())]
    Bare {
        /// The repository.
        path: PathBuf,
    },
    /// git itself failed.
    #[error("failed to open the git repository at `{}`: {source}", path.display())]
    Git {
        /// Where the search started.
        path: PathBuf,
        /// git's error.
        source: git2::Error,
    },
}

/// The top of the working tree containing `start`.
pub fn discover_root(start: &Path) -> Result<PathBuf, RepoError> {
    let repo = git2::Repository::discover(start).map_err(|source| {
        if source.code() == git2::ErrorCode::NotFound {
            RepoError::NotARepo {
                path: start.to_owned(),
            }
        } else {
            RepoError::Git {
                path: start.to_owned(),
                source,
            }
        }
    })?;
    let workdir = repo.workdir().ok_or_else(|| RepoError::Bare {
        path: repo.path().to_owned(),
    })?;
    // git2 gives the workdir with a trailing separator; normalise it.
    Ok(workdir.components().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_top_from_a_subdirectory() {
        let dir = tempfile::tempdir().unwrap();
        git2::Repository::init(dir.path()).unwrap();
        let sub = dir.path().join("a/b");
        std::fs::create_dir_all(&sub).unwrap();
        let root = discover_root(&sub).unwrap();
        assert_eq!(
            root.canonicalize().unwrap(),
            dir.path().canonicalize().unwrap()
        );
    }

    #[test]
    fn outside_a_repository_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = discover_root(dir.path()).unwrap_err();
        assert!(matches!(err, RepoError::NotARepo { .. }), "{err}");
    }
}
