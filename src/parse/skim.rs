//! A validating skim of one JSON record: walks its top-level members and hands each key
//! and the raw text of its value to the caller, building nothing. Most traces in a
//! tenant's trail belong to other services (OBS, EVS, VPC, IAM); with this the scan counts
//! them at close to memory speed, and reads ECS traces without serde's per-value work.
//!
//! Invariant: `members` returns `Some` only for bytes that serde_json reads as one valid
//! JSON object, with exactly the members (keys decoded, values as their JSON text) that
//! serde would see. It is conservative: anything it is unsure of (any `\u` escape, an
//! escaped key, deep nesting) yields `None`, and the caller parses the record with serde.
//! Differential property tests and a fuzz target hold it to this. `members_prefix` reads
//! such an object at the start of a longer buffer (an element of an array held whole) and
//! says where it ends.

use crate::bytes::{head16, string_end};
use std::ops::ControlFlow;

/// Deeper than this, give up: serde_json refuses nesting beyond 128 levels, and real
/// traces are a few levels deep.
const MAX_DEPTH: usize = 64;

/// A member's key as the skim hands it over.
#[derive(Debug, Clone, Copy)]
pub struct Key<'a> {
    /// The key's text (never escaped: the skim leaves escaped keys to serde).
    pub text: &'a str,
    /// The buffer the key lies in, from the key's first byte on: `head` reads 16 bytes
    /// of it at once where it has them.
    from: &'a [u8],
}

impl<'a> Key<'a> {
    /// The key `text` as the skim would hand it over, for keys read by other means (serde).
    pub fn of(text: &'a str) -> Key<'a> {
        Key {
            text,
            from: text.as_bytes(),
        }
    }

    /// `bytes::head16` of the key: its first 16 bytes as a number, zero past its end.
    /// Taken when asked, not with every key: a trace whose service is skipped has its
    /// later keys walked over, never looked up.
    #[inline(always)]
    pub fn head(&self) -> u128 {
        head16(self.from, 0, self.text.len())
    }
}

/// Calls `member(key, value, plain)` for each top-level member of the object in `bytes`,
/// in order, where `value` is the member's JSON text and `plain` says it is a string
/// without escapes (its content is then the text between its quotes, as is). `None` when
/// `bytes` is not certainly a valid JSON object (see the module invariant); `member` may
/// have been called by then.
pub fn members<'a>(bytes: &'a [u8], member: impl FnMut(Key<'a>, &'a str, bool)) -> Option<()> {
    // No UTF-8 pass up front: the walk checks the record's UTF-8 only when it meets a
    // string that is not ASCII (see `Skim::string`), as trace records nearly never hold
    // one. Bytes outside strings must be ASCII grammar anyway.
    walk(&mut Skim::new(bytes, Utf8::Unchecked), false, every(member))
}

/// `members` of text already known to be UTF-8 (a value inside a record).
pub fn members_of_text<'a>(
    text: &'a str,
    member: impl FnMut(Key<'a>, &'a str, bool),
) -> Option<()> {
    walk(
        &mut Skim::new(text.as_bytes(), Utf8::Checked),
        false,
        every(member),
    )
}

/// A `walk` callback that takes every member.
fn every<'a>(
    mut member: impl FnMut(Key<'a>, &'a str, bool),
) -> impl FnMut(Key<'a>, &'a str, bool) -> ControlFlow<()> {
    move |key, value, plain| {
        member(key, value, plain);
        ControlFlow::Continue(())
    }
}

/// The members of `object`, JSON text already known to be one valid object (a value the
/// skim or serde read), up to the first for which `member` says `Break`: what is past it
/// is neither read nor checked; each member handed over as `members` hands it. `None`
/// where the skim is unsure (see the module invariant), as for `members`.
pub fn leading_members_of_valid<'a>(
    object: &'a str,
    member: impl FnMut(Key<'a>, &'a str, bool) -> ControlFlow<()>,
) -> Option<()> {
    // Its validity is the caller's promise; the tests' builds hold every caller to it.
    debug_assert!(serde_json::from_str::<serde::de::IgnoredAny>(object).is_ok());
    walk(
        &mut Skim::new(object.as_bytes(), Utf8::Checked),
        false,
        member,
    )
}

/// `members` of the object that opens `bytes` and ends somewhere inside it (an element of
/// an array held whole, a line of JSON lines): where it ends. Whatever follows is not
/// looked at, so a string that is not ASCII has its own UTF-8 checked, not the rest of the
/// buffer. With `within_line`, the object must end before the first line feed, and the
/// walk stops there: reading one line never reads the lines after it, however they are
/// crafted. The same invariant: `Some(extent)` only when `bytes[..extent.end]` is one
/// valid object, and then `members(&bytes[..extent.end])` hands over the same members.
// Inlined, with `walk`, into its one hot caller: left to the compiler, they were inlined
// or not as the code units happened to be cut, and a call here cost 0.8% of the
// instructions of a scan of ECS traces.
#[inline(always)]
pub fn members_prefix<'a>(
    bytes: &'a [u8],
    within_line: bool,
    member: impl FnMut(Key<'a>, &'a str, bool),
) -> Option<Extent> {
    let mut s = Skim::new(bytes, Utf8::PerString);
    s.within_line = within_line;
    walk(&mut s, true, every(member))?;
    Some(Extent {
        end: s.i,
        newlines: s.newlines,
    })
}

/// Where an object read by `members_prefix` ends, and how many line feeds it holds (all
/// in the white space between its tokens: a string cannot hold one unescaped), so that
/// the caller need not count them in a pass of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    pub end: usize,
    pub newlines: u64,
}

/// What the walk knows of its buffer's UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Utf8 {
    /// All of it is UTF-8.
    Checked,
    /// Not checked yet; the buffer is one record, checked whole at its first string that is
    /// not ASCII.
    Unchecked,
    /// Not checked, and the buffer runs past the record: each string that is not ASCII is
    /// checked alone.
    PerString,
}

/// The walk behind `members` and `members_prefix`, from `s.i` to just past the object,
/// which must end `s.b` (but for white space) unless `prefix`, or up to the member for
/// which `member` breaks (then `Some`, with `s.i` just past that member's value).
/// Invariant: every member it hands over is valid UTF-8. Either the whole of the buffer has been checked by then, or
/// every string so far was ASCII or checked alone (`Skim::string`), and every byte outside
/// strings is ASCII grammar (a byte from 0x80 up there is a syntax error).
#[inline(always)]
fn walk<'a>(
    s: &mut Skim<'a>,
    prefix: bool,
    mut member: impl FnMut(Key<'a>, &'a str, bool) -> ControlFlow<()>,
) -> Option<()> {
    let bytes = s.b;
    if s.token()? != b'{' {
        return None;
    }
    let mut stopped = false;
    let walked = s.items(b'}', |s, c| {
        let (start, end, escaped) = s.key(c)?;
        // An escaped key is not its JSON text: leave it to serde.
        if escaped {
            return None;
        }
        let from = s.i;
        let plain = s.member_value(1)?;
        // Every end sits next to an ASCII byte: `start` just after the key's opening
        // quote, `end` on its closing one, `from` on the value's first byte (a quote,
        // bracket, digit, `-` or a literal's letter), `s.i` just after its last (the same).
        // In UTF-8 a byte next to an ASCII byte on that side starts a character, so both
        // slices run between char boundaries of checked text.
        debug_assert!(start <= end && end <= from && from <= s.i && s.i <= bytes.len());
        debug_assert!(std::str::from_utf8(&bytes[start..end]).is_ok());
        debug_assert!(std::str::from_utf8(&bytes[from..s.i]).is_ok());
        // SAFETY: `start <= end <= from <= s.i <= bytes.len()` (the walk moved through them
        // in order), and both slices are valid UTF-8 (the walk's invariant, above).
        let (key, value) = unsafe {
            (
                Key {
                    text: std::str::from_utf8_unchecked(bytes.get_unchecked(start..end)),
                    from: bytes.get_unchecked(start..),
                },
                std::str::from_utf8_unchecked(bytes.get_unchecked(from..s.i)),
            )
        };
        // Leaving the items by `None` is how a walk stops early; `stopped` tells it apart
        // from invalid input.
        stopped = member(key, value, plain).is_break();
        (!stopped).then_some(())
    });
    if stopped {
        return Some(());
    }
    walked?;
    if prefix {
        return Some(());
    }
    s.ws();
    (s.i == bytes.len()).then_some(())
}

struct Skim<'a> {
    b: &'a [u8],
    i: usize,
    /// What is known of `b`'s UTF-8; until it is `Checked`, every string read was ASCII
    /// or (`PerString`) checked alone.
    utf8: Utf8,
    /// Line feeds passed so far.
    newlines: u64,
    /// Stop at the first line feed (`members_prefix`).
    within_line: bool,
}

impl<'a> Skim<'a> {
    fn new(b: &'a [u8], utf8: Utf8) -> Skim<'a> {
        Skim {
            b,
            i: 0,
            utf8,
            newlines: 0,
            within_line: false,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    fn ws(&mut self) {
        while let Some(c @ (b' ' | b'\t' | b'\n' | b'\r')) = self.peek() {
            if c == b'\n' {
                if self.within_line {
                    // Left unread: whatever the walk expects next, this is not it.
                    return;
                }
                self.newlines += 1;
            }
            self.i += 1;
        }
    }

    /// A string whose opening quote was consumed: (content start, content end, escaped).
    #[inline(always)]
    fn string(&mut self) -> Option<(usize, usize, bool)> {
        let start = self.i;
        let (end, escaped) = if self.utf8 == Utf8::Checked {
            string_end::<true>(self.b, start)?
        } else {
            match string_end::<false>(self.b, start) {
                Some(found) => found,
                // Not ASCII, or not valid at all: read the string again with such bytes
                // as content, and check their UTF-8.
                None if self.utf8 == Utf8::Unchecked => {
                    // The whole buffer once (a pass of simdutf8, 32-64 bytes a step): the
                    // separate pass over every record used to be 2-3% of a scan.
                    simdutf8::basic::from_utf8(self.b).ok()?;
                    self.utf8 = Utf8::Checked;
                    string_end::<true>(self.b, start)?
                }
                None => {
                    // The buffer runs on past the record: this string alone. A quote or
                    // backslash is never part of a multi-byte character, so the end found
                    // holds whatever the bytes are.
                    let found = string_end::<true>(self.b, start)?;
                    simdutf8::basic::from_utf8(&self.b[start..found.0]).ok()?;
                    found
                }
            }
        };
        self.i = end + 1;
        Some((start, end, escaped))
    }

    /// The next byte that is not white space, consumed. Tokens are compact in nearly every
    /// record, so the byte at hand is taken without entering the white-space loop; every
    /// token's first byte is above a space and every white-space byte is not.
    #[inline(always)]
    fn token(&mut self) -> Option<u8> {
        let c = self.peek()?;
        if c > b' ' {
            self.i += 1;
            return Some(c);
        }
        self.ws();
        self.next()
    }

    /// Items separated by commas up to `close`, the opening byte consumed; `item` reads one
    /// from its first byte, already consumed.
    #[inline(always)]
    fn items(
        &mut self,
        close: u8,
        mut item: impl FnMut(&mut Self, u8) -> Option<()>,
    ) -> Option<()> {
        let mut c = self.token()?;
        if c == close {
            return Some(());
        }
        loop {
            item(self, c)?;
            match self.token()? {
                b',' => c = self.token()?,
                c if c == close => return Some(()),
                _ => return None,
            }
        }
    }

    /// A member's key, from its first byte, and its `:`: (start, end, escaped) of the key's
    /// content.
    #[inline(always)]
    fn key(&mut self, first: u8) -> Option<(usize, usize, bool)> {
        if first != b'"' {
            return None;
        }
        let key = self.string()?;
        if self.token()? != b':' {
            return None;
        }
        // The value's text starts at its first byte: `walk` takes it from here.
        if self.peek()? <= b' ' {
            self.ws();
        }
        Some(key)
    }

    /// `value`, with strings (most values of a trace) read inline rather than through a
    /// call: whether the value is a string without escapes (see `members`).
    #[inline(always)]
    fn member_value(&mut self, depth: usize) -> Option<bool> {
        let first = self.token()?;
        self.item_value(first, depth)
    }

    /// `value` from its first byte, with a string read inline: whether it is a string
    /// without escapes.
    #[inline(always)]
    fn item_value(&mut self, first: u8, depth: usize) -> Option<bool> {
        match first {
            b'"' => self.string().map(|(_, _, escaped)| !escaped),
            c => self.value(c, depth).map(|()| false),
        }
    }

    /// Any JSON value from its first byte `first`, already consumed: checked and skipped.
    fn value(&mut self, first: u8, depth: usize) -> Option<()> {
        match first {
            b'"' => self.string().map(drop),
            b'{' => {
                let depth = (depth < MAX_DEPTH).then_some(depth + 1)?;
                self.items(b'}', |s, c| {
                    s.key(c)?;
                    s.member_value(depth).map(drop)
                })
            }
            b'[' => {
                let depth = (depth < MAX_DEPTH).then_some(depth + 1)?;
                self.items(b']', |s, c| s.item_value(c, depth).map(drop))
            }
            b't' => self.literal(b"rue"),
            b'f' => self.literal(b"alse"),
            b'n' => self.literal(b"ull"),
            b'-' => self.number(),
            b'0'..=b'9' => {
                self.i -= 1;
                self.number()
            }
            _ => None,
        }
    }

    fn literal(&mut self, rest: &[u8]) -> Option<()> {
        let end = self.i + rest.len();
        (self.b.get(self.i..end)? == rest).then(|| self.i = end)
    }

    /// `(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, the sign already consumed.
    fn number(&mut self) -> Option<()> {
        match self.next()? {
            b'0' => {}
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            self.digit()?;
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            self.digit()?;
            self.digits();
        }
        // `01` and `1x` are no numbers; the caller sees the stray byte as a syntax error.
        Some(())
    }

    fn digit(&mut self) -> Option<()> {
        self.next()?.is_ascii_digit().then_some(())
    }

    /// Skips digits, eight a step where the buffer has them: trace times are epoch
    /// milliseconds of thirteen digits, several per record.
    fn digits(&mut self) {
        while let Some(word) = self.b.get(self.i..self.i + 8) {
            let word = u64::from_le_bytes(word.try_into().expect("8 bytes"));
            match crate::bytes::digits_in_word(word) {
                8 => self.i += 8,
                n => {
                    self.i += n;
                    return;
                }
            }
        }
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The members of `text` as `members` hands them over, each value's `plain` checked
    /// against its text on the way.
    fn all(text: &str) -> Option<Vec<(String, String)>> {
        let mut out = Vec::new();
        members(text.as_bytes(), |k: Key, v: &str, plain| {
            assert_eq!(plain, v.starts_with('"') && !v.contains('\\'), "{v}");
            out.push((k.text.to_string(), v.to_string()))
        })?;
        Some(out)
    }

    #[test]
    fn a_walk_told_to_stop_hands_over_nothing_after() {
        let text = r#"{"a":1,"b":{"c":[2]},"d":"e"}"#;
        for (stop, want) in [("a", "a"), ("b", "ab"), ("d", "abd"), ("x", "abd")] {
            let mut keys = String::new();
            let walked = leading_members_of_valid(text, |k, _, _| {
                keys.push_str(k.text);
                if k.text == stop {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            });
            assert_eq!((walked, keys.as_str()), (Some(()), want), "stop at {stop}");
        }
        // Unsure (an escaped key) before the stop: left to serde, as `members` does.
        let escaped = r#"{"\u0061":1,"b":2}"#;
        assert_eq!(
            leading_members_of_valid(escaped, |_, _, _| ControlFlow::Break(())),
            None
        );
    }

    #[test]
    fn hands_over_each_member_with_its_json_text() {
        let text = " {\"a\": [1, -2.5e+3, true, null, {\"b\": \"x\\\"y\"}],\n \"service_type\" : \"OBS\" ,\"e\":{}}\r";
        let got = all(text).expect("valid");
        assert_eq!(
            got,
            [
                (
                    "a".into(),
                    r#"[1, -2.5e+3, true, null, {"b": "x\"y"}]"#.into()
                ),
                ("service_type".into(), r#""OBS""#.into()),
                ("e".into(), "{}".into()),
            ]
        );
        assert_eq!(all("{}"), Some(vec![]));
        assert_eq!(all(r#"{"x":"é","x":2}"#).map(|m| m.len()), Some(2));
        // Multi-byte characters right at every cut: first and last bytes of keys and values.
        assert_eq!(
            all(r#"{"ключ":"значение","é":["ü",{"ñ":"日本"}]}"#),
            Some(vec![
                ("ключ".into(), r#""значение""#.into()),
                ("é".into(), r#"["ü",{"ñ":"日本"}]"#.into()),
            ])
        );
    }

    #[test]
    fn key_heads_are_the_keys_first_bytes_zero_padded() {
        // Keys of every length up to 17; the last key of each record ends a few bytes
        // before the record does, so that its 16 bytes run past the end of the buffer.
        for len in 0..=17 {
            let key = &"abcdefghijklmnopq"[..len];
            let text = format!(r#"{{"{key}":1,"x":2,"{key}":3}}"#);
            let mut seen = 0;
            members(text.as_bytes(), |k, _, _| {
                let mut want = [0u8; 16];
                let n = k.text.len().min(16);
                want[..n].copy_from_slice(&k.text.as_bytes()[..n]);
                assert_eq!(k.head(), u128::from_le_bytes(want), "{:?}", k.text);
                seen += 1;
            })
            .expect("valid");
            assert_eq!(seen, 3);
        }
    }

    #[test]
    fn checks_utf8_wherever_the_first_non_ascii_string_falls() {
        let ascii = r#""a":"0123456789abcdef0123","b":[1,{"c":"d"}],"#;
        for (tail, valid) in [
            (&b"\"x\":\"caf\xc3\xa9\"}"[..], true),
            (b"\"\xc3\xa9\":\"\xe6\x97\xa5\",\"y\":\"z\"}", true),
            (b"\"x\":\"\xc3\xa9\",\"y\":\"\xff\"}", false),
            (b"\"x\":\"\xc3\"}", false),
            (b"\"x\":\"\xed\xa0\x80\"}", false),
            (b"\"x\":\"ok\",\"y\":[\"\xc3\xa9\",\"\x80\"]}", false),
        ] {
            let mut record = format!("{{{ascii}").into_bytes();
            record.extend_from_slice(tail);
            let text = String::from_utf8_lossy(&record).into_owned();
            let mut seen = Vec::new();
            let skimmed = members(&record, |k, v, _| {
                seen.push((k.text.to_string(), v.to_string()))
            });
            assert_eq!(skimmed.is_some(), valid, "{text}");
            assert_eq!(
                serde_json::from_slice::<serde_json::Value>(&record).is_ok(),
                valid
            );
            if valid {
                let want: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_slice(&record).expect("valid");
                assert_eq!(seen.len(), want.len(), "{text}");
                for (k, v) in &seen {
                    let v: serde_json::Value = serde_json::from_str(v).expect("member JSON");
                    assert_eq!(want.get(k), Some(&v), "{text}");
                }
            }
        }
    }

    #[test]
    fn a_prefix_ends_after_its_object_with_its_line_feeds_counted() {
        for (text, end) in [
            ("{\"a\":1}, {\"b\":2}", 7),
            ("{\n \"a\" :\n [1,\n\r 2],\n\"b\":{\"c\":\"d\"}\n}\n]", 35),
            ("{}]", 2),
            ("{\"s\":\"caf\u{e9}\"}\u{e9}", 13),
        ] {
            let bytes = text.as_bytes();
            let mut seen = Vec::new();
            let extent =
                members_prefix(bytes, false, |k, v, _| seen.push((k.text, v))).expect(text);
            assert_eq!(extent.end, end, "{text}");
            let newlines = bytes[..end].iter().filter(|&&b| b == b'\n').count();
            assert_eq!(extent.newlines, newlines as u64, "{text}");
            assert_eq!(
                Some(seen.len()),
                all(&text[..end]).map(|m| m.len()),
                "{text}"
            );
        }
        // What follows the object is never looked at, not even its UTF-8.
        assert_eq!(
            members_prefix(b"{\"a\":\"\xc3\xa9\"}\xff\xff", false, |_, _, _| ()).map(|e| e.end),
            Some(10)
        );
        assert!(members_prefix(b"{\"a\":\"\xff\"}", false, |_, _, _| ()).is_none());
        assert!(members_prefix(b"{\"a\":1", false, |_, _, _| ()).is_none());
        assert!(members_prefix(b" {}", false, |_, _, _| ()).is_some());
        // Within a line: the same object, or nothing if it needs the next line.
        let two_lines = b"{\"a\": 1, \"b\": [2]}\t\n{\"c\":\n3}";
        let first = members_prefix(two_lines, true, |_, _, _| ()).expect("first line");
        assert_eq!((first.end, first.newlines), (18, 0));
        let second = &two_lines[20..];
        assert!(members_prefix(second, true, |_, _, _| ()).is_none());
        assert!(members_prefix(second, false, |_, _, _| ()).is_some());
    }

    #[test]
    fn leaves_anything_unsure_or_invalid_to_the_parser() {
        for text in [
            r#"{"service\u005ftype":"A"}"#,
            r#"{"s":"V\u0050C"}"#,
            r#"{"s\"":1}"#,
            r#"{"x":tru}"#,
            r#"{"x":01}"#,
            r#"{"x":1.}"#,
            r#"{"x":-}"#,
            r#"{"x":"a\qb"}"#,
            "{\"x\":\"a\tb\"}",
            r#"{"x":1,}"#,
            r#"{"x":1} x"#,
            r#"{"x":"1"#,
            r#"[{"x":1}]"#,
            r#""x""#,
        ] {
            assert_eq!(all(text), None, "{text}");
        }
        assert!(members(b"{\"x\":\"\xff\"}", &mut |_, _, _| ()).is_none());
        let deep = format!(r#"{{"x":{}1{}}}"#, "[".repeat(100), "]".repeat(100));
        assert_eq!(all(&deep), None);
    }
}
