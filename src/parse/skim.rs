//! A validating skim of one JSON record that finds its top-level service without building
//! anything. Most traces in a tenant's trail belong to other services (OBS, EVS, VPC, IAM);
//! this lets the scan count them at close to memory speed instead of parsing them.
//!
//! Invariant: `service` returns `Some` only for bytes that `parse_json` reads as exactly
//! one record (valid UTF-8, valid JSON, an object, no envelope) whose service field is the
//! returned string. It is conservative: anything it is unsure of (`\u` escapes, escaped
//! keys, a repeated service key, deep nesting) yields `None`, and the caller parses the
//! record in full. A differential property test and a fuzz target hold it to this.

use crate::bytes::string_end;

/// Deeper than this, give up: serde_json refuses nesting beyond 128 levels, and real
/// traces are a few levels deep.
const MAX_DEPTH: usize = 64;

/// The service named by the record's only top-level `key` member, when that is a
/// non-empty string without escapes and the record is certainly an ordinary record.
pub fn service<'a>(bytes: &'a [u8], key: &[u8]) -> Option<&'a str> {
    // Checked up front so the scan below may treat every byte at or above 0x80 as part
    // of a valid string; `from_utf8` is vectorised for ASCII.
    let text = std::str::from_utf8(bytes).ok()?;
    let mut s = Skim { b: bytes, i: 0 };
    s.ws();
    if s.next()? != b'{' {
        return None;
    }
    let mut found: Option<(usize, usize)> = None;
    s.ws();
    if s.peek()? == b'}' {
        return None;
    }
    loop {
        if s.next()? != b'"' {
            return None;
        }
        let (start, end, escaped) = s.string()?;
        let name = &bytes[start..end];
        // An escaped key might spell one of the keys below.
        if escaped || name == b"cts" || name == b"traces" {
            return None;
        }
        s.ws();
        if s.next()? != b':' {
            return None;
        }
        s.ws();
        if name == key {
            if found.is_some() || s.next()? != b'"' {
                return None;
            }
            let (start, end, escaped) = s.string()?;
            if escaped || start == end {
                return None;
            }
            found = Some((start, end));
        } else {
            s.value(1)?;
        }
        s.ws();
        match s.next()? {
            b',' => s.ws(),
            b'}' => break,
            _ => return None,
        }
    }
    s.ws();
    if s.i != bytes.len() {
        return None;
    }
    let (start, end) = found?;
    // Both ends sit next to ASCII quotes, so they are char boundaries.
    Some(&text[start..end])
}

struct Skim<'a> {
    b: &'a [u8],
    i: usize,
}

impl Skim<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    /// A string whose opening quote was consumed: (content start, content end, escaped).
    fn string(&mut self) -> Option<(usize, usize, bool)> {
        let start = self.i;
        let (end, escaped) = string_end(self.b, start)?;
        self.i = end + 1;
        Some((start, end, escaped))
    }

    /// Any JSON value, checked and skipped.
    fn value(&mut self, depth: usize) -> Option<()> {
        match self.next()? {
            b'"' => self.string().map(drop),
            b'{' => {
                let depth = (depth < MAX_DEPTH).then_some(depth + 1)?;
                self.ws();
                if self.peek()? == b'}' {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    if self.next()? != b'"' {
                        return None;
                    }
                    self.string()?;
                    self.ws();
                    if self.next()? != b':' {
                        return None;
                    }
                    self.ws();
                    self.value(depth)?;
                    self.ws();
                    match self.next()? {
                        b',' => self.ws(),
                        b'}' => return Some(()),
                        _ => return None,
                    }
                }
            }
            b'[' => {
                let depth = (depth < MAX_DEPTH).then_some(depth + 1)?;
                self.ws();
                if self.peek()? == b']' {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.value(depth)?;
                    self.ws();
                    match self.next()? {
                        b',' => self.ws(),
                        b']' => return Some(()),
                        _ => return None,
                    }
                }
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

    fn digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"service_type";

    #[test]
    fn finds_the_service_of_plain_records() {
        for (text, want) in [
            (r#"{"service_type":"VPC","code":403}"#, Some("VPC")),
            (
                " {\"a\": [1, -2.5e+3, true, null, {\"b\": \"x\\\"y\"}],\n \"service_type\" : \"OBS\" }\r",
                Some("OBS"),
            ),
            (r#"{"service_type":"ECS","x":0}"#, Some("ECS")),
            (r#"{"x":"é","service_type":"EVS"}"#, Some("EVS")),
        ] {
            assert_eq!(service(text.as_bytes(), KEY), want, "{text}");
        }
    }

    #[test]
    fn leaves_anything_unsure_or_invalid_to_the_parser() {
        for text in [
            r#"{"code":403}"#,
            r#"{"service_type":""}"#,
            r#"{"service_type":5}"#,
            r#"{"service_type":"A","service_type":"B"}"#,
            r#"{"service\u005ftype":"A"}"#,
            r#"{"service_type":"V\u0050C"}"#,
            r#"{"service_type":"V\"PC"}"#,
            r#"{"traces":[],"service_type":"VPC"}"#,
            r#"{"cts":{},"service_type":"VPC"}"#,
            r#"{"service_type":"VPC","x":tru}"#,
            r#"{"service_type":"VPC","x":01}"#,
            r#"{"service_type":"VPC","x":1.}"#,
            r#"{"service_type":"VPC","x":-}"#,
            r#"{"service_type":"VPC","x":"a\qb"}"#,
            "{\"service_type\":\"VPC\",\"x\":\"a\tb\"}",
            r#"{"service_type":"VPC",}"#,
            r#"{"service_type":"VPC"} x"#,
            r#"{"service_type":"VPC""#,
            r#"[{"service_type":"VPC"}]"#,
        ] {
            assert_eq!(service(text.as_bytes(), KEY), None, "{text}");
        }
        assert_eq!(
            service(b"{\"service_type\":\"VPC\",\"x\":\"\xff\"}", KEY),
            None
        );
        let deep = format!(
            r#"{{"service_type":"VPC","x":{}1{}}}"#,
            "[".repeat(100),
            "]".repeat(100)
        );
        assert_eq!(service(deep.as_bytes(), KEY), None);
    }
}
