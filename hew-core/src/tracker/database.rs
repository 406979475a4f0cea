//! Which beads database a run uses, and why.
//!
//! bd and br look for their database the same way: `BEADS_DIR` when it is set, else a
//! `.beads/` directory found from the working directory up. hew runs the tracker in the
//! repository, so without `BEADS_DIR` that is the checkout's `.beads/`; with it, the
//! database may live anywhere: in a directory shared by several checkouts or machines, or
//! as the client configuration of a bd Dolt server (which bd reads itself). Agents work in
//! worktrees outside the checkout, where no `.beads/` is found: they are handed the same
//! database explicitly, so that what an agent does to its task is what hew sees.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// Why the database is where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseSource {
    /// `BEADS_DIR` names it.
    BeadsDir,
    /// The repository's own `.beads/`.
    Repository,
}

/// The beads database a run uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Database {
    /// The directory (`.../.beads`), absolute.
    pub dir: PathBuf,
    /// Why this one.
    pub source: DatabaseSource,
}

impl Database {
    /// The database for the repository at `repo_root`, given this process's `BEADS_DIR`.
    pub fn locate(repo_root: &Path) -> Self {
        let cwd = std::env::current_dir().unwrap_or_else(|_| repo_root.to_owned());
        Self::from_env(repo_root, std::env::var_os("BEADS_DIR").as_deref(), &cwd)
    }

    /// The database for `repo_root` when `BEADS_DIR` is `beads_dir` (a relative one is
    /// read from `cwd`, as the tracker would read it from hew's own directory).
    pub fn from_env(repo_root: &Path, beads_dir: Option<&OsStr>, cwd: &Path) -> Self {
        match beads_dir.filter(|d| !d.is_empty()) {
            Some(dir) => Self {
                dir: cwd.join(dir),
                source: DatabaseSource::BeadsDir,
            },
            None => Self {
                dir: repo_root.join(".beads"),
                source: DatabaseSource::Repository,
            },
        }
    }

    /// What to set in a tracker call's or an agent's environment so that it uses this
    /// database wherever it runs.
    pub fn env(&self) -> (String, String) {
        ("BEADS_DIR".into(), self.dir.to_string_lossy().into_owned())
    }

    /// Says where the database is and why, for `hew doctor`.
    pub fn describe(&self) -> String {
        match self.source {
            DatabaseSource::BeadsDir => format!("{} (from BEADS_DIR)", self.dir.display()),
            DatabaseSource::Repository => {
                format!(
                    "{} (the repository's .beads/; BEADS_DIR is not set)",
                    self.dir.display()
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beads_dir_wins_over_the_repository_and_is_made_absolute() {
        let (root, cwd) = (Path::new("/src/app"), Path::new("/home/me"));
        let repo = Database::from_env(root, None, cwd);
        assert_eq!(repo.dir, Path::new("/src/app/.beads"));
        assert_eq!(repo.source, DatabaseSource::Repository);
        // An empty BEADS_DIR is no BEADS_DIR, as for the tracker.
        assert_eq!(Database::from_env(root, Some(OsStr::new("")), cwd), repo);
        let shared = Database::from_env(root, Some(OsStr::new("/srv/backlog/.beads")), cwd);
        assert_eq!(shared.dir, Path::new("/srv/backlog/.beads"));
        assert_eq!(shared.source, DatabaseSource::BeadsDir);
        assert!(shared.describe().contains("from BEADS_DIR"));
        let relative = Database::from_env(root, Some(OsStr::new("shared/.beads")), cwd);
        assert_eq!(relative.dir, Path::new("/home/me/shared/.beads"));
        assert_eq!(
            relative.env(),
            ("BEADS_DIR".into(), "/home/me/shared/.beads".into())
        );
    }
}
