//! Reading bd's and br's JSON: pure functions from what the tracker printed to values.
//!
//! Both trackers print JSON with `--json`, but not the same JSON, and not always what their
//! docs say. Everything here is tolerant where it is safe (array or object, an envelope,
//! absent or null fields) and strict where guessing would be wrong (truncated or garbled
//! output is an error, never an empty list).
//!
//! What br 0.7.6 actually does, checked by hand, where it differs from or adds to
//! `formats/beads.md`:
//!
//! - `close ID --reason=R --json` prints an array of the closed issues
//!   (`[{"id","title","status":"closed","closed_at","close_reason"}]`), not
//!   `{closed, skipped}`. That object appears only when something was skipped (already
//!   closed, or blocked: br refuses to close a blocked issue without `--force`), followed
//!   by an error object with code `NOTHING_TO_DO`, exit 3: the same exit code as "not
//!   found", so only `error.code` tells them apart.
//! - `update --claim` and `update --status open --assignee ""` print a partial record:
//!   `[{"id","title","status","priority","assignee","owner","updated_at"}]`, no labels.
//! - A refused claim is `VALIDATION_FAILED`, exit 4, with `context.field = "claim"`:
//!   "already assigned to X", "cannot claim blocked issue: …", "cannot claim closed issue
//!   …". Claiming again with the same actor succeeds.
//! - Releasing a closed issue (`--status open --assignee ""`) silently reopens it.
//! - `show` omits `labels` (and `description`, `assignee`) when empty; `ready` always has
//!   `labels` but omits an empty `description`. `create --json` prints an object.
//! - No database: exit 2, `NOT_INITIALIZED`. `BEADS_DIR` naming a missing directory:
//!   exit 7, `CONFIG_ERROR`. Usage errors from its argument parser: exit 2 with plain
//!   text on stderr, the same code as database errors.
//! - `label add|remove --json` prints `[{"status":"added"|"removed"|"not_found",…}]`;
//!   removing an absent label succeeds. `comments add --json` prints the comment object;
//!   `comments add ID -- TEXT` works, and without `--` a text starting with `-` is read
//!   as a flag (exit 2).
//! - `--label a,b` is one label `a,b`; `-t`/`--type` and `--label` repeat; `--parent` of a
//!   missing id is exit 3 `ISSUE_NOT_FOUND`; `--limit 0` means unlimited.
//! - It finds `.beads` by walking up from the working directory, or takes `BEADS_DIR`; it
//!   needs no HOME, git repository or git identity (the author is then `unknown`), and
//!   writes nothing outside `.beads/`.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::Task;

/// `null` or a missing field reads as the type's default.
pub(crate) fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A priority given as `1`, `"1"` or `"P1"`; anything else reads as unknown.
pub(crate) fn priority<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u8>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    Ok(match v {
        Some(Value::Number(n)) => n.as_u64().and_then(|n| u8::try_from(n).ok()),
        Some(Value::String(s)) => s.trim().trim_start_matches(['P', 'p']).parse().ok(),
        _ => None,
    })
}

/// An error the tracker reported as JSON (`{"error":{"code","message",…}}`, or bd's
/// `{"error":"text"}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReportedError {
    /// Machine-readable code (`ISSUE_NOT_FOUND`, …), when given.
    pub code: Option<String>,
    /// The human message.
    pub message: String,
    /// Which argument it was about (`context.field`), when given.
    pub field: Option<String>,
}

/// Reads output as a stream of JSON values (br may print several), each unwrapped of a
/// `{"schema_version":N,"data":…}` envelope. Empty output is an empty stream. Lines of
/// plain text before the first value (a warning) are skipped; anything unreadable after
/// it is an error, so truncated output is never mistaken for a short answer.
pub(crate) fn json_stream(bytes: &[u8]) -> Result<Vec<Value>, String> {
    let first_error = match parse_all(bytes) {
        Ok(values) => return Ok(values),
        Err(e) => e,
    };
    // Retry from the first few lines that look like the start of JSON.
    let starts = bytes
        .split_inclusive(|&b| b == b'\n')
        .scan(0, |offset, line| {
            let start = *offset;
            *offset += line.len();
            Some((start, line))
        })
        .skip(1)
        .filter(|(_, line)| matches!(line.trim_ascii_start().first(), Some(b'[' | b'{')))
        .take(4);
    for (start, _) in starts {
        if let Ok(values) = parse_all(&bytes[start..]) {
            return Ok(values);
        }
    }
    Err(first_error)
}

fn parse_all(bytes: &[u8]) -> Result<Vec<Value>, String> {
    serde_json::Deserializer::from_slice(bytes)
        .into_iter::<Value>()
        .map(|v| v.map(unwrap_envelope).map_err(|e| format!("not JSON: {e}")))
        .collect()
}

/// `{"schema_version":N,"data":X}` → `X`; anything else unchanged.
fn unwrap_envelope(v: Value) -> Value {
    match v {
        Value::Object(mut map)
            if map.contains_key("schema_version") && map.contains_key("data") =>
        {
            map.remove("data").unwrap_or(Value::Null)
        }
        other => other,
    }
}

/// The first error object in `values`, if any.
pub(crate) fn reported_error(values: &[Value]) -> Option<ReportedError> {
    values.iter().find_map(|v| {
        let err = v.get("error")?;
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
        Some(match err {
            Value::String(message) => ReportedError {
                code: text(v.get("code")),
                message: message.clone(),
                field: None,
            },
            Value::Object(_) => ReportedError {
                code: text(err.get("code")),
                message: text(err.get("message")).unwrap_or_else(|| err.to_string()),
                field: text(err.get("context").and_then(|c| c.get("field"))),
            },
            other => ReportedError {
                code: None,
                message: other.to_string(),
                field: None,
            },
        })
    })
}

/// The tasks of a `ready` answer: an array of issues (`null` reads as none, bd being
/// written in Go), an object holding `issues`, or a single issue object.
pub(crate) fn task_list(values: Vec<Value>) -> Result<Vec<Task>, String> {
    let value = only_value(values)?;
    let items = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        Value::Object(mut map) => match map.remove("issues") {
            Some(Value::Array(items)) => items,
            Some(_) => return Err("`issues` is not an array".into()),
            None => vec![Value::Object(map)],
        },
        other => {
            return Err(format!(
                "expected an array of issues, found {}",
                kind(&other)
            ));
        }
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| task(item).map_err(|e| format!("issue {i}: {e}")))
        .collect()
}

/// The task `id` from a `show`/`update` answer: an array (the entry with that id, or the
/// only entry) or an object. `Ok(None)` when the answer is empty.
pub(crate) fn one_task(values: Vec<Value>, id: &str) -> Result<Option<Task>, String> {
    let mut tasks = task_list(values)?;
    if let Some(i) = tasks.iter().position(|t| t.id == id) {
        return Ok(Some(tasks.swap_remove(i)));
    }
    match tasks.len() {
        0 => Ok(None),
        1 => Ok(tasks.pop()),
        n => Err(format!("expected issue `{id}`, found {n} others")),
    }
}

/// Why a `close` answer says `id` was not closed, if it does: listed under `skipped`,
/// missing from `closed`, or returned with a status other than `closed`.
pub(crate) fn close_refusal(values: &[Value], id: &str) -> Option<String> {
    let has_id =
        |v: &Value| v.get("id").and_then(Value::as_str) == Some(id) || v.as_str() == Some(id);
    for value in values {
        if let Some(skipped) = value.get("skipped").and_then(Value::as_array)
            && let Some(entry) = skipped.iter().find(|v| has_id(v)).or(skipped.first())
        {
            let reason = entry
                .get("reason")
                .and_then(Value::as_str)
                .unwrap_or("skipped");
            return Some(format!("skipped: {reason}"));
        }
        if let Some(closed) = value.get("closed").and_then(Value::as_array)
            && !closed.iter().any(has_id)
        {
            return Some("not among the closed issues".into());
        }
        let entries = value
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(std::slice::from_ref(value));
        if let Some(entry) = entries.iter().find(|v| has_id(v))
            && let Some(status) = entry.get("status").and_then(Value::as_str)
            && status != "closed"
        {
            return Some(format!("its status is still `{status}`"));
        }
    }
    None
}

fn only_value(values: Vec<Value>) -> Result<Value, String> {
    let n = values.len();
    let mut values = values.into_iter();
    match (values.next(), n) {
        (None, _) => Err("no output".into()),
        (Some(v), 1) => Ok(v),
        (Some(_), n) => Err(format!("expected one JSON value, found {n}")),
    }
}

fn task(item: Value) -> Result<Task, String> {
    if !item.is_object() {
        return Err(format!("expected an issue object, found {}", kind(&item)));
    }
    serde_json::from_value(item).map_err(|e| e.to_string())
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests;
