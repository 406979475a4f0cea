//! The records of earlier hew (0.9–0.12), read as this hew's own.
//!
//! Earlier hew wrote `.hew/loop/<run-id>/` too, in another format: `run.json` without
//! `schema_version` (`id`, `started_at`, `last_updated_at`, `iter_count`,
//! `cumulative_tokens`, `stop_reason`), one `iter-NNN.json` per iteration beside it, and
//! for parallel runs a `manifest.json` with a `worker-N/` directory per worker holding that
//! worker's `iter-NNN.json` (numbered per worker). Users upgrade with those directories on
//! disk, and a record that some hew wrote stays readable by every later one, so they are
//! read here and converted, on the fly, into [`RunRecord`] and [`IterRecord`]: every reader
//! (list, summary, logs, doctor, recovery) then sees them with no special case.
//!
//! A converted record carries [`SCHEMA_EARLIER`] as its `schema_version`, which is how a
//! reader tells it apart ([`RunRecord::kind`]). Nothing is ever written back: the
//! directory stays as earlier hew left it ([`super::RunDir::write_run`] refuses).
//!
//! What the conversion decides:
//!
//! - A run of earlier hew is never `running`: its process cannot be told from here (it
//!   took no lock) and it holds no claim this hew could release, so it is a finished run
//!   of another format, never stale.
//! - Outcomes are mapped, and the original word kept in the iteration's notes:
//!   `closed` → `closed`, `no_close` → `no_change`, `backpressure_fail` (its checks after
//!   the agent failed) → `verify_failed`, `runtime_error` → `agent_failed`, none (the
//!   iteration never ended) → `cancelled`.
//! - Tokens are earlier hew's `cost` figures, as final figures of the model the iteration
//!   asked for (earlier hew had no per-model split). The cost is computed at the built-in
//!   prices where that model is known and priced, and is unknown otherwise (no model, or
//!   a model without a price); an iteration that used no token cost nothing.
//! - Parallel iterations are numbered afresh in the order they started (the per-worker
//!   numbers repeat), the worker becoming the slot.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::record::{IterRecord, Outcome, RunRecord, RunStatus, StopReason};
use super::store::{RecordError, read_json};
use crate::agent::usage::DEFAULT_MODEL_KEY;
use crate::agent::{EndReason, Tokens, Usage, UsageSource};
use crate::config::Runtime;
use crate::prices::Prices;
use crate::time::Timestamp;

/// The `schema_version` of records converted from earlier hew's format, which had none.
pub const SCHEMA_EARLIER: u32 = 0;

/// Earlier hew's `run.json` (its `RunLog`), the fields that matter here.
#[derive(Debug, Deserialize)]
struct EarlierRun {
    /// Required: with no `schema_version`, the mark of earlier hew's `run.json`.
    #[serde(rename = "id")]
    _id: String,
    started_at: String,
    #[serde(default)]
    last_updated_at: Option<String>,
    #[serde(default)]
    iter_count: u32,
    #[serde(default)]
    stop_reason: Option<String>,
}

/// Earlier hew's `manifest.json` of a parallel run.
#[derive(Debug, Deserialize)]
struct EarlierManifest {
    #[serde(default)]
    jobs: u32,
    started_at: String,
    #[serde(default)]
    completed_at: Option<String>,
    #[serde(default)]
    workers: Vec<EarlierWorker>,
}

#[derive(Debug, Deserialize)]
struct EarlierWorker {
    #[serde(default)]
    iter_count: u32,
    #[serde(default)]
    stop_reason: Option<String>,
}

/// Earlier hew's `iter-NNN.json` (its `IterRecord`), the fields that matter here.
#[derive(Debug, Deserialize)]
struct EarlierIter {
    number: u32,
    #[serde(default)]
    task_id: Option<String>,
    started_at: String,
    #[serde(default)]
    ended_at: Option<String>,
    #[serde(default)]
    outcome: Option<String>,
    #[serde(default)]
    cost: EarlierTokens,
    #[serde(default)]
    stderr_tail: Option<String>,
    #[serde(default)]
    runtime_used: Option<String>,
    #[serde(default)]
    cooldown_engaged: bool,
    #[serde(default)]
    model: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct EarlierTokens {
    input: u64,
    output: u64,
    cache_read: u64,
    cache_create: u64,
}

/// Whether the run directory at `dir` holds earlier hew's iteration records: this hew
/// creates `iters/` before anything else, earlier hew never did.
pub(super) fn holds_earlier_iters(dir: &Path) -> bool {
    !dir.join("iters").is_dir()
}

/// Whether the run directory at `dir` is earlier hew's: no `iters/`, and a `manifest.json`
/// or a `run.json` (which one, [`read_run`] tells).
pub(super) fn is_earlier_dir(dir: &Path) -> bool {
    holds_earlier_iters(dir)
        && (dir.join("manifest.json").is_file() || dir.join("run.json").is_file())
}

/// Reads the run in `dir` (named `run_id`) if it is earlier hew's: `Ok(None)` when it is
/// this hew's (`run.json` has a `schema_version`).
pub(super) fn read_run(dir: &Path, run_id: &str) -> Result<Option<RunRecord>, RecordError> {
    let run_file = dir.join("run.json");
    let manifest = dir.join("manifest.json");
    let run: Option<serde_json::Value> = match fs::read(&run_file) {
        Ok(bytes) => Some(serde_json::from_slice(&bytes).map_err(|e| corrupt(&run_file, e))?),
        Err(e) if e.kind() == io::ErrorKind::NotFound && manifest.is_file() => None,
        Err(source) => {
            return Err(RecordError::Io {
                action: "read",
                path: run_file,
                source,
            });
        }
    };
    if run
        .as_ref()
        .is_some_and(|v| v.get("schema_version").is_some())
    {
        return Ok(None);
    }
    // The manifest sums up every worker; a top-level run.json beside it may be stale.
    if manifest.is_file() {
        let m: EarlierManifest = read_json(&manifest)?;
        let stops: Vec<&str> = m
            .workers
            .iter()
            .filter_map(|w| w.stop_reason.as_deref())
            .collect();
        // The worker that stopped for a reason of its own speaks for the run.
        let stop = stops
            .iter()
            .find(|s| **s != "ready_empty")
            .or(stops.first())
            .copied();
        let started_at = time(&manifest, &m.started_at)?;
        let ended_at = m
            .completed_at
            .as_deref()
            .map(|t| time(&manifest, t))
            .transpose()?;
        let iterations = m.workers.iter().map(|w| w.iter_count).sum();
        return Ok(Some(run_record(
            run_id,
            started_at,
            ended_at,
            stop,
            m.jobs.max(1),
            iterations,
        )));
    }
    let Some(run) = run else {
        return Ok(None);
    };
    let run: EarlierRun = serde_json::from_value(run).map_err(|e| corrupt(&run_file, e))?;
    let started_at = time(&run_file, &run.started_at)?;
    let ended_at = run
        .last_updated_at
        .as_deref()
        .map(|t| time(&run_file, t))
        .transpose()?;
    Ok(Some(run_record(
        run_id,
        started_at,
        ended_at,
        run.stop_reason.as_deref(),
        1,
        run.iter_count,
    )))
}

fn run_record(
    run_id: &str,
    started_at: Timestamp,
    ended_at: Option<Timestamp>,
    stop: Option<&str>,
    jobs: u32,
    iterations: u32,
) -> RunRecord {
    let (status, stop_reason, error) = stop_of(stop);
    RunRecord {
        schema_version: SCHEMA_EARLIER,
        run_id: run_id.to_owned(),
        status,
        stop_reason,
        error,
        started_at,
        ended_at,
        hew_version: String::new(),
        host: String::new(),
        machine: String::new(),
        backed_off: Vec::new(),
        pid: 0,
        repo: PathBuf::new(),
        into: String::new(),
        diverted: None,
        jobs,
        runtime: Runtime::default(),
        iterations,
        outcomes: BTreeMap::new(),
        kept_branches: Vec::new(),
    }
}

/// Earlier hew's stop reason as this hew's status, reason and error.
fn stop_of(stop: Option<&str>) -> (RunStatus, Option<StopReason>, Option<String>) {
    let plain = |reason| (RunStatus::Finished, Some(reason), None);
    match stop {
        None => (RunStatus::Finished, None, None),
        Some("ready_empty") => plain(StopReason::ReadyEmpty),
        Some("max_iter") => plain(StopReason::MaxIters),
        Some("stop_file") => plain(StopReason::StopFile),
        Some("budget_tokens") => plain(StopReason::BudgetTokens),
        Some("budget_wall") => plain(StopReason::BudgetWall),
        Some("cancelled") => (RunStatus::Cancelled, Some(StopReason::Interrupted), None),
        Some("runtime_error") => (
            RunStatus::Failed,
            Some(StopReason::Error),
            Some("earlier hew stopped on `runtime_error`: the agent runtime failed".into()),
        ),
        Some("guard_trip") => (
            RunStatus::Failed,
            Some(StopReason::Error),
            Some("earlier hew stopped on `guard_trip`: one of its guards tripped".into()),
        ),
        Some(other) => (
            RunStatus::Finished,
            None,
            Some(format!("earlier hew stopped on `{other}`")),
        ),
    }
}

/// Reads earlier hew's iteration records in `dir` (`iter-NNN.json`, and
/// `worker-N/iter-NNN.json` of a parallel run), converted, in the order they started, and
/// the files that could not be read.
pub(super) fn read_iters(dir: &Path) -> (Vec<IterRecord>, Vec<RecordError>) {
    let mut files: Vec<(usize, u32, PathBuf)> = Vec::new();
    let mut errors = Vec::new();
    let mut parallel = false;
    match fs::read_dir(dir) {
        Ok(entries) => {
            for entry in entries.flatten() {
                let path = entry.path();
                let name = entry.file_name().to_string_lossy().into_owned();
                if let Some(n) = iter_number(&name) {
                    files.push((0, n, path));
                } else if let Some(worker) = name
                    .strip_prefix("worker-")
                    .and_then(|w| w.parse::<usize>().ok())
                    .filter(|_| path.is_dir())
                {
                    parallel = true;
                    let Ok(inner) = fs::read_dir(&path) else {
                        continue;
                    };
                    for e in inner.flatten() {
                        if let Some(n) = iter_number(&e.file_name().to_string_lossy()) {
                            files.push((worker, n, e.path()));
                        }
                    }
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(source) => {
            errors.push(RecordError::Io {
                action: "list",
                path: dir.to_owned(),
                source,
            });
        }
    }
    files.sort();
    let prices = Prices::default();
    let mut iters = Vec::new();
    for (slot, _, path) in files {
        let shown = path
            .strip_prefix(dir)
            .unwrap_or(&path)
            .display()
            .to_string();
        match read_json::<EarlierIter>(&path)
            .and_then(|it| convert(it, slot, &shown, &path, &prices))
        {
            Ok(it) => iters.push(it),
            Err(e) => errors.push(e),
        }
    }
    if parallel {
        iters.sort_by(|a, b| {
            (a.started_at, a.slot, a.number).cmp(&(b.started_at, b.slot, b.number))
        });
        for (i, it) in iters.iter_mut().enumerate() {
            it.number = u32::try_from(i + 1).unwrap_or(u32::MAX);
        }
    }
    (iters, errors)
}

/// `iter-007.json` → 7.
fn iter_number(name: &str) -> Option<u32> {
    name.strip_prefix("iter-")?
        .strip_suffix(".json")?
        .parse()
        .ok()
}

fn convert(
    it: EarlierIter,
    slot: usize,
    shown: &str,
    path: &Path,
    prices: &Prices,
) -> Result<IterRecord, RecordError> {
    let outcome = match it.outcome.as_deref() {
        Some("closed") => Outcome::Closed,
        Some("no_close") => Outcome::NoChange,
        Some("backpressure_fail") => Outcome::VerifyFailed,
        Some("runtime_error") => Outcome::AgentFailed,
        None => Outcome::Cancelled,
        Some(other) => {
            return Err(RecordError::Corrupt {
                path: path.to_owned(),
                reason: format!("unknown outcome `{other}` of earlier hew"),
            });
        }
    };
    let started_at = time(path, &it.started_at)?;
    let ended_at = match it.ended_at.as_deref() {
        Some(t) => time(path, t)?,
        None => started_at,
    };
    let tokens = Tokens {
        input: it.cost.input,
        output: it.cost.output,
        cache_read: it.cost.cache_read,
        cache_create: it.cost.cache_create,
        // Earlier hew never knew how long its cache writes were kept.
        cache_create_unsplit: it.cost.cache_create,
        ..Tokens::default()
    };
    let model = it.model.filter(|m| !m.is_empty());
    let mut per_model = BTreeMap::new();
    if tokens.total() > 0 {
        let key = model
            .clone()
            .unwrap_or_else(|| DEFAULT_MODEL_KEY.to_owned());
        per_model.insert(key, tokens);
    }
    let usage = Usage {
        total: tokens,
        per_model,
        source: UsageSource::Result,
    };
    let cost = prices.cost(&usage);
    let mut notes = vec![format!(
        "recorded by earlier hew in `{shown}`, outcome `{}`",
        it.outcome.as_deref().unwrap_or("none")
    )];
    if it.cooldown_engaged {
        notes.push("earlier hew's fallback runtime was in use".into());
    }
    let runtime = match it.runtime_used.as_deref() {
        Some("codex") => Runtime::Codex,
        _ => Runtime::Claude,
    };
    let mut log = IterRecord::started(
        it.number,
        it.task_id.as_deref().unwrap_or_default(),
        "",
        slot,
        1,
    );
    log.schema_version = SCHEMA_EARLIER;
    log.started_at = started_at;
    log.ended_at = ended_at;
    log.outcome = outcome;
    log.error = (outcome == Outcome::AgentFailed)
        .then(|| "the agent runtime failed (earlier hew's `runtime_error`)".to_owned());
    log.model = model;
    log.runtime = runtime;
    log.usage = usage;
    log.cost_usd = cost.total;
    log.cost_per_model = cost.per_model;
    log.ended = it.outcome.is_some().then_some(EndReason::Exited);
    log.stderr_tail = it.stderr_tail.unwrap_or_default();
    log.notes = notes;
    Ok(log)
}

/// Earlier hew's times: `2026-05-30T12:00:00Z`, perhaps with a fraction of any length.
fn time(path: &Path, text: &str) -> Result<Timestamp, RecordError> {
    let normalized = match text.strip_suffix('Z').and_then(|t| t.split_once('.')) {
        Some((secs, frac)) if frac.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{secs}.{:0<3.3}Z", frac)
        }
        _ => text.to_owned(),
    };
    Timestamp::parse(&normalized).ok_or_else(|| RecordError::Corrupt {
        path: path.to_owned(),
        reason: format!("`{text}` is not a time like 2026-05-30T12:00:00Z"),
    })
}

fn corrupt(path: &Path, e: serde_json::Error) -> RecordError {
    RecordError::Corrupt {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

#[cfg(test)]
#[path = "earlier_tests.rs"]
mod tests;
