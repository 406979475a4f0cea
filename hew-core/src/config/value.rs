//! Config values as people type them and as TOML stores them.
//!
//! `hew config set` and the `HEW_*` environment give text (`45m`, `epic,chore`,
//! `P0=opus,P1=sonnet`); files give TOML. Both are checked against the key's kind and turned
//! into one canonical `toml_edit` value, and `hew config get` renders a value back to the
//! text form that `set` accepts.

use std::ops::Range;

use toml_edit::{Array, InlineTable, Item, TableLike, Value};

use super::duration::HumanDuration;
use super::error::{ConfigError, Origin};
use super::keys::{KeyDef, KeyKind, PRICE_FIELDS, check_map_key, check_model_name};

/// Where a value is being read: the origin to blame, and the text that byte spans point
/// into (empty for values that do not come from a file).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Site<'a> {
    pub(crate) origin: &'a Origin,
    pub(crate) text: &'a str,
}

impl Site<'_> {
    /// The origin, pointing at `span` when the value comes from a file.
    pub(crate) fn at(&self, span: Option<Range<usize>>) -> Origin {
        if self.text.is_empty() {
            return self.origin.clone();
        }
        self.origin.at(self.text, span.map(|s| s.start))
    }
}

/// Converts text typed for `def` to a value. `Ok(None)` means "clear": an empty string for
/// a key that is not a list or a map.
pub(crate) fn from_text(
    def: &KeyDef,
    raw: &str,
    origin: &Origin,
) -> Result<Option<Value>, ConfigError> {
    let invalid = || invalid(def.path, origin.clone(), &def.kind, format!("`{raw}`"));
    let trimmed = raw.trim();
    let value = match def.kind {
        KeyKind::List | KeyKind::Map(_) | KeyKind::Prices if trimmed.is_empty() => {
            empty_of(&def.kind)
        }
        _ if raw.is_empty() => return Ok(None),
        KeyKind::Float => Value::from(number_from_text(trimmed).ok_or_else(invalid)?),
        KeyKind::Prices if trimmed.starts_with('{') => {
            let parsed = trimmed.parse::<Value>().map_err(|_| invalid())?;
            let site = Site { origin, text: "" };
            check(def, &Item::Value(parsed), &site).map_err(|err| match err {
                ConfigError::MapKey { .. } | ConfigError::UnknownKey { .. } => err,
                _ => invalid(),
            })?
        }
        KeyKind::Prices => {
            let mut models: Vec<(String, InlineTable)> = Vec::new();
            for pair in trimmed.split(',') {
                let (path, value) = pair.split_once('=').ok_or_else(invalid)?;
                let (model, field) = path.trim().rsplit_once('.').ok_or_else(invalid)?;
                let model = unquote(model.trim());
                check_model_name(def, model, origin)?;
                let field = price_field(def, model, field.trim(), origin)?;
                let price = number_from_text(value.trim()).ok_or_else(invalid)?;
                let at = match models.iter().position(|(m, _)| m == model) {
                    Some(at) => at,
                    None => {
                        models.push((model.to_owned(), InlineTable::new()));
                        models.len() - 1
                    }
                };
                if models[at].1.insert(field, Value::from(price)).is_some() {
                    return Err(invalid());
                }
            }
            let table: InlineTable = models.into_iter().map(|(m, t)| (m, sorted(t))).collect();
            sorted(table)
        }
        KeyKind::String | KeyKind::Path => Value::from(raw),
        KeyKind::Integer { min, max } => match trimmed.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Value::from(n),
            _ => return Err(invalid()),
        },
        KeyKind::Bool => match trimmed {
            "true" => Value::from(true),
            "false" => Value::from(false),
            _ => return Err(invalid()),
        },
        KeyKind::Duration | KeyKind::NonZeroDuration(_) => match trimmed.parse() {
            Ok(d) if duration_fits(&def.kind, d) => Value::from(trimmed),
            _ => return Err(invalid()),
        },
        KeyKind::Enum(values) if values.contains(&trimmed) => Value::from(trimmed),
        KeyKind::Enum(_) => return Err(invalid()),
        KeyKind::List | KeyKind::Map(_) if trimmed.starts_with(literal_start(&def.kind)) => {
            let parsed = trimmed.parse::<Value>().map_err(|_| invalid())?;
            let site = Site { origin, text: "" };
            // Blame the text as typed, unless a map key was refused: that error is sharper.
            check(def, &Item::Value(parsed), &site).map_err(|err| match err {
                ConfigError::MapKey { .. } => err,
                _ => invalid(),
            })?
        }
        KeyKind::List => {
            let items: Vec<&str> = trimmed.split(',').map(str::trim).collect();
            if items.iter().any(|item| item.is_empty()) {
                return Err(invalid());
            }
            Value::Array(items.into_iter().collect())
        }
        KeyKind::Map(_) => {
            let mut map = InlineTable::new();
            for pair in trimmed.split(',') {
                let (key, value) = pair.split_once('=').ok_or_else(invalid)?;
                let key = key.trim();
                check_map_key(def, key, origin)?;
                if map.insert(key, Value::from(value.trim())).is_some() {
                    return Err(invalid());
                }
            }
            sorted(map)
        }
    };
    Ok(Some(value))
}

/// Converts text typed for one map entry (`loop.model.by_priority.P1`); empty means
/// "remove the entry".
pub(crate) fn entry_from_text(raw: &str) -> Option<Value> {
    (!raw.is_empty()).then(|| Value::from(raw))
}

/// Converts text typed for one price (`prices.opus.input`); empty means "remove it".
pub(crate) fn price_from_text(
    key: &str,
    raw: &str,
    origin: &Origin,
) -> Result<Option<Value>, ConfigError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    match number_from_text(trimmed) {
        Some(n) => Ok(Some(Value::from(n))),
        None => Err(invalid(
            key,
            origin.clone(),
            &KeyKind::Float,
            format!("`{raw}`"),
        )),
    }
}

/// A number of at least 0 as typed (`5`, `0.125`).
fn number_from_text(text: &str) -> Option<f64> {
    text.parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n >= 0.0)
}

/// A number of at least 0 found in TOML, integer or float.
fn number_from_value(value: &Value) -> Option<f64> {
    match value {
        Value::Float(x) => Some(*x.value()),
        Value::Integer(n) => Some(*n.value() as f64),
        _ => None,
    }
    .filter(|n| n.is_finite() && *n >= 0.0)
}

/// A model name as typed in a dotted path, without its quotes.
fn unquote(model: &str) -> &str {
    model
        .strip_prefix('"')
        .and_then(|m| m.strip_suffix('"'))
        .unwrap_or(model)
}

/// One of [`PRICE_FIELDS`], or an error naming the ones there are.
fn price_field(
    def: &KeyDef,
    model: &str,
    field: &str,
    origin: &Origin,
) -> Result<&'static str, ConfigError> {
    PRICE_FIELDS
        .iter()
        .find(|f| **f == field)
        .copied()
        .ok_or_else(|| ConfigError::MapKey {
            key: format!("{}.{model}", def.path),
            entry: field.to_owned(),
            origin: origin.clone(),
            allowed: PRICE_FIELDS.join(", "),
        })
}

/// Checks a value found in TOML for `def` and returns it in canonical form (fresh, without
/// the file's formatting). A map may be a table or an inline table.
pub(crate) fn check(def: &KeyDef, item: &Item, site: &Site<'_>) -> Result<Value, ConfigError> {
    let wrong = || invalid(def.path, site.at(item.span()), &def.kind, describe(item));
    let value = match (&def.kind, item) {
        (KeyKind::Map(_), _) => {
            let table = item.as_table_like().ok_or_else(wrong)?;
            return check_map(def, table, site);
        }
        (KeyKind::Prices, _) => {
            let table = item.as_table_like().ok_or_else(wrong)?;
            return check_prices(def, table, site);
        }
        (_, Item::Value(value)) => value,
        _ => return Err(wrong()),
    };
    let canonical = match (&def.kind, value) {
        (KeyKind::String | KeyKind::Path, Value::String(s)) => Value::from(s.value().as_str()),
        (KeyKind::Integer { min, max }, Value::Integer(n)) if (*min..=*max).contains(n.value()) => {
            Value::from(*n.value())
        }
        (KeyKind::Bool, Value::Boolean(b)) => Value::from(*b.value()),
        (KeyKind::Duration | KeyKind::NonZeroDuration(_), Value::String(s))
            if s.value().parse().is_ok_and(|d| duration_fits(&def.kind, d)) =>
        {
            Value::from(s.value().as_str())
        }
        (KeyKind::Enum(values), Value::String(s)) if values.contains(&s.value().as_str()) => {
            Value::from(s.value().as_str())
        }
        (KeyKind::Float, value) => Value::from(number_from_value(value).ok_or_else(wrong)?),
        (KeyKind::List, Value::Array(items)) => {
            let strings: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
            Value::Array(strings.ok_or_else(wrong)?.into_iter().collect())
        }
        _ => return Err(wrong()),
    };
    Ok(canonical)
}

fn check_map(def: &KeyDef, table: &dyn TableLike, site: &Site<'_>) -> Result<Value, ConfigError> {
    let mut map = InlineTable::new();
    for (key, item) in table.iter() {
        let origin = site.at(table.key(key).and_then(|k| k.span()));
        check_map_key(def, key, &origin)?;
        let value = item.as_str().ok_or_else(|| ConfigError::InvalidValue {
            key: format!("{}.{key}", def.path),
            origin,
            expected: KeyKind::String.expected(),
            found: describe(item),
        })?;
        map.insert(key, Value::from(value));
    }
    Ok(sorted(map))
}

/// `[prices]`: a table of models, each a table of prices.
fn check_prices(
    def: &KeyDef,
    table: &dyn TableLike,
    site: &Site<'_>,
) -> Result<Value, ConfigError> {
    let mut models = InlineTable::new();
    for (model, item) in table.iter() {
        let origin = site.at(table.key(model).and_then(|k| k.span()));
        check_model_name(def, model, &origin)?;
        let key = format!("{}.{model}", def.path);
        let fields = item
            .as_table_like()
            .ok_or_else(|| ConfigError::InvalidValue {
                key: key.clone(),
                origin: origin.clone(),
                expected: format!("a table of prices ({})", PRICE_FIELDS.join(", ")),
                found: describe(item),
            })?;
        let mut prices = InlineTable::new();
        for (field, value) in fields.iter() {
            let origin = site.at(fields.key(field).and_then(|k| k.span()));
            let field = price_field(def, model, field, &origin)?;
            let number = value.as_value().and_then(number_from_value);
            let number = number.ok_or_else(|| ConfigError::InvalidValue {
                key: format!("{key}.{field}"),
                origin: site.at(value.span()),
                expected: KeyKind::Float.expected(),
                found: describe(value),
            })?;
            prices.insert(field, Value::from(number));
        }
        models.insert(model, sorted(prices));
    }
    Ok(sorted(models))
}

/// Renders a value as `hew config get` shows it and `hew config set` accepts it back.
pub(crate) fn render(value: &Value) -> String {
    match value {
        Value::String(s) => s.value().clone(),
        Value::Integer(n) => n.value().to_string(),
        Value::Float(x) => x.value().to_string(),
        Value::Boolean(b) => b.value().to_string(),
        Value::Datetime(d) => d.value().to_string(),
        Value::Array(items) => render_list(items),
        Value::InlineTable(map) => render_map(map),
    }
}

/// Renders what a file holds at a key: a value, or a map written as a table.
pub(crate) fn render_item(item: &Item) -> Option<String> {
    match item {
        Item::Value(value) => Some(render(value)),
        Item::Table(table) => {
            let map: InlineTable = table
                .iter()
                .filter_map(|(k, v)| Some((k, v.as_value()?.clone())))
                .collect();
            Some(render_map(&map))
        }
        Item::None | Item::ArrayOfTables(_) => None,
    }
}

fn render_list(items: &Array) -> String {
    let plain = items.iter().all(|item| {
        item.as_str().is_some_and(|s| {
            !s.is_empty() && !s.contains(',') && s.trim() == s && !s.starts_with('[')
        })
    });
    if plain {
        items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(",")
    } else {
        let mut literal: Array = items.iter().map(fresh).collect();
        literal.fmt();
        literal.to_string()
    }
}

fn render_map(map: &InlineTable) -> String {
    let mut entries: Vec<(&str, &Value)> = map.iter().collect();
    entries.sort_by_key(|(k, _)| *k);
    let plain = entries.iter().all(|(k, v)| {
        let simple_key = !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        simple_key
            && v.as_str()
                .is_some_and(|s| !s.contains(',') && s.trim() == s)
    });
    if plain {
        let pairs: Vec<String> = entries
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect();
        pairs.join(",")
    } else {
        let mut literal: InlineTable = entries.into_iter().map(|(k, v)| (k, fresh(v))).collect();
        literal.fmt();
        literal.to_string()
    }
}

/// A copy of a value without the formatting it had in its file.
fn fresh(value: &Value) -> Value {
    let mut value = value.clone();
    value.decor_mut().clear();
    value
}

fn sorted(mut map: InlineTable) -> Value {
    map.sort_values();
    map.fmt();
    Value::InlineTable(map)
}

/// How a TOML literal of a list or map starts: text starting so is read as TOML.
fn literal_start(kind: &KeyKind) -> char {
    match kind {
        KeyKind::Map(_) | KeyKind::Prices => '{',
        _ => '[',
    }
}

fn empty_of(kind: &KeyKind) -> Value {
    match kind {
        KeyKind::Map(_) | KeyKind::Prices => Value::InlineTable(InlineTable::new()),
        _ => Value::Array(Array::new()),
    }
}

/// A short description of what was found, for error messages.
pub(crate) fn describe(item: &Item) -> String {
    match item {
        Item::Value(Value::String(s)) => format!("{:?}", s.value()),
        Item::Value(Value::Integer(n)) => n.value().to_string(),
        Item::Value(Value::Float(x)) => x.value().to_string(),
        Item::Value(Value::Boolean(b)) => b.value().to_string(),
        Item::Value(Value::Datetime(d)) => format!("the date {}", d.value()),
        Item::Value(Value::Array(_)) => "an array".into(),
        Item::Value(Value::InlineTable(_)) | Item::Table(_) => "a table".into(),
        Item::ArrayOfTables(_) => "an array of tables".into(),
        Item::None => "nothing".into(),
    }
}

/// Whether a well-formed duration is one `kind` accepts: a key that cannot work with zero
/// refuses it (and anything under a millisecond, which timers round to zero).
fn duration_fits(kind: &KeyKind, d: HumanDuration) -> bool {
    match kind {
        KeyKind::NonZeroDuration(_) => d.get() >= std::time::Duration::from_millis(1),
        _ => true,
    }
}

fn invalid(key: &str, origin: Origin, kind: &KeyKind, found: String) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_owned(),
        origin,
        expected: kind.expected(),
        found,
    }
}

#[cfg(test)]
#[path = "value_tests.rs"]
mod tests;
