//! `hew loop cancel`: asks running loops to stop by creating their stop file. No new task
//! starts; agents already running finish and their work is merged as usual.

use clap::Args;
use hew_core::records::{RunDir, RunStatus, list_runs};

use crate::context::Context;
use crate::error::CliError;
use crate::exit::Exit;

#[derive(Debug, Args)]
pub struct CancelArgs {
    /// Only this run (default: every running loop in the repository).
    #[arg(long, value_name = "ID")]
    run_id: Option<String>,
}

pub fn cancel(ctx: &Context, args: CancelArgs) -> Result<Exit, CliError> {
    let root = ctx.repo_root()?;
    let (runs, _) = list_runs(&root);
    let running: Vec<_> = runs
        .iter()
        .filter(|r| r.status == RunStatus::Running)
        .filter(|r| args.run_id.as_ref().is_none_or(|id| *id == r.run_id))
        .collect();
    if running.is_empty() {
        eprintln!("no running loop to cancel");
        return Ok(Exit::Failure);
    }
    for run in running {
        let dir = RunDir::open(&root, &run.run_id);
        std::fs::write(dir.stop_file(), "stop requested by `hew loop cancel`\n").map_err(|e| {
            CliError::new(
                Exit::Failure,
                format!("failed to write `{}`: {e}", dir.stop_file().display()),
            )
        })?;
        println!(
            "asked run {} to stop: running agents finish, no new task starts",
            run.run_id
        );
    }
    Ok(Exit::Success)
}
