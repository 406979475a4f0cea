//! What can go wrong preparing worktrees and merging, each error naming the branch or path
//! involved, most with a hint saying what the user can do.

use std::path::PathBuf;

/// A worktree or merge operation that could not be done.
#[derive(Debug, thiserror::Error)]
pub enum WorktreeError {
    /// The repository could not be opened.
    #[error("failed to open the git repository at `{}`: {source}", path.display())]
    Open {
        /// Where hew looked.
        path: PathBuf,
        /// git's error.
        source: git2::Error,
    },
    /// No `--into` and HEAD is not on a branch: there is nothing to merge into.
    #[error("HEAD is detached in `{}`: hew needs a branch to merge into", path.display())]
    DetachedHead {
        /// The working tree.
        path: PathBuf,
    },
    /// The repository has no commits yet, so there is no tip to branch from.
    #[error("the repository at `{}` has no commits yet (branch `{branch}` is unborn)", path.display())]
    Unborn {
        /// The working tree.
        path: PathBuf,
        /// The branch HEAD names (or the one asked for).
        branch: String,
    },
    /// A branch hew was told to use does not exist.
    #[error("branch `{branch}` does not exist in `{}`", path.display())]
    NoSuchBranch {
        /// The branch asked for.
        branch: String,
        /// The repository.
        path: PathBuf,
    },
    /// A name hew built or was given is not usable as a git branch or path.
    #[error("`{name}` is not a valid {what}: {reason}")]
    InvalidName {
        /// What the name is for: "run id", "branch name".
        what: &'static str,
        /// The name, escaped and bounded.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// Every `hew/<task-id>-N` name up to the limit is taken.
    #[error("failed to find a free branch name for `{base}`: `{base}` to `{base}-{tried}` exist")]
    NoFreeBranchName {
        /// `hew/<task-id>`.
        base: String,
        /// The highest suffix tried.
        tried: u32,
    },
    /// The branch hew merges into is held by a working tree hew must not touch, and the run
    /// has already been diverted once.
    #[error("failed to merge into `{branch}`: {reason}")]
    Blocked {
        /// The branch.
        branch: String,
        /// Why it cannot be updated.
        reason: String,
    },
    /// The branch hew merges into kept moving under it while it tried to merge.
    #[error("failed to merge into `{branch}`: it moved {attempts} times while hew was merging")]
    TargetKeptMoving {
        /// The branch.
        branch: String,
        /// How many times hew tried.
        attempts: u32,
    },
    /// A git operation failed.
    #[error("failed to {what}: {source}")]
    Git {
        /// What hew was doing, naming the branch or path: "create branch `hew/x`".
        what: String,
        /// git's error.
        source: git2::Error,
    },
    /// A filesystem operation failed.
    #[error("failed to {what} `{}`: {source}", path.display())]
    Io {
        /// What hew was doing: "remove", "create directory".
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

impl WorktreeError {
    /// Whether git failed on a lock file another process holds (or a stale one).
    pub fn is_lock_held(&self) -> bool {
        matches!(self, Self::Git { source, .. } if source.code() == git2::ErrorCode::Locked)
    }

    /// A git failure while doing `what`.
    pub(crate) fn git(what: impl Into<String>) -> impl FnOnce(git2::Error) -> Self {
        let what = what.into();
        move |source| Self::Git { what, source }
    }

    /// A filesystem failure while doing `what` to `path`.
    pub(crate) fn io(
        what: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { what, path, source }
    }
}
