//! Git worktrees for tasks, and merging their work back (git2, no `git` process).
//!
//! Every task runs in its own worktree on its own branch, so agents working in parallel
//! never see each other's half-done changes, and a task's work is one branch to merge or
//! keep. [`Slots`] prepares, inspects and hands back the worker slots' worktrees;
//! [`Integration`] decides the branch a run merges into; [`merge`] brings a finished branch
//! back without ever touching a working tree that has someone's uncommitted changes;
//! [`find_leftovers`] finds what runs that died left behind.
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
mod pool;
mod prune;
mod refs;
mod slots;

pub use error::WorktreeError;
pub use inspect::{Commit, OffBranch, WorkLeft};
pub use integration::Integration;
pub use merge::{Landing, MergeResult, MergedOnto, land, merge, merge_onto, tip};
pub use pool::detach_idle as detach_idle_pool;
pub use prune::{
    BranchFate, BranchVerdict, LeftoverRun, Leftovers, PruneFailure, PruneOptions, find_leftovers,
    remove_leftovers,
};
pub use refs::{landed_by_run, settle_task_branches};
pub use slots::{SlotOptions, Slots, TaskWorktree};
