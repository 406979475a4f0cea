//! Durations as people write them in config: `45m`, `3s`, `1h30m`, `250ms`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration read from and written to config as text (`45m`). Deref-free on purpose: call
/// [`HumanDuration::get`] where a [`Duration`] is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(Duration);

/// A duration that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid duration `{0}`: write a number and a unit (ms, s, m, h, d), like `45m` or `1h30m`"
)]
pub struct InvalidDuration(String);

impl HumanDuration {
    /// Wraps a [`Duration`].
    pub const fn new(d: Duration) -> Self {
        Self(d)
    }

    /// A whole number of seconds.
    pub const fn from_secs(secs: u64) -> Self {
        Self(Duration::from_secs(secs))
    }

    /// The duration.
    pub const fn get(self) -> Duration {
        self.0
    }
}

impl FromStr for HumanDuration {
    type Err = InvalidDuration;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidDuration(raw.to_owned());
        let s = raw.trim();
        if s.is_empty() {
            return Err(invalid());
        }
        let mut total = Duration::ZERO;
        let mut rest = s;
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            if digits == 0 {
                return Err(invalid());
            }
            let n: u64 = rest[..digits].parse().map_err(|_| invalid())?;
            rest = &rest[digits..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len());
            let unit = match &rest[..unit_len] {
                "ms" => Duration::from_millis(1),
                "s" => Duration::from_secs(1),
                "m" => Duration::from_secs(60),
                "h" => Duration::from_secs(3600),
                "d" => Duration::from_secs(86_400),
                _ => return Err(invalid()),
            };
            rest = &rest[unit_len..];
            let part = unit
                .checked_mul(u32::try_from(n).map_err(|_| invalid())?)
                .ok_or_else(invalid)?;
            total = total.checked_add(part).ok_or_else(invalid)?;
        }
        Ok(Self(total))
    }
}

impl fmt::Display for HumanDuration {
    /// The shortest exact form: `45m`, `1h30m`, `250ms`, `0s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.0.as_millis();
        if ms == 0 {
            return f.write_str("0s");
        }
        for (unit, len) in [
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1000),
            ("ms", 1),
        ] {
            if ms >= len {
                write!(f, "{}{unit}", ms / len)?;
                ms %= len;
            }
        }
        Ok(())
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Duration {
        s.parse::<HumanDuration>().unwrap().get()
    }

    #[test]
    fn reads_units_and_compounds() {
        assert_eq!(parse("45m"), Duration::from_secs(2700));
        assert_eq!(parse("3s"), Duration::from_secs(3));
        assert_eq!(parse("250ms"), Duration::from_millis(250));
        assert_eq!(parse("1h30m"), Duration::from_secs(5400));
        assert_eq!(parse("2d"), Duration::from_secs(172_800));
        assert_eq!(parse(" 0s "), Duration::ZERO);
    }

    #[test]
    fn refuses_what_is_not_a_duration() {
        for bad in [
            "",
            "45",
            "m",
            "45x",
            "1.5h",
            "-3s",
            "3 s",
            "99999999999999999999s",
        ] {
            assert!(bad.parse::<HumanDuration>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn prints_what_it_reads() {
        for s in ["45m", "3s", "1h30m", "250ms", "0s", "1d2h3m4s5ms"] {
            assert_eq!(s.parse::<HumanDuration>().unwrap().to_string(), s);
        }
    }
}
