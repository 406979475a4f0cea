//! The `hew` binary: parses the command line, runs one command, exits with its code.
//! Behaviour lives in hew-core; this crate renders.

mod agent_log;
mod commands;
mod context;
mod error;
mod escape;
mod exit;
mod hints;
mod json;
mod program;
mod progress;
mod table;

use std::process::ExitCode;

use clap::Parser;

use crate::commands::Cli;
use crate::exit::Exit;

fn main() -> ExitCode {
    quiet_broken_pipe();
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

/// Output piped into a program that stopped reading (`hew loop logs | head`) ends hew
/// quietly, as SIGPIPE ends a C program. Rust ignores SIGPIPE, so `println!` panics
/// instead; that panic is turned into exit code 141 (128 + SIGPIPE) without a message.
fn quiet_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to std") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}
