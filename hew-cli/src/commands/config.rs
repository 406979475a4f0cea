//! `hew config`: read and change settings.

use clap::Args;

use crate::context::Context;
use crate::error::CliError;
use crate::exit::Exit;

#[derive(Debug, Args)]
pub struct ConfigArgs {}

pub fn cmd_config(_ctx: &Context, _args: ConfigArgs) -> Result<Exit, CliError> {
    Ok(Exit::Success)
}
