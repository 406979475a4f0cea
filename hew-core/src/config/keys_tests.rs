//! The key table against the `Config` struct tree, and resolving paths.
//!
//! `FieldRecorder` is a serde deserializer that answers whatever `Config::deserialize`
//! asks for with harmless values and writes down each field path and what was asked for
//! there, so the struct tree is read from the derive output itself, not from a second
//! hand-kept list.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{
    self, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess, SeqAccess, VariantAccess,
    Visitor,
};

use super::*;
use crate::config::Config;

#[derive(Debug)]
struct RecordError(String);

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RecordError {}

impl de::Error for RecordError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self(msg.to_string())
    }
}

/// What serde asked for at each path; a path may collect several words (`optional`,
/// then `string`).
type Shapes = RefCell<BTreeMap<String, Vec<String>>>;

struct FieldRecorder<'a> {
    path: String,
    shapes: &'a Shapes,
}

impl<'a> FieldRecorder<'a> {
    fn at(&self, path: String) -> Self {
        Self {
            path,
            shapes: self.shapes,
        }
    }

    fn note(&self, shape: impl Into<String>) {
        self.shapes
            .borrow_mut()
            .entry(self.path.clone())
            .or_default()
            .push(shape.into());
    }
}

impl<'de> de::Deserializer<'de> for FieldRecorder<'_> {
    type Error = RecordError;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, RecordError> {
        Err(RecordError(format!(
            "`{}` has a type the key test does not know",
            self.path
        )))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RecordError> {
        self.note("bool");
        visitor.visit_bool(false)
    }

    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RecordError> {
        self.note("integer");
        visitor.visit_u32(1)
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RecordError> {
        self.note("integer");
        visitor.visit_u64(1)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RecordError> {
        self.note("float");
        visitor.visit_f64(1.0)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RecordError> {
        self.note("string");
        visitor.visit_str("1s")
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RecordError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RecordError> {
        self.note("optional");
        visitor.visit_some(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RecordError> {
        self.note("list");
        visitor.visit_seq(OneOf(Some(self.at(format!("{}[]", self.path)))))
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RecordError> {
        self.note("map");
        let key = self.at(format!("{}.<key>", self.path));
        let value = self.at(format!("{}.<value>", self.path));
        visitor.visit_map(OneEntry {
            key: Some(key),
            value: Some(value),
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, RecordError> {
        visitor.visit_map(Fields {
            parent: self,
            fields,
            next: 0,
        })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, RecordError> {
        self.note(format!("enum {}", variants.join("|")));
        let first = variants.first().copied().unwrap_or_default();
        visitor.visit_enum(UnitVariant(first))
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u8 u16 u128 f32 char bytes byte_buf unit unit_struct
        newtype_struct tuple tuple_struct identifier ignored_any
    }
}

/// A struct's fields, each handed a recorder one level down.
struct Fields<'a> {
    parent: FieldRecorder<'a>,
    fields: &'static [&'static str],
    next: usize,
}

impl<'de> MapAccess<'de> for Fields<'_> {
    type Error = RecordError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, RecordError> {
        let Some(field) = self.fields.get(self.next) else {
            return Ok(None);
        };
        seed.deserialize(de::value::StrDeserializer::<RecordError>::new(field))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, RecordError> {
        let field = self.fields[self.next];
        self.next += 1;
        let path = match self.parent.path.as_str() {
            "" => field.to_owned(),
            parent => format!("{parent}.{field}"),
        };
        seed.deserialize(self.parent.at(path))
    }
}

/// A sequence of one element.
struct OneOf<'a>(Option<FieldRecorder<'a>>);

impl<'de> SeqAccess<'de> for OneOf<'_> {
    type Error = RecordError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, RecordError> {
        self.0
            .take()
            .map(|element| seed.deserialize(element))
            .transpose()
    }
}

/// A map of one entry.
struct OneEntry<'a> {
    key: Option<FieldRecorder<'a>>,
    value: Option<FieldRecorder<'a>>,
}

impl<'de> MapAccess<'de> for OneEntry<'_> {
    type Error = RecordError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, RecordError> {
        self.key.take().map(|key| seed.deserialize(key)).transpose()
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, RecordError> {
        let value = self
            .value
            .take()
            .ok_or_else(|| RecordError("value asked twice".into()))?;
        seed.deserialize(value)
    }
}

/// The first variant of an enum, as a unit variant.
struct UnitVariant(&'static str);

impl<'de> EnumAccess<'de> for UnitVariant {
    type Error = RecordError;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self), RecordError> {
        let name: de::value::StrDeserializer<'_, RecordError> = self.0.into_deserializer();
        Ok((seed.deserialize(name)?, self))
    }
}

impl<'de> VariantAccess<'de> for UnitVariant {
    type Error = RecordError;

    fn unit_variant(self) -> Result<(), RecordError> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, _: T) -> Result<T::Value, RecordError> {
        Err(RecordError("only unit variants are expected".into()))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, RecordError> {
        Err(RecordError("only unit variants are expected".into()))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, RecordError> {
        Err(RecordError("only unit variants are expected".into()))
    }
}

/// Each leaf path of `Config` with one line saying what serde asked for there, like
/// `optional string` or `map enum P0|P1|P2|P3|P4 => string`.
fn struct_leaves() -> BTreeMap<String, String> {
    let shapes = Shapes::default();
    Config::deserialize(FieldRecorder {
        path: String::new(),
        shapes: &shapes,
    })
    .unwrap();
    let shapes = shapes.into_inner();
    let describe = |path: &str| {
        shapes
            .get(path)
            .map(|words| words.join(" "))
            .unwrap_or_default()
    };
    shapes
        .keys()
        .filter(|path| !path.contains("[]") && !path.contains(".<"))
        .map(|path| {
            let mut shape = describe(path);
            if shape.ends_with("list") {
                shape = format!("{shape} of {}", describe(&format!("{path}[]")));
            }
            if shape.ends_with("map") {
                let key = describe(&format!("{path}.<key>"));
                let value_path = format!("{path}.<value>");
                let mut value = describe(&value_path);
                if value.is_empty() {
                    // A struct: its fields, one level down.
                    let fields: Vec<String> = shapes
                        .keys()
                        .filter_map(|p| p.strip_prefix(&format!("{value_path}.")))
                        .filter(|field| !field.contains('.'))
                        .map(|field| {
                            format!("{field}: {}", describe(&format!("{value_path}.{field}")))
                        })
                        .collect();
                    value = format!("{{{}}}", fields.join(", "));
                }
                shape = format!("{shape} {key} => {value}");
            }
            (path.clone(), shape)
        })
        .collect()
}

/// The same description, from the key table.
fn table_leaves() -> BTreeMap<String, String> {
    keys()
        .iter()
        .map(|def| {
            let shape = match def.kind {
                KeyKind::String
                | KeyKind::Path
                | KeyKind::Duration
                | KeyKind::NonZeroDuration(_) => "string".to_owned(),
                KeyKind::Integer { .. } => "integer".to_owned(),
                KeyKind::Bool => "bool".to_owned(),
                KeyKind::Enum(values) => format!("enum {}", values.join("|")),
                KeyKind::List => "list of string".to_owned(),
                KeyKind::Map(MapKeys::Priority) => {
                    format!("map enum {} => string", PRIORITY_NAMES.join("|"))
                }
                KeyKind::Map(MapKeys::Free) => "map string => string".to_owned(),
                KeyKind::Float => "float".to_owned(),
                KeyKind::Prices => {
                    let mut fields = PRICE_FIELDS.map(|f| format!("{f}: optional float"));
                    fields.sort();
                    format!("map string => {{{}}}", fields.join(", "))
                }
            };
            let shape = if def.optional {
                format!("optional {shape}")
            } else {
                shape
            };
            (def.path.to_owned(), shape)
        })
        .collect()
}

#[test]
fn key_table_matches_the_config_struct_both_ways() {
    let from_struct = struct_leaves();
    let from_table = table_leaves();
    for path in from_struct.keys() {
        assert!(
            from_table.contains_key(path),
            "`{path}` is in Config but not in the key table"
        );
    }
    for path in from_table.keys() {
        assert!(
            from_struct.contains_key(path),
            "`{path}` is in the key table but not in Config"
        );
    }
    assert_eq!(from_struct, from_table, "kinds disagree");
}

#[test]
fn struct_walk_sees_sections_as_sections_not_leaves() {
    let leaves = struct_leaves();
    assert!(leaves.contains_key("loop.agent.timeout"));
    assert!(!leaves.contains_key("loop.agent"));
    assert!(!leaves.contains_key("loop"));
    assert_eq!(leaves["loop.jobs"], "integer");
    assert_eq!(leaves["loop.model.default"], "optional string");
}

#[test]
fn env_var_names_are_distinct_and_upper_snake() {
    let mut names: Vec<String> = keys().iter().map(KeyDef::env_var).collect();
    assert!(names.contains(&"HEW_LOOP_JOBS".to_owned()));
    assert!(names.contains(&"HEW_LOOP_MODEL_BY_PRIORITY".to_owned()));
    names.sort();
    names.dedup();
    assert_eq!(names.len(), keys().len());
}

#[test]
fn resolves_keys_and_map_entries() {
    let origin = Origin::file("/c.toml");
    assert_eq!(
        resolve("loop.jobs", &origin).unwrap(),
        KeyRef::Key(find_key("loop.jobs").unwrap())
    );
    let entry = resolve("loop.model.by_priority.P1", &origin).unwrap();
    assert_eq!(entry.path(), "loop.model.by_priority.P1");
    assert!(resolve("loop.model.by_type.my-type_2", &origin).is_ok());
    assert!(matches!(
        resolve("loop.jobs.x", &origin),
        Err(ConfigError::UnknownKey { .. })
    ));
    assert!(matches!(
        resolve("loop", &origin),
        Err(ConfigError::UnknownKey { .. })
    ));
    assert!(matches!(
        resolve("loop.model.by_type.a.b", &origin),
        Err(ConfigError::UnknownKey { .. })
    ));
    assert!(matches!(
        resolve("loop.model.by_type.a+b", &origin),
        Err(ConfigError::MapKey { .. })
    ));
}

#[test]
fn resolves_prices_per_model_with_quoted_names() {
    let origin = Origin::file("/c.toml");
    let price = resolve("prices.claude-opus-4-5.input", &origin).unwrap();
    assert_eq!(price.path(), "prices.claude-opus-4-5.input");
    let dotted = resolve("prices.\"gpt-5.1\".cache_read", &origin).unwrap();
    assert!(
        matches!(&dotted, KeyRef::Price { model, field: "cache_read", .. } if model == "gpt-5.1")
    );
    assert_eq!(dotted.path(), "prices.\"gpt-5.1\".cache_read");
    // Unquoted, the last dot still separates the field.
    let loose = resolve("prices.gpt-5.1.output", &origin).unwrap();
    assert_eq!(loose.path(), "prices.\"gpt-5.1\".output");
    assert!(matches!(
        resolve("prices.opus.price", &origin),
        Err(ConfigError::MapKey { .. })
    ));
    assert!(matches!(
        resolve("prices.opus", &origin),
        Err(ConfigError::UnknownKey { .. })
    ));
    assert_eq!(
        split_path("a.\"b.c\".d").unwrap(),
        ["a", "b.c", "d"].map(String::from)
    );
    assert_eq!(split_path("a.\"b"), None);
}

#[test]
fn refuses_priority_outside_p0_to_p4_naming_the_allowed_keys() {
    let err = resolve("loop.model.by_priority.P9", &Origin::file("/c.toml")).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("`P9`"), "{message}");
    assert!(message.contains("`loop.model.by_priority`"), "{message}");
    assert!(message.contains("P0, P1, P2, P3, P4"), "{message}");
    assert!(message.contains("/c.toml"), "{message}");
}

#[test]
fn listing_shows_map_entries_with_placeholders() {
    let paths: Vec<String> = key_listing().into_iter().map(|row| row.path).collect();
    assert!(paths.contains(&"loop.model.by_priority".to_owned()));
    assert!(paths.contains(&"loop.model.by_priority.<P0..P4>".to_owned()));
    assert!(paths.contains(&"loop.model.by_type.<type>".to_owned()));
    assert!(paths.contains(&"prices.<model>.<field>".to_owned()));
    assert_eq!(paths.len(), keys().len() + 3);
}

#[test]
fn close_keys_find_typos_and_misplaced_leaves() {
    assert_eq!(close_keys("loop.jbos")[0], "loop.jobs");
    assert!(close_keys("loop.timeout").contains(&"loop.agent.timeout"));
    assert!(close_keys("nothing.like.it.at.all").is_empty());
}

/// docs/CONFIG.md documents every key `hew config keys` lists, so the two cannot drift.
#[test]
fn config_docs_cover_every_key() {
    let docs = include_str!("../../../docs/CONFIG.md");
    for listing in super::key_listing() {
        let cell = format!("| `{}` |", listing.path);
        assert!(
            docs.contains(&cell),
            "docs/CONFIG.md has no row for `{}`",
            listing.path
        );
    }
}
