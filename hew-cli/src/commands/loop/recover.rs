//! `hew loop recover`: puts right what runs that died (killed, crashed) left behind — the
//! same check every `hew loop` makes before it starts.

use clap::Args;
use hew_core::recover::recover;

use crate::progress::recovery_lines;

use crate::context::Context;
use crate::error::CliError;
use crate::exit::Exit;

#[derive(Debug, Args)]
pub struct RecoverArgs {}

pub fn recover_cmd(ctx: &Context, _args: RecoverArgs) -> Result<Exit, CliError> {
    let root = ctx.repo_root()?;
    let config = ctx.load_config(Vec::new())?;
    let tracker = ctx.tracker(&config, &root)?;
    let host = hew_core::runner::host_name();
    let dir = config.looping.worktree.dir.clone();
    let report = crate::commands::block_on(recover(
        &root,
        &tracker,
        &host,
        hew_core::machine::machine_id(),
        dir,
    ))??;
    if report.is_empty() {
        println!("nothing to recover: no run died with work in flight");
    }
    for line in recovery_lines(&report) {
        println!("{}", crate::escape::escape(&line));
    }
    Ok(Exit::Success)
}
