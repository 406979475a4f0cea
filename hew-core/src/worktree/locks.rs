//! Process-wide locks around the git operations that race each other inside libgit2.
//!
//! Two races matter when slots work on several threads:
//!
//! - libgit2 keeps loose refs as files under `.git/refs` and removes directories a deleted
//!   ref leaves empty, so a branch being created in `refs/heads/hew/` while another one is
//!   deleted from it can lose its directory. Every ref write goes through [`write_refs`].
//! - libgit2 (1.9) answers "is this branch checked out?" (asked when a worktree is added,
//!   a branch deleted, a worktree's HEAD set) by listing `.git/worktrees` and opening each
//!   entry. An entry another thread is creating or removing at that moment makes the answer
//!   a spurious "yes" (its listing also skips the entry after an unreadable one), so those
//!   operations fail at random. They run under [`changing_worktrees`], one at a time. A
//!   new worktree is added, files and all, under it (a slot's first task only: worktrees
//!   are kept from task to task and run to run); a reused worktree's files are switched
//!   outside it.
//!
//! Lock order: the worktree lock before the ref lock. A lock file held by another git
//! process is retried briefly before giving up.

use std::sync::{Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use git2::ErrorCode;

/// Serializes ref writes made by this process.
static REF_LOCK: Mutex<()> = Mutex::new(());
/// Held while libgit2 creates, removes or lists worktrees for this process.
static WORKTREE_LOCK: Mutex<()> = Mutex::new(());

/// How often a ref write that met another process's lock file is tried.
const LOCKED_ATTEMPTS: u32 = 5;

/// Runs `write` holding the ref lock, retrying while another process holds a git lock file.
pub(crate) fn write_refs<T>(
    mut write: impl FnMut() -> Result<T, git2::Error>,
) -> Result<T, git2::Error> {
    let _guard = REF_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    let mut attempt = 1;
    loop {
        match write() {
            Err(e) if e.code() == ErrorCode::Locked && attempt < LOCKED_ATTEMPTS => {
                thread::sleep(Duration::from_millis(20 * u64::from(attempt)));
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// Runs `op`, which makes libgit2 create, remove or list worktrees, holding the worktree
/// lock.
pub(crate) fn changing_worktrees<T>(op: impl FnOnce() -> T) -> T {
    let _guard = WORKTREE_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    op()
}
