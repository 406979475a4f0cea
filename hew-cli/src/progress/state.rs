//! What the display knows about a run, built only from the runner's events.
//!
//! [`Progress::apply`] takes each event with the time it arrived (elapsed since the display
//! started, given by the caller: nothing here reads a clock) and returns the whole lines to
//! print for it; [`Progress::frame`] draws the live lines for a given moment. Both are pure,
//! so a recorded event sequence renders the same every time.

use std::collections::BTreeMap;
use std::time::Duration;

use hew_core::records::Outcome;
use hew_core::runner::RunEvent;

use super::format::{self, Style};
use crate::escape::escape;

/// Which stream a printed line belongs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Out,
    /// Standard error (warnings).
    Err,
}

/// A whole line to print above the live lines (or alone, without them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub stream: Stream,
    pub text: String,
    /// Only worth printing when there are no live lines to show the same thing (a task
    /// started, an agent is slow or being stopped).
    pub plain_only: bool,
}

/// Where one running agent stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentState {
    /// Claimed; the worktree is being prepared or the agent is starting.
    Starting,
    Running,
    /// Past `loop.agent.slow_after`.
    Slow,
    /// Retrying its API (see [`Worker::retry`]).
    Retrying,
    /// Being stopped (timeout or cancel).
    Terminating,
    /// The agent ended; its work is being merged and its task settled.
    Finishing,
}

impl AgentState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Running => "running",
            Self::Slow => "slow",
            Self::Retrying => "retrying",
            Self::Terminating => "terminating",
            Self::Finishing => "finishing",
        }
    }
}

/// One iteration in progress.
#[derive(Debug, Clone, PartialEq)]
pub struct Worker {
    pub iter: u32,
    pub slot: usize,
    pub task_id: String,
    pub title: String,
    pub model: Option<String>,
    /// When it was claimed.
    pub since: Duration,
    /// Tokens so far, from the agent's stream.
    pub tokens: u64,
    pub state: AgentState,
    /// The agent's last API retry: attempt, and out of how many if it said.
    pub retry: Option<(u32, Option<u32>)>,
}

/// A batch the merge queue is testing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Testing {
    /// Its iterations, in merge order.
    pub iters: Vec<u32>,
    /// It is half of a batch that failed.
    pub bisecting: bool,
    /// Tasks waiting in the queue behind it.
    pub waiting: usize,
}

/// The run as the display sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    pub run_id: Option<String>,
    pub jobs: u32,
    /// When the run started (its `RunStarted` event).
    pub started: Option<Duration>,
    /// Iterations in progress, by number.
    pub workers: BTreeMap<u32, Worker>,
    /// Iterations finished.
    pub done: u32,
    pub outcomes: BTreeMap<Outcome, u32>,
    /// Tokens of finished iterations.
    pub tokens_done: u64,
    /// The agents' own cost estimates of finished iterations, where they gave one.
    pub cost_done: Option<f64>,
    /// The merge queue's batch under test, if one is.
    pub testing: Option<Testing>,
    /// The run was asked to stop (Ctrl-C); shown on the overall line.
    pub stopping: bool,
    /// The run ended.
    pub finished: bool,
}

impl Progress {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes in `event`, which arrived at `at`; returns the lines to print for it, in
    /// `style`.
    pub fn apply(&mut self, event: &RunEvent, at: Duration, style: &Style) -> Vec<Line> {
        let out = |text: String| Line {
            stream: Stream::Out,
            text,
            plain_only: false,
        };
        let plain = |text: String| Line {
            stream: Stream::Out,
            text,
            plain_only: true,
        };
        let err = |text: String| Line {
            stream: Stream::Err,
            text,
            plain_only: false,
        };
        match event {
            RunEvent::RunStarted {
                run_id, into, jobs, ..
            } => {
                self.run_id = Some(run_id.clone());
                self.jobs = *jobs;
                self.started = Some(at);
                let agents = if *jobs == 1 {
                    "one agent at a time".to_owned()
                } else {
                    format!("up to {jobs} agents at once")
                };
                vec![out(format!(
                    "hew run {run_id}: {agents}, merging into {into}"
                ))]
            }
            RunEvent::Recovered(r) => format::recovery_lines(r)
                .into_iter()
                .map(|l| out(escape(&l).into_owned()))
                .collect(),
            RunEvent::BudgetCrossed {
                message,
                stopping_agents,
                ..
            } => {
                let then = if *stopping_agents {
                    "running agents are being stopped"
                } else {
                    "running agents finish"
                };
                vec![out(format!(
                    "budget crossed: {}; no new tasks, {then}",
                    escape(message)
                ))]
            }
            RunEvent::Diverted { branch, reason } => {
                vec![out(format!(
                    "note: {}; merging into {} instead",
                    escape(reason),
                    escape(branch)
                ))]
            }
            RunEvent::RuntimeSwitched { reason, .. } => {
                vec![out(format!("note: {}", escape(reason)))]
            }
            RunEvent::TaskSkipped { id, reason } => {
                vec![err(format!(
                    "warning: skipping `{}`: {}",
                    escape(id),
                    escape(reason)
                ))]
            }
            RunEvent::TaskClaimed {
                iter,
                slot,
                task_id,
                title,
                model,
                rule,
            } => {
                self.workers.insert(
                    *iter,
                    Worker {
                        iter: *iter,
                        slot: *slot,
                        task_id: escape(task_id).into_owned(),
                        title: escape(title).into_owned(),
                        model: model.as_deref().map(|m| escape(m).into_owned()),
                        since: at,
                        tokens: 0,
                        state: AgentState::Starting,
                        retry: None,
                    },
                );
                vec![plain(format::started_line(
                    &self.workers[iter],
                    rule.as_str(),
                ))]
            }
            RunEvent::AgentStarted { iter, .. } => {
                self.set_state(*iter, AgentState::Running);
                Vec::new()
            }
            RunEvent::AgentUsage { iter, usage } => {
                if let Some(w) = self.workers.get_mut(iter) {
                    w.tokens = usage.total.total();
                    // The API answered.
                    if w.state == AgentState::Retrying {
                        w.state = AgentState::Running;
                    }
                }
                Vec::new()
            }
            RunEvent::AgentRetrying {
                iter, attempt, max, ..
            } => {
                self.set_state(*iter, AgentState::Retrying);
                let Some(w) = self.workers.get_mut(iter) else {
                    return Vec::new();
                };
                w.retry = Some((*attempt, *max));
                vec![plain(format::state_line(
                    w,
                    &format!("retrying the API, {}", format::retry(*attempt, *max)),
                ))]
            }
            RunEvent::AgentSlow { iter } => {
                self.set_state(*iter, AgentState::Slow);
                self.workers
                    .get(iter)
                    .map(|w| plain(format::state_line(w, "past loop.agent.slow_after")))
                    .into_iter()
                    .collect()
            }
            RunEvent::AgentTerminating { iter } => {
                self.set_state(*iter, AgentState::Terminating);
                self.workers
                    .get(iter)
                    .map(|w| plain(format::state_line(w, "stopping the agent")))
                    .into_iter()
                    .collect()
            }
            RunEvent::Finishing { iter } => {
                if let Some(w) = self.workers.get_mut(iter) {
                    w.state = AgentState::Finishing;
                }
                Vec::new()
            }
            RunEvent::MergeTesting {
                iters,
                commit,
                bisecting,
                waiting,
            } => {
                self.testing = Some(Testing {
                    iters: iters.clone(),
                    bisecting: *bisecting,
                    waiting: *waiting,
                });
                let tasks: Vec<String> = iters
                    .iter()
                    .map(|i| match self.workers.get(i) {
                        Some(w) => w.task_id.clone(),
                        None => format!("#{i}"),
                    })
                    .collect();
                let what = if *bisecting {
                    "a failed batch, split: testing"
                } else {
                    "testing"
                };
                vec![plain(format!(
                    "merge queue: {what} {} merged at {} ({} waiting)",
                    tasks.join(", "),
                    &commit[..commit.len().min(10)],
                    waiting
                ))]
            }
            RunEvent::MergeLanded { iters, .. } => {
                if self
                    .testing
                    .as_ref()
                    .is_some_and(|t| t.iters.iter().any(|i| iters.contains(i)))
                {
                    self.testing = None;
                }
                Vec::new()
            }
            RunEvent::IterationFinished(log) => {
                self.workers.remove(&log.number);
                if let Some(t) = self.testing.as_mut() {
                    t.iters.retain(|i| *i != log.number);
                    if t.iters.is_empty() {
                        self.testing = None;
                    }
                }
                self.done += 1;
                *self.outcomes.entry(log.outcome).or_default() += 1;
                self.tokens_done = self.tokens_done.saturating_add(log.usage.total.total());
                if let Some(c) = log.reported_cost_usd {
                    *self.cost_done.get_or_insert(0.0) += c;
                }
                vec![out(format::finished_line(log, style))]
            }
            RunEvent::Warning { message } => {
                vec![err(format!("warning: {}", escape(message)))]
            }
            RunEvent::ClaimLost { task_id, reason } => vec![err(format!(
                "backed off {}: {}",
                escape(task_id),
                escape(reason)
            ))],
            RunEvent::RunFinished(_) => {
                self.finished = true;
                self.workers.clear();
                Vec::new()
            }
        }
    }

    fn set_state(&mut self, iter: u32, state: AgentState) {
        if let Some(w) = self.workers.get_mut(&iter) {
            // Once being stopped, an agent is not "running" or "slow" again.
            if w.state != AgentState::Terminating {
                w.state = state;
            }
        }
    }

    /// Tokens so far: finished iterations and the live figures of running ones.
    pub fn tokens(&self) -> u64 {
        self.workers
            .values()
            .fold(self.tokens_done, |sum, w| sum.saturating_add(w.tokens))
    }

    /// The live lines at `now`: one per running agent, by slot, then the overall line.
    /// Empty once the run has finished.
    pub fn frame(&self, now: Duration, style: &Style) -> Vec<String> {
        if self.finished || self.started.is_none() {
            return Vec::new();
        }
        let mut workers: Vec<&Worker> = self.workers.values().collect();
        workers.sort_by_key(|w| (w.slot, w.iter));
        let columns = format::Columns::fit(&workers);
        let mut lines: Vec<String> = workers
            .iter()
            .map(|w| format::worker_line(w, &columns, now, style))
            .collect();
        lines.push(format::overall_line(self, now, style));
        lines
    }
}
