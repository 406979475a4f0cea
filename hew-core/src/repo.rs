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

/// The branch checked out in the working tree at `root`; `None` when HEAD is detached.
/// A branch with no commits yet is still named.
pub fn current_branch(root: &Path) -> Result<Option<String>, RepoError> {
    let repo = git2::Repository::open(root).map_err(|source| RepoError::Git {
        path: root.to_owned(),
        source,
    })?;
    let head = repo
        .find_reference("HEAD")
        .map_err(|source| RepoError::Git {
            path: root.to_owned(),
            source,
        })?;
    Ok(head
        .symbolic_target()
        .ok()
        .flatten()
        .and_then(|t| t.strip_prefix("refs/heads/"))
        .map(str::to_owned))
}

/// Every working tree of the repository at `root` where hew may have been started: the
/// main one and the linked ones, leaving out hew's own task worktrees (`hew-*`). Runs
/// started in any of them share the repository's worktree directory.
pub fn working_trees(root: &Path) -> Vec<PathBuf> {
    let Ok(repo) = git2::Repository::open(root) else {
        return vec![root.to_owned()];
    };
    let mut trees = Vec::new();
    let main = if repo.is_worktree() {
        git2::Repository::open(repo.commondir())
            .ok()
            .and_then(|m| m.workdir().map(Path::to_owned))
    } else {
        repo.workdir().map(Path::to_owned)
    };
    trees.extend(main.map(|p| p.components().collect::<PathBuf>()));
    if let Ok(names) = repo.worktrees() {
        for name in names.iter().filter_map(|n| n.ok().flatten()) {
            if name.starts_with("hew-") {
                continue;
            }
            if let Ok(wt) = repo.find_worktree(name) {
                trees.push(wt.path().components().collect());
            }
        }
    }
    let root: PathBuf = root.components().collect();
    if !trees.contains(&root) {
        trees.insert(0, root);
    }
    trees
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
    fn names_the_branch_even_before_the_first_commit() {
        let dir = tempfile::tempdir().unwrap();
        git2::Repository::init_opts(
            dir.path(),
            git2::RepositoryInitOptions::new().initial_head("trunk"),
        )
        .unwrap();
        assert_eq!(
            current_branch(dir.path()).unwrap().as_deref(),
            Some("trunk")
        );
    }

    #[test]
    fn outside_a_repository_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = discover_root(dir.path()).unwrap_err();
        assert!(matches!(err, RepoError::NotARepo { .. }), "{err}");
    }
}
