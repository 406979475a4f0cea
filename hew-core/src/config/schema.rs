//! The configuration, as typed data. Every struct defaults every field, so any one layer
//! (a user file, a project file) deserializes on its own, and unknown keys are refused.
//! `default-config.toml` documents each key; `keys.rs` lists each settable path.

use std::collections::BTreeMap;
use std::fmt;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::duration::HumanDuration;
use crate::agent::Limits;
pub use crate::agent::Runtime;
use crate::prices::ModelPrice;

/// All of hew's settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `[tracker]`: which beads CLI to run and how long to wait for it.
    pub tracker: TrackerConfig,
    /// `[loop]`: how `hew loop` schedules, routes and runs agents.
    #[serde(rename = "loop")]
    pub looping: LoopConfig,
    /// `[prices]`: price overrides per model name, USD per million tokens, laid over the
    /// built-in table field by field.
    pub prices: BTreeMap<String, ModelPrice>,
}

/// `[tracker]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrackerConfig {
    /// The tracker binary: `bd` or `br`, a name on PATH or a path. Unset: chosen by
    /// `tracker::choose_tracker` (the tool that made `.beads/`, else `bd`, else `br`).
    pub command: Option<String>,
    /// How long one tracker call may take before it is killed.
    pub timeout: HumanDuration,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            command: None,
            timeout: HumanDuration::from_secs(30),
        }
    }
}

/// `[loop]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoopConfig {
    /// How many agents run at once.
    pub jobs: NonZeroU32,
    /// Claim each busy worker's next task while its agent runs, so it starts the moment
    /// the worker is free.
    pub claim_ahead: bool,
    /// How long a claim holds without its run renewing it: a runner on another machine
    /// takes over a task whose lease has run out (the run renews it every third of this).
    pub lease: HumanDuration,
    /// Task types never run (epics are containers, not work).
    pub skip_types: Vec<String>,
    /// `[loop.model]`: which model each task gets.
    pub model: LoopModelConfig,
    /// `[loop.agent]`: how agents are started and bounded.
    pub agent: AgentConfig,
    /// `[loop.worktree]`: where tasks run.
    pub worktree: WorktreeConfig,
    /// `[loop.verify]`: the check run on a task's work before it lands.
    pub verify: VerifyConfig,
    /// `[loop.merge]`: how finished work lands on the target.
    pub merge: MergeConfig,
    /// `[loop.retry]`: how often a failing task is tried again.
    pub retry: RetryConfig,
    /// `[loop.budget]`: when a run stops for what it has spent.
    pub budget: BudgetConfig,
    /// `[loop.notify]`: what is told when a run ends.
    pub notify: NotifyConfig,
}

impl Default for LoopConfig {
    fn default() -> Self {
        Self {
            jobs: NonZeroU32::new(2).unwrap_or(NonZeroU32::MIN),
            claim_ahead: true,
            lease: HumanDuration::from_secs(5 * 60),
            skip_types: vec!["epic".into()],
            model: LoopModelConfig::default(),
            agent: AgentConfig::default(),
            worktree: WorktreeConfig::default(),
            verify: VerifyConfig::default(),
            merge: MergeConfig::default(),
            retry: RetryConfig::default(),
            budget: BudgetConfig::default(),
            notify: NotifyConfig::default(),
        }
    }
}

/// `[loop.model]`: the routing table. `model::resolve_model` says which entry wins.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoopModelConfig {
    /// The model for tasks no other rule matches; unset means the agent's own default.
    pub default: Option<String>,
    /// Model per task priority, `P0` (highest) to `P4`.
    pub by_priority: BTreeMap<Priority, String>,
    /// Model per task type (`bug`, `feature`, ... or custom types).
    pub by_type: BTreeMap<String, String>,
    /// Models to move a retried task to, weakest first (`["sonnet", "opus"]`).
    pub escalate: Vec<String>,
}

/// A task priority as written in config keys: `P0` to `P4`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Priority {
    /// Highest.
    P0,
    /// High.
    P1,
    /// Medium.
    P2,
    /// Low.
    P3,
    /// Lowest.
    P4,
}

impl Priority {
    /// All priorities, highest first.
    pub const ALL: [Priority; 5] = [Self::P0, Self::P1, Self::P2, Self::P3, Self::P4];

    /// The priority a tracker's number (0..=4) stands for.
    pub fn from_number(n: u8) -> Option<Self> {
        Self::ALL.get(usize::from(n)).copied()
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "P{}", *self as u8)
    }
}

/// A priority key that is not `P0`..`P4`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown priority `{0}`: expected one of P0, P1, P2, P3, P4")]
pub struct InvalidPriority(String);

impl FromStr for Priority {
    type Err = InvalidPriority;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.to_string() == s)
            .ok_or_else(|| InvalidPriority(s.to_owned()))
    }
}

/// `[loop.agent]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    /// `claude`, `codex` or `command`.
    pub runtime: Runtime,
    /// The program for `claude` or `codex`; unset: found on PATH by its usual name.
    pub binary: Option<PathBuf>,
    /// For the `command` runtime: argv template with `{prompt_file}`, `{model}`,
    /// `{task_id}`, `{worktree}` placeholders. Run without a shell.
    pub command: Vec<String>,
    /// Longest an agent may run before it is stopped.
    pub timeout: HumanDuration,
    /// Time between SIGTERM and SIGKILL when stopping an agent.
    pub grace: HumanDuration,
    /// After this long an agent is reported slow (nothing is killed).
    pub slow_after: HumanDuration,
    /// An agent whose output has shown only connection errors for this long is stopped,
    /// as an environment failure (network).
    pub connect_timeout: HumanDuration,
    /// Claude's `--permission-mode`: what the agent may do without asking (in print mode
    /// nobody answers, so whatever would ask is denied). Empty: the CLI's own default.
    pub permission_mode: String,
    /// Tools auto-approved for Claude (`--allowedTools`), e.g. `Bash(git commit:*)`.
    pub allowed_tools: Vec<String>,
    /// An MCP config file for Claude (`--mcp-config F --strict-mcp-config`).
    pub mcp_config: Option<PathBuf>,
    /// The runtime tasks move to while the main one's environment fails (a usage limit,
    /// its service unreachable); unset: such a failure stops the run.
    pub fallback: Option<Runtime>,
    /// The fallback's program; unset: `claude` or `codex` on PATH.
    pub fallback_binary: Option<PathBuf>,
    /// How long tasks stay on the fallback before the main runtime is tried again.
    pub fallback_cooldown: HumanDuration,
}

impl AgentConfig {
    /// The limits an agent runs under.
    pub fn limits(&self) -> Limits {
        Limits {
            timeout: self.timeout.get(),
            grace: self.grace.get(),
            slow_after: self.slow_after.get(),
            connect_timeout: self.connect_timeout.get(),
        }
    }

    /// The permission mode to pass, if any (empty means none).
    pub fn permission_mode(&self) -> Option<String> {
        Some(self.permission_mode.trim())
            .filter(|m| !m.is_empty())
            .map(str::to_owned)
    }
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            runtime: Runtime::Claude,
            binary: None,
            command: Vec::new(),
            timeout: HumanDuration::from_secs(45 * 60),
            grace: HumanDuration::from_secs(10),
            slow_after: HumanDuration::from_secs(15 * 60),
            connect_timeout: HumanDuration::from_secs(2 * 60),
            permission_mode: "acceptEdits".into(),
            allowed_tools: vec!["Bash".into()],
            mcp_config: None,
            fallback: None,
            fallback_binary: None,
            fallback_cooldown: HumanDuration::from_secs(30 * 60),
        }
    }
}

/// `[loop.worktree]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorktreeConfig {
    /// Where worker worktrees live; unset means inside the repository's git directory,
    /// outside the working tree.
    pub dir: Option<PathBuf>,
    /// Reuse each worker's worktree from task to task (warm build caches).
    pub reuse: bool,
    /// A shell command run in a worktree before its agent (install dependencies, copy
    /// files in): when the slot's worktree is made, and again when a file of
    /// `setup_when_changed` changed since. A failure is the environment's, not the task's.
    pub setup: Option<String>,
    /// Files (relative to the worktree) whose change since a slot's last setup runs the
    /// setup again: lock files, say.
    pub setup_when_changed: Vec<String>,
    /// Longest the setup command may run before it is killed (and counts as failed).
    pub setup_timeout: HumanDuration,
}

impl Default for WorktreeConfig {
    fn default() -> Self {
        Self {
            dir: None,
            reuse: true,
            setup: None,
            setup_when_changed: Vec::new(),
            setup_timeout: HumanDuration::from_secs(15 * 60),
        }
    }
}

/// `[loop.verify]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VerifyConfig {
    /// A shell command run with `sh -c`; non-zero means `verify_failed`. Where it runs is
    /// `on`.
    pub command: Option<String>,
    /// Where the command runs: on the merged result before it lands, on the task's branch
    /// after its agent, or both.
    pub on: VerifyOn,
}

/// Where `loop.verify.command` runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VerifyOn {
    /// On the target's tip with the task's work merged, in the merge queue's own worktree:
    /// the target only ever moves to a tested commit.
    #[default]
    Merge,
    /// In the task's worktree, on its branch, right after its agent (fails fast; the
    /// merged result is not tested).
    Branch,
    /// Both: the branch first, then the merged result.
    Both,
}

impl VerifyOn {
    /// Whether the command runs on the task's branch.
    pub fn on_branch(self) -> bool {
        matches!(self, Self::Branch | Self::Both)
    }

    /// Whether the command runs on the merged result.
    pub fn on_merge(self) -> bool {
        matches!(self, Self::Merge | Self::Both)
    }
}

/// `[loop.merge]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MergeConfig {
    /// At most this many waiting tasks are merged and verified together.
    pub batch: NonZeroU32,
    /// How many merged results the queue verifies at once, each in a worktree of its own.
    pub parallel: NonZeroU32,
    /// Land on this git remote's branch (pushed), not on the local branch.
    pub remote: Option<String>,
}

impl Default for MergeConfig {
    fn default() -> Self {
        Self {
            batch: NonZeroU32::new(8).unwrap_or(NonZeroU32::MIN),
            parallel: NonZeroU32::MIN,
            remote: None,
        }
    }
}

/// `[loop.notify]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    /// A shell command run once when a run ends (not a dry run), the run's summary JSON on
    /// its stdin. Its failure is a warning, never the run's.
    pub command: Option<String>,
    /// Longest the notify command may run before it is killed.
    pub timeout: HumanDuration,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            command: None,
            timeout: HumanDuration::from_secs(30),
        }
    }
}

/// `[loop.retry]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryConfig {
    /// Attempts after the first before a task is labelled `hew:exhausted`.
    pub max: u32,
    /// The wait before retrying a rate-limited task; doubles per attempt, with jitter.
    pub backoff: HumanDuration,
    /// Stop the run when this many different tasks in a row fail the same way (same
    /// outcome, class and message): that is the environment, not the tasks. 0: never.
    pub circuit_breaker: u32,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max: 2,
            backoff: HumanDuration::from_secs(30),
            circuit_breaker: 3,
        }
    }
}

/// `[loop.budget]`: limits on what one run spends. When one is crossed, no new task
/// starts; running agents finish (or are stopped, with `hard`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BudgetConfig {
    /// Tokens (input, output, cache reads and writes) over the whole run.
    pub tokens: Option<u64>,
    /// US dollars over the whole run, at hew's prices.
    pub usd: Option<f64>,
    /// US dollars one Claude agent may spend on one task (`--max-budget-usd`, the CLI's
    /// own count).
    pub task_usd: Option<f64>,
    /// Time since the run started.
    pub wall: Option<HumanDuration>,
    /// Stop running agents too when a budget is crossed.
    pub hard: bool,
}
