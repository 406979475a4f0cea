//! `hew init`: sets a repository up for hew — `.hew/config.toml` documenting every key
//! (all commented out: it changes nothing until edited) and `.hew/.gitignore` keeping run
//! records out of git — then checks the tracker and says what is still missing.

use clap::Args;
use hew_core::config::{FileAction, init_project};

use super::doctor::tracker_checks;
use crate::context::Context;
use crate::error::CliError;
use crate::exit::Exit;
use crate::program::find_program;

#[derive(Debug, Args)]
pub struct InitArgs {}

pub fn cmd_init(ctx: &Context, _args: InitArgs) -> Result<Exit, CliError> {
    let root = ctx.repo_root()?;
    let config = ctx.load_config(Vec::new())?;
    // The default tracker is bd; when only br is installed, say so in the new file.
    let tracker = (find_program(&config.tracker.command).is_none()
        && config.tracker.command == "bd"
        && find_program("br").is_some())
    .then_some("br");
    let done = init_project(&root, tracker).map_err(super::config_error)?;
    for (path, action) in &done {
        let shown = path.strip_prefix(&root).unwrap_or(path).display();
        let what = match action {
            FileAction::Created => "created",
            FileAction::Kept => "kept (already there)",
            FileAction::Updated => "updated (added `loop/`)",
        };
        println!("{what:<22} {shown}");
    }
    if let (Some(t), Some((_, FileAction::Created))) = (tracker, done.first()) {
        println!(
            "{:<22} tracker.command = \"{t}\" (bd is not installed)",
            "set"
        );
    }

    // Checked with the file just written, so a tracker set there counts.
    let config = ctx.load_config(Vec::new())?;
    let checks = super::block_on(tracker_checks(ctx, &config, &root))?;
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
