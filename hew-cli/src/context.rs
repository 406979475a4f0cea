//! What every command starts from: the directory hew runs in, the repository around it,
//! and the configuration for it.

use std::path::{Path, PathBuf};

use hew_core::config::Config;
use hew_core::repo::{RepoError, discover_root};
use hew_core::tracker::CliTracker;

use crate::error::CliError;
use crate::exit::Exit;

/// The directory hew acts on and, when inside one, its repository.
pub struct Context {
    pub cwd: PathBuf,
}

impl Context {
    pub fn new(dir: Option<&Path>) -> Result<Self, CliError> {
        let cwd = match dir {
            Some(d) => d.to_owned(),
            None => std::env::current_dir().map_err(|e| {
                CliError::new(Exit::Failure, format!("failed to read the current directory: {e}"))
            })?,
        };
        if !cwd.is_dir() {
            return Err(CliError::new(Exit::Usage, format!("no such directory: `{}`", cwd.display())));
        }
        Ok(Self { cwd })
    }

    /// The repository's top directory; an error outside a repository.
    pub fn repo_root(&self) -> Result<PathBuf, CliError> {
        discover_root(&self.cwd).map_err(|e| {
            let hint = matches!(e, RepoError::NotARepo { .. })
                .then_some("run hew inside a git repository, or point at one with `hew -C <dir>`");
            CliError::new(Exit::Repo, e).with_hint_opt(hint.map(str::to_owned))
        })
    }

    /// The repository's top directory, or `None` outside one.
    pub fn repo_root_opt(&self) -> Option<PathBuf> {
        discover_root(&self.cwd).ok()
    }

    /// The configuration for `root`, with `overrides` (from flags) on top.
    pub fn load_config(
        &self,
        _root: Option<&Path>,
        _overrides: Vec<(String, String)>,
    ) -> Result<Config, CliError> {
        Ok(Config::default())
    }

    /// The tracker configured for the repository at `root`.
    pub fn tracker(&self, config: &Config, root: &Path) -> CliTracker {
        CliTracker::new(config.tracker.command.clone(), root.to_owned(), config.tracker.timeout.get())
    }
}
