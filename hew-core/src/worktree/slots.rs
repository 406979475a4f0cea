//! The worker slots of one run: one git worktree per slot, handed from task to task.
//!
//! Each slot's worktree lives at `<dir>/<run-id>/w<slot>` and is registered with git as
//! `hew-<run-id>-w<slot>`. With reuse (the default) it is created for the slot's first task
//! and switched to a fresh branch for each later one, keeping ignored build caches warm;
//! without reuse each task gets a new worktree. Slots keeps no state beyond paths: every call
//! opens the repository afresh, so one [`Slots`] can serve all workers from any thread.

use std::fs;
use std::path::{Component, Path, PathBuf};

use super::WorktreeError;
use super::checkout;
use super::names::{validate_run_id, worktree_name, worktree_prefix};
use super::refs::{branch_tip, create_task_branch, delete_branch, open};
use crate::tracker::TaskId;

/// How a run's slots are laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotOptions {
    /// `loop.worktree.dir`: where worktrees live; relative paths are taken from the repository
    /// root. `None`: `<git common dir>/hew/worktrees`, inside `.git`, outside the working
    /// tree.
    pub dir: Option<PathBuf>,
    /// `loop.worktree.reuse`: keep each slot's worktree from task to task.
    pub reuse: bool,
    /// The run id (`20261122-052501-a1b2`): part of paths, worktree and branch names.
    pub run_id: String,
}

/// The worker slots of one run. `Send + Sync`: share it between workers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slots {
    /// The working tree hew runs in (absolute).
    pub(super) repo_root: PathBuf,
    run_dir: PathBuf,
    run_id: String,
    reuse: bool,
}

/// A task's worktree, ready for an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskWorktree {
    /// The slot it belongs to.
    pub slot: usize,
    /// The worktree's directory (the agent's working directory).
    pub path: PathBuf,
    /// The task's branch, checked out there: `hew/<task-id>` or `hew/<task-id>-N`.
    pub branch: String,
    /// The commit the branch started at (hex).
    pub base: String,
}

impl Slots {
    /// Prepares the run's directory, `<dir>/<run-id>`.
    pub fn new(repo_root: &Path, opts: SlotOptions) -> Result<Self, WorktreeError> {
        validate_run_id(&opts.run_id)?;
        let repo = open(repo_root)?;
        let Some(workdir) = repo.workdir() else {
            return Err(WorktreeError::Open {
                path: repo_root.to_owned(),
                source: git2::Error::from_str("it is a bare repository; hew needs a working tree"),
            });
        };
        // git2 gives the workdir with a trailing separator; normalise it.
        let workdir: PathBuf = workdir.components().collect();
        let dir = root_of(&repo, &workdir, opts.dir.as_deref());
        let run_dir = dir.join(&opts.run_id);
        fs::create_dir_all(&run_dir).map_err(WorktreeError::io("create directory", &run_dir))?;
        Ok(Self {
            repo_root: workdir,
            run_dir,
            run_id: opts.run_id,
            reuse: opts.reuse,
        })
    }

    /// `<dir>/<run-id>`: where this run's worktrees are.
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// Where slot `slot`'s worktree is: `<dir>/<run-id>/w<slot>`.
    pub fn slot_path(&self, slot: usize) -> PathBuf {
        self.run_dir.join(format!("w{slot}"))
    }

    /// Prepares slot `slot` for `task`: a new branch at the current tip of `base_branch`,
    /// `hew/<task-id>` or the first free `hew/<task-id>-N` (an existing branch is never
    /// moved or renamed), checked out in the slot's worktree. With reuse, an existing
    /// worktree is switched to it: tracked files forced, untracked files removed, ignored
    /// files kept. Without reuse, or the first time, a new worktree is made.
    ///
    /// Slots may check out concurrently, each from its own thread; one slot serves one task
    /// at a time. On failure nothing is left: no new branch, no half-made worktree.
    pub fn checkout(
        &self,
        slot: usize,
        task: &TaskId,
        base_branch: &str,
    ) -> Result<TaskWorktree, WorktreeError> {
        let repo = open(&self.repo_root)?;
        let tip = branch_tip(&repo, base_branch)?;
        let branch = create_task_branch(&repo, task, &tip)?;
        let name = worktree_name(&self.run_id, slot);
        let path = self.slot_path(slot);
        let fresh = || {
            checkout::discard(&repo, &name, &path)?;
            fs::create_dir_all(&self.run_dir)
                .map_err(WorktreeError::io("create directory", &self.run_dir))?;
            checkout::add(&repo, &name, &path, &branch)
        };
        let prepared = if self.reuse && checkout::exists(&repo, &name, &path) {
            // A reused worktree the last agent broke beyond switching is made again.
            checkout::switch(&path, &branch, tip.id()).or_else(|_| fresh())
        } else {
            fresh()
        };
        if let Err(err) = prepared {
            // Best effort: the first error is the one worth reporting. The slot is remade
            // next time; the branch has no commits yet.
            let _ = checkout::discard(&repo, &name, &path);
            let _ = delete_branch(&repo, &branch);
            return Err(err);
        }
        Ok(TaskWorktree {
            slot,
            path,
            branch,
            base: tip.id().to_string(),
        })
    }

    /// Hands slot `wt.slot` back after its task. The branch is deleted unless `keep_branch`
    /// (deleting one with unmerged commits is the caller's decision). With reuse the
    /// worktree stays, detached from the branch, for the next task; without reuse it is
    /// removed.
    pub fn release(&self, wt: TaskWorktree, keep_branch: bool) -> Result<(), WorktreeError> {
        let repo = open(&self.repo_root)?;
        let name = worktree_name(&self.run_id, wt.slot);
        // Always the slot's own path, whatever the caller's copy says: it is removed.
        let path = self.slot_path(wt.slot);
        if self.reuse && checkout::exists(&repo, &name, &path) {
            checkout::detach(&path)?;
        } else {
            // Not reused, or broken (its directory deleted): git must forget it before the
            // branch it still names can be deleted.
            checkout::discard(&repo, &name, &path)?;
        }
        if !keep_branch {
            delete_branch(&repo, &wt.branch)?;
        }
        Ok(())
    }

    /// Ends the run: removes every worktree of this run (directory and git's admin entry)
    /// and the run's directory. Branches stay as they are: [`Slots::release`] decides those.
    pub fn close(&self) -> Result<(), WorktreeError> {
        let repo = open(&self.repo_root)?;
        let admin = repo.commondir().join("worktrees");
        let entries = match fs::read_dir(&admin) {
            Ok(entries) => entries.collect::<Result<Vec<_>, _>>(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e),
        }
        .map_err(WorktreeError::io("list", &admin))?;
        let prefix = worktree_prefix(&self.run_id);
        for entry in entries {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(slot) = slot_of(&name, &prefix) {
                checkout::discard(&repo, &name, &self.slot_path(slot))?;
            }
        }
        checkout::remove_dir(&self.run_dir)
    }
}

/// Where every run's worktrees live: `loop.worktree.dir` (`dir`, relative to the working
/// tree `workdir`), or `<git common dir>/hew/worktrees`.
pub(super) fn root_of(repo: &git2::Repository, workdir: &Path, dir: Option<&Path>) -> PathBuf {
    match dir {
        None => repo.commondir().join("hew").join("worktrees"),
        Some(dir) => lexical(&workdir.join(dir)),
    }
}

/// `path` with `.` and `..` components resolved without touching the filesystem (the
/// directory may not exist yet).
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                // `/..` is `/`; a relative path keeps leading `..`s.
                if !out.pop() && !out.has_root() {
                    out.push(part);
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// The slot number in worktree name `name` if it is `<prefix>w<slot>` exactly (another
/// run's id may start with this one's).
fn slot_of(name: &str, prefix: &str) -> Option<usize> {
    let digits = name.strip_prefix(prefix)?.strip_prefix('w')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_dirs_resolve_dot_dot_lexically() {
        assert_eq!(lexical(Path::new("/r/repo/../wt")), Path::new("/r/wt"));
        assert_eq!(
            lexical(Path::new("/r/repo/./a/b/../c")),
            Path::new("/r/repo/a/c")
        );
        assert_eq!(lexical(Path::new("/../x")), Path::new("/x"));
    }

    #[test]
    fn only_this_runs_worktree_names_have_a_slot() {
        let prefix = worktree_prefix("r1");
        assert_eq!(slot_of("hew-r1-w0", &prefix), Some(0));
        assert_eq!(slot_of("hew-r1-w12", &prefix), Some(12));
        assert_eq!(slot_of("hew-r1-x-w0", &prefix), None);
        assert_eq!(slot_of("hew-r1-w", &prefix), None);
        assert_eq!(slot_of("hew-r1-w+1", &prefix), None);
        assert_eq!(slot_of("hew-r2-w0", &prefix), None);
    }
}
