//! The worker slots of one run: one git worktree per slot, handed from task to task.
//!
//! With reuse (the default) each slot leases a worktree from the pool kept between runs
//! (`<dir>/pool/w<n>`, see `pool`): made for the slot's first task if it is not there yet,
//! and switched to a fresh branch for each task after, keeping ignored build caches warm,
//! from task to task and from run to run. Without reuse each task gets a new worktree at
//! `<dir>/<run-id>/w<slot>` (git's name `hew-<run-id>-w<slot>`), removed after. Slots keeps
//! no state beyond paths and leases: every call opens the repository afresh, so one
//! [`Slots`] can serve all workers from any thread.

use std::collections::HashMap;
use std::fs;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use super::WorktreeError;
use super::checkout;
use super::names::{validate_run_id, worktree_name, worktree_prefix};
use super::pool::{self, Lease};
use super::refs::{base_tip, create_task_branch, delete_branch, open};
use crate::tracker::TaskId;
use git2::Repository;

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
#[derive(Debug, Clone)]
pub struct Slots {
    /// The working tree hew runs in (absolute).
    pub(super) repo_root: PathBuf,
    /// Where every run's worktrees live (`loop.worktree.dir`, resolved).
    root: PathBuf,
    run_dir: PathBuf,
    run_id: String,
    reuse: bool,
    /// With reuse, per slot, the pool entry it holds until [`Slots::close`].
    leases: Arc<Mutex<HashMap<usize, Lease>>>,
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
    /// How many HEAD moves the worktree's reflog held once it was checked out: the ones
    /// after those are the agent's.
    pub reflog_len: usize,
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
        let root = root_of(&repo, opts.dir.as_deref());
        let run_dir = root.join(&opts.run_id);
        if !opts.reuse {
            fs::create_dir_all(&run_dir)
                .map_err(WorktreeError::io("create directory", &run_dir))?;
        }
        Ok(Self {
            repo_root: workdir,
            root,
            run_dir,
            run_id: opts.run_id,
            reuse: opts.reuse,
            leases: Arc::default(),
        })
    }

    /// `<dir>/<run-id>`: where this run's worktrees are without reuse.
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// Where slot `slot`'s worktree is: with reuse, the pool entry it leases (leased now if
    /// it has none yet); without, `<dir>/<run-id>/w<slot>`.
    pub fn slot_path(&self, slot: usize) -> Result<PathBuf, WorktreeError> {
        self.place(slot).map(|(_, path)| path)
    }

    /// Without reuse, slot `slot`'s worktree: `<dir>/<run-id>/w<slot>`.
    fn run_path(&self, slot: usize) -> PathBuf {
        self.run_dir.join(format!("w{slot}"))
    }

    /// Slot `slot`'s worktree: its git name and its path (see [`Slots::slot_path`]).
    fn place(&self, slot: usize) -> Result<(String, PathBuf), WorktreeError> {
        if !self.reuse {
            return Ok((worktree_name(&self.run_id, slot), self.run_path(slot)));
        }
        let mut leases = self.leases.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(lease) = leases.get(&slot) {
            return Ok((lease.name.clone(), lease.path.clone()));
        }
        let mine = leases.values().map(|l| l.n).collect();
        let lease = pool::lease(&self.root, &mine)?;
        let place = (lease.name.clone(), lease.path.clone());
        leases.insert(slot, lease);
        Ok(place)
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
        let tip = base_tip(&repo, base_branch)?;
        let (name, path) = self.place(slot)?;
        let branch = create_task_branch(&repo, task, &tip)?;
        let fresh = || self.remake(&repo, &name, &path, &branch);
        // A reused worktree the last agent broke beyond switching is made again.
        let prepared = if self.reuse && checkout::exists(&repo, &name, &path) {
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
        let reflog_len = Repository::open(&path)
            .and_then(|wt| wt.reflog("HEAD"))
            .map_or(0, |log| log.len());
        Ok(TaskWorktree {
            slot,
            path,
            branch,
            base: tip.id().to_string(),
            reflog_len,
        })
    }

    /// Slot `slot`'s worktree with HEAD detached at `commit` (hex), for checking a commit
    /// no branch holds yet (the merge queue's). Made, or switched like a task's (tracked
    /// files forced, untracked files removed, ignored files kept). It stays the slot's until
    /// [`Slots::close`].
    pub fn check_out_commit(&self, slot: usize, commit: &str) -> Result<PathBuf, WorktreeError> {
        let repo = open(&self.repo_root)?;
        let oid = git2::Oid::from_str(commit)
            .map_err(WorktreeError::git(format!("read commit {commit}")))?;
        let (name, path) = self.place(slot)?;
        if checkout::exists(&repo, &name, &path) && checkout::switch_detached(&path, oid).is_ok() {
            return Ok(path);
        }
        checkout::discard(&repo, &name, &path)?;
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(WorktreeError::io("create directory", parent))?;
        }
        checkout::add_detached(&repo, &name, &path, oid)?;
        Ok(path)
    }

    /// Hands slot `wt.slot` back after its task. The branch is deleted unless `keep_branch`
    /// (deleting one with unmerged commits is the caller's decision). With reuse the
    /// worktree stays, detached from the branch, for the next task; without reuse it is
    /// removed.
    pub fn hand_back(&self, wt: TaskWorktree, keep_branch: bool) -> Result<(), WorktreeError> {
        let repo = open(&self.repo_root)?;
        // Always the slot's own path, whatever the caller's copy says: it is removed.
        let (name, path) = self.place(wt.slot)?;
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

    /// Makes worktree `name` at `path` anew on `branch`, after removing whatever is there.
    fn remake(
        &self,
        repo: &Repository,
        name: &str,
        path: &Path,
        branch: &str,
    ) -> Result<(), WorktreeError> {
        checkout::discard(repo, name, path)?;
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(WorktreeError::io("create directory", parent))?;
        }
        checkout::add(repo, name, path, branch)
    }

    /// Deletes `branch` (a task's branch, checked out nowhere after [`Slots::hand_back`]); a
    /// missing one is fine.
    pub fn delete_branch(&self, branch: &str) -> Result<(), WorktreeError> {
        let repo = open(&self.repo_root)?;
        delete_branch(&repo, branch)
    }

    /// Ends the run: the pool entries its slots leased are left detached, for the next run,
    /// and given up; every worktree named after this run (without reuse) is removed
    /// (directory and git's admin entry), and the run's directory. Branches stay as they
    /// are: [`Slots::hand_back`] decides those.
    pub fn close(&self) -> Result<(), WorktreeError> {
        let repo = open(&self.repo_root)?;
        let leases: Vec<Lease> = self
            .leases
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain()
            .map(|(_, lease)| lease)
            .collect();
        for lease in &leases {
            // Detached, so that no branch stays checked out there. One that cannot even be
            // detached is no use to the next run.
            if checkout::exists(&repo, &lease.name, &lease.path)
                && checkout::detach(&lease.path).is_err()
            {
                checkout::discard(&repo, &lease.name, &lease.path)?;
            }
        }
        drop(leases);
        let admin = repo.commondir().join("worktrees");
        let entries = match fs::read_dir(&admin) {
            Ok(entries) => entries.collect::<Result<Vec<_>, _>>(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e),
        }
        .map_err(WorktreeError::io("list", &admin))?;
        let prefix = worktree_prefix(&self.run_id);
        let ours: Vec<(String, usize)> = entries
            .into_iter()
            .filter_map(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                slot_of(&name, &prefix).map(|slot| (name, slot))
            })
            .collect();
        // One thread per worktree: deleting thousands of files is most of the work.
        std::thread::scope(|scope| {
            let removals: Vec<_> = ours
                .iter()
                .map(|(name, slot)| {
                    scope.spawn(move || {
                        let repo = open(&self.repo_root)?;
                        checkout::discard(&repo, name, &self.run_path(*slot))
                    })
                })
                .collect();
            removals
                .into_iter()
                .try_for_each(|r| r.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
        })?;
        checkout::remove_dir(&self.run_dir)
    }
}

/// Where every run's worktrees live: `loop.worktree.dir` (`dir`, relative to `repo`'s
/// working tree), or `<git common dir>/hew/worktrees`.
pub(super) fn root_of(repo: &git2::Repository, dir: Option<&Path>) -> PathBuf {
    match dir {
        None => repo.commondir().join("hew").join("worktrees"),
        Some(dir) => lexical(&repo.workdir().unwrap_or(repo.path()).join(dir)),
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
