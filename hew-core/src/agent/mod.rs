//! One agent process for one task: start it, stream its output to disk, count its tokens
//! as they arrive, bound it in time, and say what happened.
//!
//! Agents are long-running programs hew does not control: they print megabyte lines, fork
//! helpers that outlive them, ignore SIGTERM, or die without a word. [`run`] treats them the
//! way cargo-nextest treats tests: each runs in its own process group; it is reported slow
//! before anything is killed; on timeout or cancellation the group gets a polite signal,
//! then SIGKILL after a grace period; a grandchild still holding the output pipes after the
//! agent exits is killed and reported as leaked. Whatever happens, no process of the group
//! outlives [`run`], and everything the agent printed is on disk.
//!
//! The scheduler decides *when* to run an agent and what to do with the outcome; this
//! module only runs it. Token accounting follows `formats/agents.md` (see [`usage`]).

mod command;
mod error;
mod failure;
mod group;
mod preflight;
mod run;
mod runtime;
mod stream;
pub mod usage;

#[cfg(test)]
mod captured_tests;

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::tracker::TaskId;

pub use command::command_line;
pub use error::AgentError;
pub use failure::{AgentFailure, Environment, ErrorClass};
pub use preflight::{CheckStatus, Preflight, PreflightCheck, preflight};
pub use run::run;
pub use runtime::Runtime;
pub use usage::{ApiRetry, Link, Tokens, Usage, UsageSource};

/// Everything needed to start one agent on one task.
#[derive(Debug, Clone)]
pub struct Launch {
    /// Which CLI this is, hence how to build its command line and read its output.
    pub runtime: Runtime,
    /// Overrides the binary: by default `claude` or `codex` on PATH; for `command`, it
    /// replaces argv\[0\] of the template.
    pub program: Option<PathBuf>,
    /// The `command` runtime's argv template (`loop.agent.command`), with `{prompt_file}`,
    /// `{model}`, `{task_id}` and `{worktree}` substituted inside each element. No shell.
    pub template: Vec<String>,
    /// Claude: `--permission-mode`, what the agent may do without asking.
    pub permission_mode: Option<String>,
    /// Claude: `--max-budget-usd`, what the agent may spend on the task.
    pub max_budget_usd: Option<f64>,
    /// Claude: tools auto-approved with `--allowedTools`.
    pub allowed_tools: Vec<String>,
    /// Claude: `--mcp-config FILE --strict-mcp-config`.
    pub mcp_config: Option<PathBuf>,
    /// The resolved model, if any; none means the agent's own default.
    pub model: Option<String>,
    /// The task the agent works on.
    pub task_id: TaskId,
    /// The agent's working directory: the task's worktree.
    pub worktree: PathBuf,
    /// Written to the agent's stdin, which is then closed; also written to `prompt_file`.
    pub prompt: String,
    /// Where the prompt is written before the agent starts (`{prompt_file}`).
    pub prompt_file: PathBuf,
    /// Added to the inherited environment (`HEW_RUN_ID`, `HEW_TASK_ID`, ...).
    pub env: Vec<(String, String)>,
    /// Raw stdout, written as it arrives.
    pub stdout_log: PathBuf,
    /// Raw stderr, written as it arrives.
    pub stderr_log: PathBuf,
    /// Time bounds.
    pub limits: Limits,
}

/// How long an agent may run, modelled on nextest's slow/terminate/grace periods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// After this long the agent is stopped: SIGTERM to its group, SIGKILL `grace` later.
    pub timeout: Duration,
    /// Time between the polite signal (SIGTERM, or SIGINT on cancel) and SIGKILL.
    pub grace: Duration,
    /// After this long [`AgentEvent::Slow`] is sent once; nothing is killed.
    pub slow_after: Duration,
    /// An agent whose output has shown only connection errors for this long is stopped
    /// ([`EndReason::Unreachable`]); one that says it gave up retrying is stopped at once.
    pub connect_timeout: Duration,
}

/// What the caller wants a running agent to do; sent through a `watch` channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stop {
    /// Keep going.
    #[default]
    Run,
    /// SIGINT to the group (Claude ends its turn and prints a result), SIGKILL after the
    /// grace period.
    Graceful,
    /// SIGKILL the group now.
    Now,
}

/// Progress of one agent, sent as it happens.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentEvent {
    /// The process started.
    Started {
        /// Its pid, which is also its process group id.
        pid: u32,
    },
    /// Token usage changed; a snapshot of the figures so far.
    Usage(Usage),
    /// The agent has run longer than `slow_after`. Sent once.
    Slow,
    /// hew began stopping the agent.
    Terminating {
        /// Why: [`EndReason::TimedOut`], [`EndReason::Unreachable`] or
        /// [`EndReason::Cancelled`].
        why: EndReason,
    },
    /// The agent is retrying its API call ("retrying the API, attempt 4/10").
    ApiRetry(ApiRetry),
}

/// How an agent's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// It exited by itself (successfully or not).
    Exited,
    /// It ran past its timeout and was stopped.
    TimedOut,
    /// Its output showed only connection errors for `loop.agent.connect_timeout`, or it
    /// said it gave up retrying: it was stopped, with a [`Environment::Network`] failure.
    Unreachable,
    /// The caller stopped it ([`Stop::Graceful`] or [`Stop::Now`]).
    Cancelled,
}

/// What happened when an agent ran.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentRun {
    /// Why it ended.
    pub ended: EndReason,
    /// Its exit code, if it exited normally.
    pub exit_code: Option<i32>,
    /// The signal that ended it, if one did.
    pub signal: Option<i32>,
    /// Tokens used, as far as the output tells.
    pub usage: Usage,
    /// Why the agent failed, if it did: an error result or event in its output, or else a
    /// non-zero exit (class `other`, with the stderr tail).
    pub error: Option<AgentFailure>,
    /// Claude's own cost estimate (`total_cost_usd` of its result).
    pub reported_cost_usd: Option<f64>,
    /// The model the agent said it used (Claude's init or assistant events).
    pub model_seen: Option<String>,
    /// A process of the agent's group still held stdout or stderr open after the agent
    /// exited; the group was killed.
    pub leaked: bool,
    /// The last few KB of stderr, lossy UTF-8.
    pub stderr_tail: String,
    /// Writing a log file failed; the output was still read to the end (so the agent was
    /// never blocked) and parsed, but the log on disk is incomplete.
    pub log_error: Option<String>,
    /// When the process started.
    pub started_at: SystemTime,
    /// When [`run`] finished with it.
    pub ended_at: SystemTime,
}
