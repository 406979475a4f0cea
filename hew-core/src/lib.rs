//! hew-core: everything hew does, with no terminal in sight.
//!
//! The `hew` binary (hew-cli) parses arguments and renders; this crate holds the behaviour:
//! layered configuration, the beads tracker adapter, model routing and task selection, the
//! git worktrees tasks run in, the agents that run there, the scheduler that drives them,
//! the records every run leaves, the prices that turn tokens into dollars, and the
//! summaries read back from the records.
//! Nothing here prints: results and errors are values the caller renders.

#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

pub mod agent;
pub mod config;
pub mod diverted;
#[cfg(test)]
mod fuzz;
mod lease;
pub mod machine;
pub mod model;
pub mod plan;
pub mod prices;
pub(crate) mod process;
pub mod records;
pub mod recover;
pub mod remote;
pub mod repo;
pub mod retry;
pub mod runner;
pub mod skills;
pub mod summary;
pub mod time;
pub mod tracker;
pub mod worktree;
