//! The `hew` binary: parses the command line, runs one command, exits with its code.
//! Behaviour lives in hew-core; this crate renders.

mod agent_log;
mod commands;
mod context;
mod error;
mod exit;
mod program;
mod progress;
mod table;

use std::process::ExitCode;

use clap::Parser;

use crate::commands::Cli;
use crate::exit::Exit;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            let exit = if e.use_stderr() {
                Exit::Usage
            } else {
                Exit::Success
            };
            return ExitCode::from(exit.code());
        }
    };
    match commands::run(cli) {
        Ok(exit) => ExitCode::from(exit.code()),
        Err(e) => {
            e.report();
            ExitCode::from(e.exit.code())
        }
    }
}
