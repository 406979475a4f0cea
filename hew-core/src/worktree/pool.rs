//! Slot worktrees kept from run to run: `<dir>/pool/w<n>`, registered with git as
//! `hew-pool-w<n>`.
//!
//! A run with reused worktrees leases one entry per slot, by locking `<dir>/pool/w<n>.lock`
//! (an advisory lock held as long as the run lives, released by the kernel if it dies), so
//! two runs never share an entry. When the run ends its entries stay, detached and with
//! their ignored files (build caches) kept, and the next run starts in them warm instead of
//! checking out every file anew. An entry nobody holds is idle: recovery detaches one a
//! killed run left on a task branch, and `hew loop prune --apply` removes idle ones.
//!
//! Lock files are never deleted: a run that opened one just before it went could lock a
//! file nobody else can see any more and share the entry with the next run.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use super::WorktreeError;
use super::checkout;
use super::holders::worktree_names;
use super::refs::open;
use super::slots::root_of;

/// The pool's directory under the worktree dir.
pub(crate) const POOL_DIR: &str = "pool";
/// What every pool entry's git worktree name starts with.
const NAME_PREFIX: &str = "hew-pool-w";
/// More entries than any machine runs slots: past this, something else is wrong.
const MAX_ENTRIES: usize = 4096;

/// A pool entry held by this process until dropped.
#[derive(Debug)]
pub(crate) struct Lease {
    /// The entry's number, `n` in `w<n>`.
    pub n: usize,
    /// Its git worktree name, `hew-pool-w<n>`.
    pub name: String,
    /// Its directory, `<dir>/pool/w<n>`.
    pub path: PathBuf,
    _lock: Flock<File>,
}

/// The git worktree name of entry `n`.
pub(crate) fn entry_name(n: usize) -> String {
    format!("{NAME_PREFIX}{n}")
}

/// The entry number in git worktree name `name` if it is a pool entry's.
pub(crate) fn entry_of(name: &str) -> Option<usize> {
    let digits = name.strip_prefix(NAME_PREFIX)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Leases the lowest entry of the pool under `root` (the worktree dir) that nobody holds and
/// that is not in `mine` (entries this process holds already).
pub(crate) fn lease(root: &Path, mine: &BTreeSet<usize>) -> Result<Lease, WorktreeError> {
    let dir = root.join(POOL_DIR);
    fs::create_dir_all(&dir).map_err(WorktreeError::io("create directory", &dir))?;
    for n in (1..=MAX_ENTRIES).filter(|n| !mine.contains(n)) {
        if let Some(lease) = try_lease(root, n)? {
            return Ok(lease);
        }
    }
    Err(WorktreeError::io("lease a worktree in", dir)(
        std::io::Error::other(format!("all {MAX_ENTRIES} entries are held")),
    ))
}

/// Entry `n` of the pool under `root`, if nobody holds it.
pub(crate) fn try_lease(root: &Path, n: usize) -> Result<Option<Lease>, WorktreeError> {
    let dir = root.join(POOL_DIR);
    let lock = dir.join(format!("w{n}.lock"));
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock)
        .map_err(WorktreeError::io("create", &lock))?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(held) => Ok(Some(Lease {
            n,
            name: entry_name(n),
            path: dir.join(format!("w{n}")),
            _lock: held,
        })),
        Err((_, Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, errno)) => Err(WorktreeError::io("lock", lock)(errno.into())),
    }
}

/// Every entry of the pool under `root` that nobody holds, leased now: the ones with a
/// directory or a lock file there, and the ones `names` (git's worktree entries) name.
pub(crate) fn idle(root: &Path, names: &[String]) -> Result<Vec<Lease>, WorktreeError> {
    let dir = root.join(POOL_DIR);
    let mut numbers: BTreeSet<usize> = names.iter().filter_map(|n| entry_of(n)).collect();
    if let Ok(entries) = fs::read_dir(&dir) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let stem = name.strip_suffix(".lock").unwrap_or(&name);
            if let Some(n) = stem.strip_prefix('w').and_then(|d| d.parse().ok()) {
                numbers.insert(n);
            }
        }
    }
    let mut idle = Vec::new();
    for n in numbers
        .into_iter()
        .filter(|n| (1..=MAX_ENTRIES).contains(n))
    {
        if let Some(lease) = try_lease(root, n)? {
            idle.push(lease);
        }
    }
    Ok(idle)
}

/// Detaches every idle pool entry of the repository at `repo_root` that a run left on a
/// branch (killed before it could hand its slot back), so that the branch can be kept or
/// deleted like any other. `dir` is `loop.worktree.dir` as configured. What the entry's
/// files hold is left as is: the next run to lease it switches it clean.
pub fn detach_idle(repo_root: &Path, dir: Option<&Path>) -> Result<(), WorktreeError> {
    let repo = open(repo_root)?;
    let root = root_of(&repo, dir);
    for lease in idle(&root, &worktree_names(&repo)?)? {
        if checkout::exists(&repo, &lease.name, &lease.path) {
            checkout::detach(&lease.path)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_round_trip_and_nothing_else_parses() {
        assert_eq!(entry_of(&entry_name(7)), Some(7));
        assert_eq!(entry_of("hew-pool-w"), None);
        assert_eq!(entry_of("hew-pool-w1x"), None);
        assert_eq!(entry_of("hew-20261122-w1"), None);
    }

    #[test]
    fn a_held_entry_is_skipped_and_freed_when_dropped() {
        let root = tempfile::tempdir().unwrap();
        let first = lease(root.path(), &BTreeSet::new()).unwrap();
        assert_eq!(first.n, 1);
        // Another holder (a lock is per open file, so this stands for another run).
        let second = lease(root.path(), &BTreeSet::new()).unwrap();
        assert_eq!(second.n, 2);
        assert_eq!(idle(root.path(), &[]).unwrap().len(), 0);
        drop(first);
        let idle = idle(root.path(), &[]).unwrap();
        assert_eq!(idle.iter().map(|l| l.n).collect::<Vec<_>>(), vec![1]);
        assert_eq!(idle[0].path, root.path().join("pool").join("w1"));
        assert_eq!(idle[0].name, "hew-pool-w1");
    }
}
