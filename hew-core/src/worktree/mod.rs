//! Git worktrees for tasks, and merging their work back (git2, no `git` process).
//!
//! Every task runs in its own worktree on its own branch, so agents working in parallel
//! never see each other's half-done changes, and a task's work is one branch to merge or
//! keep. [`Slots`] prepares, inspects and hands back the worker slots' worktrees;
//! [`Integration`] decides the branch a run merges into; [`merge`] brings a finished branch
//! back without ever touching a working tree that has someone's uncommitted changes.
//!
//! Every public type is plain data (paths and names, no open repository), so it is
//! `Send + Sync` and the functions can run on blocking threads concurrently.

mod checkout;
mod error;
mod holders;
mod inspect;
mod integration;
mod locks;
mod merge;
mod names;
mod refs;
mod slots;

pub use error::WorktreeError;
pub use inspect::{Commit, WorkLeft};
pub use integration::Integration;
pub use merge::{MergeResult, merge};
pub use refs::settle_task_branches;
pub use slots::{SlotOptions, Slots, TaskWorktree};
