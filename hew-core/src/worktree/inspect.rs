//! What an agent left in its worktree: the commits it made and anything it did not commit.
//!
//! The outcome of a task depends on it (no commits is `no_change`; commits are merged), and
//! the iteration log names every commit, so nothing an agent made goes unnoticed.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use git2::{Index, Oid, Repository, Sort, Status, StatusOptions, StatusShow};

use super::checkout;
use super::holders::changed_paths;
use super::refs::{branch_tip, open};
use super::watch::holds_tracked;
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
        let dirty = match self.watched_changes(wt.slot, &repo) {
            Some(changed) => dirty_among(&repo, &path, base, &changed).or_else(|_| is_dirty(&repo)),
            None => is_dirty(&repo),
        }
        .map_err(WorktreeError::git(what()))?;
        Ok(WorkLeft { commits, dirty })
    }
}

/// Whether the worktree `wt` has changes to tracked files (staged or not) or untracked
/// files that are not ignored.
fn is_dirty(wt: &Repository) -> Result<bool, git2::Error> {
    Ok(!changed_paths(wt, true, false)?.is_empty())
}

/// [`is_dirty`] for worktree `wt` at `root`, clean at commit `base` when its watch started,
/// where only the paths `changed` (relative, from the watch) were touched since: the same
/// answer, looking at those paths and at what the index and commits changed only.
fn dirty_among(
    wt: &Repository,
    root: &Path,
    base: Oid,
    changed: &BTreeSet<PathBuf>,
) -> Result<bool, git2::Error> {
    // Staged changes: the index can change without any file changing (`git rm --cached`).
    let head = wt.head()?.peel_to_tree()?;
    if staged(wt, head.id())? {
        return Ok(true);
    }
    // Files the commits since `base` stopped (or started) tracking may not have changed.
    let start = wt.find_commit(base)?.tree()?;
    let committed = checkout::paths_between(wt, &start, &head)?;
    let mut index = wt.index()?;
    index.read(false)?;
    let committed = committed
        .iter()
        .map(|p| PathBuf::from(OsStr::from_bytes(p)));
    // Each path looked at costs about what checking a couple of hundred files does: past
    // that, checking them all is cheaper.
    let budget = (index.len() / 200).max(16);
    let mut look = Look {
        wt,
        index: &index,
        root,
        budget,
    };
    for rel in changed.iter().cloned().chain(committed) {
        if look.dirty_at(&rel)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether the index of worktree `wt` differs from its HEAD's tree, `head`. The index's
/// cache of tree ids, which `git commit` leaves complete, mostly answers at once; any tree
/// that must be computed is written to memory only. An index that cannot be written as a
/// tree (a conflict) is compared entry by entry.
fn staged(wt: &Repository, head: Oid) -> Result<bool, git2::Error> {
    let odb = wt.odb()?;
    let _in_memory = odb.add_new_mempack_backend(i32::MAX)?;
    match wt.index()?.write_tree() {
        Ok(tree) => Ok(tree != head),
        Err(_) => {
            let mut opts = StatusOptions::new();
            opts.show(StatusShow::Index)
                .include_untracked(false)
                .include_ignored(false);
            Ok(!wt.statuses(Some(&mut opts))?.is_empty())
        }
    }
}

/// Looks at paths of a worktree one by one, as git's status would, up to a budget.
struct Look<'a> {
    wt: &'a Repository,
    index: &'a Index,
    root: &'a Path,
    /// How many more paths to look at before giving up.
    budget: usize,
}

impl Look<'_> {
    /// Whether status would report anything at or below `rel`. An error when the budget is
    /// spent.
    fn dirty_at(&mut self, rel: &Path) -> Result<bool, git2::Error> {
        self.budget = self
            .budget
            .checked_sub(1)
            .ok_or_else(|| git2::Error::from_str("too many changed paths to look at one by one"))?;
        let (wt, index) = (self.wt, self.index);
        let full = self.root.join(rel);
        let tracked_below = holds_tracked(index, rel);
        let meta = match fs::symlink_metadata(&full) {
            Ok(meta) => meta,
            // Gone: dirty if it was tracked.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(tracked_below || index.get_path(rel, 0).is_some());
            }
            Err(e) => return Err(io_error(e)),
        };
        if !meta.is_dir() {
            if tracked_below {
                // A tracked directory replaced by a file.
                return Ok(true);
            }
            let status = wt.status_file(rel)?;
            return Ok(!(status.is_empty() || status == Status::IGNORED));
        }
        if index.get_path(rel, 0).is_some() {
            // A tracked file replaced by a directory.
            return Ok(true);
        }
        if !tracked_below {
            if wt.is_path_ignored(rel)? {
                return Ok(false);
            }
            if full.join(".git").exists() {
                // An untracked repository.
                return Ok(true);
            }
        }
        for entry in fs::read_dir(&full).map_err(io_error)? {
            let name = entry.map_err(io_error)?.file_name();
            if self.dirty_at(&rel.join(name))? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

fn io_error(e: io::Error) -> git2::Error {
    git2::Error::from_str(&e.to_string())
}
