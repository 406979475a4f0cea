//! Every settable config path, with its kind and a one-line doc.
//!
//! This table is what `hew config keys` lists, what `set` and the `HEW_*` environment
//! check values against, and what unknown keys are reported from. A test walks the
//! [`Config`](super::Config) struct tree through serde and fails if the two disagree.

use std::fmt;

use super::error::{ConfigError, Origin};
use super::schema::Priority;

/// What kind of value a key holds, which decides how text converts to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// Free text.
    String,
    /// A file or directory path.
    Path,
    /// A whole number within `min..=max`.
    Integer {
        /// The smallest allowed value.
        min: i64,
        /// The largest allowed value.
        max: i64,
    },
    /// `true` or `false`.
    Bool,
    /// A duration written like `45m` (see [`HumanDuration`](super::HumanDuration)).
    Duration,
    /// A duration above zero: zero (or less than a millisecond) cannot work for this key,
    /// for the reason given (it is part of the error message).
    NonZeroDuration(&'static str),
    /// One of a fixed set of words.
    Enum(&'static [&'static str]),
    /// A list of strings.
    List,
    /// A map from keys to strings.
    Map(MapKeys),
    /// A number of at least 0, decimals allowed.
    Float,
    /// Prices per model, USD per million tokens: a table of models, each a table of
    /// [`PRICE_FIELDS`] to numbers.
    Prices,
}

/// The prices a model can be given, as written in `prices."<model>".<field>`.
pub const PRICE_FIELDS: [&str; 6] = [
    "input",
    "output",
    "cache_write",
    "cache_write_1h",
    "cache_read",
    "web_search",
];

/// Which keys a map key accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapKeys {
    /// Task priorities: `P0` to `P4`.
    Priority,
    /// Any name of letters, digits, `_` and `-` (task types).
    Free,
}

/// One settable config path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyDef {
    /// The dotted path, as written in `hew config set`: `loop.agent.timeout`.
    pub path: &'static str,
    /// What the value is.
    pub kind: KeyKind,
    /// Whether the key may be unset (no default): an empty string then means unset.
    pub optional: bool,
    /// A sample value as typed after `hew config set KEY`.
    pub example: &'static str,
    /// One line saying what the key does.
    pub doc: &'static str,
}

const fn key(
    path: &'static str,
    kind: KeyKind,
    example: &'static str,
    doc: &'static str,
) -> KeyDef {
    KeyDef {
        path,
        kind,
        optional: false,
        example,
        doc,
    }
}

const fn optional(
    path: &'static str,
    kind: KeyKind,
    example: &'static str,
    doc: &'static str,
) -> KeyDef {
    KeyDef {
        path,
        kind,
        optional: true,
        example,
        doc,
    }
}

const U32: KeyKind = KeyKind::Integer {
    min: 0,
    max: u32::MAX as i64,
};
const NONZERO_U32: KeyKind = KeyKind::Integer {
    min: 1,
    max: u32::MAX as i64,
};
const POSITIVE_U64: KeyKind = KeyKind::Integer {
    min: 1,
    max: i64::MAX,
};
const PRIORITY_NAMES: [&str; 5] = ["P0", "P1", "P2", "P3", "P4"];

static KEYS: [KeyDef; 44] = [
    optional(
        "tracker.command",
        KeyKind::String,
        "br",
        "the beads CLI to run: `bd` or `br`, a name on PATH or a path; unset: the tool \
         that made `.beads/`, else `bd` on PATH, else `br`",
    ),
    key(
        "tracker.timeout",
        KeyKind::NonZeroDuration("every tracker call would time out at once"),
        "1m",
        "how long one tracker call may take before it is killed",
    ),
    key("loop.jobs", NONZERO_U32, "4", "how many agents run at once"),
    key(
        "loop.claim_ahead",
        KeyKind::Bool,
        "false",
        "claim each busy worker's next task while its agent runs",
    ),
    key(
        "loop.lease",
        KeyKind::NonZeroDuration("every claim would expire as soon as it is made"),
        "5m",
        "how long a claim holds unless its run renews it; then another runner may take it",
    ),
    key(
        "loop.skip_types",
        KeyKind::List,
        "epic,chore",
        "task types never run (epics are containers, not work)",
    ),
    optional(
        "loop.model.default",
        KeyKind::String,
        "sonnet",
        "the model for tasks no other rule matches; unset: the agent's own default",
    ),
    key(
        "loop.model.by_priority",
        KeyKind::Map(MapKeys::Priority),
        "P0=opus,P1=sonnet",
        "the model per task priority, P0 (highest) to P4",
    ),
    key(
        "loop.model.by_type",
        KeyKind::Map(MapKeys::Free),
        "bug=opus,chore=haiku",
        "the model per task type (bug, feature, ... or custom types)",
    ),
    key(
        "loop.model.escalate",
        KeyKind::List,
        "sonnet,opus",
        "models to move a retried task to, weakest first",
    ),
    key(
        "loop.agent.runtime",
        KeyKind::Enum(&["claude", "codex", "command"]),
        "codex",
        "which agent CLI runs the tasks",
    ),
    optional(
        "loop.agent.binary",
        KeyKind::Path,
        "/opt/claude/bin/claude",
        "the agent program for claude or codex; unset: `claude` or `codex` on PATH",
    ),
    optional(
        "loop.agent.fallback",
        KeyKind::Enum(&["claude", "codex", "command"]),
        "codex",
        "the runtime tasks move to while the main one hits a usage limit or cannot reach its service",
    ),
    optional(
        "loop.agent.fallback_binary",
        KeyKind::Path,
        "/opt/codex/bin/codex",
        "the fallback's program; unset: `claude` or `codex` on PATH",
    ),
    key(
        "loop.agent.fallback_cooldown",
        KeyKind::Duration,
        "1h",
        "how long tasks stay on the fallback before the main runtime is tried again",
    ),
    key(
        "loop.agent.command",
        KeyKind::List,
        "my-agent,--prompt,{prompt_file}",
        "argv template for the `command` runtime: {prompt_file}, {model}, {task_id}, {worktree}",
    ),
    key(
        "loop.agent.timeout",
        KeyKind::NonZeroDuration("every agent would be stopped as soon as it starts"),
        "45m",
        "longest an agent may run before it is stopped",
    ),
    key(
        "loop.agent.grace",
        KeyKind::Duration,
        "10s",
        "time between SIGTERM and SIGKILL when stopping an agent",
    ),
    key(
        "loop.agent.slow_after",
        KeyKind::Duration,
        "15m",
        "after this long an agent is reported slow (nothing is killed)",
    ),
    key(
        "loop.agent.connect_timeout",
        KeyKind::Duration,
        "2m",
        "stop an agent whose output has shown only connection errors for this long",
    ),
    key(
        "loop.agent.permission_mode",
        KeyKind::String,
        "bypassPermissions",
        "Claude's --permission-mode (acceptEdits, auto, bypassPermissions, manual, dontAsk, \
         plan); empty: the CLI's own default",
    ),
    key(
        "loop.agent.allowed_tools",
        KeyKind::List,
        "Edit,Bash(git commit:*)",
        "tools auto-approved for Claude (--allowedTools)",
    ),
    optional(
        "loop.agent.mcp_config",
        KeyKind::Path,
        ".hew/mcp.json",
        "an MCP config file for Claude (--mcp-config F --strict-mcp-config)",
    ),
    optional(
        "loop.worktree.dir",
        KeyKind::Path,
        "/tmp/hew-worktrees",
        "where worker worktrees live; unset: inside the repository's git directory",
    ),
    key(
        "loop.worktree.reuse",
        KeyKind::Bool,
        "false",
        "reuse each worker's worktree from task to task",
    ),
    optional(
        "loop.worktree.setup",
        KeyKind::String,
        "npm ci",
        "a shell command run in a worktree before its agent: when the worktree is made, and \
         when a setup_when_changed file changed",
    ),
    key(
        "loop.worktree.setup_when_changed",
        KeyKind::List,
        "Cargo.lock,package-lock.json",
        "files whose change since a worktree's last setup runs the setup again",
    ),
    key(
        "loop.worktree.setup_timeout",
        KeyKind::NonZeroDuration("every setup would be killed as soon as it starts"),
        "30m",
        "longest the setup command may run; then it is killed and counts as failed",
    ),
    optional(
        "loop.verify.command",
        KeyKind::String,
        "cargo test",
        "a shell command checking a task's work before it lands; non-zero fails the task",
    ),
    key(
        "loop.verify.on",
        KeyKind::Enum(&["merge", "branch", "both"]),
        "both",
        "where the verify command runs: on the merged result, on the task's branch, or both",
    ),
    key(
        "loop.merge.batch",
        NONZERO_U32,
        "4",
        "at most this many waiting tasks are merged and verified together",
    ),
    key(
        "loop.merge.parallel",
        NONZERO_U32,
        "4",
        "how many merged results the merge queue verifies at once",
    ),
    optional(
        "loop.merge.remote",
        KeyKind::String,
        "origin",
        "land on this git remote's branch (fetch, merge, verify, push); unset: the local branch",
    ),
    optional(
        "loop.notify.command",
        KeyKind::String,
        "curl -fsS -H 'Content-Type: application/json' --data-binary @- https://example.com/hook",
        "a shell command run when a run ends, the run's summary JSON on its stdin",
    ),
    key(
        "loop.notify.timeout",
        KeyKind::NonZeroDuration("every notify command would be killed as soon as it starts"),
        "1m",
        "longest the notify command may run before it is killed",
    ),
    key(
        "loop.retry.max",
        U32,
        "3",
        "attempts after the first before a task is labelled hew:exhausted",
    ),
    key(
        "loop.retry.backoff",
        KeyKind::Duration,
        "1m",
        "the wait before retrying a rate-limited task; doubles per attempt, with jitter",
    ),
    key(
        "loop.retry.circuit_breaker",
        U32,
        "5",
        "stop the run when this many different tasks in a row fail the same way; 0: never",
    ),
    optional(
        "loop.budget.tokens",
        POSITIVE_U64,
        "2000000",
        "stop starting tasks once the run has used this many tokens",
    ),
    optional(
        "loop.budget.usd",
        KeyKind::Float,
        "5",
        "stop starting tasks once the run has cost this many US dollars (hew's prices)",
    ),
    optional(
        "loop.budget.task_usd",
        KeyKind::Float,
        "2",
        "US dollars one Claude agent may spend on one task (--max-budget-usd)",
    ),
    optional(
        "loop.budget.wall",
        KeyKind::NonZeroDuration("the run would stop before its first task"),
        "2h",
        "stop starting tasks once the run has gone on this long",
    ),
    key(
        "loop.budget.hard",
        KeyKind::Bool,
        "true",
        "when a budget is crossed, stop running agents too instead of letting them finish",
    ),
    key(
        "prices",
        KeyKind::Prices,
        "claude-opus-4-5.input=5,claude-opus-4-5.output=25",
        "price overrides per model, USD per million tokens (input, output, cache_write, \
         cache_write_1h, cache_read) and per 1,000 web searches (web_search)",
    ),
];

/// Every settable config path, in documentation order.
pub fn keys() -> &'static [KeyDef] {
    &KEYS
}

/// The key with exactly this path (map entries are not keys; see [`KeyDef::entry_path`]).
pub fn find_key(path: &str) -> Option<&'static KeyDef> {
    KEYS.iter().find(|k| k.path == path)
}

impl KeyDef {
    /// The environment variable that sets this key: `HEW_` and the path in upper case with
    /// `.` as `_` (`loop.jobs` is `HEW_LOOP_JOBS`).
    pub fn env_var(&self) -> String {
        format!("HEW_{}", self.path.to_ascii_uppercase().replace('.', "_"))
    }

    /// For a map, the listing form of one entry's path: `loop.model.by_priority.<P0..P4>`,
    /// `loop.model.by_type.<type>`, `prices.<model>.<field>`.
    pub fn entry_path(&self) -> Option<String> {
        match self.kind {
            KeyKind::Map(MapKeys::Priority) => Some(format!("{}.<P0..P4>", self.path)),
            KeyKind::Map(MapKeys::Free) => Some(format!("{}.<type>", self.path)),
            KeyKind::Prices => Some(format!("{}.<model>.<field>", self.path)),
            _ => None,
        }
    }
}

impl KeyKind {
    /// What a value of this kind looks like, for error messages: `a duration like 45m`.
    pub fn expected(&self) -> String {
        match self {
            Self::String => "a string".into(),
            Self::Path => "a path".into(),
            Self::Integer { min, max } if *max == i64::from(u32::MAX) => {
                format!("a whole number of at least {min}")
            }
            Self::Integer { min, max } => format!("a whole number from {min} to {max}"),
            Self::Bool => "`true` or `false`".into(),
            Self::Duration => "a duration like `45m` or `1h30m` (units ms, s, m, h, d)".into(),
            Self::NonZeroDuration(why) => format!(
                "a duration above zero like `45m` or `1h30m` (units ms, s, m, h, d); \
                 zero cannot work: {why}"
            ),
            Self::Enum(values) => format!("one of {}", quoted_list(values)),
            Self::List => "a list of strings: `a,b` or a TOML array like `[\"a\", \"b\"]`".into(),
            Self::Map(MapKeys::Priority) => {
                "a map of priorities to strings like `P0=opus,P1=sonnet` (keys P0 to P4)".into()
            }
            Self::Map(MapKeys::Free) => {
                "a map of names to strings like `bug=opus,chore=haiku`".into()
            }
            Self::Float => "a number of at least 0, like `2.5`".into(),
            Self::Prices => format!(
                "prices per model in USD per million tokens, like `opus.input=5,opus.output=25` \
                 or a TOML table like `{{ opus = {{ input = 5.0 }} }}` (fields {})",
                PRICE_FIELDS.join(", ")
            ),
        }
    }
}

impl fmt::Display for KeyKind {
    /// A short name for listings: `duration`, `integer >= 1`, `claude|codex|command`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::String => f.write_str("string"),
            Self::Path => f.write_str("path"),
            Self::Integer { min, .. } => write!(f, "integer >= {min}"),
            Self::Bool => f.write_str("bool"),
            Self::Duration => f.write_str("duration"),
            Self::NonZeroDuration(_) => f.write_str("duration > 0"),
            Self::Enum(values) => f.write_str(&values.join("|")),
            Self::List => f.write_str("list of strings"),
            Self::Map(MapKeys::Priority) => f.write_str("map P0..P4 = string"),
            Self::Map(MapKeys::Free) => f.write_str("map <type> = string"),
            Self::Float => f.write_str("number >= 0"),
            Self::Prices => write!(f, "map <model> = {{{}}}", PRICE_FIELDS.join(", ")),
        }
    }
}

/// One row of `hew config keys`: a map appears twice, as itself and as one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyListing {
    /// The path as shown: `loop.jobs`, `loop.model.by_priority.<P0..P4>`.
    pub path: String,
    /// The kind as shown: `duration`, `string`, `map P0..P4 = string`.
    pub kind: String,
    /// Whether the key may be left unset.
    pub optional: bool,
    /// What the key does.
    pub doc: &'static str,
}

/// Every settable path for display, map entries included, in documentation order.
pub fn key_listing() -> Vec<KeyListing> {
    let mut rows = Vec::new();
    for def in keys() {
        rows.push(KeyListing {
            path: def.path.to_owned(),
            kind: def.kind.to_string(),
            optional: def.optional,
            doc: def.doc,
        });
        if let Some(entry) = def.entry_path() {
            let kind = match def.kind {
                KeyKind::Prices => KeyKind::Float.to_string(),
                _ => "string".into(),
            };
            rows.push(KeyListing {
                path: entry,
                kind,
                optional: true,
                doc: def.doc,
            });
        }
    }
    rows
}

/// A path resolved against the table: a whole key, or one entry of a map key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyRef {
    /// A key of the table.
    Key(&'static KeyDef),
    /// One entry of a map key: `loop.model.by_priority.P1`.
    Entry { map: &'static KeyDef, entry: String },
    /// One price of one model: `prices.opus.input`, `prices."gpt-5.1".output`.
    Price {
        /// The `prices` key.
        map: &'static KeyDef,
        /// The model, unquoted.
        model: String,
        /// One of [`PRICE_FIELDS`].
        field: &'static str,
    },
}

impl KeyRef {
    /// The path this reference was resolved from (a model name that is not a bare TOML
    /// key is quoted: `prices."gpt-5.1".input`).
    pub(crate) fn path(&self) -> String {
        match self {
            Self::Key(def) => def.path.to_owned(),
            Self::Entry { map, entry } => format!("{}.{entry}", map.path),
            Self::Price { map, model, field } => {
                format!("{}.{}.{field}", map.path, quote_segment(model))
            }
        }
    }
}

/// A path segment as written in a dotted path: bare if it is a bare TOML key, else quoted.
fn quote_segment(segment: &str) -> String {
    let bare = !segment.is_empty()
        && segment
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        segment.to_owned()
    } else {
        format!("\"{segment}\"")
    }
}

/// The segments of a dotted path; a segment in double quotes may contain dots
/// (`prices."gpt-5.1".input`). `None` if a quote is not closed.
pub(crate) fn split_path(path: &str) -> Option<Vec<String>> {
    let mut segments = Vec::new();
    let mut rest = path;
    loop {
        let (segment, after) = match rest.strip_prefix('"') {
            Some(quoted) => {
                let end = quoted.find('"')?;
                (&quoted[..end], &quoted[end + 1..])
            }
            None => match rest.find('.') {
                Some(dot) => (&rest[..dot], &rest[dot..]),
                None => (rest, ""),
            },
        };
        segments.push(segment.to_owned());
        match after.strip_prefix('.') {
            Some(next) => rest = next,
            None if after.is_empty() => return Some(segments),
            None => return None,
        }
    }
}

/// Resolves a dotted path to a key or a map entry; `origin` names where the path came from
/// in the error.
pub(crate) fn resolve(path: &str, origin: &Origin) -> Result<KeyRef, ConfigError> {
    if let Some(def) = find_key(path) {
        return Ok(KeyRef::Key(def));
    }
    if let Some(price) = resolve_price(path, origin)? {
        return Ok(price);
    }
    let map = path
        .rsplit_once('.')
        .and_then(|(parent, _)| find_key(parent))
        .filter(|def| matches!(def.kind, KeyKind::Map(_)));
    match map {
        Some(map) => {
            let entry = &path[map.path.len() + 1..];
            check_map_key(map, entry, origin)?;
            Ok(KeyRef::Entry {
                map,
                entry: entry.to_owned(),
            })
        }
        None => Err(ConfigError::unknown_key(path, origin.clone())),
    }
}

/// `prices.<model>.<field>`, the model possibly quoted (it may contain dots).
fn resolve_price(path: &str, origin: &Origin) -> Result<Option<KeyRef>, ConfigError> {
    let Some(map) = KEYS.iter().find(|k| matches!(k.kind, KeyKind::Prices)) else {
        return Ok(None);
    };
    let Some(rest) = path
        .strip_prefix(map.path)
        .and_then(|r| r.strip_prefix('.'))
    else {
        return Ok(None);
    };
    let Some((model, field)) = rest.rsplit_once('.') else {
        return Err(ConfigError::unknown_key(path, origin.clone()));
    };
    let model = model
        .strip_prefix('"')
        .and_then(|m| m.strip_suffix('"'))
        .unwrap_or(model);
    check_model_name(map, model, origin)?;
    let Some(field) = PRICE_FIELDS.iter().find(|f| **f == field) else {
        return Err(ConfigError::MapKey {
            key: format!("{}.{}", map.path, quote_segment(model)),
            entry: field.to_owned(),
            origin: origin.clone(),
            allowed: PRICE_FIELDS.join(", "),
        });
    };
    Ok(Some(KeyRef::Price {
        map,
        model: model.to_owned(),
        field,
    }))
}

/// Refuses a model name no agent would print: empty, or with quotes or control
/// characters.
pub(crate) fn check_model_name(
    map: &KeyDef,
    model: &str,
    origin: &Origin,
) -> Result<(), ConfigError> {
    let ok = !model.trim().is_empty()
        && !model
            .chars()
            .any(|c| c.is_control() || c == '"' || c == '\\');
    if ok {
        return Ok(());
    }
    Err(ConfigError::MapKey {
        key: map.path.to_owned(),
        entry: model.to_owned(),
        origin: origin.clone(),
        allowed: "model names (no quotes or control characters)".to_owned(),
    })
}

/// Refuses a map key the map does not accept (`P9` for `by_priority`).
pub(crate) fn check_map_key(map: &KeyDef, entry: &str, origin: &Origin) -> Result<(), ConfigError> {
    let ok = match map.kind {
        KeyKind::Map(MapKeys::Priority) => entry.parse::<Priority>().is_ok(),
        KeyKind::Map(MapKeys::Free) => {
            !entry.is_empty()
                && entry
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        }
        _ => false,
    };
    if ok {
        return Ok(());
    }
    let allowed = match map.kind {
        KeyKind::Map(MapKeys::Priority) => PRIORITY_NAMES.join(", "),
        _ => "names of letters, digits, `_` and `-`".to_owned(),
    };
    Err(ConfigError::MapKey {
        key: map.path.to_owned(),
        entry: entry.to_owned(),
        origin: origin.clone(),
        allowed,
    })
}

/// Whether `path` is a table on the way to some key (`loop`, `loop.model`).
pub(crate) fn is_section(path: &str) -> bool {
    KEYS.iter().any(|k| {
        k.path.len() > path.len()
            && k.path.starts_with(path)
            && k.path.as_bytes()[path.len()] == b'.'
    })
}

/// Up to three known paths close to an unknown one: same last segment, or a small
/// edit distance.
pub(crate) fn close_keys(unknown: &str) -> Vec<&'static str> {
    let last = unknown.rsplit('.').next().unwrap_or(unknown);
    let mut scored: Vec<(usize, &'static str)> = KEYS
        .iter()
        .filter_map(|k| {
            let distance = edit_distance(unknown, k.path);
            let same_leaf = k.path.rsplit('.').next() == Some(last);
            let close = distance <= (k.path.len() / 4).max(2);
            (same_leaf || close).then_some((if same_leaf { 0 } else { distance }, k.path))
        })
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, path)| path).collect()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

fn quoted_list(values: &[&str]) -> String {
    values
        .iter()
        .map(|v| format!("`{v}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
#[path = "keys_tests.rs"]
mod tests;
