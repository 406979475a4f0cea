//! `hew init`: sets a repository up for hew — `.hew/config.toml` documenting every key
//! (all commented out: it changes nothing until edited) and `.hew/.gitignore` keeping run
//! records out of git — then checks the tracker and says what is still missing.

use clap::Args;
use hew_core::config::{FileAction, init_project};

use super::doctor::tracker_checks;
use crate::context::Context;
use crate::error::CliError;
use crate::exit::Exit;

#[derive(Debug, Args)]
pub struct InitArgs {}

pub fn cmd_init(ctx: &Context, _args: InitArgs) -> Result<Exit, CliError> {
    let root = ctx.repo_root()?;
    // Refuse a broken config before writing anything.
    ctx.load_config(Vec::new())?;
    // `tracker.command` stays unset: the tracker is chosen on each run (see `hew doctor`).
    let done = init_project(&root).map_err(super::config_error)?;
    for (path, action) in &done {
        let shown = path.strip_prefix(&root).unwrap_or(path).display();
        let what = match action {
            FileAction::Created => "created",
            FileAction::Kept => "kept (already there)",
            FileAction::Updated => "updated (added `loop/`)",
        };
        println!("{what:<22} {shown}");
    }

    // Checked with the file just written, so a tracker set there counts.
    let config = ctx.load_config(Vec::new())?;
    let checks = super::block_on(tracker_checks(&config, &root))?;
    println!();
    for c in &checks {
        c.print();
    }
    if checks.iter().all(|c| c.passed) {
        println!(
            "\nready: `hew loop --dry-run` shows what would run; `hew doctor` checks the rest"
        );
    } else {
        println!("\nfix the above, then `hew doctor` checks everything a run needs");
    }
    Ok(Exit::Success)
}
