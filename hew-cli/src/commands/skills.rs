//! `hew skills`: the skill documents hew ships (`skills/core/`), installed where Claude
//! Code finds skills: `.claude/skills/<name>/SKILL.md` in the project, or
//! `~/.claude/skills/<name>/SKILL.md` for every project of the user.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use hew_core::skills::{CORE_SKILLS, Installed, install};

use crate::context::Context;
use crate::error::CliError;
use crate::exit::Exit;

#[derive(Debug, Args)]
pub struct SkillsArgs {
    #[command(subcommand)]
    command: SkillsCommand,
}

#[derive(Debug, Subcommand)]
enum SkillsCommand {
    /// List the skills hew ships.
    List,
    /// Copy the skills where Claude Code finds them (default: the project's
    /// `.claude/skills/` inside a repository, else the user's `~/.claude/skills/`).
    Install {
        /// Into the repository's `.claude/skills/`.
        #[arg(long, conflicts_with = "user")]
        project: bool,
        /// Into `~/.claude/skills/`.
        #[arg(long)]
        user: bool,
        /// Replace skill files that were edited since they were installed.
        #[arg(long)]
        force: bool,
    },
}

pub fn cmd_skills(ctx: &Context, args: SkillsArgs) -> Result<Exit, CliError> {
    match args.command {
        SkillsCommand::List => {
            for s in CORE_SKILLS {
                println!(
                    "{:<14} {}",
                    s.name,
                    s.front_matter("description").unwrap_or("")
                );
            }
            Ok(Exit::Success)
        }
        SkillsCommand::Install {
            project,
            user,
            force,
        } => {
            let dir = if user || (!project && ctx.repo_root_opt().is_none()) {
                user_dir()?
            } else {
                ctx.repo_root()?.join(".claude").join("skills")
            };
            let done = install(&dir, force).map_err(|e| {
                CliError::new(
                    Exit::Failure,
                    format!("failed to install skills into `{}`: {e}", dir.display()),
                )
            })?;
            let mut kept = false;
            for (path, action) in &done {
                let what = match action {
                    Installed::Created => "installed",
                    Installed::Replaced => "replaced",
                    Installed::UpToDate => "up to date",
                    Installed::Kept => {
                        kept = true;
                        "kept (edited)"
                    }
                };
                println!("{what:<14} {}", path.display());
            }
            if kept {
                println!("\nedited skills were left alone: `--force` replaces them");
            }
            Ok(Exit::Success)
        }
    }
}

fn user_dir() -> Result<PathBuf, CliError> {
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".claude").join("skills")),
        None => Err(CliError::new(
            Exit::Failure,
            "cannot tell where the user's skills go: HOME is not set",
        )
        .with_hint("use `--project` inside a repository")),
    }
}
