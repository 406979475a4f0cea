//! The command line: one enum of commands, one file per command.

mod completions;
mod config;
mod doctor;
mod init;
mod r#loop;
mod man;
mod prices;
mod skills;

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
    /// Set this repository up for hew: `.hew/config.toml` and `.hew/.gitignore`, then check
    /// the tracker.
    Init(init::InitArgs),
    /// Run agents over the ready tasks (`hew loop --dry-run` shows what would run).
    Loop(r#loop::LoopArgs),
    /// Read and change settings (`hew config keys` lists them all).
    Config(config::ConfigArgs),
    /// Check everything a run needs, and what earlier runs left behind.
    Doctor(doctor::DoctorArgs),
    /// Print the prices hew charges tokens at, with their date and your overrides.
    ///
    /// The dated built-in table (Anthropic's and OpenAI's list prices, with the day they
    /// were read) under any `prices.*` overrides of your config, each row marked
    /// `built-in`, `override` or `built-in + override`: hold it against the provider's page
    /// and your bill.
    ///
    /// Prices are USD per million tokens; web searches USD per 1,000. `WRITE 5M` is a
    /// 5-minute cache write (also charged for writes of no reported duration), `WRITE 1H` a
    /// 1-hour one (2x input when the table gives none), `FAST` fast mode's multiple of
    /// every token price. `-`: no price; tokens of that kind cost unknown, never $0.
    Prices(prices::PricesArgs),
    /// Install the skills hew ships (planning, decomposing, working a task) for Claude
    /// Code.
    Skills(skills::SkillsArgs),
    /// Print a shell completion script.
    Completions(completions::CompletionsArgs),
    /// Print the manual page (roff), or write one per command with `--dir`.
    Man(man::ManArgs),
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> Result<Exit, CliError> {
    let ctx = Context::new(cli.dir.as_deref())?;
    match cli.command {
        Command::Init(args) => init::cmd_init(&ctx, args),
        Command::Loop(args) => r#loop::cmd_loop(&ctx, args),
        Command::Config(args) => config::cmd_config(&ctx, args),
        Command::Doctor(args) => doctor::cmd_doctor(&ctx, args),
        Command::Prices(args) => prices::cmd_prices(&ctx, args),
        Command::Skills(args) => skills::cmd_skills(&ctx, args),
        Command::Completions(args) => completions::cmd_completions(&ctx, args),
        Command::Man(args) => man::cmd_man(&ctx, args),
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
