//! `hew man`: the manual page, generated from the same definitions as `--help`. Prints
//! `hew(1)` as roff, or with `--dir` writes a page for every command (`hew.1`,
//! `hew-loop.1`, `hew-loop-logs.1`, ...).

use std::path::PathBuf;

use clap::{Args, CommandFactory};

use super::Cli;
use crate::context::Context;
use crate::error::CliError;
use crate::exit::Exit;

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write one page per command into DIR instead of printing hew(1), e.g.
    /// `hew man --dir /usr/local/share/man/man1`.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

pub fn cmd_man(_ctx: &Context, args: ManArgs) -> Result<Exit, CliError> {
    let cmd = Cli::command();
    let failed = |e: std::io::Error| {
        CliError::new(Exit::Failure, format!("failed to write the man page: {e}"))
    };
    match args.dir {
        None => {
            clap_mangen::Man::new(cmd)
                .render(&mut std::io::stdout())
                .map_err(failed)?;
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir).map_err(failed)?;
            clap_mangen::generate_to(cmd, &dir).map_err(failed)?;
            println!("wrote man pages to {}", dir.display());
        }
    }
    Ok(Exit::Success)
}
