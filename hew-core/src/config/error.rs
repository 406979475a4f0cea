//! What can go wrong reading, checking or writing config, and where it went wrong: each
//! error names the key and the file (or environment variable) involved, and most carry a
//! hint saying how to fix it.

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::earlier;
use super::keys::{KeyKind, MapKeys, close_keys, find_key};
use super::value::from_text;

/// Where a config value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The built-in `default-config.toml`.
    Defaults,
    /// A config file, with the position of the offending text when known.
    File {
        /// The file.
        path: PathBuf,
        /// The line and column (both from 1) of the offending key or value.
        at: Option<Position>,
    },
    /// A `HEW_*` environment variable.
    Env {
        /// The variable's name: `HEW_LOOP_JOBS`.
        var: String,
    },
    /// A value given on the command line.
    Override,
    /// All layers merged (blamed only if layers that pass on their own fail together).
    Merged,
}

/// A line and column in a file, both counted from 1 (columns in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The line, from 1.
    pub line: usize,
    /// The column, from 1, in characters.
    pub column: usize,
}

impl Position {
    /// The position of byte `offset` in `text` (clamped to the end of the text).
    pub fn at_offset(text: &str, offset: usize) -> Self {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Self {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }
}

impl Origin {
    /// A file, without a position.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self::File {
            path: path.into(),
            at: None,
        }
    }

    /// The same origin, pointing at byte `offset` of `text` if it is a file.
    pub(crate) fn at(&self, text: &str, offset: Option<usize>) -> Self {
        match (self, offset) {
            (Self::File { path, .. }, Some(offset)) => Self::File {
                path: path.clone(),
                at: Some(Position::at_offset(text, offset)),
            },
            _ => self.clone(),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Defaults => f.write_str("the built-in defaults"),
            Self::File { path, at: None } => write!(f, "`{}`", path.display()),
            Self::File { path, at: Some(at) } => {
                write!(
                    f,
                    "`{}` at line {}, column {}",
                    path.display(),
                    at.line,
                    at.column
                )
            }
            Self::Env { var } => write!(f, "environment variable `{var}`"),
            Self::Override => f.write_str("the command line"),
            Self::Merged => f.write_str("the merged config"),
        }
    }
}

/// A config error. Messages are lowercase and name the key and where it came from.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file is not valid TOML.
    #[error("failed to parse `{}` at line {line}, column {column}: {message}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
        /// The column, from 1.
        column: usize,
        /// What the TOML parser said.
        message: String,
    },
    /// A key that hew does not know.
    #[error("unknown key `{key}` in {origin}")]
    UnknownKey {
        /// The key as written.
        key: String,
        /// Where it was written.
        origin: Origin,
        /// Known keys that look like it.
        close: Vec<&'static str>,
    },
    /// A value of the wrong type, or out of range.
    #[error("invalid value for `{key}` in {origin}: expected {expected}, found {found}")]
    InvalidValue {
        /// The key.
        key: String,
        /// Where the value came from.
        origin: Origin,
        /// What the key accepts.
        expected: String,
        /// What was given.
        found: String,
    },
    /// A map key that the map does not accept (`P9` for `loop.model.by_priority`).
    #[error("invalid key `{entry}` for map `{key}` in {origin}: allowed keys are {allowed}")]
    MapKey {
        /// The map.
        key: String,
        /// The refused map key.
        entry: String,
        /// Where it was written.
        origin: Origin,
        /// The keys the map accepts.
        allowed: String,
    },
    /// A layer that passed the key checks but still does not deserialize; a disagreement
    /// between the key table and the config struct, reported rather than hidden.
    #[error("invalid config in {origin}: {message}")]
    Rejected {
        /// Where the layer came from.
        origin: Origin,
        /// What deserialization said.
        message: String,
    },
    /// A config file that could not be read.
    #[error("failed to read `{}`", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A config file that could not be written.
    #[error("failed to write `{}`", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl ConfigError {
    /// An unknown key, with the known keys that look like it.
    pub(crate) fn unknown_key(key: &str, origin: Origin) -> Self {
        Self::UnknownKey {
            key: key.to_owned(),
            origin,
            close: close_keys(key),
        }
    }

    /// How to fix the error, when there is something useful to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Malformed { path, line, .. } => Some(format!(
                "fix the TOML near line {line} of `{}`",
                path.display()
            )),
            Self::UnknownKey { key, .. } if earlier::hint_for(key).is_some() => {
                earlier::hint_for(key)
            }
            Self::UnknownKey { close, .. } if !close.is_empty() => {
                let names: Vec<String> = close.iter().map(|k| format!("`{k}`")).collect();
                Some(format!(
                    "did you mean {}? `hew config keys` lists every key",
                    names.join(" or ")
                ))
            }
            Self::UnknownKey { .. } => Some("`hew config keys` lists every key".into()),
            Self::InvalidValue { key, origin, .. } => {
                let (example, toml) = example_for(key)?;
                let leaf = key.rsplit('.').next().unwrap_or(key);
                Some(match origin {
                    Origin::Env { var } => {
                        format!("set `{var}` to a valid value like `{var}={example}`, or unset it")
                    }
                    Origin::Override => format!("for example `{key}={example}`"),
                    // No position: the value was typed for `hew config set`, not read.
                    Origin::File { at: None, .. } => {
                        format!("for example `hew config set {key} {example}`")
                    }
                    _ => format!("write it like `{leaf} = {toml}`"),
                })
            }
            Self::MapKey { key, .. } if key.starts_with("prices") => Some(
                "for example `hew config set prices.claude-opus-4-5.input 5` (fields input, \
                 output, cache_write, cache_write_1h, cache_read, web_search)"
                    .into(),
            ),
            Self::MapKey { key, .. } => {
                let entry = match find_key(key).map(|def| def.kind) {
                    Some(KeyKind::Map(MapKeys::Priority)) => "P0",
                    _ => "bug",
                };
                Some(format!("for example `hew config set {key}.{entry} opus`"))
            }
            Self::Rejected { .. } | Self::Read { .. } | Self::Write { .. } => None,
        }
    }
}

/// A sample value for a key or a map entry, as typed and as TOML.
fn example_for(key: &str) -> Option<(&'static str, String)> {
    let (def, example) = match find_key(key) {
        Some(def) => (def, def.example),
        None => {
            let map = find_key(key.rsplit_once('.')?.0)?;
            (map, "opus")
        }
    };
    let toml = match def.kind {
        KeyKind::Map(_) if example == "opus" => "\"opus\"".to_owned(),
        _ => from_text(def, example, &Origin::Override)
            .ok()??
            .to_string(),
    };
    Some((example, toml))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters_from_one() {
        let text = "a = 1\n[é]\nbad";
        assert_eq!(
            Position::at_offset(text, 0),
            Position { line: 1, column: 1 }
        );
        assert_eq!(
            Position::at_offset(text, 6),
            Position { line: 2, column: 1 }
        );
        assert_eq!(
            Position::at_offset(text, 9),
            Position { line: 2, column: 3 }
        );
        assert_eq!(
            Position::at_offset(text, 999),
            Position { line: 3, column: 4 }
        );
    }

    #[test]
    fn unknown_key_hints_at_close_keys() {
        let err = ConfigError::unknown_key("loop.job", Origin::file("/c.toml"));
        assert_eq!(err.to_string(), "unknown key `loop.job` in `/c.toml`");
        let hint = err.hint().unwrap();
        assert!(hint.contains("`loop.jobs`"), "{hint}");

        let err = ConfigError::unknown_key("zzzzzzzz", Origin::Override);
        assert_eq!(err.hint().unwrap(), "`hew config keys` lists every key");
    }
}
