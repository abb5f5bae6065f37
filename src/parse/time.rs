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
    // The fixed layouts go first: they turn other text away by its length, and no text
    // is both one of them and RFC 3339 (they have a separator where RFC 3339 has a digit
    // of the year).
    if let Some(ms) = cts_fixed(text).or_else(|| access_fixed(text)) {
        return Some(ms);
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

/// The two CTS layouts in their exact fixed-width form (`2016/12/08 11:07:28 GMT+08:00`,
/// `Nov 16, 2023 10:54:04 GMT+08:00`), read without chrono's format interpreter: most
/// traces carry one of them. `None` for anything else, including values that are merely
/// unusual (a one-digit day, second 60, offset minutes past 59), which the general path
/// then reads.
fn cts_fixed(text: &str) -> Option<Millis> {
    let b = text.as_bytes();
    // (year, month, day, offset of the time of day)
    let (year, month, day, at) = match b.len() {
        29 if b[4] == b'/' && b[7] == b'/' && b[10] == b' ' => {
            (digits(b, 0..4)?, digits(b, 5..7)?, digits(b, 8..10)?, 11)
        }
        31 if b[3] == b' ' && &b[6..8] == b", " && b[12] == b' ' => {
            (digits(b, 8..12)?, month_of(&b[0..3])?, digits(b, 4..6)?, 13)
        }
        _ => return None,
    };
    let rest = b.get(at..)?;
    if rest.len() != 18
        || rest[2] != b':'
        || rest[5] != b':'
        || &rest[8..12] != b" GMT"
        || rest[15] != b':'
    {
        return None;
    }
    fixed_millis(
        (year, month, day),
        (
            digits(rest, 0..2)?,
            digits(rest, 3..5)?,
            digits(rest, 6..8)?,
        ),
        (rest[12], digits(rest, 13..15)?, digits(rest, 16..18)?),
    )
}

/// The access-log layout `20/Nov/2026:10:00:00 +0000` (nginx, APIG) in its exact
/// fixed-width form, read without chrono's format interpreter, which was a seventh of
/// scanning an APIG log. `None` for anything else, which the general path then reads.
fn access_fixed(text: &str) -> Option<Millis> {
    let b = text.as_bytes();
    let separators = [
        (2, b'/'),
        (6, b'/'),
        (11, b':'),
        (14, b':'),
        (17, b':'),
        (20, b' '),
    ];
    if b.len() != 26 || separators.iter().any(|&(at, c)| b[at] != c) {
        return None;
    }
    fixed_millis(
        (digits(b, 7..11)?, month_of(&b[3..6])?, digits(b, 0..2)?),
        (digits(b, 12..14)?, digits(b, 15..17)?, digits(b, 18..20)?),
        (b[21], digits(b, 22..24)?, digits(b, 24..26)?),
    )
}

/// The number written in `b[range]`, which must be all ASCII digits.
fn digits(b: &[u8], range: std::ops::Range<usize>) -> Option<u32> {
    b.get(range)?.iter().try_fold(0u32, |n, c| {
        c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
    })
}

/// 1 to 12 for `Jan` to `Dec`, exactly so capitalised.
fn month_of(name: &[u8]) -> Option<u32> {
    // A match compiles to a few byte comparisons; a search of a table compared each name.
    Some(match name {
        b"Jan" => 1,
        b"Feb" => 2,
        b"Mar" => 3,
        b"Apr" => 4,
        b"May" => 5,
        b"Jun" => 6,
        b"Jul" => 7,
        b"Aug" => 8,
        b"Sep" => 9,
        b"Oct" => 10,
        b"Nov" => 11,
        b"Dec" => 12,
        _ => return None,
    })
}

/// UTC milliseconds of a local (year, month, day), (hour, minute, second) at the offset
/// (sign byte, hours, minutes); `None` for a date or time that does not exist, second 60,
/// or an offset past 23:59, which the fixed readers leave to chrono.
fn fixed_millis(
    (year, month, day): (u32, u32, u32),
    (hour, minute, second): (u32, u32, u32),
    (sign, zone_hours, zone_minutes): (u8, u32, u32),
) -> Option<Millis> {
    let sign = match sign {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    if zone_hours > 23 || zone_minutes > 59 {
        return None;
    }
    let local =
        NaiveDate::from_ymd_opt(year as i32, month, day)?.and_hms_opt(hour, minute, second)?;
    let offset = sign * i64::from(zone_hours * 3600 + zone_minutes * 60);
    Some((local.and_utc().timestamp() - offset) * 1000)
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

/// Formats as `2026-11-20T10:00:00.123Z`; empty when out of chrono's range.
pub fn format(ms: Millis) -> String {
    let mut out = String::with_capacity(24);
    format_into(ms, &mut out);
    out
}

/// `format`, appended to `out`: every denied-call row has a time, and a string built per
/// row by `format!` was a tenth of writing them.
pub fn format_into(ms: Millis, out: &mut String) {
    use chrono::{Datelike, Timelike};
    match Utc.timestamp_millis_opt(ms).single() {
        // Four-digit years by hand: chrono interprets its format string on every call.
        Some(t) if (0..=9999).contains(&t.year()) => {
            let mut digits = |value: u32, width: u32, after: char| {
                for place in (0..width).rev() {
                    out.push(char::from(b'0' + (value / 10u32.pow(place) % 10) as u8));
                }
                out.push(after);
            };
            digits(t.year() as u32, 4, '-');
            digits(t.month(), 2, '-');
            digits(t.day(), 2, 'T');
            digits(t.hour(), 2, ':');
            digits(t.minute(), 2, ':');
            digits(t.second(), 2, '.');
            digits(ms.rem_euclid(1000) as u32, 3, 'Z');
        }
        Some(t) => out.push_str(&t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()),
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_agrees_with_chrono() {
        let chrono_format = |ms: Millis| {
            Utc.timestamp_millis_opt(ms)
                .single()
                .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
                .unwrap_or_default()
        };
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut cases = vec![0, -1, 999, 1000, -62_167_219_200_000, 253_402_300_799_999];
        cases.extend([253_402_300_800_000, -62_167_219_200_001, i64::MIN, i64::MAX]);
        for _ in 0..20_000 {
            let value = crate::testing::xorshift(&mut state) % 600_000_000_000_000;
            cases.push(value as i64 - 300_000_000_000_000);
        }
        for ms in cases {
            assert_eq!(format(ms), chrono_format(ms), "{ms}");
        }
    }

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
            // The fixed readers' calendar: leap days, years before 1970 and year 0.
            (
                "2000/02/29 00:00:00 GMT+00:00",
                Some("2000-02-29T00:00:00.000Z"),
            ),
            (
                "1969/12/31 23:59:59 GMT+00:00",
                Some("1969-12-31T23:59:59.000Z"),
            ),
            (
                "0000/03/01 00:00:00 GMT+00:00",
                Some("0000-03-01T00:00:00.000Z"),
            ),
            (
                "29/Feb/2400:23:59:59 -0130",
                Some("2400-03-01T01:29:59.000Z"),
            ),
            ("29/Feb/2100:10:00:00 +0000", None),
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

    /// The general (chrono) reading of the two CTS layouts, to check `cts_fixed` against.
    fn cts_general(text: &str) -> Option<Millis> {
        let pos = text.find(" GMT")?;
        let joined = format!("{} {}", &text[..pos], &text[pos + 4..]);
        ["%Y/%m/%d %H:%M:%S %:z", "%b %d, %Y %H:%M:%S %:z"]
            .iter()
            .find_map(|layout| DateTime::parse_from_str(&joined, layout).ok())
            .map(|t| t.timestamp_millis())
    }

    /// Reads 20,000 texts that `make` builds from random numbers (`make` gets a source of
    /// them below a bound) with `fixed`: each it reads must read the same with `general`,
    /// and it must read over a quarter of them. Then `odd` must all be refused.
    fn fixed_agrees_with_general(
        fixed: fn(&str) -> Option<Millis>,
        general: impl Fn(&str) -> Option<Millis>,
        mut make: impl FnMut(&mut dyn FnMut(u64) -> u64) -> String,
        odd: &[&str],
    ) {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: u64| crate::testing::xorshift(&mut state) % n;
        let mut read = 0;
        for _ in 0..20_000 {
            let text = make(&mut next);
            if let Some(ms) = fixed(&text) {
                read += 1;
                assert_eq!(Some(ms), general(&text), "{text}");
            }
        }
        assert!(read > 5_000, "the fixed path read only {read}");
        for odd in odd {
            assert_eq!(fixed(odd), None, "{odd}");
        }
    }

    /// A year for the fixed readers' tests: mostly recent ones, a quarter from all
    /// four-digit years and an eighth from century years, so that the leap rules of
    /// centuries and years before 1970 are met.
    fn year(next: &mut dyn FnMut(u64) -> u64) -> u64 {
        match next(8) {
            0 | 1 => next(10_000),
            2 => [0, 1600, 1900, 2000, 2100, 2400][next(6) as usize],
            _ => 1990 + next(60),
        }
    }

    const MONTHS: [&str; 13] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec", "Foo",
    ];

    #[test]
    fn fixed_cts_layouts_read_as_the_general_path_does() {
        // Ranges a little past the valid ones: the fixed path must refuse or agree.
        let make = |next: &mut dyn FnMut(u64) -> u64| {
            let (y, mo, d) = (year(next), next(13), 1 + next(32));
            let (h, mi, s) = (next(25), next(61), next(62));
            let (sign, zh, zm) = (["+", "-"][next(2) as usize], next(26), next(62));
            if next(2) == 0 {
                let mo = mo + 1;
                format!("{y:04}/{mo:02}/{d:02} {h:02}:{mi:02}:{s:02} GMT{sign}{zh:02}:{zm:02}")
            } else {
                let month = MONTHS[mo as usize];
                format!("{month} {d:02}, {y:04} {h:02}:{mi:02}:{s:02} GMT{sign}{zh:02}:{zm:02}")
            }
        };
        let odd = [
            "2016/12/8 11:07:28 GMT+08:00",
            "2016/12/08 11:07:60 GMT+08:00",
            "2016/12/08 11:07:28 GMT+08:60",
            "2016/02/30 11:07:28 GMT+08:00",
            "1900/02/29 11:07:28 GMT+08:00",
            "2100/02/29 11:07:28 GMT+08:00",
            "Nov  6, 2023 10:54:04 GMT+08:00",
            "nov 16, 2023 10:54:04 GMT+08:00",
        ];
        fixed_agrees_with_general(cts_fixed, cts_general, make, &odd);
        // Leap days the fixed path must read itself, not leave to chrono.
        for text in [
            "2000/02/29 11:07:28 GMT+08:00",
            "0000/02/29 11:07:28 GMT+08:00",
            "Feb 29, 2024 10:54:04 GMT-03:30",
        ] {
            assert!(cts_fixed(text).is_some(), "{text}");
            assert_eq!(cts_fixed(text), cts_general(text), "{text}");
        }
    }

    #[test]
    fn fixed_access_layout_reads_as_the_general_path_does() {
        let general = |text: &str| {
            DateTime::parse_from_str(text, "%d/%b/%Y:%H:%M:%S %z")
                .ok()
                .map(|t| t.timestamp_millis())
        };
        let make = |next: &mut dyn FnMut(u64) -> u64| {
            let (y, month, d) = (year(next), MONTHS[next(13) as usize], 1 + next(32));
            let (h, mi, s) = (next(25), next(61), next(62));
            let (sign, zh, zm) = (["+", "-", "x"][next(3) as usize], next(26), next(62));
            format!("{d:02}/{month}/{y:04}:{h:02}:{mi:02}:{s:02} {sign}{zh:02}{zm:02}")
        };
        let odd = [
            "2/Nov/2026:10:00:00 +0000",
            "20/nov/2026:10:00:00 +0000",
            "20/Nov/2026:10:00:60 +0000",
            "20/Nov/2026:10:00:00 +0060",
            "31/Nov/2026:10:00:00 +0000",
            "20/Nov/2026 10:00:00 +0000",
            "20/Nov/2026:10:00:00 +00:00",
        ];
        fixed_agrees_with_general(access_fixed, general, make, &odd);
        let leap = "29/Feb/2400:10:00:00 +0000";
        assert!(access_fixed(leap).is_some() && access_fixed(leap) == general(leap));
        // What the fixed path refuses, the general one still reads.
        assert_eq!(
            parse("20/nov/2026:10:00:00 +0100").map(format).as_deref(),
            Some("2026-11-20T09:00:00.000Z")
        );
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
