//! `hew completions <shell>`: prints a completion script for the shell.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::Cli;
use crate::context::Context;
use crate::error::CliError;
use crate::exit::Exit;

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell. Load the script from the shell's
    /// startup file, e.g. `source <(hew completions bash)` in ~/.bashrc, or save it where
    /// the shell looks (`hew completions fish > ~/.config/fish/completions/hew.fish`).
    shell: Shell,
}

pub fn cmd_completions(_ctx: &Context, args: CompletionsArgs) -> Result<Exit, CliError> {
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "hew", &mut std::io::stdout());
    Ok(Exit::Success)
}
