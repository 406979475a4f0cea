//! `hew loop`: runs the loop, showing its progress (live lines on a terminal, whole lines
//! otherwise, JSON lines with `--json`: see `crate::progress`), then the run's summary (the
//! same as `hew loop summary`).
//! At the very end, `loop.notify.command` is told (see `notify`).
//! Ctrl-C (or SIGTERM) once stops scheduling and lets agents wind down within
//! `loop.agent.grace`; twice stops them at once.

use hew_core::agent::Stop;
use hew_core::records::StopReason;
use hew_core::runner::{RunError, RunOptions, RunReport, run_loop};
use hew_core::summary::summarize;
use hew_core::time::Timestamp;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch};

use super::summary::{Format, render};
use super::{RunArgs, overrides, task_filter};
use crate::context::Context;
use crate::error::CliError;
use crate::exit::Exit;
use crate::progress::{Mode, show};

pub fn run(ctx: &Context, args: RunArgs) -> Result<Exit, CliError> {
    let root = ctx.repo_root()?;
    let filter = task_filter(&args)?;
    let config = ctx.load_config(overrides(&args))?;
    let notify = config.looping.notify.clone();
    let remote = config.looping.merge.remote.clone();
    let opts = RunOptions {
        repo_root: root.clone(),
        config,
        filter,
        into: args.into.clone(),
        max_iters: args.max_iters,
        wait_for_reset: args.wait_for_reset,
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
        let (exit, hint) = match &e {
            RunError::Tracker(e) => (Exit::Tracker, crate::hints::tracker(e)),
            RunError::Worktree(e) => (Exit::Repo, crate::hints::worktree(e)),
            RunError::Record(_) => (
                Exit::Failure,
                Some("check that `.hew/` in the repository is writable".into()),
            ),
            RunError::Remote(e) => (Exit::Repo, Some(crate::hints::remote(e))),
            RunError::Skill { .. } => (
                Exit::Failure,
                Some(format!(
                    "fix or remove `{}`",
                    hew_core::runner::PROJECT_SKILL
                )),
            ),
        };
        CliError::new(exit, e).with_hint_opt(hint)
    })?;
    let summary = summarize(&report.record, &report.iters, Timestamp::now());
    if args.json {
        // The last line of the event stream: still one JSON object per line.
        let json = serde_json::json!({ "event": "summary", "summary": summary.to_json(false) });
        println!("{json}");
    } else {
        println!();
        print!("{}", render(&summary, Format::Table, false));
        print_footer(&root, &report, remote.as_deref());
    }
    if let Some(environment) = &report.environment {
        // Not the tasks': they are as they were. Say what to fix before running again.
        if let Some(error) = &report.record.error {
            eprintln!("error: {}", crate::escape::escape(error));
        }
        eprintln!(
            "hint: {}",
            crate::hints::agent_environment(environment, report.record.runtime)
        );
        eprintln!("hint: no task was touched: run `hew loop` again once that is fixed");
    }
    // Last, once the records are final: the summary it gets is the one `hew loop summary`
    // prints.
    if let Some(warning) = super::notify::notify(&root, &report.record.run_id, &notify) {
        eprintln!("warning: {warning}");
    }
    Ok(match report.record.stop_reason {
        Some(StopReason::Interrupted) => Exit::Interrupted,
        Some(StopReason::Error) if report.tracker_failed => Exit::Tracker,
        Some(
            StopReason::Auth
            | StopReason::Environment
            | StopReason::Error
            | StopReason::RepeatedFailure,
        ) => Exit::Failure,
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

fn print_footer(root: &std::path::Path, report: &RunReport, remote: Option<&str>) {
    let r = &report.record;
    println!();
    if let Some(u) = hew_core::diverted::unlanded_work(root, r) {
        for line in super::summary::unlanded_lines(&u) {
            println!("note: {line}");
        }
    } else if let Some(d) = &r.diverted {
        println!(
            "note: work was merged into hew/run/{} ({})",
            r.run_id,
            crate::escape::escape(d)
        );
    }
    let landed = r
        .outcomes
        .get(&hew_core::records::Outcome::Closed)
        .copied()
        .unwrap_or(0);
    // With a remote target the work is there, not on the branch checked out here.
    if landed > 0
        && let Some(remote) = remote
        && let Some(branch) = r
            .into
            .strip_prefix(remote)
            .and_then(|b| b.strip_prefix('/'))
    {
        println!(
            "note: work landed on {}; `git pull {} {}` brings it here",
            crate::escape::escape(&r.into),
            crate::escape::escape(remote),
            crate::escape::escape(branch)
        );
    }
    println!("records: .hew/loop/{}/", r.run_id);
}
