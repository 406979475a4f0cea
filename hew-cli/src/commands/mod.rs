//! The command line: one enum of commands, one file per command.

mod config;
mod r#loop;

pub use config::config_error;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::context::Context;
use crate::error::CliError;
use crate::exit::Exit;

/// Run coding agents in a loop over the ready tasks of a beads tracker: each task claimed,
/// given its own worktree and branch, routed to the right model, merged back, and
/// accounted for.
#[derive(Debug, Parser)]
#[command(name = "hew", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// Run as if hew was started in DIR.
    #[arg(short = 'C', value_name = "DIR", global = true)]
    dir: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

// Built once per process from argv: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Run agents over the ready tasks (`hew loop --dry-run` shows what would run).
    Loop(r#loop::LoopArgs),
    /// Read and change settings (`hew config keys` lists them all).
    Config(config::ConfigArgs),
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> Result<Exit, CliError> {
    let ctx = Context::new(cli.dir.as_deref())?;
    match cli.command {
        Command::Loop(args) => r#loop::cmd_loop(&ctx, args),
        Command::Config(args) => config::cmd_config(&ctx, args),
    }
}

/// Runs `fut` to completion: on one thread for commands that wait on a few child
/// processes, on a thread pool (`parallel`) for the loop's concurrent workers.
pub fn run_async<F: std::future::Future>(parallel: bool, fut: F) -> Result<F::Output, CliError> {
    let mut builder = if parallel {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let rt = builder.enable_all().build().map_err(|e| {
        CliError::new(
            Exit::Failure,
            format!("failed to start the async runtime: {e}"),
        )
    })?;
    Ok(rt.block_on(fut))
}

/// [`run_async`] on one thread.
fn block_on<F: std::future::Future>(fut: F) -> Result<F::Output, CliError> {
    run_async(false, fut)
}
