//! `hew loop`: runs the loop, showing its progress (live lines on a terminal, whole lines
//! otherwise, JSON lines with `--json`: see `crate::progress`), then a short summary.
//! Ctrl-C (or SIGTERM) once stops scheduling and lets agents wind down within
//! `loop.agent.grace`; twice stops them at once.

use std::collections::BTreeMap;

use hew_core::agent::{Stop, Tokens};
use hew_core::iterlog::{Outcome, RunStatus, StopReason};
use hew_core::runner::{RunError, RunOptions, RunReport, run_loop};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch};

use super::{RunArgs, overrides, task_filter};
use crate::context::Context;
use crate::error::CliError;
use crate::exit::Exit;
use crate::progress::{Mode, show};
use crate::table::Table;

pub fn run(ctx: &Context, args: RunArgs) -> Result<Exit, CliError> {
    let root = ctx.repo_root()?;
    let filter = task_filter(&args)?;
    let config = ctx.load_config(overrides(&args))?;
    let opts = RunOptions {
        repo_root: root,
        config,
        filter,
        into: args.into.clone(),
        max_iters: args.max_iters,
    };
    let mode = Mode::choose(args.json, args.quiet);
    let report = crate::commands::run_async(true, async move {
        let (stop_tx, stop_rx) = watch::channel(Stop::Run);
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        // The live display says "stopping" itself: a line printed behind its back would
        // break it.
        let signals = tokio::spawn(forward_signals(stop_tx, mode != Mode::Live));
        let printer = tokio::spawn(show(mode, events_rx, stop_rx.clone()));
        let report = run_loop(opts, stop_rx, events_tx).await;
        let _ = printer.await;
        signals.abort();
        report
    })?;
    let report = report.map_err(|e| {
        let exit = match e {
            RunError::Tracker(_) => Exit::Tracker,
            RunError::Worktree(_) => Exit::Repo,
            RunError::Record(_) | RunError::Skill { .. } => Exit::Failure,
        };
        let hint = e.hint();
        CliError::new(exit, e).with_hint_opt(hint)
    })?;
    if args.json {
        let json = serde_json::json!({ "run": report.record, "iterations": report.iters });
        println!("{json:#}");
    } else {
        print_summary(&report);
    }
    Ok(match report.record.stop_reason {
        Some(StopReason::Interrupted) => Exit::Interrupted,
        Some(StopReason::Auth | StopReason::Error) => Exit::Failure,
        _ => Exit::Success,
    })
}

/// First Ctrl-C or SIGTERM: graceful stop. Second: stop now. With `announce`, says so on
/// stderr.
async fn forward_signals(stop: watch::Sender<Stop>, announce: bool) {
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return;
    };
    let mut count = 0;
    loop {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        count += 1;
        if count == 1 {
            if announce {
                eprintln!(
                    "stopping: no new tasks; running agents get SIGINT, then are killed after the grace period (Ctrl-C again to kill now)"
                );
            }
            let _ = stop.send(Stop::Graceful);
        } else {
            if announce {
                eprintln!("stopping now");
            }
            let _ = stop.send(Stop::Now);
        }
    }
}

fn print_summary(report: &RunReport) {
    let r = &report.record;
    let secs = r
        .ended_at
        .map(|e| e.since(r.started_at).as_secs_f64())
        .unwrap_or(0.0);
    let status = match r.status {
        RunStatus::Finished => "finished",
        RunStatus::Cancelled => "cancelled",
        RunStatus::Failed => "failed",
        RunStatus::Running | RunStatus::Crashed => "stopped",
    };
    let reason = r.stop_reason.map_or("unknown", StopReason::as_str);
    println!(
        "\nrun {} {status} ({reason}) after {secs:.1}s, {} iterations",
        r.run_id, r.iterations
    );
    if let Some(e) = &r.error {
        println!("error: {e}");
    }
    let outcomes: Vec<String> = Outcome::ALL
        .iter()
        .filter_map(|o| r.outcomes.get(o).map(|n| format!("{o} {n}")))
        .collect();
    if !outcomes.is_empty() {
        println!("outcomes: {}", outcomes.join(", "));
    }
    if let Some(d) = &r.diverted {
        println!("note: work was merged into hew/run/{} ({d})", r.run_id);
    }
    let mut by_model: BTreeMap<String, (u32, Tokens)> = BTreeMap::new();
    for it in &report.iters {
        let entry = by_model
            .entry(it.model.clone().unwrap_or_else(|| "(default)".into()))
            .or_default();
        entry.0 += 1;
        add(&mut entry.1, &it.usage.total);
    }
    if !by_model.is_empty() {
        let mut t = Table::new(["MODEL", "ITERS", "INPUT", "CACHED", "OUTPUT", "TOTAL"]);
        for (model, (n, tok)) in &by_model {
            t.row([
                model.clone(),
                n.to_string(),
                human(tok.input),
                human(tok.cache_read + tok.cache_create),
                human(tok.output),
                human(tok.total()),
            ]);
        }
        println!("\n{t}");
    }
    println!("records: .hew/loop/{}/", r.run_id);
}

fn add(sum: &mut Tokens, t: &Tokens) {
    sum.input += t.input;
    sum.output += t.output;
    sum.cache_read += t.cache_read;
    sum.cache_create += t.cache_create;
}

/// `1234567` → `1.2M`.
fn human(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}
