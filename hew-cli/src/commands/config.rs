//! `hew config`: read and change settings. Without `--user`/`--project`, `get` and `list`
//! show the values in effect (every layer merged) and `set`/`unset`/`path` use the
//! project's file inside a repository, the user's file outside one.

use clap::{Args, Subcommand};
use hew_core::config::{ConfigError, ConfigFile, EarlierKey, Effect, Scope, key_listing, keys};

use serde_json::{Value, json};

use crate::context::Context;
use crate::error::CliError;
use crate::exit::Exit;
use crate::table::Table;

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print one value: a key (`loop.jobs`), a map (`loop.model.by_priority`, printed as
    /// `P0=opus,P1=sonnet`) or a map entry (`loop.model.by_priority.P1`).
    Get {
        /// The key.
        key: String,
        #[command(flatten)]
        scope: ScopeArgs,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Set a value, keeping the file's comments and layout. Lists are comma-separated
    /// (`epic,chore`) or a TOML array; maps are `KEY=VAL,...`; an empty value clears.
    Set {
        /// The key.
        key: String,
        /// The value.
        value: String,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Remove a key from a config file, so the layers below it apply.
    Unset {
        /// The key.
        key: String,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Print every key that has a value, as `key = value`.
    List {
        #[command(flatten)]
        scope: ScopeArgs,
        #[command(flatten)]
        json: JsonArg,
    },
    /// List every settable key, its kind and what it does.
    Keys {
        #[command(flatten)]
        json: JsonArg,
    },
    /// Print the path of a config file.
    Path {
        #[command(flatten)]
        scope: ScopeArgs,
    },
}

#[derive(Debug, Args)]
struct ScopeArgs {
    /// The user's file (`~/.config/hew/config.toml`, or `$HEW_USER_CONFIG`).
    #[arg(long, conflicts_with = "project")]
    user: bool,
    /// The project's file (`.hew/config.toml` in the repository).
    #[arg(long)]
    project: bool,
}

#[derive(Debug, Args)]
struct JsonArg {
    /// Print machine-readable JSON (docs/JSON.md).
    #[arg(long)]
    json: bool,
}

impl ScopeArgs {
    fn get(&self) -> Option<Scope> {
        if self.user {
            Some(Scope::User)
        } else if self.project {
            Some(Scope::Project)
        } else {
            None
        }
    }
}

pub fn cmd_config(ctx: &Context, args: ConfigArgs) -> Result<Exit, CliError> {
    match args.command {
        ConfigCommand::Get { key, scope, json } => {
            let value = match scope.get() {
                Some(scope) => open(ctx, scope)?.get(&key).map_err(config_error)?,
                None => ctx
                    .load_config_values(Vec::new())?
                    .effective(&key)
                    .map_err(config_error)?,
            };
            if json.json {
                crate::json::print(json!({"key": key, "value": value}));
            }
            match value {
                Some(v) => {
                    if !json.json {
                        println!("{v}");
                    }
                    Ok(Exit::Success)
                }
                None => {
                    eprintln!("`{key}` is not set");
                    Ok(Exit::Failure)
                }
            }
        }
        ConfigCommand::Set { key, value, scope } => {
            let mut file = open(ctx, scope.get().unwrap_or_else(|| ctx.default_scope()))?;
            file.set(&key, &value).map_err(config_error)?;
            file.save().map_err(config_error)?;
            Ok(Exit::Success)
        }
        ConfigCommand::Unset { key, scope } => {
            let mut file = open(ctx, scope.get().unwrap_or_else(|| ctx.default_scope()))?;
            if file.unset(&key).map_err(config_error)? {
                file.save().map_err(config_error)?;
            } else {
                eprintln!("`{key}` was not set in `{}`", file.path().display());
            }
            Ok(Exit::Success)
        }
        ConfigCommand::List { scope, json } => {
            let (pairs, earlier) = match scope.get() {
                Some(scope) => {
                    let file = open(ctx, scope)?;
                    let mut pairs = Vec::new();
                    for def in keys() {
                        if let Some(v) = file.get(def.path).map_err(config_error)? {
                            pairs.push((def.path.to_owned(), v));
                        }
                    }
                    (pairs, file.earlier().map_err(config_error)?)
                }
                None => {
                    let loaded = ctx.load_config_values(Vec::new())?;
                    (loaded.list(), loaded.earlier().to_vec())
                }
            };
            if json.json {
                let file = match scope.get() {
                    Some(scope) => Some(ctx.config_path(scope)?.display().to_string()),
                    None => None,
                };
                let scope = match scope.get() {
                    Some(Scope::User) => "user",
                    Some(Scope::Project) => "project",
                    None => "merged",
                };
                let values: serde_json::Map<String, Value> = pairs
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect();
                let earlier: Vec<Value> = earlier.iter().map(earlier_json).collect();
                crate::json::print(json!({
                    "scope": scope,
                    "file": file,
                    "values": values,
                    "earlier": earlier,
                }));
                return Ok(Exit::Success);
            }
            for (key, value) in pairs {
                println!("{key} = {value}");
            }
            print_earlier(&earlier);
            Ok(Exit::Success)
        }
        ConfigCommand::Keys { json } => {
            if json.json {
                let keys: Vec<Value> = key_listing()
                    .into_iter()
                    .map(|k| {
                        json!({
                            "key": k.path,
                            "kind": k.kind,
                            "optional": k.optional,
                            "doc": k.doc,
                        })
                    })
                    .collect();
                crate::json::print(json!({ "keys": keys }));
                return Ok(Exit::Success);
            }
            let mut table = Table::new(["KEY", "KIND", "MEANING"]);
            for k in key_listing() {
                table.row([k.path, k.kind, k.doc.to_owned()]);
            }
            print!("{table}");
            Ok(Exit::Success)
        }
        ConfigCommand::Path { scope } => {
            let scope = scope.get().unwrap_or_else(|| ctx.default_scope());
            println!("{}", ctx.config_path(scope)?.display());
            Ok(Exit::Success)
        }
    }
}

/// One key of earlier hew in `config list --json`.
fn earlier_json(k: &EarlierKey) -> Value {
    let (effect, detail) = match &k.effect {
        Effect::ReadAs(target) => ("read_as", (*target).to_owned()),
        Effect::Ignored(why) => ("ignored", why.clone()),
    };
    json!({
        "key": k.key,
        "origin": k.origin.to_string(),
        "effect": effect,
        "detail": detail,
    })
}

/// The keys of earlier hew, as TOML comments after the values: what became of each.
fn print_earlier(keys: &[EarlierKey]) {
    for k in keys {
        match &k.effect {
            Effect::ReadAs(target) => {
                println!(
                    "# read as {target}: {} (earlier hew's, in {})",
                    k.key, k.origin
                );
            }
            Effect::Ignored(why) => {
                println!(
                    "# ignored: {} (earlier hew's, in {}): {why}",
                    k.key, k.origin
                );
            }
        }
    }
}

fn open(ctx: &Context, scope: Scope) -> Result<ConfigFile, CliError> {
    ConfigFile::open(ctx.config_path(scope)?).map_err(config_error)
}

pub fn config_error(e: ConfigError) -> CliError {
    let hint = e.hint();
    CliError::new(Exit::Config, e).with_hint_opt(hint)
}
