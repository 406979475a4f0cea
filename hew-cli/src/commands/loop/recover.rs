//! `hew loop recover`: puts right what runs that died (killed, crashed) left behind — the
//! same check every `hew loop` makes before it starts.

use clap::Args;
use hew_core::recover::{Recovery, recover};

use crate::context::Context;
use crate::error::CliError;
use crate::exit::Exit;

#[derive(Debug, Args)]
pub struct RecoverArgs {}

pub fn recover_cmd(ctx: &Context, _args: RecoverArgs) -> Result<Exit, CliError> {
    let root = ctx.repo_root()?;
    let config = ctx.load_config(Vec::new())?;
    let tracker = ctx.tracker(&config, &root);
    let host = hew_core::runner::host_name();
    let dir = config.looping.worktree.dir.clone();
    let report = crate::commands::block_on(recover(&root, &tracker, &host, dir))??;
    if report.is_empty() {
        println!("nothing to recover: no run died with work in flight");
    }
    for line in report_lines(&report) {
        println!("{line}");
    }
    Ok(Exit::Success)
}

/// A recovery, as lines for the user.
pub fn report_lines(r: &Recovery) -> Vec<String> {
    let mut lines = Vec::new();
    let list = |v: &[String]| v.join(", ");
    if !r.crashed_runs.is_empty() {
        lines.push(format!(
            "recovered crashed run(s): {}",
            list(&r.crashed_runs)
        ));
    }
    if !r.stopped_agents.is_empty() {
        let pids: Vec<String> = r.stopped_agents.iter().map(u32::to_string).collect();
        lines.push(format!(
            "stopped orphaned agent process group(s): {}",
            pids.join(", ")
        ));
    }
    if !r.released.is_empty() {
        lines.push(format!(
            "released task(s) left in progress: {}",
            list(&r.released)
        ));
    }
    if !r.kept_branches.is_empty() {
        lines.push(format!(
            "kept branch(es) with unmerged work: {}",
            list(&r.kept_branches)
        ));
    }
    lines.extend(r.warnings.iter().map(|w| format!("warning: {w}")));
    lines
}
