//! `hew loop`: the scheduler that keeps `jobs` workers busy over the tracker's ready tasks,
//! and the workers that run one task each.
//!
//! The scheduler owns all run state and reacts to worker results, stop requests and the
//! stop file; workers report through a channel and share only immutable context, the
//! tracker, the slots and the integration lock (held only for a merge). A worker hands its
//! slot back once the worktree is no longer needed, and the slot's next task, claimed while
//! the agent ran, starts while the last one is merged. Subscribers (the CLI's display,
//! tests) receive [`RunEvent`]s. Budgets are checked by the scheduler as iterations finish
//! and as agents report usage.

mod budget;
mod claims;
mod closes;
mod events;
mod outcome;
mod prompt;
mod retry;
mod scheduler;
mod verify;
mod worker;

pub use events::RunEvent;
pub use prompt::{BUILTIN_SKILL, PROJECT_SKILL, build_prompt, worker_skill};
pub use retry::{EXHAUSTED_LABEL, RETRY_PREFIX};
pub(crate) use retry::{attempt_of, is_exhausted};
pub use scheduler::{RunError, RunOptions, RunReport, host_name, run_loop};

use std::path::PathBuf;

use tokio::sync::{Mutex, mpsc, watch};

use crate::agent::{Stop, Usage};
use crate::config::Config;
use crate::iterlog::RunDir;
use crate::prices::Prices;
use crate::tracker::CliTracker;
use crate::worktree::{Integration, Slots};

/// What every worker of a run shares.
pub(crate) struct Shared {
    pub repo_root: PathBuf,
    pub config: Config,
    pub run_id: String,
    pub run_dir: RunDir,
    pub tracker: CliTracker,
    pub slots: Slots,
    pub integration: Mutex<Integration>,
    /// The branch merges go to now: the integration's, kept beside it so that reading it
    /// never waits for a merge. Written only with the integration lock held.
    pub into: std::sync::Mutex<String>,
    pub skill: String,
    pub beads_dir: PathBuf,
    pub events: mpsc::UnboundedSender<RunEvent>,
    /// What running agents are asked to do: the caller's stop, or a hard budget's.
    pub stop: watch::Receiver<Stop>,
    /// The prices in effect (built-in table under config overrides).
    pub prices: Prices,
    /// Live usage of running iterations, for the scheduler's budgets.
    pub live_usage: mpsc::UnboundedSender<(u32, Usage)>,
    /// Closes after merges, several in one tracker call when they come together.
    pub closes: closes::Closes,
}

impl Shared {
    /// The branch merges go to now (new task branches start at its tip).
    pub fn merge_target(&self) -> String {
        self.into
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Mirrors `integration`'s branch for [`Shared::merge_target`]; called with the
    /// integration lock held, after every merge.
    pub fn set_merge_target(&self, integration: &Integration) {
        integration.branch().clone_into(
            &mut self
                .into
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
    }
}
