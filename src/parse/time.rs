//! Timestamps as the logs write them, to and from UTC epoch milliseconds. Accepts epoch
//! numbers (seconds, milliseconds, micro- or nanoseconds, told apart by magnitude), RFC 3339,
//! CTS's `2016/12/08 11:07:28 GMT+08:00` and `Nov 16, 2023 10:54:04 GMT+08:00`, and nginx's
//! `20/Nov/2026:10:00:00 +0000`.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

/// Converts an epoch number to milliseconds by its magnitude: below 1e11 it is seconds
/// (until the year 5138), below 1e14 milliseconds, below 1e17 microseconds, else nanoseconds.
pub fn from_epoch(value: f64) -> Option<Millis> {
    if !value.is_finite() || value < 0.0 {
        return None;
    }
    let ms = if value < 1e11 {
        value * 1e3
    } else if value < 1e14 {
        value
    } else if value < 1e17 {
        value / 1e3
    } else {
        value / 1e6
    };
    (ms <= MAX_MILLIS as f64).then_some(ms.round() as Millis)
}

/// 9999-12-31T23:59:59.999Z: later times would not format as RFC 3339.
const MAX_MILLIS: Millis = 253_402_300_799_999;

/// Parses any supported layout; `None` when the text is none of them or lies outside
/// years 0000 to 9999.
pub fn parse(text: &str) -> Option<Millis> {
    parse_any(text).filter(|ms| (-62_167_219_200_000..=MAX_MILLIS).contains(ms))
}

fn parse_any(text: &str) -> Option<Millis> {
    let text = text.trim();
    let first = *text.as_bytes().first()?;
    if first.is_ascii_digit() && text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return from_epoch(text.parse().ok()?);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_millis());
    }
    if let Some(pos) = text.find(" GMT") {
        // chrono's %:z wants `+08:00`; CTS writes `GMT+08:00`.
        let (local, zone) = (&text[..pos], &text[pos + 4..]);
        let zone = if zone.is_empty() { "+00:00" } else { zone };
        let joined = format!("{local} {zone}");
        for layout in ["%Y/%m/%d %H:%M:%S %:z", "%b %d, %Y %H:%M:%S %:z"] {
            if let Ok(t) = DateTime::parse_from_str(&joined, layout) {
                return Some(t.timestamp_millis());
            }
        }
        return None;
    }
    for layout in [
        "%d/%b/%Y:%H:%M:%S %z",
        "%Y-%m-%d %H:%M:%S%.f %z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(text, layout) {
            return Some(t.timestamp_millis());
        }
    }
    for layout in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, layout) {
            return Some(Utc.from_utc_datetime(&t).timestamp_millis());
        }
    }
    None
}

/// Parses a command-line bound: RFC 3339, or `YYYY-MM-DD` meaning that day's 00:00 UTC.
pub fn parse_bound(text: &str) -> Option<Millis> {
    if let Ok(day) = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d") {
        return Some(
            Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0)?)
                .timestamp_millis(),
        );
    }
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Formats as `2026-11-20T10:00:00.123Z`.
pub fn format(ms: Millis) -> String {
    match Utc.timestamp_millis_opt(ms).single() {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        let cases: &[(&str, Option<&str>)] = &[
            ("1763632800123", Some("2025-11-20T10:00:00.123Z")),
            ("1763632800", Some("2025-11-20T10:00:00.000Z")),
            ("1763632800.5", Some("2025-11-20T10:00:00.500Z")),
            (
                "2016/12/08 11:07:28 GMT+08:00",
                Some("2016-12-08T03:07:28.000Z"),
            ),
            (
                "Nov 16, 2023 10:54:04 GMT+08:00",
                Some("2023-11-16T02:54:04.000Z"),
            ),
            ("2026-11-20T10:00:00.123Z", Some("2026-11-20T10:00:00.123Z")),
            (
                "2026-11-20T12:00:00+02:00",
                Some("2026-11-20T10:00:00.000Z"),
            ),
            (
                "20/Nov/2026:10:00:00 +0100",
                Some("2026-11-20T09:00:00.000Z"),
            ),
            ("2026-11-20 10:00:00", Some("2026-11-20T10:00:00.000Z")),
            ("yesterday", None),
            ("", None),
            ("Nov 16, 2023 GMT+08:00", None),
            // Regression: years past 9999 formatted as `+23095-…`, which does not parse back.
            ("23095/10/29 17:11:06 GMT+08:00", None),
            ("+23095-10-29T09:11:06.667Z", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text).map(format).as_deref(), *want, "{text}");
        }
    }

    #[test]
    fn bounds() {
        assert_eq!(
            parse_bound("2026-11-20").map(format).as_deref(),
            Some("2026-11-20T00:00:00.000Z")
        );
        assert_eq!(
            parse_bound("2026-11-20T01:00:00+01:00")
                .map(format)
                .as_deref(),
            Some("2026-11-20T00:00:00.000Z")
        );
        assert_eq!(parse_bound("20.11.2026"), None);
    }
}
