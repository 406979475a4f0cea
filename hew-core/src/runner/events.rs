//! What the runner tells its subscribers (the progress display, tests) as a run goes.
//!
//! Events serialize as one JSON object each, tagged by `event` in snake case
//! (`{"event":"task_claimed","iter":3,...}`): `hew loop --json` streams them for other
//! tools, and recorded sequences replay them in tests.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::agent::{Runtime, Usage};
use crate::model::Rule;
use crate::records::{IterRecord, RunRecord, StopReason};
use crate::recover::Recovery;

/// One thing that happened in a run. Sent in order on one channel; the runner never
/// prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RunEvent {
    /// The run started and wrote its `run.json`.
    RunStarted {
        /// The run's id.
        run_id: String,
        /// Its record directory.
        dir: PathBuf,
        /// The branch work merges into.
        into: String,
        /// Workers.
        jobs: u32,
    },
    /// What earlier runs that died left behind was put right.
    Recovered(Recovery),
    /// The integration branch could not be updated in place; merges go to another branch.
    Diverted {
        /// The branch merges now go to.
        branch: String,
        /// Why.
        reason: String,
    },
    /// Tasks move to another runtime: to the fallback while the main one's environment
    /// fails (`loop.agent.fallback`), or back once the cooldown is over.
    RuntimeSwitched {
        /// The runtime tasks ran on.
        from: Runtime,
        /// The runtime they run on now.
        to: Runtime,
        /// Why.
        reason: String,
    },
    /// A ready task is not run, and why.
    TaskSkipped {
        /// The id as the tracker gave it, escaped.
        id: String,
        /// Why it is skipped.
        reason: String,
    },
    /// A task started in a worker slot (claimed just before, or while the slot's last task
    /// was still running).
    TaskClaimed {
        /// The iteration number.
        iter: u32,
        /// The worker slot.
        slot: usize,
        /// The task.
        task_id: String,
        /// Its title.
        title: String,
        /// The model it runs on.
        model: Option<String>,
        /// Why that model.
        rule: Rule,
    },
    /// The agent process started.
    AgentStarted {
        /// The iteration number.
        iter: u32,
        /// Its process id.
        pid: u32,
    },
    /// Live token usage from the agent's stream.
    AgentUsage {
        /// The iteration number.
        iter: u32,
        /// Usage so far.
        usage: Usage,
    },
    /// The agent is retrying its API (a connection error, an overloaded service): the
    /// environment, not the task, so far.
    AgentRetrying {
        /// The iteration number.
        iter: u32,
        /// Which attempt this is, from 1.
        attempt: u32,
        /// How many attempts the agent makes before it gives up, if it said.
        max: Option<u32>,
        /// What it said about it.
        error: String,
    },
    /// The agent has run longer than `loop.agent.slow_after`.
    AgentSlow {
        /// The iteration number.
        iter: u32,
    },
    /// The agent is being stopped (timeout or cancel).
    AgentTerminating {
        /// The iteration number.
        iter: u32,
    },
    /// The agent ended and its worktree was handed back (the slot may start its next
    /// task): the iteration's work is being merged and its task settled.
    Finishing {
        /// The iteration number.
        iter: u32,
    },
    /// The merge queue is testing a batch: the target's tip with these iterations' work
    /// merged in turn, verified once.
    MergeTesting {
        /// The iterations in the batch, in merge order.
        iters: Vec<u32>,
        /// The commit tested (hex): the batch's last merge.
        commit: String,
        /// This is a half of a batch that failed, being split to find what broke it.
        bisecting: bool,
        /// Tasks waiting in the queue behind this batch.
        waiting: usize,
    },
    /// The merge queue moved the target: these iterations' work landed, at a tested
    /// commit when the verify command runs on the merged result.
    MergeLanded {
        /// The iterations whose work landed.
        iters: Vec<u32>,
        /// The branch's new tip (hex).
        commit: String,
        /// The branch it landed on.
        into: String,
    },
    /// An iteration ended and its record was written.
    IterationFinished(Box<IterRecord>),
    /// A budget was crossed: no new task starts.
    BudgetCrossed {
        /// Which budget.
        reason: StopReason,
        /// What was spent against what was allowed.
        message: String,
        /// Running agents are being stopped (`--budget-hard`), not left to finish.
        stopping_agents: bool,
    },
    /// A claim this run made turned out to be another's, or its lease could not be kept:
    /// the run backs off (a running agent is stopped) and leaves the task alone.
    ClaimLost {
        /// The task.
        task_id: String,
        /// Why.
        reason: String,
    },
    /// Something worth telling the user that does not stop the run.
    Warning {
        /// What to tell.
        message: String,
    },
    /// The run ended; this is its final record.
    RunFinished(Box<RunRecord>),
}
