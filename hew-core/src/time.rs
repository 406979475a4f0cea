//! Wall-clock timestamps as records store them: RFC 3339 in UTC with milliseconds
//! (`2026-11-22T05:25:01.123Z`), readable by people and sortable as text.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A moment, to the millisecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    /// Milliseconds since the Unix epoch.
    ms: u64,
}

impl Timestamp {
    /// Now.
    pub fn now() -> Self {
        Self::from(SystemTime::now())
    }

    /// Milliseconds since the Unix epoch.
    pub fn unix_ms(self) -> u64 {
        self.ms
    }

    /// From milliseconds since the Unix epoch.
    pub fn from_unix_ms(ms: u64) -> Self {
        Self { ms }
    }

    /// Time from `earlier` to `self` (zero if `earlier` is later).
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.ms.saturating_sub(earlier.ms))
    }

    /// Reads the form [`fmt::Display`] writes (`YYYY-MM-DDTHH:MM:SS[.mmm]Z`).
    pub fn parse(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        let num = |r: std::ops::Range<usize>| -> Option<u64> {
            let part = s.get(r)?;
            part.bytes()
                .all(|c| c.is_ascii_digit())
                .then(|| part.parse().ok())?
        };
        if b.len() < 20
            || b[4] != b'-'
            || b[7] != b'-'
            || b[10] != b'T'
            || b[13] != b':'
            || b[16] != b':'
        {
            return None;
        }
        let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
        let ms = match (b[19], b.len()) {
            (b'Z', 20) => 0,
            (b'.', 24) if b[23] == b'Z' => num(20..23)?,
            _ => return None,
        };
        if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
            return None;
        }
        let days = days_from_civil(i64::try_from(y).ok()?, mo, d);
        let secs = u64::try_from(days).ok()? * 86_400 + h * 3600 + mi * 60 + sec;
        Some(Self {
            ms: secs * 1000 + ms,
        })
    }
}

impl From<SystemTime> for Timestamp {
    fn from(t: SystemTime) -> Self {
        let ms = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        Self {
            ms: u64::try_from(ms).unwrap_or(u64::MAX),
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.ms / 1000;
        let (days, rem) = (secs / 86_400, secs % 86_400);
        let (y, m, d) = civil_from_days(i64::try_from(days).unwrap_or(0));
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60,
            self.ms % 1000
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("invalid timestamp `{s}`")))
    }
}

// Howard Hinnant's days/civil conversions (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, u64, u64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097) as u64;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe as i64 + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn days_from_civil(y: i64, m: u64, d: u64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400) as u64;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe as i64 - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(
            Timestamp::from_unix_ms(0).to_string(),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(
            Timestamp::from_unix_ms(1_795_325_101_123).to_string(),
            "2026-11-22T05:25:01.123Z"
        );
        assert_eq!(
            Timestamp::from_unix_ms(951_782_400_000).to_string(),
            "2000-02-29T00:00:00.000Z"
        );
    }

    #[test]
    fn parses_what_it_writes() {
        for ms in [0, 1, 951_782_400_000, 1_795_325_101_123, 4_102_444_799_999] {
            let t = Timestamp::from_unix_ms(ms);
            assert_eq!(Timestamp::parse(&t.to_string()), Some(t));
        }
        assert_eq!(
            Timestamp::parse("2026-11-22T05:25:01Z").map(Timestamp::unix_ms),
            Some(1_795_325_101_000)
        );
    }

    #[test]
    fn refuses_other_forms() {
        for bad in [
            "",
            "2026-11-22",
            "2026-11-22T05:25:01",
            "2026-13-01T00:00:00Z",
            "2026-11-22T05:25:01.1Z",
            "x026-11-22T05:25:01Z",
        ] {
            assert_eq!(Timestamp::parse(bad), None, "{bad}");
        }
    }
}
