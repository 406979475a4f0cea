//! Lenient access to JSON events: a missing field, a field of the wrong type and a line
//! that is not JSON all read as "absent", never as an error.

use serde_json::Value;

/// The JSON object on `line`, if it holds one. Invalid UTF-8 is replaced rather than
/// refused, so a stray byte inside some text does not cost the event.
pub(super) fn event(line: &[u8]) -> Option<Value> {
    let text = String::from_utf8_lossy(line);
    let text = text.trim();
    if !text.starts_with('{') {
        return None;
    }
    match serde_json::from_str::<Value>(text) {
        Ok(value @ Value::Object(_)) => Some(value),
        _ => None,
    }
}

/// The value at `path` (object keys) under `v`.
pub(super) fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, key| v.get(key))
}

/// The string at `path`.
pub(super) fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(v, path)?.as_str()
}

/// A token count: a non-negative integer, also accepted as a float or a numeric string.
pub(super) fn count(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0)
                // Saturating float-to-int conversion: a huge figure caps at u64::MAX.
                .map(|f| f.round() as u64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A non-negative finite number (a cost).
pub(super) fn amount(v: Option<&Value>) -> Option<f64> {
    v?.as_f64().filter(|f| f.is_finite() && *f >= 0.0)
}

/// An HTTP status carried by an event under one of the names agents use.
pub(super) fn status(v: &Value) -> Option<u64> {
    ["status", "status_code", "api_error_status"]
        .iter()
        .find_map(|key| count(v.get(key)))
        .or_else(|| count(at(v, &["error", "status"])))
        .filter(|s| (100..600).contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_objects_only() {
        assert!(event(br#"  {"type":"x"}  "#).is_some());
        assert!(event(b"{\"type\":\"x\"}\r").is_some());
        assert!(event(b"[1]").is_none());
        assert!(event(b"{\"type\":").is_none());
        assert!(event(b"").is_none());
        assert!(event(b"{\"t\":\"\xff\xfe\"}").is_some());
    }

    #[test]
    fn counts_are_lenient() {
        assert_eq!(count(Some(&json!(12))), Some(12));
        assert_eq!(count(Some(&json!(12.0))), Some(12));
        assert_eq!(count(Some(&json!("7"))), Some(7));
        assert_eq!(count(Some(&json!(-3))), None);
        assert_eq!(count(Some(&json!(1e300))), Some(u64::MAX));
        assert_eq!(count(Some(&json!(null))), None);
        assert_eq!(count(None), None);
    }
}
