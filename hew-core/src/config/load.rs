//! Finding and loading the config layers, lowest first: built-in defaults < user file <
//! project file < `HEW_*` environment < command-line overrides.
//!
//! Each file is checked on its own, so an error names the file it is in; then the layers
//! merge key by key (maps entry by entry, later wins) and the result is deserialized into
//! [`Config`].

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::defaults::DEFAULT_CONFIG;
use super::earlier::EarlierKey;
use super::error::{ConfigError, Origin};
use super::keys::{KeyRef, keys, resolve};
use super::layer::Layer;
use super::schema::Config;
use super::value::render;

/// Which config file `hew config` reads or edits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The user's file, for every project: `~/.config/hew/config.toml`.
    User,
    /// The project's file: `<root>/.hew/config.toml`.
    Project,
}

/// Where the config files are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigPaths {
    /// The user file; `None` when neither `HEW_USER_CONFIG`, `XDG_CONFIG_HOME` nor `HOME`
    /// says where it is.
    pub user: Option<PathBuf>,
    /// The project file, when there is a project.
    pub project: Option<PathBuf>,
}

impl ConfigPaths {
    /// The user file is `$HEW_USER_CONFIG` if set, else `$XDG_CONFIG_HOME/hew/config.toml`
    /// (an absolute `XDG_CONFIG_HOME` only, as the XDG spec asks), else
    /// `$HOME/.config/hew/config.toml`. The project file is `<root>/.hew/config.toml`.
    /// `env` reads an environment variable (empty counts as unset).
    pub fn new(project_root: Option<&Path>, env: &impl Fn(&str) -> Option<String>) -> Self {
        let var = |name: &str| env(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        let user = var("HEW_USER_CONFIG")
            .or_else(|| {
                var("XDG_CONFIG_HOME")
                    .filter(|p| p.is_absolute())
                    .map(|p| p.join("hew/config.toml"))
            })
            .or_else(|| var("HOME").map(|p| p.join(".config/hew/config.toml")));
        let project = project_root.map(|root| root.join(".hew/config.toml"));
        Self { user, project }
    }

    /// The file of a scope, if it has one.
    pub fn get(&self, scope: Scope) -> Option<&Path> {
        match scope {
            Scope::User => self.user.as_deref(),
            Scope::Project => self.project.as_deref(),
        }
    }
}

/// Everything [`load`] reads besides the files' contents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// The files to read; missing files are skipped.
    pub paths: ConfigPaths,
    /// The process environment (`std::env::vars()`); only `HEW_*` names that match a key
    /// count (`HEW_LOOP_JOBS` for `loop.jobs`), the rest is ignored.
    pub env: Vec<(String, String)>,
    /// Values from the command line, as `(key, text)`; a key may be a map entry
    /// (`loop.model.by_priority.P0`).
    pub overrides: Vec<(String, String)>,
}

/// The loaded config, and the merged values it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    config: Config,
    values: Layer,
    files: Vec<PathBuf>,
}

/// Loads every layer and merges them. Errors name the key and the file or environment
/// variable at fault.
pub fn load(options: &LoadOptions) -> Result<Loaded, ConfigError> {
    let mut merged = Layer::from_toml(DEFAULT_CONFIG, &Origin::Defaults)?;
    let mut files = Vec::new();
    for path in [&options.paths.user, &options.paths.project]
        .into_iter()
        .flatten()
    {
        if let Some(layer) = read_file(path)? {
            merged.merge(layer);
            files.push(path.clone());
        }
    }
    merged.merge(env_layer(&options.env)?);
    merged.merge(override_layer(&options.overrides)?);
    let values = merged.without_unset();
    let config = values.to_config(&Origin::Merged)?;
    Ok(Loaded {
        config,
        values,
        files,
    })
}

fn read_file(path: &Path) -> Result<Option<Layer>, ConfigError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    Layer::from_toml(&text, &Origin::file(path)).map(Some)
}

fn env_layer(env: &[(String, String)]) -> Result<Layer, ConfigError> {
    let mut layer = Layer::default();
    for (var, raw) in env {
        if let Some(def) = keys().iter().find(|def| def.env_var() == *var) {
            let origin = Origin::Env { var: var.clone() };
            layer.set_text(&KeyRef::Key(def), raw, &origin)?;
            layer.clone().without_unset().to_config(&origin)?;
        }
    }
    Ok(layer)
}

fn override_layer(overrides: &[(String, String)]) -> Result<Layer, ConfigError> {
    let mut layer = Layer::default();
    for (key, raw) in overrides {
        let key = resolve(key, &Origin::Override)?;
        layer.set_text(&key, raw, &Origin::Override)?;
    }
    // Checked without the empty values that mean "unset": they hide lower layers, and
    // are no value of the key's kind.
    layer.clone().without_unset().to_config(&Origin::Override)?;
    Ok(layer)
}

impl Loaded {
    /// The config.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The config, by value.
    pub fn into_config(self) -> Config {
        self.config
    }

    /// The config files that existed and were read, lowest layer first.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// The keys of earlier hew in those files, lowest layer first, and what became of
    /// each: read as one of this hew's keys, or ignored (to be told to the user).
    pub fn earlier(&self) -> &[EarlierKey] {
        self.values.earlier()
    }

    /// The value in effect for `key` (a key or a map entry) after merging every layer,
    /// as text `hew config set` accepts; `None` when it is unset. Fails on an unknown key.
    pub fn effective(&self, key: &str) -> Result<Option<String>, ConfigError> {
        Ok(match resolve(key, &Origin::Override)? {
            KeyRef::Key(def) => self.values.get(def).map(render),
            KeyRef::Entry { map, entry } => self
                .values
                .get(map)
                .and_then(|m| m.as_inline_table())
                .and_then(|m| m.get(&entry))
                .map(render),
            KeyRef::Price { map, model, field } => self
                .values
                .get(map)
                .and_then(|m| m.as_inline_table())
                .and_then(|m| m.get(&model))
                .and_then(|m| m.as_inline_table())
                .and_then(|m| m.get(field))
                .map(render),
        })
    }

    /// Every key that has a value, in documentation order, as `(key, text)`. A map is one
    /// pair with the whole map (`loop.model.by_priority`, `P0=opus,P1=sonnet`), in the form
    /// `set` accepts; empty lists and maps are listed with an empty value; optional keys
    /// that are unset are left out.
    pub fn list(&self) -> Vec<(String, String)> {
        self.values
            .iter()
            .map(|(def, value)| (def.path.to_owned(), render(value)))
            .collect()
    }
}

#[cfg(test)]
#[path = "load_tests.rs"]
mod tests;
