//! The keys of earlier hew (0.9–0.12), which read the same `~/.config/hew/config.toml`.
//!
//! A user upgrading keeps one file for both, so a key earlier hew is known to have had is
//! not an error here: the keys whose meaning carries over are read as this hew's own
//! (`default_runtime` as `loop.agent.runtime`, `loop.end_of_run.verify_command` with
//! `loop.end_of_run.verify_tests = true` as `loop.verify.command`), the others are ignored
//! with a reason, which the CLI shows once as a warning and in `hew config list`. The
//! `loop.model.*` keys the two share need nothing: they are this hew's keys too. A key that
//! neither hew knows stays an error, and so does a value a read key cannot take.
//!
//! The list is earlier hew's `Config` struct as published (`hew-core/src/config.rs`);
//! docs/CONFIG.md ("Keys of earlier hew") says the same for users.

use toml_edit::{Item, Value};

use super::error::{ConfigError, Origin};
use super::keys::{KeyDef, find_key};
use super::value::{Site, check, describe};

/// What this hew does with a key of earlier hew.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// Read as this key (its value checked as this key's).
    ReadAs(&'static str),
    /// `loop.end_of_run.*`: read as `loop.verify.command` together (see [`resolve`]).
    EndOfRun,
    /// Ignored, for this reason.
    Ignored(&'static str),
}

const SKILLS: &str = "a setting of earlier hew's planning and review skills, which this hew \
                      does not have";

/// Every key of earlier hew that this hew does not have under the same name.
static EARLIER_KEYS: [(&str, Rule); 29] = [
    (
        "update_check",
        Rule::Ignored("this hew does not check for updates"),
    ),
    ("default_runtime", Rule::ReadAs("loop.agent.runtime")),
    (
        "default_scope",
        Rule::Ignored(
            "this hew takes every ready task; narrow a run with `--label`, `--type` or `--parent`",
        ),
    ),
    (
        "git_track",
        Rule::Ignored("this hew keeps its records out of git (`.hew/.gitignore`)"),
    ),
    ("optional_skills.deps", Rule::Ignored(SKILLS)),
    ("optional_skills.research", Rule::Ignored(SKILLS)),
    ("optional_skills.security", Rule::Ignored(SKILLS)),
    (
        "branching.strategy",
        Rule::Ignored(
            "every task gets its own branch `hew/<task-id>`, merged into the branch `--into` \
             names",
        ),
    ),
    ("research.default", Rule::Ignored(SKILLS)),
    ("review.after_n_tasks", Rule::Ignored(SKILLS)),
    ("review.after_epic", Rule::Ignored(SKILLS)),
    ("review.batch_size", Rule::Ignored(SKILLS)),
    ("testing.require", Rule::Ignored(SKILLS)),
    ("craft.max_function_lines", Rule::Ignored(SKILLS)),
    ("craft.warn_on_unused", Rule::Ignored(SKILLS)),
    ("craft.symbol_trace", Rule::Ignored(SKILLS)),
    ("compact.dry_run_default", Rule::Ignored(SKILLS)),
    ("compact.granularity_default", Rule::Ignored(SKILLS)),
    ("compact.target_clusters_cap", Rule::Ignored(SKILLS)),
    ("compact.allow_recompact_default", Rule::Ignored(SKILLS)),
    ("compact.exempt", Rule::Ignored(SKILLS)),
    ("loop.fallback_runtime", Rule::ReadAs("loop.agent.fallback")),
    (
        "loop.fallback_cooldown_iters",
        Rule::Ignored("this hew's cooldown is a time: `loop.agent.fallback_cooldown`"),
    ),
    (
        "loop.planner.enabled",
        Rule::Ignored("this hew runs no planner agent between tasks: its loop spends no tokens"),
    ),
    (
        "loop.planner.budget_tokens",
        Rule::Ignored("this hew runs no planner agent between tasks: its loop spends no tokens"),
    ),
    (
        "loop.planner.runtime",
        Rule::Ignored("this hew runs no planner agent between tasks: its loop spends no tokens"),
    ),
    ("loop.end_of_run.verify_tests", Rule::EndOfRun),
    ("loop.end_of_run.verify_command", Rule::EndOfRun),
    (
        "loop.end_of_run.verify_budget_wall",
        Rule::Ignored("`loop.verify.command` has no time limit of its own"),
    ),
];

/// The `EARLIER_KEYS` entry of `path`.
fn rule_of(path: &str) -> Option<Rule> {
    EARLIER_KEYS
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, rule)| *rule)
}

/// Whether `path` is a key of earlier hew that this hew does not have.
pub(crate) fn is_earlier_key(path: &str) -> bool {
    rule_of(path).is_some()
}

/// Whether `path` is a table of earlier hew's (`loop.planner`, `review`) that this hew
/// does not have.
pub(crate) fn is_earlier_section(path: &str) -> bool {
    EARLIER_KEYS.iter().any(|(p, _)| {
        p.len() > path.len() && p.starts_with(path) && p.as_bytes()[path.len()] == b'.'
    })
}

/// What became of `key`, if it is a key of earlier hew: a hint for an unknown key error.
pub(crate) fn hint_for(key: &str) -> Option<String> {
    let target = match rule_of(key)? {
        Rule::Ignored(why) => {
            return Some(format!(
                "`{key}` is a key of earlier hew, which this hew ignores: {why}"
            ));
        }
        Rule::ReadAs(target) => target,
        Rule::EndOfRun => "loop.verify.command",
    };
    Some(format!(
        "`{key}` is a key of earlier hew, read as `{target}`: use that one"
    ))
}

/// A key of earlier hew found in a config file, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EarlierKey {
    /// The key as written: `loop.planner.enabled`.
    pub key: String,
    /// Where: the file, and the key's line and column.
    pub origin: Origin,
    /// What this hew did with it.
    pub effect: Effect,
}

/// What this hew did with a key of earlier hew.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Its value is this key's.
    ReadAs(&'static str),
    /// Not used, for this reason.
    Ignored(String),
}

/// Values read from keys of earlier hew, for this hew's keys.
pub(crate) type ReadValues = Vec<(&'static KeyDef, Value)>;

/// A key of earlier hew as met in a file, before [`resolve`].
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub(crate) key: String,
    pub(crate) item: Item,
    pub(crate) origin: Origin,
}

/// Decides what the keys of earlier hew in one file mean: the values read as this hew's
/// keys (to be set in the file's layer unless `set_here` says the file sets that key
/// itself), and what became of each key. Fails on a value a read key cannot take.
pub(crate) fn resolve(
    found: Vec<Found>,
    set_here: impl Fn(&str) -> bool,
    site: &Site<'_>,
) -> Result<(ReadValues, Vec<EarlierKey>), ConfigError> {
    let mut values = Vec::new();
    let mut report = Vec::new();
    let same_file = |target: &str| format!("`{target}` is set in the same file, and wins");
    let verify_tests = found
        .iter()
        .find(|f| f.key == "loop.end_of_run.verify_tests");
    let verify_on = match verify_tests {
        None => false,
        Some(f) => match f.item.as_bool() {
            Some(on) => on,
            None => {
                return Err(ConfigError::InvalidValue {
                    key: f.key.clone(),
                    origin: f.origin.clone(),
                    expected: "`true` or `false`".into(),
                    found: describe(&f.item),
                });
            }
        },
    };
    let verify_command = found
        .iter()
        .find(|f| f.key == "loop.end_of_run.verify_command")
        .map(|f| {
            f.item
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| ConfigError::InvalidValue {
                    key: f.key.clone(),
                    origin: f.origin.clone(),
                    expected: "a string".into(),
                    found: describe(&f.item),
                })
        })
        .transpose()?
        .filter(|c| !c.trim().is_empty());
    for f in found {
        let effect = match rule_of(&f.key) {
            Some(Rule::Ignored(why)) => Effect::Ignored(why.to_owned()),
            Some(Rule::ReadAs(target)) if set_here(target) => Effect::Ignored(same_file(target)),
            Some(Rule::ReadAs(target)) => {
                let def = find_key(target)
                    .ok_or_else(|| ConfigError::unknown_key(target, f.origin.clone()))?;
                let value = check(def, &f.item, site).map_err(|e| read_as_error(e, &f.key))?;
                values.push((def, value));
                Effect::ReadAs(target)
            }
            Some(Rule::EndOfRun) => {
                const TARGET: &str = "loop.verify.command";
                match (&verify_command, verify_on) {
                    _ if set_here(TARGET) => Effect::Ignored(same_file(TARGET)),
                    (Some(command), true) => {
                        if f.key.ends_with("verify_command")
                            && let Some(def) = find_key(TARGET)
                        {
                            values.push((def, Value::from(command.as_str())));
                        }
                        Effect::ReadAs(TARGET)
                    }
                    (None, true) => Effect::Ignored(
                        "earlier hew found the test command itself; this hew runs the one \
                         `loop.verify.command` names"
                            .into(),
                    ),
                    (_, false) => Effect::Ignored(
                        "earlier hew ran the command only with \
                         `loop.end_of_run.verify_tests = true`"
                            .into(),
                    ),
                }
            }
            None => continue,
        };
        report.push(EarlierKey {
            key: f.key,
            origin: f.origin,
            effect,
        });
    }
    Ok((values, report))
}

/// An invalid value of a key read as another names the key as written.
fn read_as_error(err: ConfigError, key: &str) -> ConfigError {
    match err {
        ConfigError::InvalidValue {
            key: target,
            origin,
            expected,
            found,
        } => ConfigError::InvalidValue {
            key: key.to_owned(),
            origin,
            expected: format!("{expected} (it is read as `{target}`)"),
            found,
        },
        other => other,
    }
}

#[cfg(test)]
#[path = "earlier_tests.rs"]
mod tests;
