//! Task ids and labels that are safe to use as argv, paths and git ref names.
//!
//! A task id travels far: into the tracker's argv, a worktree path, a branch name
//! (`hew/<id>`). An id like `-rf`, `../x` or `a..b` must never get that far, so everything
//! that leaves hew carrying an id takes a [`TaskId`], which can only be built by
//! [`TaskId::parse`].

use std::fmt;

use serde::Serialize;

/// Longest id hew accepts. Real ids are short (`demo-3f`, `bd-a1b2.3`).
const MAX_ID_LEN: usize = 128;
/// br's own limit for labels.
const MAX_LABEL_LEN: usize = 50;

/// A validated task id: `[A-Za-z0-9._-]`, not starting with `-` or `.`, no `..`, no
/// trailing `.` or `.lock`, at most 128 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct TaskId(String);

/// Why an id or label was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} `{shown}`: {reason}")]
pub struct InvalidId {
    what: &'static str,
    shown: String,
    reason: &'static str,
}

impl InvalidId {
    fn new(what: &'static str, raw: &str, reason: &'static str) -> Self {
        // Show hostile input escaped and bounded: it may hold newlines or be huge.
        let mut shown: String = raw
            .chars()
            .take(60)
            .flat_map(char::escape_default)
            .collect();
        if raw.chars().count() > 60 {
            shown.push('…');
        }
        Self {
            what,
            shown,
            reason,
        }
    }
}

impl TaskId {
    /// Checks `raw` and wraps it.
    pub fn parse(raw: &str) -> Result<Self, InvalidId> {
        let bad = |reason| Err(InvalidId::new("task id", raw, reason));
        if raw.is_empty() {
            return bad("it is empty");
        }
        if raw.len() > MAX_ID_LEN {
            return bad("it is longer than 128 characters");
        }
        if !raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return bad("only letters, digits, `.`, `_` and `-` are allowed");
        }
        if raw.starts_with('-') || raw.starts_with('.') {
            return bad("it must not start with `-` or `.`");
        }
        if raw.contains("..") {
            return bad("it must not contain `..`");
        }
        if raw.ends_with('.') || raw.ends_with(".lock") {
            return bad("it must not end with `.` or `.lock`");
        }
        Ok(Self(raw.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for TaskId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Checks a label against the rule both trackers accept: `[A-Za-z0-9_:-]`, 1 to 50
/// characters, not starting with `-` (it would read as a flag).
pub fn validate_label(raw: &str) -> Result<(), InvalidId> {
    let bad = |reason| Err(InvalidId::new("label", raw, reason));
    if raw.is_empty() {
        return bad("it is empty");
    }
    if raw.len() > MAX_LABEL_LEN {
        return bad("it is longer than 50 characters");
    }
    if !raw
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '-'))
    {
        return bad("only letters, digits, `_`, `:` and `-` are allowed");
    }
    if raw.starts_with('-') {
        return bad("it must not start with `-`");
    }
    Ok(())
}

/// Checks an actor name (who claims a task, e.g. `hew/host/run-1/w2`): 1 to 128
/// characters, no whitespace other than spaces, no control characters, not starting with
/// `-`.
pub fn validate_actor(raw: &str) -> Result<(), InvalidId> {
    let bad = |reason| Err(InvalidId::new("actor", raw, reason));
    if raw.trim().is_empty() {
        return bad("it is empty");
    }
    if raw.len() > MAX_ID_LEN {
        return bad("it is longer than 128 characters");
    }
    if raw.chars().any(|c| c.is_control()) {
        return bad("it must not contain control characters");
    }
    if raw.starts_with('-') {
        return bad("it must not start with `-`");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_tracker_ids() {
        for id in ["demo-3f", "bd-a1b2.3", "HEW_1", "x", "br-0.1.2"] {
            assert_eq!(TaskId::parse(id).unwrap().as_str(), id);
        }
    }

    #[test]
    fn refuses_ids_that_escape_paths_refs_or_argv() {
        let long = "a".repeat(300);
        for id in [
            "", "-rf", "../x", "a..b", "a/b", "a\nb", "a b", ".hidden", "x.lock", "x.", &long,
        ] {
            assert!(TaskId::parse(id).is_err(), "{id:?} should be refused");
        }
    }

    #[test]
    fn error_shows_hostile_input_escaped_and_bounded() {
        let err = TaskId::parse("a\nb").unwrap_err().to_string();
        assert!(err.contains("a\\nb"), "{err}");
        let err = TaskId::parse(&"z".repeat(300)).unwrap_err().to_string();
        assert!(err.len() < 200, "{err}");
    }

    #[test]
    fn labels_follow_the_tracker_rule() {
        for ok in ["model:opus", "hew:retry-1", "backend", "a_b"] {
            validate_label(ok).unwrap();
        }
        for bad in ["", "-x", "a b", "a,b", "a/b", &"l".repeat(51)] {
            assert!(validate_label(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn actors_are_printable_and_bounded() {
        for ok in ["hew/host/run-1/w2", "alice", "Jane Doe"] {
            validate_actor(ok).unwrap();
        }
        for bad in ["", " ", "-x", "a\nb", "a\tb", &"a".repeat(129)] {
            assert!(validate_actor(bad).is_err(), "{bad:?}");
        }
    }
}
