//! Wall-clock time as Unix milliseconds, RFC 3339 rendering, and parsing
//! the times the API and the CLI take (`since`, `until`).

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Unix milliseconds as RFC 3339 UTC (`2026-11-24T10:00:00.123Z`).
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if mo <= 2 { y + 1 } else { y };
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}.{millis:03}Z")
}

/// Serialisers that write stored Unix-ms times as ISO 8601 (UTC,
/// milliseconds) in every API and CLI answer: `#[serde(serialize_with = …)]`.
pub mod iso {
    /// A time.
    pub fn ms<S: serde::Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::rfc3339(*v))
    }

    /// An optional time (`null` when absent).
    pub fn opt_ms<S: serde::Serializer>(v: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_str(&super::rfc3339(*v)),
            None => s.serialize_none(),
        }
    }
}

/// A time that is neither ISO 8601, a relative duration nor Unix milliseconds.
#[derive(Debug, thiserror::Error)]
#[error(
    "`{0}` is not a time: use ISO 8601 (`2026-12-03T07:15:57.123Z`, `2026-12-03T08:15:57+01:00`, `2026-12-03`), \
     a duration before now (`2h`, `30m`, `7d`) or Unix milliseconds"
)]
pub struct TimeParseError(String);

/// Parses a time given to the API or the CLI, as Unix milliseconds: ISO 8601
/// / RFC 3339 with an offset (`2026-12-03T07:15:57.123Z`), a date alone
/// (midnight UTC), a duration before now (`2h`, `30m`, `7d`), or Unix
/// milliseconds (digits).
pub fn parse_time(s: &str) -> Result<i64, TimeParseError> {
    let t = s.trim();
    if !t.is_empty() && t.bytes().enumerate().all(|(i, b)| b.is_ascii_digit() || (i == 0 && b == b'-')) {
        return t.parse::<i64>().map_err(|_| TimeParseError(s.to_owned()));
    }
    if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(t) {
        return Ok(dt.timestamp_millis());
    }
    if t.starts_with(|c: char| c.is_ascii_digit())
        && t.ends_with(|c: char| c.is_ascii_alphabetic())
        && let Ok(d) = humantime::parse_duration(t)
    {
        let ago = i64::try_from(d.as_millis()).map_err(|_| TimeParseError(s.to_owned()))?;
        return Ok(now_ms().saturating_sub(ago));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
        && let Some(dt) = d.and_hms_opt(0, 0, 0)
    {
        return Ok(dt.and_utc().timestamp_millis());
    }
    Err(TimeParseError(s.to_owned()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_iso_8601_and_unix_ms() {
        use super::parse_time;
        assert_eq!(parse_time("1785000000123").ok(), Some(1_785_000_000_123));
        assert_eq!(parse_time("2026-07-25T17:20:00.123Z").ok(), Some(1_785_000_000_123));
        assert_eq!(parse_time("2026-07-25T19:20:00.123+02:00").ok(), Some(1_785_000_000_123));
        assert_eq!(parse_time("1970-01-02").ok(), Some(86_400_000));
        assert_eq!(parse_time(&super::rfc3339(1_785_000_000_123)).ok(), Some(1_785_000_000_123));
        assert!(parse_time("yesterday").is_err());
        let two_hours_ago = parse_time("2h").expect("relative");
        assert!((super::now_ms() - 7_200_000 - two_hours_ago).abs() < 5_000, "{two_hours_ago}");
        assert!(parse_time("").is_err());
    }

    #[test]
    fn renders_rfc3339() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(super::rfc3339(1_785_000_000_123), "2026-07-25T17:20:00.123Z");
    }
}
