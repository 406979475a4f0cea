//! The record types, as they are written to disk.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::agent::{EndReason, ErrorClass, Usage};
use crate::config::Runtime;
use crate::model::Rule;
use crate::time::Timestamp;
use crate::worktree::Commit;

/// The schema these types write. Readers accept this and every earlier version.
pub const SCHEMA_VERSION: u32 = 1;

/// How one iteration ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The work was merged and the task closed (or the agent closed it with nothing to merge).
    Closed,
    /// The agent exited cleanly without commits and left the task open.
    NoChange,
    /// The verify command failed; nothing merged.
    VerifyFailed,
    /// The branch did not merge cleanly; it is kept, the task labelled `hew:conflict`.
    MergeConflict,
    /// The agent failed (non-zero exit or an error result).
    AgentFailed,
    /// The agent ran past `loop.agent.timeout` and was stopped.
    TimedOut,
    /// The run was stopped while the agent worked.
    Cancelled,
}

impl Outcome {
    /// Every outcome, in the order summaries list them.
    pub const ALL: [Outcome; 7] = [
        Self::Closed,
        Self::NoChange,
        Self::VerifyFailed,
        Self::MergeConflict,
        Self::AgentFailed,
        Self::TimedOut,
        Self::Cancelled,
    ];

    /// The name used in records and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::NoChange => "no_change",
            Self::VerifyFailed => "verify_failed",
            Self::MergeConflict => "merge_conflict",
            Self::AgentFailed => "agent_failed",
            Self::TimedOut => "timed_out",
            Self::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The verify command's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyResult {
    /// The command, as configured.
    pub command: String,
    /// Whether it passed (exit 0 within the time limit).
    pub passed: bool,
    /// Its exit code, if it exited.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// The end of its output.
    #[serde(default)]
    pub output_tail: String,
}

/// The worktree's setup command (`loop.worktree.setup`), when it ran before the agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetupResult {
    /// The command, as configured.
    pub command: String,
    /// Why it ran: the worktree was new, or which file changed since its last setup.
    #[serde(default)]
    pub reason: String,
    /// Whether it passed (exit 0 within `loop.worktree.setup_timeout`).
    pub passed: bool,
    /// Its exit code, if it exited.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// The end of its output, kept when it failed.
    #[serde(default)]
    pub output_tail: String,
}

/// One iteration: one task, one agent run, one outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IterRecord {
    /// The schema this record was written with.
    pub schema_version: u32,
    /// 1-based, in the order tasks were claimed.
    pub number: u32,
    /// The task.
    pub task_id: String,
    /// Its title when claimed.
    #[serde(default)]
    pub title: String,
    /// The worker slot that ran it.
    #[serde(default)]
    pub slot: usize,
    /// 1 for the first attempt.
    #[serde(default = "one")]
    pub attempt: u32,
    /// When the task was claimed.
    pub started_at: Timestamp,
    /// When the iteration was recorded.
    pub ended_at: Timestamp,
    /// How it ended.
    pub outcome: Outcome,
    /// For `agent_failed`: what kind of failure.
    #[serde(default)]
    pub error_class: Option<ErrorClass>,
    /// A one-line account of what went wrong, if anything did.
    #[serde(default)]
    pub error: Option<String>,
    /// The model hew asked for; `None` is the agent's default.
    #[serde(default)]
    pub model: Option<String>,
    /// The rule that chose it.
    #[serde(default = "rule_none")]
    pub rule: Rule,
    /// The agent runtime.
    #[serde(default)]
    pub runtime: Runtime,
    /// Tokens, in total and per model that consumed them.
    #[serde(default)]
    pub usage: Usage,
    /// The agent's own cost estimate (Claude's `total_cost_usd`).
    #[serde(default)]
    pub reported_cost_usd: Option<f64>,
    /// hew's cost of `usage` at the prices in effect, in USD: `None` when unknown (a model
    /// or a kind of token without a price, or usage unknown), never a made-up 0. 0 when no
    /// agent ran.
    #[serde(default)]
    pub cost_usd: Option<f64>,
    /// The same per model of `usage.per_model` (`null` for a model without a price).
    #[serde(default)]
    pub cost_per_model: BTreeMap<String, Option<f64>>,
    /// The task's branch.
    #[serde(default)]
    pub branch: String,
    /// The commit the branch started from.
    #[serde(default)]
    pub base: String,
    /// Commits the agent made, oldest first.
    #[serde(default)]
    pub commits: Vec<Commit>,
    /// The merge commit, when merged.
    #[serde(default)]
    pub merge_commit: Option<String>,
    /// The branch merged into.
    #[serde(default)]
    pub merged_into: Option<String>,
    /// The branch kept with unmerged commits, if any: no work is lost.
    #[serde(default)]
    pub kept_branch: Option<String>,
    /// The worktree's setup command, when it ran before the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup: Option<SetupResult>,
    /// The verify command's result, when it ran: on the merged result when it ran there
    /// (see `tested_at`), else on the task's branch.
    #[serde(default)]
    pub verify: Option<VerifyResult>,
    /// The commit the verify command passed or failed on, when it ran on the merged
    /// result: the target's tip with this task's work merged (and that of the tasks
    /// tested with it). For a task that landed, the target moved to exactly this commit.
    #[serde(default)]
    pub tested_at: Option<String>,
    /// How the agent process ended.
    #[serde(default)]
    pub ended: Option<EndReason>,
    /// The agent's exit code.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// The signal that ended the agent.
    #[serde(default)]
    pub signal: Option<i32>,
    /// A grandchild held the agent's output open after it exited and was killed.
    #[serde(default)]
    pub leaked: bool,
    /// The agent closed the task itself.
    #[serde(default)]
    pub agent_closed: bool,
    /// The end of the agent's stderr.
    #[serde(default)]
    pub stderr_tail: String,
    /// Anything else worth knowing (a tracker call that failed, uncommitted changes left).
    #[serde(default)]
    pub notes: Vec<String>,
    /// Where the iteration's time went (all zero in records written before this field).
    #[serde(default)]
    pub timings: Timings,
}

/// Where one iteration's time went, in milliseconds of wall time. A step that did not run
/// counts zero. What is not here (writing records, starting the agent process, the
/// scheduler's own work) is the rest of the time between `started_at` and `ended_at`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Timings {
    /// The `ready` call that found the task (one call can fill several slots: each of
    /// their tasks shows it). Before `started_at`.
    pub ready_ms: u64,
    /// Claiming the task in the tracker. Before `started_at`.
    pub claim_ms: u64,
    /// Preparing the task's worktree and branch.
    pub checkout_ms: u64,
    /// The worktree's setup command (`loop.worktree.setup`), when it ran.
    pub setup_ms: u64,
    /// The agent, from its start to the end of its output.
    pub agent_ms: u64,
    /// Reading the commits and leftovers the agent left in its worktree.
    pub inspect_ms: u64,
    /// The verify command.
    pub verify_ms: u64,
    /// Waiting in the merge queue for the tasks ahead to be merged and verified.
    pub queue_ms: u64,
    /// Merging into the integration branch: with the verify command on the merged result,
    /// the merge queue's tests of this task's batch (and its halves, when it failed).
    pub merge_ms: u64,
    /// The worker's tracker calls after the agent: reading the task, closing or releasing
    /// it, labels and comments.
    pub tracker_ms: u64,
    /// Handing the worktree back and deleting the task's branch.
    pub release_ms: u64,
}

impl Timings {
    /// Milliseconds since `since`.
    pub fn ms_since(since: std::time::Instant) -> u64 {
        u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

fn one() -> u32 {
    1
}

fn rule_none() -> Rule {
    Rule::None
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Still going (or crashed: see the pid).
    Running,
    /// Stopped on its own (see the stop reason).
    Finished,
    /// Stopped by Ctrl-C or a signal.
    Cancelled,
    /// Stopped by an error.
    Failed,
    /// Found dead by a later run.
    Crashed,
}

/// Why a run stopped: the true reason, recorded in `run.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// Nothing ready and nothing running.
    ReadyEmpty,
    /// `--max-iters` reached.
    MaxIters,
    /// `hew loop cancel` (the stop file); running agents finished.
    StopFile,
    /// Ctrl-C or SIGTERM.
    Interrupted,
    /// An agent failed to authenticate: every other task would fail the same way.
    Auth,
    /// An error hew could not continue past (see `error`).
    Error,
    /// `--budget-tokens` (`loop.budget.tokens`) crossed.
    BudgetTokens,
    /// `--budget-usd` (`loop.budget.usd`) crossed.
    BudgetUsd,
    /// `--budget-wall` (`loop.budget.wall`) crossed.
    BudgetWall,
    /// Several different tasks in a row failed the same way (`loop.retry.circuit_breaker`):
    /// the environment, not the tasks (see `error`).
    RepeatedFailure,
    /// The environment failed, not a task: no network, a usage limit, an unknown model, an
    /// agent that cannot start (see `error`). No login is `auth`.
    Environment,
}

impl StopReason {
    /// The name used in records and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReadyEmpty => "ready_empty",
            Self::MaxIters => "max_iters",
            Self::StopFile => "stop_file",
            Self::Interrupted => "interrupted",
            Self::Auth => "auth",
            Self::Error => "error",
            Self::BudgetTokens => "budget_tokens",
            Self::BudgetUsd => "budget_usd",
            Self::BudgetWall => "budget_wall",
            Self::RepeatedFailure => "repeated_failure",
            Self::Environment => "environment",
        }
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which hew wrote a run's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    /// This hew, in its own schema (`run.json` with `schema_version`, `iters/<n>.json`).
    Current,
    /// Earlier hew (0.9–0.12): `run.json` without `schema_version` or a parallel run's
    /// `manifest.json`, and `iter-NNN.json` files. Read converted, never rewritten, and
    /// always a finished run: recovery and `doctor` have nothing to do with it.
    Earlier,
}

/// `run.json`: one run of `hew loop`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The schema this record was written with.
    pub schema_version: u32,
    /// The run's id (also its directory name).
    pub run_id: String,
    /// Where it stands.
    pub status: RunStatus,
    /// Why it stopped, once it has.
    #[serde(default)]
    pub stop_reason: Option<StopReason>,
    /// The error that stopped it, if one did.
    #[serde(default)]
    pub error: Option<String>,
    /// When it started.
    pub started_at: Timestamp,
    /// When it ended.
    #[serde(default)]
    pub ended_at: Option<Timestamp>,
    /// The hew version that ran it.
    #[serde(default)]
    pub hew_version: String,
    /// The machine it ran on.
    #[serde(default)]
    pub host: String,
    /// That machine's id (see [`crate::machine`]): host names repeat. Empty in records of
    /// earlier hew.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub machine: String,
    /// Tasks this run claimed and backed off from, each `<task>: <why>`: another holder
    /// kept the claim, or its lease could not be renewed in time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backed_off: Vec<String>,
    /// hew's process id.
    #[serde(default)]
    pub pid: u32,
    /// The repository.
    #[serde(default)]
    pub repo: PathBuf,
    /// The branch work merges into.
    #[serde(default)]
    pub into: String,
    /// Set when merges went to `hew/run/<run-id>` instead, and why.
    #[serde(default)]
    pub diverted: Option<String>,
    /// Workers.
    #[serde(default)]
    pub jobs: u32,
    /// The agent runtime.
    #[serde(default)]
    pub runtime: Runtime,
    /// Iterations recorded so far.
    #[serde(default)]
    pub iterations: u32,
    /// Iterations per outcome so far.
    #[serde(default)]
    pub outcomes: BTreeMap<Outcome, u32>,
    /// Branches with an agent's unmerged commits that a recovery kept (the run died before
    /// it could record them in an iteration).
    #[serde(default)]
    pub kept_branches: Vec<String>,
}

impl RunRecord {
    /// Which hew wrote the record: [`RunKind::Earlier`] for one converted from earlier
    /// hew's format (`schema_version` [`SCHEMA_EARLIER`](super::SCHEMA_EARLIER)).
    pub fn kind(&self) -> RunKind {
        if self.schema_version == super::SCHEMA_EARLIER {
            RunKind::Earlier
        } else {
            RunKind::Current
        }
    }
}

impl IterRecord {
    /// The record of an iteration that has just started: everything known at claim time.
    pub fn started(number: u32, task_id: &str, title: &str, slot: usize, attempt: u32) -> Self {
        let now = Timestamp::now();
        Self {
            schema_version: SCHEMA_VERSION,
            number,
            task_id: task_id.to_owned(),
            title: title.to_owned(),
            slot,
            attempt,
            started_at: now,
            ended_at: now,
            outcome: Outcome::Cancelled,
            error_class: None,
            error: None,
            model: None,
            rule: Rule::None,
            runtime: Runtime::default(),
            usage: Usage::default(),
            reported_cost_usd: None,
            cost_usd: None,
            cost_per_model: BTreeMap::new(),
            branch: String::new(),
            base: String::new(),
            commits: Vec::new(),
            merge_commit: None,
            tested_at: None,
            merged_into: None,
            kept_branch: None,
            setup: None,
            verify: None,
            ended: None,
            exit_code: None,
            signal: None,
            leaked: false,
            agent_closed: false,
            stderr_tail: String::new(),
            notes: Vec::new(),
            timings: Timings::default(),
        }
    }
}
