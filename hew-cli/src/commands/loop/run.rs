//! `hew loop`: runs the loop, printing a line as each task starts and ends, then the run's
//! summary (the same as `hew loop summary`). Ctrl-C (or SIGTERM) once stops scheduling and
//! lets agents wind down within `loop.agent.grace`; twice stops them at once.

use hew_core::agent::Stop;
use hew_core::iterlog::{IterLog, StopReason};
use hew_core::runner::{RunError, RunEvent, RunOptions, RunReport, run_loop};
use hew_core::summary::summarize;
use hew_core::time::Timestamp;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch};

use super::summary::{Format, cost, count, render};
use super::{RunArgs, overrides, task_filter};
use crate::context::Context;
use crate::error::CliError;
use crate::exit::Exit;

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
    let report = crate::commands::run_async(true, async move {
        let (stop_tx, stop_rx) = watch::channel(Stop::Run);
        let (events_tx, mut events_rx) = mpsc::unbounded_channel();
        let signals = tokio::spawn(forward_signals(stop_tx));
        let printer = tokio::spawn(async move {
            while let Some(ev) = events_rx.recv().await {
                print_event(&ev);
            }
        });
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
    let summary = summarize(&report.record, &report.iters, Timestamp::now());
    if args.json {
        let json = serde_json::json!({
            "run": report.record,
            "iterations": report.iters,
            "summary": summary.to_json(false),
        });
        println!("{json:#}");
    } else {
        println!();
        print!("{}", render(&summary, Format::Table, false));
        print_footer(&report);
    }
    Ok(match report.record.stop_reason {
        Some(StopReason::Interrupted) => Exit::Interrupted,
        Some(StopReason::Auth | StopReason::Error) => Exit::Failure,
        _ => Exit::Success,
    })
}

/// First Ctrl-C or SIGTERM: graceful stop. Second: stop now.
async fn forward_signals(stop: watch::Sender<Stop>) {
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
            eprintln!(
                "stopping: no new tasks; running agents get SIGINT, then are killed after the grace period (Ctrl-C again to kill now)"
            );
            let _ = stop.send(Stop::Graceful);
        } else {
            eprintln!("stopping now");
            let _ = stop.send(Stop::Now);
        }
    }
}

fn print_event(ev: &RunEvent) {
    match ev {
        RunEvent::RunStarted {
            run_id, into, jobs, ..
        } => {
            println!("hew run {run_id}: up to {jobs} agents at once, merging into {into}");
        }
        RunEvent::Recovered(r) => {
            for line in super::recover::report_lines(r) {
                println!("{line}");
            }
        }
        RunEvent::Diverted { branch, reason } => {
            println!("note: {reason}; merging into {branch} instead");
        }
        RunEvent::TaskSkipped { id, reason } => eprintln!("warning: skipping `{id}`: {reason}"),
        RunEvent::TaskClaimed {
            iter,
            slot,
            task_id,
            title,
            model,
            rule,
        } => {
            let model = model.as_deref().unwrap_or("(default)");
            println!("[w{slot}] #{iter} start   {task_id}  {title}  ({model}, rule {rule})");
        }
        RunEvent::AgentSlow { iter } => {
            println!("       #{iter} is slow (past loop.agent.slow_after)")
        }
        RunEvent::AgentTerminating { iter } => println!("       #{iter} stopping its agent"),
        RunEvent::IterationFinished(log) => println!("{}", finished_line(log)),
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
            println!("budget crossed: {message}; no new tasks, {then}");
        }
        RunEvent::Warning(w) => eprintln!("warning: {w}"),
        RunEvent::AgentStarted { .. } | RunEvent::AgentUsage { .. } | RunEvent::RunFinished(_) => {}
    }
}

fn finished_line(log: &IterLog) -> String {
    let mut line = format!(
        "[w{}] #{} {:<8} {}  {} tokens, {}",
        log.slot,
        log.number,
        log.outcome.as_str(),
        log.task_id,
        count(log.usage.total.total()),
        cost(log.cost_usd)
    );
    if let Some(c) = &log.merge_commit {
        line.push_str(&format!("  merged {}", &c[..c.len().min(10)]));
    }
    if let Some(b) = &log.kept_branch {
        line.push_str(&format!("  work kept on {b}"));
    }
    if let Some(e) = &log.error {
        line.push_str(&format!("  ({})", e.lines().next().unwrap_or_default()));
    }
    line
}

/// What the summary does not say: where the work and the records went.
fn print_footer(report: &RunReport) {
    let r = &report.record;
    println!();
    if let Some(d) = &r.diverted {
        println!("note: work was merged into hew/run/{} ({d})", r.run_id);
    }
    println!("records: .hew/loop/{}/", r.run_id);
}
