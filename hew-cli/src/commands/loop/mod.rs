//! `hew loop`: run agents over the ready tasks (`run`, the default), see what would run
//! (`--dry-run`), ask running loops to stop (`cancel`), clean up after dead ones
//! (`recover`) or ended ones (`prune`), read an agent's output (`logs`), and read back
//! what runs did and spent (`summary`, `list`, and `report`, the same as a page).

mod cancel;
mod dry_run;
mod list;
mod logs;
mod notify;
mod prune;
mod recover;
mod report;
mod run;
mod summary;

use std::path::Path;

use clap::{Args, Subcommand};
use hew_core::plan::TaskFilter;
use hew_core::records::{RunDir, liveness};
use hew_core::repo::working_trees;
use hew_core::tracker::{TaskId, validate_label};

use crate::context::Context;
use crate::error::CliError;
use crate::exit::Exit;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct LoopArgs {
    #[command(subcommand)]
    command: Option<LoopCommand>,

    #[command(flatten)]
    run: RunArgs,
}

// Built once per process from argv: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum LoopCommand {
    /// Run the loop (the same as `hew loop`).
    Run(RunArgs),
    /// Ask running loops in this repository to stop: no new tasks start; running agents
    /// finish and are merged as usual.
    Cancel(cancel::CancelArgs),
    /// Put right what runs that died left behind: release their tasks, stop their agents,
    /// remove their worktrees, keep branches with unmerged work (every `hew loop` does this
    /// first).
    Recover(recover::RecoverArgs),
    /// Show what an agent did, from its raw output: assistant text, tool calls, results
    /// and the final tokens and cost.
    Logs(logs::LogsArgs),
    /// List (and with --apply remove) what ended runs left: worktrees (killed runs', and the
    /// ones kept between runs that no run holds), and hew/* branches already merged. A dry
    /// run by default; unmerged work is never removed.
    Prune(prune::PruneArgs),
    /// What a run did and spent: outcomes, tokens and cost in total, by requested model
    /// and by the models that consumed them (the latest run by default; works while it
    /// runs).
    Summary(summary::SummaryArgs),
    /// A run as one self-contained HTML page: a timeline of the iterations on their worker
    /// slots, spend by model, outcomes, what needs attention, and a sortable table of every
    /// iteration (the latest run by default; works while it runs).
    Report(report::ReportArgs),
    /// The runs in this repository: when, how long, iterations, tasks closed, cost, and
    /// why each stopped.
    List(list::ListArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Show what would run, in order, with each task's model; change nothing.
    #[arg(long)]
    dry_run: bool,

    /// Print machine-readable JSON. While running: each of the run's events as one JSON
    /// line, as it happens.
    #[arg(long)]
    json: bool,

    /// No live progress lines, even on a terminal: whole lines only, as when the output
    /// is not a terminal.
    #[arg(short, long)]
    quiet: bool,

    /// How many agents run at once (loop.jobs).
    #[arg(short = 'j', long, value_name = "N")]
    jobs: Option<u32>,

    /// Agent runtime: claude, codex or command (loop.agent.runtime).
    #[arg(long, value_name = "RUNTIME")]
    runtime: Option<String>,

    /// One model for every task, overriding the routing rules (recorded as rule `flag`).
    #[arg(long, value_name = "MODEL")]
    model: Option<String>,

    /// Longest an agent may run, like `45m` (loop.agent.timeout).
    #[arg(long, value_name = "DURATION")]
    timeout: Option<String>,

    /// Stop after this many iterations.
    #[arg(long, value_name = "N")]
    max_iters: Option<u32>,

    /// When the agent's usage limit is reached and it says when the limit resets, wait
    /// until then instead of stopping (the task it hit runs again after).
    #[arg(long)]
    wait_for_reset: bool,

    /// Only tasks with this label (repeat for several: all must match).
    #[arg(long = "label", value_name = "LABEL")]
    labels: Vec<String>,

    /// Only tasks of this type.
    #[arg(long = "type", value_name = "TYPE")]
    issue_type: Option<String>,

    /// Only children of this task (an epic).
    #[arg(long, value_name = "ID")]
    parent: Option<String>,

    /// The branch to merge work into (default: the branch checked out now).
    #[arg(long, value_name = "BRANCH")]
    into: Option<String>,

    /// Stop starting tasks once the run has used this many tokens (loop.budget.tokens).
    #[arg(long, value_name = "N")]
    budget_tokens: Option<u64>,

    /// Stop starting tasks once the run has cost this many US dollars at hew's prices
    /// (loop.budget.usd).
    #[arg(long, value_name = "USD")]
    budget_usd: Option<f64>,

    /// Stop starting tasks once the run has gone on this long, like `2h` or `90m`
    /// (loop.budget.wall).
    #[arg(long, value_name = "DURATION")]
    budget_wall: Option<String>,

    /// When a budget is crossed, stop running agents too instead of letting them finish
    /// (loop.budget.hard).
    #[arg(long)]
    budget_hard: bool,
}

pub fn cmd_loop(ctx: &Context, args: LoopArgs) -> Result<Exit, CliError> {
    match args.command {
        Some(LoopCommand::Cancel(cancel)) => cancel::cancel(ctx, cancel),
        Some(LoopCommand::Recover(args)) => recover::recover_cmd(ctx, args),
        Some(LoopCommand::Logs(logs)) => logs::logs(ctx, logs),
        Some(LoopCommand::Prune(prune)) => prune::prune(ctx, prune),
        Some(LoopCommand::Summary(args)) => summary::summary(ctx, args),
        Some(LoopCommand::List(args)) => list::list(ctx, args),
        Some(LoopCommand::Report(args)) => report::report(ctx, args),
        Some(LoopCommand::Run(run)) => run_or_plan(ctx, run),
        None => run_or_plan(ctx, args.run),
    }
}

fn run_or_plan(ctx: &Context, run: RunArgs) -> Result<Exit, CliError> {
    if run.dry_run {
        dry_run::dry_run(ctx, run)
    } else {
        run::run(ctx, run)
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
    if let Some(m) = run
        .model
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
    {
        hew_core::model::check_model_name(m).map_err(|e| {
            usage(&format!(
                "invalid model `{}` for --model: {e}",
                m.escape_default()
            ))
        })?;
    }
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
    if let Some(t) = &run.timeout {
        o.push(("loop.agent.timeout".to_owned(), t.clone()));
    }
    if let Some(n) = run.budget_tokens {
        o.push(("loop.budget.tokens".to_owned(), n.to_string()));
    }
    if let Some(usd) = run.budget_usd {
        o.push(("loop.budget.usd".to_owned(), usd.to_string()));
    }
    if let Some(wall) = &run.budget_wall {
        o.push(("loop.budget.wall".to_owned(), wall.clone()));
    }
    if run.budget_hard {
        o.push(("loop.budget.hard".to_owned(), "true".to_owned()));
    }
    o
}

/// Whether the run `run_id` may still be going, judged from its `run.json` in any working
/// tree of the repository at `root` (runs started in linked worktrees share the worktree
/// directory). No record anywhere: it is over. A record that cannot be read: it may be
/// going (leave it alone).
pub fn run_may_be_running(root: &Path) -> impl Fn(&str) -> bool + use<> {
    let trees = working_trees(root);
    move |run_id: &str| {
        trees.iter().any(|tree| {
            let dir = RunDir::open(tree, run_id);
            dir.run_file().exists()
                && dir
                    .read_run()
                    .map_or(true, |run| liveness(&run).may_be_running())
        })
    }
}
