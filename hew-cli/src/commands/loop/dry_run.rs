//! `hew loop --dry-run`: what the loop would run right now, in order, with the model each
//! task would get and the rule that chose it, and the model names the rules gave that were
//! refused (see `hew_core::model`). Changes nothing.

use hew_core::model::Rejected;
use hew_core::plan::{Plan, SkipReason, plan};
use serde::Serialize;

use super::{RunArgs, overrides, task_filter};
use crate::context::Context;
use crate::error::CliError;
use crate::exit::Exit;
use crate::table::Table;

/// How many ready tasks a dry run asks for.
const DRY_RUN_LIMIT: usize = 1000;

/// One planned task, as `--dry-run --json` prints it.
#[derive(Serialize)]
struct DryRunRow<'a> {
    id: &'a str,
    title: &'a str,
    priority: Option<u8>,
    issue_type: &'a str,
    labels: &'a [String],
    model: Option<&'a str>,
    rule: &'a str,
    /// Model names refused on the way to `model`; the next rule applied.
    rejected_models: Vec<Rejected>,
}

/// The model names the routing rules gave `p` and refused.
pub fn dry_run(ctx: &Context, run: RunArgs) -> Result<Exit, CliError> {
    let root = ctx.repo_root()?;
    let filter = task_filter(&run)?;
    let config = ctx.load_config(overrides(&run))?;
    let tracker = ctx.tracker(&config, &root)?;
    let plan = crate::commands::block_on(plan(&tracker, &config.looping, &filter, DRY_RUN_LIMIT))??;

    for s in &plan.skipped {
        if let SkipReason::InvalidId(e) = &s.reason {
            eprintln!(
                "warning: skipping a ready task: {}",
                crate::escape::escape(&e.to_string())
            );
        }
    }
    if run.json {
        let rows: Vec<DryRunRow> = plan
            .tasks
            .iter()
            .map(|p| DryRunRow {
                id: p.id.as_str(),
                title: &p.task.title,
                priority: p.task.priority,
                issue_type: &p.task.issue_type,
                labels: p.task.labels(),
                model: p.model.as_deref(),
                rule: p.rule.as_str(),
                rejected_models: p.rejected.clone(),
            })
            .collect();
        crate::json::print(serde_json::json!({
            "jobs": config.looping.jobs.get(),
            "tasks": rows,
        }));
    } else {
        print_plan(&plan, config.looping.jobs.get());
        for p in &plan.tasks {
            for r in &p.rejected {
                println!(
                    "Refused for {}: {}",
                    p.id,
                    crate::escape::escape(&r.to_string())
                );
            }
        }
    }
    Ok(Exit::Success)
}

fn print_plan(plan: &Plan, jobs: u32) {
    if plan.tasks.is_empty() {
        println!("Nothing to run: no ready task passes the filters.");
    } else {
        let n = plan.tasks.len();
        let s = if n == 1 { "" } else { "s" };
        println!("{n} task{s} would run, {jobs} at a time, in this order:\n");
        let mut table = Table::new(["ID", "PRI", "TYPE", "MODEL", "RULE", "TITLE"]);
        for p in &plan.tasks {
            table.row([
                p.id.to_string(),
                p.task
                    .priority
                    .map_or_else(|| "-".into(), |n| format!("P{n}")),
                p.task.issue_type.clone(),
                p.model.clone().unwrap_or_else(|| "(default)".into()),
                p.rule.to_string(),
                p.task.title.clone(),
            ]);
        }
        print!("{table}");
    }
    let skipped_types: Vec<String> = plan
        .skipped
        .iter()
        .filter_map(|s| match &s.reason {
            SkipReason::SkippedType(t) => Some(format!("{} ({t})", s.raw_id)),
            SkipReason::InvalidId(_) | SkipReason::Exhausted => None,
        })
        .collect();
    if !skipped_types.is_empty() {
        println!(
            "\nSkipped by loop.skip_types: {}",
            crate::escape::escape(&skipped_types.join(", "))
        );
    }
    let exhausted: Vec<&str> = plan
        .skipped
        .iter()
        .filter(|s| s.reason == SkipReason::Exhausted)
        .map(|s| s.raw_id.as_str())
        .collect();
    if !exhausted.is_empty() {
        println!(
            "Skipped, retries used up (remove the label hew:exhausted to retry): {}",
            crate::escape::escape(&exhausted.join(", "))
        );
    }
}
