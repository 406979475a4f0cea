//! `hew loop list`: the runs in this repository, oldest first, each summed up from its
//! records (so a run still going shows what it has done so far).

use clap::Args;
use hew_core::diverted::unlanded_work;
use hew_core::records::{Outcome, RunDir, RunKind, RunStatus, list_runs};
use hew_core::summary::read_summary;
use hew_core::time::Timestamp;
use serde_json::json;

use super::summary::{cost, duration, unlanded_json, unlanded_lines};
use crate::context::Context;
use crate::error::CliError;
use crate::exit::Exit;
use crate::table::Table;

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print machine-readable JSON.
    #[arg(long)]
    json: bool,
}

pub fn list(ctx: &Context, args: ListArgs) -> Result<Exit, CliError> {
    let root = ctx.repo_root()?;
    let (runs, errors) = list_runs(&root);
    for e in &errors {
        eprintln!("warning: skipped {e}");
    }
    let now = Timestamp::now();
    let mut rows = Vec::new();
    let mut unlanded = Vec::new();
    for run in runs {
        let dir = RunDir::open(&root, &run.run_id);
        match read_summary(&dir, now) {
            Ok((summary, skipped)) => {
                for e in &skipped {
                    eprintln!("warning: skipped {e}");
                }
                rows.push(summary);
                unlanded.push(unlanded_work(&root, &run));
            }
            Err(e) => eprintln!("warning: skipped {e}"),
        }
    }
    if args.json {
        let runs: Vec<_> = rows
            .iter()
            .zip(&unlanded)
            .map(|(s, u)| {
                let mut run = json!({
                    "run_id": s.run_id,
                    "started_at": s.started_at.to_string(),
                    "duration_s": s.duration.as_secs_f64(),
                    "iterations": s.iterations,
                    "closed": s.outcomes.get(&Outcome::Closed).copied().unwrap_or(0),
                    "cost_usd": s.totals.cost_usd,
                    "status": s.status,
                    "stop_reason": s.stop_reason.map(|r| r.as_str()),
                    "unlanded": u.as_ref().map(unlanded_json),
                });
                if s.kind == RunKind::Earlier {
                    run["format"] = json!("earlier");
                }
                run
            })
            .collect();
        crate::json::print(json!({ "runs": runs }));
        return Ok(Exit::Success);
    }
    if rows.is_empty() {
        println!("no runs yet (`hew loop` starts one)");
        return Ok(Exit::Success);
    }
    let mut table = Table::new([
        "RUN", "STARTED", "DURATION", "ITERS", "CLOSED", "COST", "STOP",
    ])
    .right_align(&[2, 3, 4, 5]);
    for s in &rows {
        let stop = match (s.status, s.stop_reason) {
            (RunStatus::Running, _) => "running".to_owned(),
            (_, Some(reason)) => reason.to_string(),
            (_, None) => "-".to_owned(),
        };
        let stop = match s.kind {
            RunKind::Earlier => format!("{stop} (earlier hew)"),
            RunKind::Current => stop,
        };
        table.row([
            s.run_id.clone(),
            s.started_at.to_string(),
            duration(s.duration),
            s.iterations.to_string(),
            s.outcomes
                .get(&Outcome::Closed)
                .copied()
                .unwrap_or(0)
                .to_string(),
            cost(s.totals.cost_usd),
            stop,
        ]);
    }
    print!("{table}");
    for (s, u) in rows.iter().zip(&unlanded) {
        if let Some(u) = u {
            println!("\nnote: run {}:", s.run_id);
            for line in unlanded_lines(u) {
                println!("  {line}");
            }
        }
    }
    Ok(Exit::Success)
}
