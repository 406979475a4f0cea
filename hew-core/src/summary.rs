//! What a run did and spent, added up from its records: the numbers behind
//! `hew loop summary`, `hew loop list` and the end of `hew loop`.
//!
//! Everything here is read from the iteration records and nothing else, so a summary is
//! the same whether the run finished, crashed or is still going, and its totals are the
//! sums of the records exactly: tokens are integers, costs are added in billionths of a
//! dollar (the unit they are rounded to when recorded). A cost that is unknown in any
//! record it sums over makes the sum unknown: hew never shows a partial sum as the total.
//!
//! Records are folded in one at a time ([`SummaryBuilder::add`]), so a run of any length
//! is summed in constant memory apart from the per-iteration rows.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::agent::usage::DEFAULT_MODEL_KEY;
use crate::agent::{Tokens, UsageSource};
use crate::prices::{nanos_to_usd, usd_to_nanos};
use crate::records::{
    IterRecord, Outcome, RecordError, RunDir, RunKind, RunRecord, RunStatus, StopReason,
};
use crate::time::Timestamp;

/// Tokens and what they cost.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Spend {
    /// The tokens.
    pub tokens: Tokens,
    /// Their cost in USD; `None` when unknown.
    pub cost_usd: Option<f64>,
}

/// One row of the `by model` table: iterations by the model hew asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelRow {
    /// The requested model, or `(default)` when no rule chose one.
    pub model: String,
    /// Iterations.
    pub iters: u32,
    /// Of those, iterations that closed their task.
    pub tasks_closed: u32,
    /// Every token those iterations used, on whatever model consumed it.
    pub spend: Spend,
}

/// One row of the `billed` table: tokens by the model that consumed them.
#[derive(Debug, Clone, PartialEq)]
pub struct BilledRow {
    /// The model as the agent reported it.
    pub model: String,
    /// Its tokens and their cost.
    pub spend: Spend,
}

/// One iteration, for `--tasks`.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRow {
    /// The iteration number.
    pub number: u32,
    /// The task.
    pub task_id: String,
    /// Its title.
    pub title: String,
    /// The requested model.
    pub model: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// Which attempt.
    pub attempt: u32,
    /// From claim to record.
    pub duration: Duration,
    /// What it used.
    pub spend: Spend,
    /// How far to trust the tokens.
    pub source: UsageSource,
    /// The commit the verify command ran on in the merge queue (hex), if it did.
    pub tested_at: Option<String>,
}

/// A branch kept with an agent's unmerged commits, so no work is lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptBranch {
    /// The branch.
    pub branch: String,
    /// The iteration that kept it; `None` when a recovery of the run kept it.
    pub iter: Option<u32>,
    /// The task whose work it holds, when an iteration kept it.
    pub task_id: Option<String>,
}

/// A run, summed up.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// The run's id.
    pub run_id: String,
    /// Which hew recorded it.
    pub kind: RunKind,
    /// When it started.
    pub started_at: Timestamp,
    /// How long it ran (so far, if it still runs).
    pub duration: Duration,
    /// Where it stands.
    pub status: RunStatus,
    /// Why it stopped, once it has.
    pub stop_reason: Option<StopReason>,
    /// The error that stopped it, if one did.
    pub error: Option<String>,
    /// Iteration records read.
    pub iterations: u32,
    /// Iterations per outcome (every outcome, zeros included).
    pub outcomes: BTreeMap<Outcome, u32>,
    /// Everything.
    pub totals: Spend,
    /// The agents' own cost estimates, summed (Claude's `total_cost_usd`); `None` when an
    /// agent that ran gave none (Codex never does).
    pub reported_cost_usd: Option<f64>,
    /// By requested model, `(default)` last. Empty when no iteration recorded a model.
    pub per_model: Vec<ModelRow>,
    /// By model that consumed tokens.
    pub billed: Vec<BilledRow>,
    /// Iterations whose usage is partial (the agent was stopped before its final figure).
    pub partial_usage: u32,
    /// Iterations whose usage is unknown (no figure in the agent's output).
    pub unknown_usage: u32,
    /// Iterations whose exact cost disagrees with the agent's own by more than 1 %
    /// (see [`cost_disagreement`](crate::prices::cost_disagreement)), in order.
    pub cost_disagreements: Vec<u32>,
    /// One row per iteration, in order.
    pub tasks: Vec<TaskRow>,
    /// Branches the run kept with unmerged commits, by iteration then the ones a recovery
    /// kept; each branch once (the latest iteration that kept it). Whether they have been
    /// merged since is git's to say ([`unmerged_commits`](crate::diverted::unmerged_commits)).
    pub kept_branches: Vec<KeptBranch>,
}

/// A cost being added up: exact nano-dollars, or unknown.
#[derive(Debug, Clone, Copy, Default)]
struct CostSum {
    nanos: u64,
    unknown: bool,
}

impl CostSum {
    fn add(&mut self, cost: Option<f64>) {
        match cost {
            Some(usd) => self.nanos = self.nanos.saturating_add(usd_to_nanos(usd)),
            None => self.unknown = true,
        }
    }

    fn get(self) -> Option<f64> {
        (!self.unknown).then(|| nanos_to_usd(self.nanos))
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct SpendSum {
    tokens: Tokens,
    cost: CostSum,
}

impl SpendSum {
    fn add(&mut self, tokens: &Tokens, cost: Option<f64>) {
        self.tokens.add(tokens);
        self.cost.add(cost);
    }

    fn get(self) -> Spend {
        Spend {
            tokens: self.tokens,
            cost_usd: self.cost.get(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct ModelSum {
    iters: u32,
    tasks_closed: u32,
    spend: SpendSum,
}

/// Adds up iteration records one at a time.
#[derive(Debug, Clone)]
pub struct SummaryBuilder {
    run: RunRecord,
    iterations: u32,
    outcomes: BTreeMap<Outcome, u32>,
    totals: SpendSum,
    reported: CostSum,
    reported_any: bool,
    per_model: BTreeMap<Option<String>, ModelSum>,
    any_model: bool,
    billed: BTreeMap<String, SpendSum>,
    partial_usage: u32,
    unknown_usage: u32,
    cost_disagreements: Vec<u32>,
    last_ended: Option<Timestamp>,
    tasks: Vec<TaskRow>,
    kept: BTreeMap<String, (u32, String)>,
}

impl SummaryBuilder {
    /// A summary of `run` with no iteration yet.
    pub fn new(run: RunRecord) -> Self {
        Self {
            run,
            iterations: 0,
            outcomes: Outcome::ALL.iter().map(|o| (*o, 0)).collect(),
            totals: SpendSum::default(),
            reported: CostSum::default(),
            reported_any: false,
            per_model: BTreeMap::new(),
            any_model: false,
            billed: BTreeMap::new(),
            partial_usage: 0,
            unknown_usage: 0,
            cost_disagreements: Vec::new(),
            last_ended: None,
            tasks: Vec::new(),
            kept: BTreeMap::new(),
        }
    }

    /// Adds one iteration record.
    pub fn add(&mut self, it: &IterRecord) {
        self.iterations += 1;
        *self.outcomes.entry(it.outcome).or_default() += 1;
        let tokens = &it.usage.total;
        self.totals.add(tokens, it.cost_usd);
        if it.ended.is_some() || it.reported_cost_usd.is_some() {
            self.reported.add(it.reported_cost_usd);
            self.reported_any |= it.reported_cost_usd.is_some();
        }

        let model = it.model.clone().filter(|m| !m.is_empty());
        self.any_model |= model.is_some();
        let row = self.per_model.entry(model).or_default();
        row.iters += 1;
        row.tasks_closed += u32::from(it.outcome == Outcome::Closed);
        row.spend.add(tokens, it.cost_usd);

        for (model, tokens) in &it.usage.per_model {
            if tokens.total() == 0 {
                continue;
            }
            // Older records have no per-model cost: unknown, like any missing price.
            let cost = it.cost_per_model.get(model).copied().flatten();
            self.billed
                .entry(model.clone())
                .or_default()
                .add(tokens, cost);
        }
        if it.usage.per_model.is_empty() && tokens.total() > 0 {
            // An older record with totals only: the model that used them is not known.
            let billed = self.billed.entry(DEFAULT_MODEL_KEY.to_owned()).or_default();
            billed.add(tokens, it.cost_usd);
        }
        if crate::prices::cost_disagreement(&it.usage, it.cost_usd, it.reported_cost_usd).is_some()
        {
            self.cost_disagreements.push(it.number);
        }
        match it.usage.source {
            UsageSource::Partial => self.partial_usage += 1,
            UsageSource::Unknown if it.ended.is_some() => self.unknown_usage += 1,
            _ => {}
        }
        self.last_ended = self.last_ended.max(Some(it.ended_at));
        if let Some(branch) = it.kept_branch.as_ref().filter(|b| !b.is_empty()) {
            let kept = self.kept.entry(branch.clone()).or_default();
            if it.number >= kept.0 {
                *kept = (it.number, it.task_id.clone());
            }
        }
        self.tasks.push(TaskRow {
            number: it.number,
            task_id: it.task_id.clone(),
            title: it.title.clone(),
            model: it.model.clone(),
            outcome: it.outcome,
            attempt: it.attempt,
            duration: it.ended_at.since(it.started_at),
            spend: Spend {
                tokens: *tokens,
                cost_usd: it.cost_usd,
            },
            source: it.usage.source,
            tested_at: it.tested_at.clone(),
        });
    }

    /// The summary, as of `now` (which only matters for a run still going).
    pub fn finish(mut self, now: Timestamp) -> Summary {
        let run = &self.run;
        let end = match (run.ended_at, run.status) {
            (Some(end), _) => end,
            (None, RunStatus::Running) => now,
            (None, _) => self.last_ended.unwrap_or(run.started_at),
        };
        self.tasks.sort_by_key(|t| t.number);
        let mut per_model: Vec<ModelRow> = Vec::new();
        if self.any_model {
            // `None` sorts first in the map; `(default)` goes last.
            let mut rows: Vec<_> = self.per_model.into_iter().collect();
            let default_first = rows.first().is_some_and(|(m, _)| m.is_none());
            rows.rotate_left(usize::from(default_first));
            per_model = rows
                .into_iter()
                .map(|(model, sum)| ModelRow {
                    model: model.unwrap_or_else(|| DEFAULT_MODEL_KEY.to_owned()),
                    iters: sum.iters,
                    tasks_closed: sum.tasks_closed,
                    spend: sum.spend.get(),
                })
                .collect();
        }
        let mut kept_branches: Vec<KeptBranch> = self
            .kept
            .into_iter()
            .map(|(branch, (iter, task_id))| KeptBranch {
                branch,
                iter: Some(iter),
                task_id: Some(task_id),
            })
            .collect();
        kept_branches.sort_by_key(|k| k.iter);
        for branch in &run.kept_branches {
            if !kept_branches.iter().any(|k| &k.branch == branch) {
                kept_branches.push(KeptBranch {
                    branch: branch.clone(),
                    iter: None,
                    task_id: None,
                });
            }
        }
        Summary {
            run_id: run.run_id.clone(),
            kind: run.kind(),
            started_at: run.started_at,
            duration: end.since(run.started_at),
            status: run.status,
            stop_reason: run.stop_reason,
            error: run.error.clone(),
            iterations: self.iterations,
            outcomes: self.outcomes,
            totals: self.totals.get(),
            reported_cost_usd: self.reported.get().filter(|_| self.reported_any),
            per_model,
            billed: self
                .billed
                .into_iter()
                .map(|(model, sum)| BilledRow {
                    model,
                    spend: sum.get(),
                })
                .collect(),
            partial_usage: self.partial_usage,
            unknown_usage: self.unknown_usage,
            cost_disagreements: {
                let mut d = self.cost_disagreements;
                d.sort_unstable();
                d
            },
            tasks: self.tasks,
            kept_branches,
        }
    }
}

/// Reads and sums up the run in `dir`: its `run.json` (which must be readable) and every
/// readable iteration record, one at a time. Returns the records that could not be read,
/// to be reported and skipped.
pub fn read_summary(
    dir: &RunDir,
    now: Timestamp,
) -> Result<(Summary, Vec<RecordError>), RecordError> {
    let mut builder = SummaryBuilder::new(dir.read_run()?);
    let errors = dir.for_each_iter(|it| builder.add(&it));
    Ok((builder.finish(now), errors))
}

/// Sums up `run` from its iteration records.
pub fn summarize(run: &RunRecord, iters: &[IterRecord], now: Timestamp) -> Summary {
    let mut builder = SummaryBuilder::new(run.clone());
    for it in iters {
        builder.add(it);
    }
    builder.finish(now)
}

impl Summary {
    /// Whether the run is still going (as far as its record says).
    pub fn in_progress(&self) -> bool {
        self.status == RunStatus::Running
    }

    /// Share of input-side tokens read from the cache, in percent; `None` with no input.
    pub fn cached_percent(&self) -> Option<f64> {
        let t = &self.totals.tokens;
        let input_side = t.input + t.cache_read + t.cache_create;
        (input_side > 0).then(|| t.cache_read as f64 * 100.0 / input_side as f64)
    }

    /// The machine-readable form: `{"run_id", "started_at", "duration_s", "stop_reason",
    /// "outcomes", "totals", "per_model", "billed", "cost_disagreements"}`, and `"tasks"`
    /// when asked for.
    /// Unknown costs are `null`; so is the stop reason of a run still going. A run
    /// recorded by earlier hew also has `"format": "earlier"`.
    pub fn to_json(&self, with_tasks: bool) -> Value {
        let tokens = |t: &Tokens| {
            json!({
                "input": t.input,
                "cache_read": t.cache_read,
                "cache_create": t.cache_create,
                "cache_create_1h": t.cache_create_1h,
                "cache_create_unsplit": t.cache_create_unsplit,
                "web_search_requests": t.web_search_requests,
                "output": t.output,
                "total": t.total(),
            })
        };
        let spend = |s: &Spend| {
            let mut v = tokens(&s.tokens);
            v["cost_usd"] = json!(s.cost_usd);
            v
        };
        let outcomes: serde_json::Map<String, Value> = self
            .outcomes
            .iter()
            .map(|(o, n)| (o.as_str().to_owned(), json!(n)))
            .collect();
        let per_model: Vec<Value> = self
            .per_model
            .iter()
            .map(|r| {
                let mut v =
                    json!({"model": r.model, "iters": r.iters, "tasks_closed": r.tasks_closed});
                extend(&mut v, spend(&r.spend));
                v
            })
            .collect();
        let billed: Vec<Value> = self
            .billed
            .iter()
            .map(|r| {
                let mut v = json!({"model": r.model});
                extend(&mut v, spend(&r.spend));
                v
            })
            .collect();
        let mut out = json!({
            "run_id": self.run_id,
            "started_at": self.started_at.to_string(),
            "duration_s": self.duration.as_secs_f64(),
            "stop_reason": self.stop_reason.map(StopReason::as_str),
            "outcomes": outcomes,
            "totals": spend(&self.totals),
            "per_model": per_model,
            "billed": billed,
            "cost_disagreements": self.cost_disagreements,
        });
        if self.kind == RunKind::Earlier {
            out["format"] = json!("earlier");
        }
        if with_tasks {
            let tasks: Vec<Value> = self
                .tasks
                .iter()
                .map(|t| {
                    let mut v = json!({
                        "iter": t.number,
                        "task_id": t.task_id,
                        "title": t.title,
                        "model": t.model,
                        "outcome": t.outcome.as_str(),
                        "attempt": t.attempt,
                        "duration_s": t.duration.as_secs_f64(),
                        "usage_source": t.source,
                        "tested_at": t.tested_at,
                    });
                    extend(&mut v, spend(&t.spend));
                    v
                })
                .collect();
            out["tasks"] = json!(tasks);
        }
        out
    }
}

fn extend(v: &mut Value, more: Value) {
    if let (Value::Object(v), Value::Object(more)) = (v, more) {
        v.extend(more);
    }
}

#[cfg(test)]
#[path = "summary_tests.rs"]
mod tests;
