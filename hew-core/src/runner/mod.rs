//! `hew loop`: the scheduler that keeps `jobs` worker slots busy over the tracker's ready
//! tasks, and the path each task takes through its slot.
//!
//! - `run` sets a run up and ends it: its record, recovery of runs that died, the
//!   scheduler, and the worktrees handed back.
//! - `scheduler` owns all run state and decides: when to ask the tracker, which slot a
//!   claimed task takes, when a failed task runs again, when the run stops. It hears from
//!   everything it started on one channel of worker events (`work`).
//! - `claims` is one `ready` call and the claims after it, run beside the scheduler.
//! - `lease` keeps the run's claims alive for other machines to see, and reads them back.
//! - `task` is one task's path, stage by stage: check out → run the agent → inspect →
//!   verify → hand the slot back → land (merge, close) → settle → record.
//! - `setup` runs `loop.worktree.setup` in a checked-out worktree when it is due.
//!
//! Subscribers (the CLI's display, `--json`, tests) receive [`RunEvent`]s; the runner never
//! prints.

mod budget;
mod claims;
mod events;
mod lease;
#[cfg(test)]
mod memory;
mod outcome;
mod prompt;
mod queue;
mod run;
mod scheduler;
#[cfg(test)]
mod scheduler_tests;
mod setup;
mod task;
mod verify;
mod work;

pub use events::RunEvent;
pub use prompt::{BUILTIN_SKILL, PROJECT_SKILL, build_prompt, worker_skill};
pub use run::{RunError, RunOptions, RunReport, host_name, run_loop};

/// Runs blocking work (git, files) off the async threads; a panic in it goes on in the
/// caller.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}
