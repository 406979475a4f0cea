//! `hew loop`: run agents over the ready tasks. `--dry-run` shows what would run, in order,
//! with the model each task would get and the rule that chose it.

use clap::{Args, Subcommand};
use hew_core::plan::{Plan, SkipReason, TaskFilter, plan};
use hew_core::tracker::{TaskId, validate_label};
use serde::Serialize;

use crate::context::Context;
use crate::error::CliError;
use crate::exit::Exit;
use crate::table::Table;

/// How many ready tasks a dry run asks for.
const DRY_RUN_LIMIT: usize = 1000;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct LoopArgs {
    #[command(subcommand)]
    command: Option<LoopCommand>,

    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum LoopCommand {
    /// Run the loop (the same as `hew loop`).
    Run(RunArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Show what would run, in order, with each task's model; change nothing.
    #[arg(long)]
    dry_run: bool,

    /// Print machine-readable JSON.
    #[arg(long)]
    json: bool,

    /// How many agents run at once (loop.jobs).
    #[arg(short = 'j', long, value_name = "N")]
    jobs: Option<u32>,

    /// Agent runtime: claude, codex or command (loop.agent.runtime).
    #[arg(long, value_name = "RUNTIME")]
    runtime: Option<String>,

    /// One model for every task, overriding the routing rules (recorded as rule `flag`).
    #[arg(long, value_name = "MODEL")]
    model: Option<String>,

    /// Only tasks with this label (repeat for several: all must match).
    #[arg(long = "label", value_name = "LABEL")]
    labels: Vec<String>,

    /// Only tasks of this type.
    #[arg(long = "type", value_name = "TYPE")]
    issue_type: Option<String>,

    /// Only children of this task (an epic).
    #[arg(long, value_name = "ID")]
    parent: Option<String>,
}

pub fn cmd_loop(ctx: &Context, args: LoopArgs) -> Result<Exit, CliError> {
    let run = match args.command {
        Some(LoopCommand::Run(run)) => run,
        None => args.run,
    };
    if !run.dry_run {
        return Err(
            CliError::new(Exit::Usage, "running agents is not available in this build")
                .with_hint("see what the loop would run with `hew loop --dry-run`"),
        );
    }
    dry_run(ctx, run)
}

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
}

fn dry_run(ctx: &Context, run: RunArgs) -> Result<Exit, CliError> {
    let root = ctx.repo_root()?;
    let filter = task_filter(&run)?;
    let config = ctx.load_config(overrides(&run))?;
    let tracker = ctx.tracker(&config, &root);
    let plan = super::block_on(plan(&tracker, &config.looping, &filter, DRY_RUN_LIMIT))??;

    for s in &plan.skipped {
        if let SkipReason::InvalidId(e) = &s.reason {
            eprintln!("warning: skipping a ready task: {e}");
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
            })
            .collect();
        let json = serde_json::to_string_pretty(&rows)
            .map_err(|e| CliError::new(Exit::Failure, format!("failed to write JSON: {e}")))?;
        println!("{json}");
    } else {
        print_plan(&plan, config.looping.jobs.get());
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
            SkipReason::InvalidId(_) => None,
        })
        .collect();
    if !skipped_types.is_empty() {
        println!("\nSkipped by loop.skip_types: {}", skipped_types.join(", "));
    }
}

/// The filters given on the command line, checked before anything reaches the tracker.
fn task_filter(run: &RunArgs) -> Result<TaskFilter, CliError> {
    let usage = |e: &dyn std::fmt::Display| CliError::new(Exit::Usage, e);
    for label in &run.labels {
        validate_label(label).map_err(|e| usage(&e))?;
    }
    if let Some(t) = &run.issue_type {
        validate_label(t)
            .map_err(|_| usage(&format!("invalid task type `{}`", t.escape_default())))?;
    }
    let parent = run
        .parent
        .as_deref()
        .map(TaskId::parse)
        .transpose()
        .map_err(|e| usage(&e))?;
    Ok(TaskFilter {
        labels: run.labels.clone(),
        issue_type: run.issue_type.clone(),
        parent,
        model: run.model.clone(),
    })
}

/// Flags that set config keys, as `(key, value)` overrides on top of every other layer.
fn overrides(run: &RunArgs) -> Vec<(String, String)> {
    let mut o = Vec::new();
    if let Some(j) = run.jobs {
        o.push(("loop.jobs".to_owned(), j.to_string()));
    }
    if let Some(r) = &run.runtime {
        o.push(("loop.agent.runtime".to_owned(), r.clone()));
    }
    o
}
