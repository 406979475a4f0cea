//! One config layer as checked, canonical values per key, and how layers merge.
//!
//! A file is walked against the key table (so an unknown key or a bad value is reported
//! with its key, file, line and column), then deserialized on its own into
//! [`Config`] as a final check. Environment and command-line values arrive as text and go
//! through the same conversion as `hew config set`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use toml_edit::{Document, DocumentMut, InlineTable, Item, TableLike, Value};

use super::earlier::{self, EarlierKey, Found};
use super::edit::{insert_at, remove_at};
use super::error::{ConfigError, Origin, Position};
use super::keys::{KeyDef, KeyKind, KeyRef, find_key, is_section, keys};
use super::schema::Config;
use super::value::{Site, check, describe, entry_from_text, from_text, price_from_text};

/// Checked values of one layer, by key path. A map key holds an inline table.
#[derive(Debug, Clone, Default)]
pub(crate) struct Layer {
    values: BTreeMap<&'static str, Value>,
    /// Keys of earlier hew met in the files of this layer, and what became of them.
    earlier: Vec<EarlierKey>,
}

impl Layer {
    /// Reads and checks the text of a config file (or the built-in defaults).
    pub(crate) fn from_toml(text: &str, origin: &Origin) -> Result<Self, ConfigError> {
        let doc = Document::parse(text).map_err(|err| {
            let at = Position::at_offset(text, err.span().map_or(0, |s| s.start));
            ConfigError::Malformed {
                path: origin_path(origin),
                line: at.line,
                column: at.column,
                message: err.message().trim().replace('\n', "; "),
            }
        })?;
        let mut layer = Self::default();
        let site = Site { origin, text };
        let mut found = Vec::new();
        layer.walk(doc.as_table(), "", &site, &mut found)?;
        if found.is_empty() {
            toml::from_str::<Config>(text).map_err(|err| ConfigError::Rejected {
                origin: origin.at(text, err.span().map(|s| s.start)),
                message: err.message().to_owned(),
            })?;
            return Ok(layer);
        }
        // The final check, without earlier hew's keys (positions are of another text).
        let mut clean: DocumentMut = text.parse().map_err(|_| ConfigError::Rejected {
            origin: origin.clone(),
            message: "the file no longer parses".into(),
        })?;
        for f in &found {
            remove_at(clean.as_table_mut(), outermost_earlier(&f.key));
        }
        toml::from_str::<Config>(&clean.to_string()).map_err(|err| ConfigError::Rejected {
            origin: origin.clone(),
            message: err.message().to_owned(),
        })?;
        let (values, report) =
            earlier::resolve(found, |key| layer.values.contains_key(key), &site)?;
        for (def, value) in values {
            layer.values.insert(def.path, value);
        }
        layer.earlier = report;
        Ok(layer)
    }

    fn walk(
        &mut self,
        table: &dyn TableLike,
        prefix: &str,
        site: &Site<'_>,
        found: &mut Vec<Found>,
    ) -> Result<(), ConfigError> {
        for (key, item) in table.iter() {
            let path = if prefix.is_empty() {
                key.to_owned()
            } else {
                format!("{prefix}.{key}")
            };
            let key_at = || site.at(table.key(key).and_then(|k| k.span()));
            if let Some(def) = find_key(&path) {
                self.values.insert(def.path, check(def, item, site)?);
            } else if earlier::is_earlier_key(&path) {
                found.push(Found {
                    key: path,
                    item: item.clone(),
                    origin: key_at(),
                });
            } else if !is_section(&path) && !earlier::is_earlier_section(&path) {
                return Err(ConfigError::unknown_key(&path, key_at()));
            } else if let Some(section) = item.as_table_like() {
                self.walk(section, &path, site, found)?;
            } else {
                return Err(ConfigError::InvalidValue {
                    key: path,
                    origin: key_at(),
                    expected: "a table".into(),
                    found: describe(item),
                });
            }
        }
        Ok(())
    }

    /// Sets one key or map entry from text (an environment variable, a flag). An empty
    /// value leaves a scalar key alone, except an optional key, where it means "unset"
    /// and hides lower layers; for a map entry it hides the entry of lower layers.
    pub(crate) fn set_text(
        &mut self,
        key: &KeyRef,
        raw: &str,
        origin: &Origin,
    ) -> Result<(), ConfigError> {
        match key {
            KeyRef::Key(def) => match from_text(def, raw, origin)? {
                Some(value) => self.merge_value(def, value),
                None if def.optional => self.merge_value(def, Value::from("")),
                None => {}
            },
            KeyRef::Entry { map, entry } => {
                let value = entry_from_text(raw).unwrap_or_else(|| Value::from(""));
                let single: InlineTable = [(entry.as_str(), value)].into_iter().collect();
                self.merge_value(map, Value::InlineTable(single));
            }
            KeyRef::Price { map, model, field } => {
                let value =
                    price_from_text(&key.path(), raw, origin)?.unwrap_or_else(|| Value::from(""));
                let price: InlineTable = [(*field, value)].into_iter().collect();
                let single: InlineTable = [(model.as_str(), Value::InlineTable(price))]
                    .into_iter()
                    .collect();
                self.merge_value(map, Value::InlineTable(single));
            }
        }
        Ok(())
    }

    /// Lays `upper` over this layer: maps merge key by key, everything else is replaced.
    pub(crate) fn merge(&mut self, upper: Self) {
        self.earlier.extend(upper.earlier);
        for (path, value) in upper.values {
            if let Some(def) = find_key(path) {
                self.merge_value(def, value);
            }
        }
    }

    fn merge_value(&mut self, def: &'static KeyDef, value: Value) {
        let merged = match (&def.kind, self.values.remove(def.path), value) {
            (KeyKind::Map(_), Some(Value::InlineTable(lower)), Value::InlineTable(upper)) => {
                Value::InlineTable(merge_tables(lower, &upper, false))
            }
            (KeyKind::Prices, Some(Value::InlineTable(lower)), Value::InlineTable(upper)) => {
                Value::InlineTable(merge_tables(lower, &upper, true))
            }
            (_, _, value) => value,
        };
        self.values.insert(def.path, merged);
    }

    /// Drops what means "unset": empty strings for optional keys and map entries.
    pub(crate) fn without_unset(mut self) -> Self {
        self.values.retain(|path, value| {
            let optional = find_key(path).is_some_and(|def| def.optional);
            !(optional && value.as_str() == Some(""))
        });
        for value in self.values.values_mut() {
            if let Value::InlineTable(map) = value {
                map.retain(|_, v| v.as_str() != Some(""));
                // Prices: one level down.
                for (_, inner) in map.iter_mut() {
                    if let Value::InlineTable(inner) = inner {
                        inner.retain(|_, v| v.as_str() != Some(""));
                        inner.fmt();
                    }
                }
                map.fmt();
            }
        }
        self
    }

    /// The keys of earlier hew met in this layer's files, and what became of them.
    pub(crate) fn earlier(&self) -> &[EarlierKey] {
        &self.earlier
    }

    /// The value of a key in this layer.
    pub(crate) fn get(&self, def: &KeyDef) -> Option<&Value> {
        self.values.get(def.path)
    }

    /// The keys set in this layer with their values, in documentation order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&'static KeyDef, &Value)> {
        keys()
            .iter()
            .filter_map(|def| Some((def, self.values.get(def.path)?)))
    }

    /// The layer as a TOML document.
    pub(crate) fn to_document(&self) -> DocumentMut {
        let mut doc = DocumentMut::new();
        for (def, value) in self.iter() {
            // Cannot fail: the document is built from the key table's own paths.
            let _ = insert_at(doc.as_table_mut(), def.path, Item::Value(value.clone()));
        }
        doc
    }

    /// Deserializes the layer into [`Config`]; `origin` is blamed if it does not fit.
    pub(crate) fn to_config(&self, origin: &Origin) -> Result<Config, ConfigError> {
        toml::from_str(&self.to_document().to_string()).map_err(|err| ConfigError::Rejected {
            origin: origin.clone(),
            message: err.message().to_owned(),
        })
    }
}

/// `upper`'s entries laid over `lower`'s; with `deep`, entries that are tables on both
/// sides merge entry by entry too (prices: model by model, then price by price).
fn merge_tables(mut lower: InlineTable, upper: &InlineTable, deep: bool) -> InlineTable {
    for (k, v) in upper.iter() {
        let merged = match (deep, lower.get(k), v) {
            (true, Some(Value::InlineTable(low)), Value::InlineTable(up)) => {
                Value::InlineTable(merge_tables(low.clone(), up, false))
            }
            _ => v.clone(),
        };
        lower.insert(k, merged);
    }
    lower.sort_values();
    lower.fmt();
    lower
}

fn origin_path(origin: &Origin) -> PathBuf {
    match origin {
        Origin::File { path, .. } => path.clone(),
        _ => PathBuf::from("<built-in default-config.toml>"),
    }
}

/// The outermost table of `key` (a key of earlier hew) that this hew does not have:
/// `loop.planner` for `loop.planner.enabled`, `update_check` for itself.
fn outermost_earlier(key: &str) -> &str {
    let mut end = 0;
    loop {
        let next = key[end..].find('.').map_or(key.len(), |i| end + i);
        let prefix = &key[..next];
        if !is_section(prefix) || next == key.len() {
            return prefix;
        }
        end = next + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::defaults::DEFAULT_CONFIG;

    #[test]
    fn defaults_set_every_key_that_has_a_default() {
        let layer = Layer::from_toml(DEFAULT_CONFIG, &Origin::Defaults).unwrap();
        for def in keys() {
            assert_eq!(layer.get(def).is_some(), !def.optional, "{}", def.path);
        }
        assert_eq!(
            layer.to_config(&Origin::Defaults).unwrap(),
            Config::default()
        );
    }

    #[test]
    fn maps_merge_key_by_key_and_other_values_are_replaced() {
        let origin = Origin::file("/x.toml");
        let mut lower = Layer::from_toml(
            "loop.skip_types = ['a', 'b']\n[loop.model.by_priority]\nP0 = 'opus'\nP1 = 'sonnet'\n",
            &origin,
        )
        .unwrap();
        let upper = Layer::from_toml(
            "loop.skip_types = ['c']\nloop.model.by_priority = { P1 = 'haiku', P2 = 'x' }\n",
            &origin,
        )
        .unwrap();
        lower.merge(upper);
        let config = lower.to_config(&origin).unwrap();
        assert_eq!(config.looping.skip_types, ["c"]);
        let by_priority: Vec<String> = config
            .looping
            .model
            .by_priority
            .iter()
            .map(|(p, m)| format!("{p}={m}"))
            .collect();
        assert_eq!(by_priority, ["P0=opus", "P1=haiku", "P2=x"]);
    }

    #[test]
    fn empty_strings_unset_optional_keys_and_map_entries() {
        let origin = Origin::file("/x.toml");
        let mut lower = Layer::from_toml(
            "[loop.model]\ndefault = 'opus'\nby_type = { bug = 'opus', chore = 'haiku' }\n",
            &origin,
        )
        .unwrap();
        lower.merge(
            Layer::from_toml("[loop.model]\ndefault = ''\nby_type.bug = ''\n", &origin).unwrap(),
        );
        let config = lower.without_unset().to_config(&origin).unwrap();
        assert_eq!(config.looping.model.default, None);
        assert_eq!(
            config.looping.model.by_type.keys().collect::<Vec<_>>(),
            ["chore"]
        );
    }
}
