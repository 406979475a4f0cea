//! What every command starts from: the directory hew runs in, the repository around it,
//! and the configuration for it.

use std::path::{Path, PathBuf};

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use hew_core::config::{
    Config, ConfigPaths, EarlierKey, Effect, LoadOptions, Loaded, Origin, Scope, load,
};
use hew_core::repo::{RepoError, discover_root};
use hew_core::tracker::{CliTracker, Database};

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
                CliError::new(
                    Exit::Failure,
                    format!("failed to read the current directory: {e}"),
                )
            })?,
        };
        if !cwd.is_dir() {
            return Err(CliError::new(
                Exit::Usage,
                format!("no such directory: `{}`", cwd.display()),
            ));
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

    /// Where the user's and (inside a repository) the project's config files are.
    pub fn config_paths(&self) -> ConfigPaths {
        ConfigPaths::new(self.repo_root_opt().as_deref(), &|name| {
            std::env::var(name).ok()
        })
    }

    /// The file of `scope`, or an error saying why there is none.
    pub fn config_path(&self, scope: Scope) -> Result<PathBuf, CliError> {
        match (self.config_paths().get(scope), scope) {
            (Some(p), _) => Ok(p.to_owned()),
            (None, Scope::Project) => Err(CliError::new(
                Exit::Repo,
                "no project config outside a git repository",
            )
            .with_hint("use `--user`, or run inside a repository (`hew -C <dir>`)")),
            (None, Scope::User) => Err(CliError::new(
                Exit::Config,
                "cannot tell where the user config is: HOME is not set",
            )
            .with_hint("set HEW_USER_CONFIG to the file to use")),
        }
    }

    /// The project's file inside a repository, else the user's.
    pub fn default_scope(&self) -> Scope {
        if self.repo_root_opt().is_some() {
            Scope::Project
        } else {
            Scope::User
        }
    }

    /// Every layer merged: defaults, user and project files, `HEW_*` variables, then
    /// `overrides` (from flags).
    pub fn load_config_values(&self, overrides: Vec<(String, String)>) -> Result<Loaded, CliError> {
        // `vars()` panics on a variable that is not UTF-8; such a variable cannot be a hew key.
        let env = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .filter(|(k, _)| k.starts_with("HEW_"))
            .collect();
        load(&LoadOptions {
            paths: self.config_paths(),
            env,
            overrides,
        })
        .map_err(crate::commands::config_error)
    }

    /// The configuration, with `overrides` (from flags) on top. Keys of earlier hew that
    /// the files have and this hew ignores are warned about, once per process.
    pub fn load_config(&self, overrides: Vec<(String, String)>) -> Result<Config, CliError> {
        let loaded = self.load_config_values(overrides)?;
        warn_earlier_keys(loaded.earlier());
        Ok(loaded.into_config())
    }

    /// The tracker for the repository at `root`: `tracker.command`, or the one chosen
    /// when it is unset (an error when none is installed), on the database `BEADS_DIR`
    /// names, else the repository's `.beads/`.
    pub fn tracker(&self, config: &Config, root: &Path) -> Result<CliTracker, CliError> {
        let t = &config.tracker;
        Ok(
            CliTracker::for_repo(t.command.as_deref(), root, t.timeout.get())?
                .with_database(&Database::locate(root)),
        )
    }
}

/// One warning per config file naming the keys of earlier hew that this hew ignores, the
/// first time a command loads the config; `hew config list` says why for each.
fn warn_earlier_keys(keys: &[EarlierKey]) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    let mut by_file: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for k in keys {
        if let (Effect::Ignored(_), Origin::File { path, .. }) = (&k.effect, &k.origin) {
            by_file
                .entry(path.display().to_string())
                .or_default()
                .push(&k.key);
        }
    }
    if by_file.is_empty() || WARNED.swap(true, Ordering::Relaxed) {
        return;
    }
    for (file, keys) in &by_file {
        eprintln!(
            "warning: `{file}` has keys of earlier hew that this hew ignores: {}",
            keys.join(", ")
        );
    }
    eprintln!(
        "hint: `hew config list` says why for each; docs/CONFIG.md lists them under \"Keys of \
         earlier hew\""
    );
}
