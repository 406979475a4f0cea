//! What an agent left in its worktree: the commits it made and anything it did not commit.
//!
//! The outcome of a task depends on it (no commits is `no_change`; commits are merged), and
//! the iteration log names every commit, so nothing an agent made goes unnoticed.

use git2::{Oid, Repository, Sort};

use super::holders::changed_paths;
use super::refs::{branch_tip, open};
use super::{Slots, TaskWorktree, WorktreeError};

/// What an agent left in a task's worktree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkLeft {
    /// Commits on the task's branch since its base, oldest first.
    pub commits: Vec<Commit>,
    /// The worktree has uncommitted changes to tracked files, or untracked files that are
    /// not ignored.
    pub dirty: bool,
}

/// One commit an agent made.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Commit {
    /// The commit id (hex).
    pub id: String,
    /// The first line of its message.
    pub summary: String,
}

impl Slots {
    /// What the agent left in `wt`: the commits on its branch since `wt.base` (oldest first,
    /// merges of other work included) and whether the worktree is dirty.
    pub fn inspect(&self, wt: &TaskWorktree) -> Result<WorkLeft, WorktreeError> {
        let repo = open(&self.repo_root)?;
        let tip = branch_tip(&repo, &wt.branch)?;
        let what = || format!("list the commits of branch `{}`", wt.branch);
        let base = Oid::from_str(&wt.base).map_err(WorktreeError::git(what()))?;
        let mut walk = repo.revwalk().map_err(WorktreeError::git(what()))?;
        walk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE)
            .and_then(|()| walk.push(tip.id()))
            .and_then(|()| walk.hide(base))
            .map_err(WorktreeError::git(what()))?;
        let mut commits = Vec::new();
        for oid in walk {
            let commit = oid
                .and_then(|oid| repo.find_commit(oid))
                .map_err(WorktreeError::git(what()))?;
            commits.push(Commit {
                id: commit.id().to_string(),
                summary: String::from_utf8_lossy(commit.summary_bytes().unwrap_or_default())
                    .into_owned(),
            });
        }
        let path = self.slot_path(wt.slot)?;
        let what = || format!("read the status of worktree `{}`", path.display());
        let repo = Repository::open(&path).map_err(WorktreeError::git(what()))?;
        let dirty = !changed_paths(&repo, true, false)
            .map_err(WorktreeError::git(what()))?
            .is_empty();
        Ok(WorkLeft { commits, dirty })
    }
}
