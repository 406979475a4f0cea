//! `hew loop prune [--apply]`: lists, and with `--apply` removes, what ended runs left
//! behind: their worktrees (directories and git's entries for them), the worktrees kept
//! between runs that no run holds, and `hew/*` branches whose commits are all on the
//! integration branch. A dry run by default. A branch with a commit the integration branch
//! lacks is never removed, nothing of a run that may still be going is touched, and runs
//! that died are recovered first (their agents stopped, their tasks released), as
//! `hew loop recover` does, so no worktree goes from under a live agent.

use clap::Args;
use hew_core::records::{Liveness, RunDir, RunRecord, RunStatus, list_runs, liveness};
use hew_core::recover::recover;
use hew_core::repo::current_branch;
use hew_core::worktree::{BranchFate, Leftovers, PruneOptions, find_leftovers, remove_leftovers};
use serde_json::{Value, json};

use super::run_may_be_running;
use crate::context::Context;
use crate::error::CliError;
use crate::exit::Exit;
use crate::progress::recovery_lines;

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove what is listed (without it, only list).
    #[arg(long)]
    apply: bool,

    /// The branch work is merged into (default: the branch checked out now). Only `hew/*`
    /// branches fully merged into it are removed.
    #[arg(long, value_name = "BRANCH")]
    into: Option<String>,

    /// Print what a dry run lists as machine-readable JSON (docs/JSON.md).
    #[arg(long, conflicts_with = "apply")]
    json: bool,
}

pub fn prune(ctx: &Context, args: PruneArgs) -> Result<Exit, CliError> {
    let root = ctx.repo_root()?;
    let config = ctx.load_config(Vec::new())?;
    let into = match args.into {
        Some(b) => b,
        None => current_branch(&root)
            .map_err(|e| CliError::new(Exit::Repo, e))?
            .ok_or_else(|| {
                CliError::new(
                    Exit::Usage,
                    "HEAD is detached: no branch to judge merges by",
                )
                .with_hint("name it: `hew loop prune --into main`")
            })?,
    };
    let (runs, _) = list_runs(&root);
    let stale: Vec<_> = runs
        .iter()
        .filter(|r| liveness(r) == Liveness::Stale)
        .collect();
    if args.apply && !stale.is_empty() {
        let host = hew_core::runner::host_name();
        let dir = config.looping.worktree.dir.clone();
        let tracker = ctx.tracker(&config, &root)?;
        match crate::commands::block_on(recover(
            &root,
            &tracker,
            &host,
            hew_core::machine::machine_id(),
            dir,
        ))? {
            Ok(report) => {
                for line in recovery_lines(&report) {
                    println!("{line}");
                }
            }
            // Their agents were stopped first; their tasks wait for the next recovery.
            Err(e) => eprintln!(
                "warning: could not release the tasks of runs that died: {}",
                e
            ),
        }
    }
    // Recovered runs are over now.
    let (runs, _) = if args.apply && !stale.is_empty() {
        list_runs(&root)
    } else {
        (runs, Vec::new())
    };
    let stale: Vec<_> = runs
        .iter()
        .filter(|r| liveness(r) == Liveness::Stale)
        .collect();
    let live: Vec<String> = runs
        .iter()
        .filter(|r| liveness(r).may_be_running())
        .map(|r| r.run_id.clone())
        .collect();
    let may_be_running = run_may_be_running(&root);
    let opts = PruneOptions {
        dir: config.looping.worktree.dir.as_deref(),
        into: &into,
        // A live run creates task branches at the integration tip: one could look merged
        // a moment before its worktree is added. Branches wait until no run is going.
        branches: live.is_empty(),
    };
    let found =
        find_leftovers(&root, &opts, &may_be_running).map_err(|e| CliError::new(Exit::Repo, e))?;

    if args.json {
        print_json(&into, &stale, &found, &live);
        return Ok(Exit::Success);
    }
    let verb = if args.apply {
        "removing"
    } else {
        "would remove"
    };
    let mut any = false;
    for run in &stale {
        any = true;
        println!(
            "{} run {} (recorded running, pid {} is gone): stop its agents, release its tasks, \
             mark it crashed",
            if args.apply {
                "recovering"
            } else {
                "would recover"
            },
            run.run_id,
            run.pid
        );
    }
    for (name, path) in &found.pool {
        any = true;
        println!(
            "{verb} worktree {name} at {} (kept between runs, idle)",
            path.display()
        );
    }
    for run in &found.runs {
        for (name, path) in &run.worktrees {
            any = true;
            println!("{verb} worktree {name} at {}", path.display());
        }
        if let Some(dir) = &run.dir {
            any = true;
            println!("{verb} directory {}", dir.display());
        }
    }
    let mut kept = Vec::new();
    for b in &found.branches {
        match &b.fate {
            BranchFate::Merged => {
                any = true;
                println!("{verb} branch {} (merged into {into})", b.branch);
            }
            BranchFate::Unmerged(n) => kept.push(format!(
                "keeping branch {} ({n} commit{} not on {into})",
                b.branch,
                if *n == 1 { "" } else { "s" }
            )),
            BranchFate::CheckedOut(path) => kept.push(format!(
                "keeping branch {} (checked out at {})",
                b.branch,
                path.display()
            )),
        }
    }
    for (path, pid) in &found.in_use {
        kept.push(format!(
            "keeping worktree {} (process {pid} works there; `hew loop recover` stops the \
             agents of runs that died)",
            path.display()
        ));
    }
    for k in &kept {
        println!("{k}");
    }
    if !live.is_empty() {
        println!(
            "leaving branches alone while {} running: {}",
            if live.len() == 1 {
                "a run is"
            } else {
                "runs are"
            },
            live.join(", ")
        );
    }
    if !any {
        println!("nothing to prune");
        return Ok(Exit::Success);
    }
    if !args.apply {
        println!("\n(dry run: `hew loop prune --apply` does it)");
        return Ok(Exit::Success);
    }

    let mut failed = 0;
    // What recovery could not put right stays stale: marked, so it is not tried forever.
    for run in stale {
        let mut record = run.clone();
        record.status = RunStatus::Crashed;
        if let Err(e) = RunDir::open(&root, &run.run_id).write_run(&record) {
            eprintln!("error: {e}");
            failed += 1;
        }
    }
    let failures =
        remove_leftovers(&root, &found, &into).map_err(|e| CliError::new(Exit::Repo, e))?;
    for f in &failures {
        eprintln!("error: failed to remove {}: {}", f.what, f.error);
    }
    failed += failures.len();
    if failed > 0 {
        return Err(CliError::new(
            Exit::Failure,
            format!("{failed} things could not be removed"),
        ));
    }
    Ok(Exit::Success)
}

/// A dry run's listing as one `--json` document.
fn print_json(into: &str, stale: &[&RunRecord], found: &Leftovers, live: &[String]) {
    let path = |p: &std::path::Path| p.display().to_string();
    let mut worktrees: Vec<Value> = found
        .pool
        .iter()
        .map(|(name, p)| json!({"name": name, "path": path(p), "run_id": null}))
        .collect();
    let mut directories = Vec::new();
    for run in &found.runs {
        for (name, p) in &run.worktrees {
            worktrees.push(json!({"name": name, "path": path(p), "run_id": run.run_id}));
        }
        if let Some(dir) = &run.dir {
            directories.push(json!({"path": path(dir), "run_id": run.run_id}));
        }
    }
    let branches: Vec<Value> = found
        .branches
        .iter()
        .map(|b| {
            let (fate, commits, at) = match &b.fate {
                BranchFate::Merged => ("merged", None, None),
                BranchFate::Unmerged(n) => ("unmerged", Some(*n), None),
                BranchFate::CheckedOut(p) => ("checked_out", None, Some(path(p))),
            };
            json!({
                "branch": b.branch,
                "fate": fate,
                "removed": fate == "merged",
                "unmerged_commits": commits,
                "checked_out_at": at,
            })
        })
        .collect();
    crate::json::print(json!({
        "into": into,
        "recover": stale
            .iter()
            .map(|r| json!({"run_id": r.run_id, "pid": r.pid}))
            .collect::<Vec<_>>(),
        "worktrees": worktrees,
        "directories": directories,
        "branches": branches,
        "in_use": found
            .in_use
            .iter()
            .map(|(p, pid)| json!({"path": path(p), "pid": pid}))
            .collect::<Vec<_>>(),
        "live_runs": live,
    }));
}
