//! End-to-end tests of the `hew` binary: one module per user-visible capability, all in one
//! test binary so it links once.

mod config;
mod diverted;
mod dry_run;
mod earlier_hew;
mod guarantees;
mod hostile;
mod injection;
mod json;
mod logs;
mod machines;
mod merge_queue;
mod notify;
mod prices;
mod prune;
mod real_agents;
mod remote_target;
mod report;
mod retries;
mod run_loop;
mod runners;
mod setup;
mod spend;
mod stop;
mod tracker_choice;
mod tracker_faults;
mod worktree_setup;

/// The fake agent binary built with these tests.
pub fn fake_agent() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_BIN_EXE_fake-agent"))
}
