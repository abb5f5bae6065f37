//! Small serde helpers for reading JSON records lazily: a top-level object as a list of
//! borrowed (key, raw value) pairs, and strings that borrow from the buffer when they
//! contain no escapes. Nothing here knows about trace fields.

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// A string that borrows from the input when it has no escapes.
pub struct CowStr<'a>(pub Cow<'a, str>);

impl<'de> Deserialize<'de> for CowStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// The members of one JSON object, in input order, values left unparsed.
pub struct Entries<'a>(pub Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Entries<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(24));
                while let Some(key) = map.next_key::<CowStr<'de>>()? {
                    let value: &'de RawValue = map.next_value()?;
                    out.push((key.0, value));
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V)
    }
}

impl<'a> Entries<'a> {
    /// The value of the first member called `key`. The readers use `member` on the
    /// members `members_of` gives; this is for the tests of `Entries` itself.
    #[cfg(test)]
    pub fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }
}

/// The members of the JSON object `text` (white space around it allowed), in input order,
/// as (key, the value's JSON text); `None` when `text` is no object. The skim reads it,
/// serde what the skim leaves (escaped keys, `\u` escapes, deep nesting): the same
/// members either way, as the skim hands over only what serde would see.
pub fn members_of(text: &str) -> Option<Vec<(Cow<'_, str>, &str)>> {
    let mut members = Vec::new();
    let skimmed = super::skim::members_of_text(text, |key, value, _| {
        members.push((Cow::Borrowed(key.text), value));
    });
    if skimmed.is_some() {
        return Some(members);
    }
    members_by_serde(text)
}

/// `members_of` read by serde alone, for callers that know the skim is unsure of `text`.
pub fn members_by_serde(text: &str) -> Option<Vec<(Cow<'_, str>, &str)>> {
    let entries: Entries = serde_json::from_str(text).ok()?;
    Some(entries.0.into_iter().map(|(k, v)| (k, v.get())).collect())
}

/// The value of the first member called `key` among `members` (from `members_of`).
pub fn member<'a>(members: &[(Cow<'_, str>, &'a str)], key: &str) -> Option<&'a str> {
    members.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
}

/// The value of the first member called `key` of `value`, JSON text known to be valid
/// (a value `members_of` handed over); `None` when `value` is no object or has no such
/// member. The same as `member(&members_of(value)?, key)`, without building the list, and
/// reading no further than that member.
pub fn member_of_valid<'a>(value: &'a str, key: &str) -> Option<&'a str> {
    if !value.starts_with('{') {
        return None;
    }
    let mut found = None;
    let skimmed = super::skim::leading_members_of_valid(value, |k, v, _| {
        if k.text == key {
            found = Some(v);
            return std::ops::ControlFlow::Break(());
        }
        std::ops::ControlFlow::Continue(())
    });
    match skimmed {
        Some(()) => found,
        // Where the skim is unsure (escaped keys), serde reads the whole object.
        None => member(&members_by_serde(value)?, key),
    }
}

/// The text of a JSON string value (`raw` is its JSON text), borrowed when unescaped;
/// `None` for other values.
// Inlined: every string field of every record comes through here, nearly all without an
// escape; `unescape` stays out of line, so that path saves no registers.
#[inline]
pub fn as_str(raw: &str) -> Option<Cow<'_, str>> {
    if !raw.starts_with('"') {
        return None;
    }
    // A raw value is valid JSON, so a string without a backslash is its content as is.
    let inner = &raw[1..raw.len() - 1];
    let Some(first) = crate::bytes::backslash(inner.as_bytes()) else {
        return Some(Cow::Borrowed(inner));
    };
    match unescape(inner, first) {
        Some(text) => Some(Cow::Owned(text)),
        // `\u` escapes (surrogate pairs, lone surrogates) are serde's to judge.
        None => serde_json::from_str::<CowStr>(raw).ok().map(|s| s.0),
    }
}

/// The content of a valid JSON string (`inner`, between its quotes) with its escapes
/// undone, `first` being the index of its first backslash; `None` when it holds a `\u`
/// escape or anything a valid string cannot (left to serde). Escaped bodies have an
/// escape every few bytes, so the runs between them are copied sixteen bytes a step
/// without a call: each block is stored whole and the part from its first backslash on is
/// overwritten next. A `push_str` (a call to `memmove`) and a `push` per run cost a scan
/// of ECS traces 3-4% more instructions, and serde's byte-by-byte copy was a tenth of the
/// time spent on an ECS trace.
#[inline(never)]
fn unescape(inner: &str, first: usize) -> Option<String> {
    let src = inner.as_bytes();
    // The content never grows: an escape of two bytes stands for one.
    let mut out: Vec<u8> = Vec::with_capacity(src.len());
    let dst = out.as_mut_ptr();
    // SAFETY (every write below): `d <= s` throughout, as each escape writes one byte for
    // the two it reads, and no write reaches past `d + (the bytes read from s)`, which is
    // at most `src.len()`, the capacity. `src` and `out` are separate allocations.
    unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst, first) };
    let (mut s, mut d) = (first, first);
    loop {
        // `src[s]` is a backslash; every escape but `\u` (None) stands for an ASCII byte.
        let c = crate::bytes::unescaped(*src.get(s + 1)?)?;
        debug_assert!(c.is_ascii());
        unsafe { dst.add(d).write(c as u8) };
        s += 2;
        d += 1;
        // The run up to the next backslash: sixteen bytes a step, then the last few.
        let mut found = 0;
        while s + 16 <= src.len() {
            unsafe { std::ptr::copy_nonoverlapping(src.as_ptr().add(s), dst.add(d), 16) };
            found = crate::bytes::backslashes16(src, s);
            if found != 0 {
                break;
            }
            s += 16;
            d += 16;
        }
        if found != 0 {
            let k = found.trailing_zeros() as usize;
            s += k;
            d += k;
            continue;
        }
        let rest = &src[s..];
        let k = rest.iter().position(|&b| b == b'\\');
        let run = k.unwrap_or(rest.len());
        unsafe { std::ptr::copy_nonoverlapping(rest.as_ptr(), dst.add(d), run) };
        s += run;
        d += run;
        if k.is_none() {
            // SAFETY: the first `d` bytes are written. They are `src` (UTF-8) with each
            // escape replaced by one ASCII byte, cut only at backslashes (ASCII, so on
            // character boundaries): UTF-8.
            unsafe {
                out.set_len(d);
                return Some(String::from_utf8_unchecked(out));
            }
        }
    }
}

/// A body-like string's content as `as_text` gives it: `None` when it is only white space.
#[inline]
pub fn nonblank(content: Cow<'_, str>) -> Option<Cow<'_, str>> {
    (!content.trim().is_empty()).then_some(content)
}

/// True for `null`.
pub fn is_null(raw: &str) -> bool {
    raw == "null"
}

/// A body-like value (`raw` is its JSON text) as text: objects and arrays as their JSON, a
/// string as its content (which may itself hold JSON), `None` for null and `""`.
pub fn as_text(raw: &str) -> Option<Cow<'_, str>> {
    match raw.as_bytes().first() {
        Some(b'{') | Some(b'[') => Some(Cow::Borrowed(raw)),
        Some(b'"') => as_str(raw).and_then(nonblank),
        Some(b'n') if raw == "null" => None,
        Some(_) => Some(Cow::Borrowed(raw)),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_borrow_and_keep_order() {
        let text = r#"{"b": 1, "a\n": {"x": [1,2]}, "c": "s"}"#;
        let e: Entries = serde_json::from_str(text).expect("object");
        assert_eq!(e.0.len(), 3);
        assert!(matches!(e.0[0].0, Cow::Borrowed("b")));
        assert!(matches!(e.0[1].0, Cow::Owned(_)));
        assert_eq!(e.get("c").map(RawValue::get), Some("\"s\""));
    }

    #[test]
    fn members_are_serdes_whichever_reader_reads_them() {
        let deep = format!(r#"{{"a":{}1{}}}"#, "[".repeat(80), "]".repeat(80));
        for text in [
            r#"{"os-start":{"servers":[{"id":"x"}]}}"#,
            r#" {"a" : 1, "b":[true,null], "a":"dup"} "#,
            r#"{"os-st\u0061rt":{}}"#,
            r#"{"k\"q":"v\\","s":"\u00e9t\u00e9"}"#,
            r#"{"ключ":"значение"}"#,
            r#"{}"#,
            &deep,
            r#"[{"a":1}]"#,
            r#""text""#,
            r#"{"a":1,}"#,
            r#"{"a":tru}"#,
            "",
        ] {
            let want = serde_json::from_str::<Entries>(text).ok().map(|e| {
                e.0.into_iter()
                    .map(|(k, v)| (k.into_owned(), v.get().to_string()))
            });
            let got = members_of(text)
                .map(|m| m.into_iter().map(|(k, v)| (k.into_owned(), v.to_string())));
            assert_eq!(got.map(Vec::from_iter), want.map(Vec::from_iter), "{text}");
        }
        let members = members_of(r#"{"a":1,"b":2,"a":3}"#).expect("an object");
        assert_eq!(member(&members, "a"), Some("1"));
        assert_eq!(member(&members, "c"), None);
    }

    #[test]
    fn a_member_of_a_valid_value_is_the_first_the_list_of_members_has() {
        let deep = format!(r#"{{"b":{}1{},"a":2}}"#, "[".repeat(80), "]".repeat(80));
        for value in [
            r#"{"a":1,"b":{"a":2},"a":3}"#,
            r#"{"b":[{"a":0}],"a":{"x":1}}"#,
            // Escaped keys: the skim leaves them to serde.
            r#"{"\u0061":1,"a":2}"#,
            r#"{"\u0061":1}"#,
            r#"{"k\"q":"v","a":"\u00e9"}"#,
            r#"{}"#,
            &deep,
            r#"[{"a":1}]"#,
            r#""{\"a\":1}""#,
            "1",
            "null",
        ] {
            let want = members_of(value).and_then(|m| member(&m, "a"));
            assert_eq!(member_of_valid(value, "a"), want, "{value}");
        }
    }

    #[test]
    fn text_of_values() {
        assert_eq!(as_text("null"), None);
        assert_eq!(as_text("\"\""), None);
        assert_eq!(as_text("\"{\\\"a\\\":1}\"").as_deref(), Some("{\"a\":1}"));
        assert_eq!(as_text("{\"a\":1}").as_deref(), Some("{\"a\":1}"));
        assert_eq!(as_str("12"), None);
        assert_eq!(as_str("\"plain\"").as_deref(), Some("plain"));
    }

    #[test]
    fn unescaping_agrees_with_serde() {
        let pieces = [
            "a",
            "é",
            "\\\"",
            "\\\\",
            "\\/",
            "\\b",
            "\\f",
            "\\n",
            "\\r",
            "\\t",
            "xyz",
            " ",
            "{",
            "\\\\u0041",
            // Long runs between escapes, one ending in a character of several bytes.
            "0123456789abcdefghij",
            "0123456789abcdeé",
            "0123456789abcdefghijklmnopqrstuvwxyz0123456789",
            // Last, so the long strings can leave them out: with a `\u` escape a string is
            // serde's to read, not the unescaper's.
            "\\u0041",
            "\\ud83d\\ude00",
        ];
        let mut state = 7u64;
        for round in 0..20_000 {
            let mut raw = String::from("\"");
            // Short strings, and long ones whose first backslash lies anywhere.
            let (count, choices) = if round % 2 == 0 {
                (9, pieces.len())
            } else {
                (40, pieces.len() - 2)
            };
            for _ in 0..(state % count) {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                raw.push_str(pieces[(state >> 33) as usize % choices]);
            }
            raw.push('"');
            let want: String = serde_json::from_str(&raw).expect("valid string");
            assert_eq!(as_str(&raw).as_deref(), Some(want.as_str()), "{raw}");
            // Without a `\u` escape the unescaper reads it all itself: serde, where
            // `as_str` falls back to, would hide a wrong cut.
            let inner = &raw[1..raw.len() - 1];
            if let (1, Some(first)) = (round % 2, crate::bytes::backslash(inner.as_bytes())) {
                assert_eq!(
                    unescape(inner, first).as_deref(),
                    Some(want.as_str()),
                    "{raw}"
                );
            }
        }
    }
}
