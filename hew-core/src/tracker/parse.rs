//! Reading bd's and br's JSON.

use serde::{Deserialize, Deserializer};

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
    let v = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match v {
        Some(serde_json::Value::Number(n)) => n.as_u64().and_then(|n| u8::try_from(n).ok()),
        Some(serde_json::Value::String(s)) => {
            s.trim().trim_start_matches(['P', 'p']).parse().ok()
        }
        _ => None,
    })
}
