//! Access-log lines (API gateway, load balancer, nginx/Apache "combined") into `Record`s
//! that borrow from the line. Formats are told apart by field count and field shape, never
//! by a position alone. No bodies and no denial messages exist in these formats; APIG's
//! own error code is kept for classification.

use super::{Record, time};
use std::borrow::Cow;

/// An access-log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AccessFormat {
    /// Huawei/OTC API Gateway: 54 fields, or 53 in older versions (no `scheme`).
    Apig,
    /// Elastic Load Balance access log: fixed layout, `tenant_id` is the project.
    Elb,
    /// nginx/Apache "combined" (or "common", its first 7 fields).
    Combined,
}

impl AccessFormat {
    /// Every format, in detection order.
    pub const ALL: [AccessFormat; 3] = [
        AccessFormat::Apig,
        AccessFormat::Elb,
        AccessFormat::Combined,
    ];

    /// The `--format` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AccessFormat::Apig => "apig",
            AccessFormat::Elb => "elb",
            AccessFormat::Combined => "combined",
        }
    }

    /// What a line of this format must look like, for the forced-format error.
    pub fn expected(self) -> &'static str {
        match self {
            AccessFormat::Apig => {
                "54 or 53 space-separated fields with time_local 6th, the HTTP method 8th and a 3-digit status"
            }
            AccessFormat::Elb => {
                "an epoch time, `[time_iso8601]` 3rd, a 3-digit status 6th and a quoted request 7th"
            }
            AccessFormat::Combined => {
                "`addr ident user [time] \"METHOD target proto\" status bytes ...`"
            }
        }
    }
}

/// One field of a line: its text without surrounding quotes or brackets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Token<'a> {
    text: &'a str,
    quoted: bool,
    bracketed: bool,
}

/// `dd/Mon/yyyy:HH:MM:SS`, the first half of an unbracketed nginx time.
fn is_nginx_clock(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 20 && b[2] == b'/' && b[6] == b'/' && b[11] == b':' && b[0].is_ascii_digit()
}

/// `+hhmm` / `-hhmm`, the second half of an unbracketed nginx time.
fn is_zone(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 5 && matches!(b[0], b'+' | b'-') && b[1..].iter().all(u8::is_ascii_digit)
}

/// Fields a line is split into at most. No format reads past the 25th, and APIG's exact
/// count (53 or 54) refuses a line of this many fields as it does a longer one: what the
/// formats make of a line is the same as if it were split whole. A line of endless blanks
/// costs no more than this.
const MAX_TOKENS: usize = 64;

/// The fields of a line, held in place: allocating and freeing a vector per line took 4%
/// of the instructions of reading an APIG log.
struct Tokens<'a> {
    items: [Token<'a>; MAX_TOKENS],
    len: usize,
}

impl<'a> Tokens<'a> {
    /// No fields yet.
    fn new() -> Tokens<'a> {
        let empty = Token {
            text: "",
            quoted: false,
            bracketed: false,
        };
        Tokens {
            items: [empty; MAX_TOKENS],
            len: 0,
        }
    }

    fn as_slice(&self) -> &[Token<'a>] {
        &self.items[..self.len]
    }
}

/// Splits `line` into `out`, replacing what it held: at blanks; `"…"` (with `\"` escapes)
/// and `[…]` are one field each. An unbracketed nginx time (`20/Nov/2026:10:00:00 +0000`)
/// is joined back into one field, because the space in it is not a separator. The first
/// `MAX_TOKENS` fields only. The caller holds the fields: returned by value, their 1.5 KB
/// were copied on the way back, 2% of an APIG line's instructions.
fn tokenize_into<'a>(line: &'a str, out: &mut Tokens<'a>) {
    let b = line.as_bytes();
    out.len = 0;
    let mut i = 0;
    while i < b.len() && out.len < MAX_TOKENS {
        if b[i] == b' ' || b[i] == b'\t' {
            i += 1;
            continue;
        }
        let (start, end, next, quoted, bracketed) = match b[i] {
            b'"' => {
                let j = quoted_end(b, i + 1);
                (i + 1, j, j + 1, true, false)
            }
            b'[' => {
                let j = memchr::memchr(b']', &b[i..]).map_or(b.len(), |k| i + k);
                (i + 1, j, j + 1, false, true)
            }
            _ => {
                let j = crate::bytes::blank(b, i);
                (i, j, j, false, false)
            }
        };
        // Quote and bracket bounds are ASCII, so these are char boundaries.
        let text = line.get(start..end).unwrap_or("");
        let plain = !quoted && !bracketed;
        let joined = match out.as_slice().last() {
            Some(prev) if plain && is_zone(text) && !prev.quoted && !prev.bracketed => {
                is_nginx_clock(prev.text)
            }
            _ => false,
        };
        if joined {
            let prev = &mut out.items[out.len - 1];
            let from = prev.text.as_ptr() as usize - line.as_ptr() as usize;
            prev.text = line.get(from..end).unwrap_or("");
        } else {
            out.items[out.len] = Token {
                text,
                quoted,
                bracketed,
            };
            out.len += 1;
        }
        i = next;
    }
}

/// Where the quoted field whose content starts at `b[from]` ends: its closing quote, or
/// the end of the line. A backslash takes the byte after it into the field.
fn quoted_end(b: &[u8], mut from: usize) -> usize {
    while from < b.len() {
        match memchr::memchr2(b'"', b'\\', &b[from..]) {
            None => break,
            Some(k) if b[from + k] == b'"' => return from + k,
            Some(k) => from += k + 2,
        }
    }
    b.len()
}

/// `-` and empty mean "no value" in every access-log format.
fn value(s: &str) -> Option<Cow<'_, str>> {
    (!s.is_empty() && s != "-").then_some(Cow::Borrowed(s))
}

fn is_method(s: &str) -> bool {
    (3..=7).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_uppercase())
}

fn status_of(s: &str) -> Option<u16> {
    let n: u16 = s.parse().ok()?;
    (s.len() == 3 && (100..=599).contains(&n)).then_some(n)
}

/// A time field: parsed, or `None` inside `Some` for `-`; `None` when it is not a time.
fn time_field(s: &str) -> Option<Option<time::Millis>> {
    if s == "-" {
        return Some(None);
    }
    time::parse(s).map(Some)
}

/// `"METHOD target proto"` into method and target.
fn request_line(s: &str) -> Option<(&str, &str)> {
    let mut parts = s.split_ascii_whitespace();
    let method = parts.next().filter(|m| is_method(m))?;
    let target = parts.next()?;
    Some((method, target))
}

/// `1.2.3.4:5678` without the port; IPv6 and port-less addresses unchanged.
fn without_port(s: &str) -> &str {
    match s.split_once(':') {
        Some((ip, port)) if !port.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => ip,
        _ => s,
    }
}

fn apig<'a>(t: &[Token<'a>]) -> Option<Record<'a>> {
    // The 53-field layout lacks `scheme` (9th), so every later field moves up by one.
    let shift = match t.len() {
        54 => 0,
        53 => 1,
        _ => return None,
    };
    if !is_method(t[7].text) {
        return None;
    }
    if shift == 0
        && !["http", "https", "-"]
            .iter()
            .any(|s| t[8].text.eq_ignore_ascii_case(s))
    {
        return None;
    }
    let time = time_field(t[5].text)?;
    let status = status_of(t[12 - shift].text)?;
    let path = value(t[10 - shift].text).or_else(|| value(t[18 - shift].text));
    Some(Record {
        time,
        method: Some(Cow::Borrowed(t[7].text)),
        path,
        status: Some(status),
        project: value(t[3].text),
        request_id: value(t[1].text),
        source_ip: value(t[0].text),
        gateway_code: value(t[t.len() - 2].text),
        ..Record::default()
    })
}

fn elb<'a>(t: &[Token<'a>]) -> Option<Record<'a>> {
    if t.len() < 25 || !t[2].bracketed || !t[6].quoted {
        return None;
    }
    let epoch = t[0].text;
    if epoch.is_empty() || !epoch.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let time = time_field(t[2].text)?;
    let status = status_of(t[5].text)?;
    let (method, target) = request_line(t[6].text)?;
    Some(Record {
        time,
        method: Some(Cow::Borrowed(method)),
        path: Some(Cow::Borrowed(target)),
        status: Some(status),
        project: value(t[24].text),
        source_ip: value(without_port(t[4].text)),
        ..Record::default()
    })
}

fn combined<'a>(t: &[Token<'a>]) -> Option<Record<'a>> {
    if t.len() < 7 || !t[3].bracketed || !t[4].quoted {
        return None;
    }
    let time = time_field(t[3].text)?;
    let (method, target) = request_line(t[4].text)?;
    let status = status_of(t[5].text)?;
    Some(Record {
        time,
        method: Some(Cow::Borrowed(method)),
        path: Some(Cow::Borrowed(target)),
        status: Some(status),
        user: value(t[2].text),
        source_ip: value(t[0].text),
        ..Record::default()
    })
}

fn parse_tokens<'a>(t: &[Token<'a>], format: AccessFormat) -> Option<Record<'a>> {
    match format {
        AccessFormat::Apig => apig(t),
        AccessFormat::Elb => elb(t),
        AccessFormat::Combined => combined(t),
    }
}

/// `read` of `line`'s fields, split into an array of this frame (see `tokenize_into`).
fn with_fields<'a, R>(line: &'a str, read: impl FnOnce(&[Token<'a>]) -> R) -> R {
    let mut tokens = Tokens::new();
    tokenize_into(line, &mut tokens);
    read(tokens.as_slice())
}

/// Reads `line` as `format`; `None` when the line does not have that format's shape.
pub fn parse(line: &str, format: AccessFormat) -> Option<Record<'_>> {
    with_fields(line, |t| parse_tokens(t, format))
}

/// Reads `line` as whichever access-log format fits it (the shapes do not overlap).
pub fn parse_any(line: &str) -> Option<(AccessFormat, Record<'_>)> {
    with_fields(line, |t| {
        AccessFormat::ALL
            .iter()
            .find_map(|f| parse_tokens(t, *f).map(|r| (*f, r)))
    })
}

/// The format of `line`, if it is an access-log line.
pub fn detect(line: &str) -> Option<AccessFormat> {
    parse_any(line).map(|(f, _)| f)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const P: &str = "0123456789abcdef0123456789abcdef";

    /// An APIG line with `fields` fields (54 or 53), the given time field text (already
    /// quoted or bracketed as wanted), router_uri, status and error code.
    pub(crate) fn apig_line(
        fields: usize,
        time: &str,
        router: &str,
        status: &str,
        code: &str,
    ) -> String {
        let mut f: Vec<String> = vec![
            "10.0.0.7".into(),
            "req-1".into(),
            "api-1".into(),
            P.into(),
            "-".into(),
            time.into(),
            "0.012".into(),
            "POST".into(),
            "https".into(),
            "ecs.example.com".into(),
            router.into(),
            "HTTP/1.1".into(),
            status.into(),
            "120".into(),
            "300".into(),
            "\"python-requests/2.31 (linux)\"".into(),
            "-".into(),
            "10.1.1.2:443".into(),
            format!("/v2.1/{P}/servers/upstream-id/action"),
            status.into(),
        ];
        while f.len() < 52 {
            f.push("-".into());
        }
        f.push(code.into());
        f.push("-".into());
        if fields == 53 {
            f.remove(8);
        }
        f.join(" ")
    }

    #[test]
    fn apig_field_counts_quotes_and_time_layouts() {
        let router = format!("/v2.1/{P}/servers/s1/action");
        let cases: &[(usize, &str, &str)] = &[
            (
                54,
                "[20/Nov/2026:10:00:00 +0100]",
                "2026-11-20T09:00:00.000Z",
            ),
            (
                53,
                "[20/Nov/2026:10:00:00 +0100]",
                "2026-11-20T09:00:00.000Z",
            ),
            (54, "20/Nov/2026:10:00:00 +0100", "2026-11-20T09:00:00.000Z"),
            (
                53,
                "\"20/Nov/2026:10:00:00 +0000\"",
                "2026-11-20T10:00:00.000Z",
            ),
            (54, "2026-11-20T10:00:00+00:00", "2026-11-20T10:00:00.000Z"),
            (
                53,
                "\"2026-11-20T10:00:01.500Z\"",
                "2026-11-20T10:00:01.500Z",
            ),
        ];
        for (n, time_text, want) in cases {
            let line = apig_line(*n, time_text, &router, "403", "APIG.0302");
            let (format, r) = parse_any(&line).unwrap_or_else(|| panic!("{line}"));
            assert_eq!(format, AccessFormat::Apig, "{line}");
            assert_eq!(r.time.map(time::format).as_deref(), Some(*want), "{line}");
            assert_eq!(r.method.as_deref(), Some("POST"));
            assert_eq!(r.path.as_deref(), Some(router.as_str()), "{line}");
            assert_eq!(r.status, Some(403), "{line}");
            assert_eq!(r.project.as_deref(), Some(P));
            assert_eq!(r.request_id.as_deref(), Some("req-1"));
            assert_eq!(r.source_ip.as_deref(), Some("10.0.0.7"));
            assert_eq!(r.gateway_code.as_deref(), Some("APIG.0302"), "{line}");
        }
    }

    #[test]
    fn apig_falls_back_to_upstream_uri() {
        let line = apig_line(54, "[20/Nov/2026:10:00:00 +0000]", "-", "200", "-");
        let r = parse(&line, AccessFormat::Apig).expect("apig line");
        assert_eq!(
            r.path.as_deref(),
            Some(format!("/v2.1/{P}/servers/upstream-id/action").as_str())
        );
        assert_eq!(r.gateway_code, None);
    }

    #[test]
    fn apig_shape_is_checked_not_only_the_count() {
        let good = apig_line(54, "[20/Nov/2026:10:00:00 +0000]", "/x", "200", "-");
        let cases = [
            good.replacen("POST", "post", 1),
            good.replacen(" 200 ", " 2000 ", 1),
            good.replacen("[20/Nov/2026:10:00:00 +0000]", "yesterday", 1),
            format!("{good} extra"),
        ];
        for line in &cases {
            assert!(parse(line, AccessFormat::Apig).is_none(), "{line}");
            assert_eq!(detect(line), None, "{line}");
        }
    }

    const ELB: &str = r#"1644819836.370 eb11c5a9-93a7-4c48-80fc-03f61f638595 [2024-02-14T14:23:56+02:00] elb_01 192.168.1.1:888 200 "POST https://www.test.com/example/ HTTP/1.1" 1411 251 3 0.011 "200" "0.000" "0.011" "0.011" "192.168.1.2:8080" "okhttp/3.13.1" "-" "-" loadbalancer_295a7eee-9999-46ed-9fad-32a2da4a5f01 listener_20679192-8888-4e86-8a3e-d0c3f6d20fe6 3333fd44fe3b42cbaa1dc2c641994d90 pool_89547549-6666-446e-9be6-9a0b2d4f5a1e "-" f2bc165ad9b4483a9b17762da851bbbb 121.64.212.1:443 "10.1.1.2:8080" - TLSv1.2 ECDHE-RSA-AES256-GCM-SHA384 www.test.com 56704 -"#;

    #[test]
    fn elb_documented_example() {
        let (format, r) = parse_any(ELB).expect("elb line");
        assert_eq!(format, AccessFormat::Elb);
        assert_eq!(
            r.project.as_deref(),
            Some("f2bc165ad9b4483a9b17762da851bbbb")
        );
        assert_eq!(r.method.as_deref(), Some("POST"));
        assert_eq!(r.path.as_deref(), Some("https://www.test.com/example/"));
        assert_eq!(r.status, Some(200));
        assert_eq!(r.source_ip.as_deref(), Some("192.168.1.1"));
        assert_eq!(
            r.time.map(time::format).as_deref(),
            Some("2024-02-14T12:23:56.000Z")
        );
    }

    #[test]
    fn combined_and_common() {
        let cases: &[(&str, Option<&str>, u16)] = &[
            (
                r#"10.0.0.9 - alice [20/Nov/2026:10:00:00 +0000] "GET /v2.1/p/servers/detail?limit=1 HTTP/1.1" 200 512 "-" "curl/8.0 (x86_64)""#,
                Some("alice"),
                200,
            ),
            (
                r#"10.0.0.9 - - [20/Nov/2026:10:00:00 +0000] "DELETE /v2.1/p/servers/s1 HTTP/1.1" 403 0"#,
                None,
                403,
            ),
        ];
        for (line, user, status) in cases {
            let (format, r) = parse_any(line).unwrap_or_else(|| panic!("{line}"));
            assert_eq!(format, AccessFormat::Combined);
            assert_eq!(r.user.as_deref(), *user);
            assert_eq!(r.status, Some(*status));
            assert_eq!(
                r.time.map(time::format).as_deref(),
                Some("2026-11-20T10:00:00.000Z")
            );
            assert!(
                r.path
                    .as_deref()
                    .is_some_and(|p| p.starts_with("/v2.1/p/servers"))
            );
        }
    }

    #[test]
    fn not_access_lines() {
        for line in [
            r#"{"trace_id": "x"}"#,
            "",
            "hello world",
            r#"10.0.0.9 - - [20/Nov/2026:10:00:00 +0000] "-" 400 0"#,
            r#"10.0.0.9 - - [bad time] "GET / HTTP/1.1" 200 0"#,
        ] {
            assert_eq!(detect(line), None, "{line}");
        }
        // A forced format that does not fit is refused even when another would fit.
        assert!(parse(ELB, AccessFormat::Combined).is_none());
        assert!(parse(ELB, AccessFormat::Apig).is_none());
    }

    #[test]
    fn never_panics_on_prefixes_and_odd_bytes() {
        let apig = apig_line(54, "[20/Nov/2026:10:00:00 +0000]", "/x", "200", "-");
        for line in [apig.as_str(), ELB, r#"ä "ö\"ü [ß "#] {
            for end in (0..=line.len()).filter(|i| line.is_char_boundary(*i)) {
                let _ = parse_any(&line[..end]);
            }
        }
    }

    /// The plain reading of `tokenize_into`: byte by byte, every field of the line.
    fn tokenize_bytewise(line: &str) -> Vec<Token<'_>> {
        let b = line.as_bytes();
        let mut out: Vec<Token> = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b' ' || b[i] == b'\t' {
                i += 1;
                continue;
            }
            let (start, end, next, quoted, bracketed) = match b[i] {
                b'"' => {
                    let mut j = i + 1;
                    while j < b.len() && b[j] != b'"' {
                        j += if b[j] == b'\\' { 2 } else { 1 };
                    }
                    let j = j.min(b.len());
                    (i + 1, j, j + 1, true, false)
                }
                b'[' => {
                    let j = b[i..]
                        .iter()
                        .position(|&c| c == b']')
                        .map_or(b.len(), |k| i + k);
                    (i + 1, j, j + 1, false, true)
                }
                _ => {
                    let j = b[i..]
                        .iter()
                        .position(|c| *c == b' ' || *c == b'\t')
                        .map_or(b.len(), |k| i + k);
                    (i, j, j, false, false)
                }
            };
            let text = line.get(start..end).unwrap_or("");
            let plain = !quoted && !bracketed;
            match out.last_mut() {
                Some(prev)
                    if plain
                        && is_zone(text)
                        && !prev.quoted
                        && !prev.bracketed
                        && is_nginx_clock(prev.text) =>
                {
                    let from = prev.text.as_ptr() as usize - line.as_ptr() as usize;
                    prev.text = &line[from..end];
                }
                _ => out.push(Token {
                    text,
                    quoted,
                    bracketed,
                }),
            }
            i = next;
        }
        out
    }

    #[test]
    fn tokens_are_the_first_fields_of_a_whole_split() {
        let pieces = [
            "a",
            "bc",
            " ",
            "  ",
            "\t",
            "\"",
            "\\",
            "[",
            "]",
            "-",
            "x y",
            "20/Nov/2026:10:00:00",
            "+0000",
            "ä",
            "0123456789abcdefghij",
        ];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |n: usize| (crate::testing::xorshift(&mut state) >> 33) as usize % n;
        let apig = apig_line(54, "[20/Nov/2026:10:00:00 +0000]", "/x", "403", "APIG.0302");
        for round in 0..20_000 {
            let mut line: String = (0..next(if round % 10 == 0 { 200 } else { 40 }))
                .map(|_| pieces[next(pieces.len())])
                .collect();
            if round % 7 == 0 {
                // Real lines, and real lines with more fields than any format has.
                line = format!("{apig}{}", " -".repeat(next(30)));
            }
            let whole = tokenize_bytewise(&line);
            let split = tokenize(&line);
            let t = split.as_slice();
            assert_eq!(t.len(), whole.len().min(MAX_TOKENS), "{line:?}");
            // The last field kept may be joined with the next one in a whole split.
            let same = t.len().min(MAX_TOKENS - 1);
            assert_eq!(t[..same], whole[..same], "{line:?}");
            for format in AccessFormat::ALL {
                assert_eq!(
                    format!("{:?}", parse_tokens(t, format)),
                    format!("{:?}", parse_tokens(&whole, format)),
                    "{line:?}"
                );
            }
        }
    }

    /// A line's fields in fields of their own.
    fn tokenize(line: &str) -> Tokens<'_> {
        let mut out = Tokens::new();
        tokenize_into(line, &mut out);
        out
    }

    #[test]
    fn fields_held_for_the_next_line_keep_nothing_of_the_last() {
        // The scan fills one set of fields per line; a short line after a long one, and a
        // plain field after a clock that a zone would have joined, read as on their own.
        let mut held = Tokens::new();
        for (before, line) in [
            ("a b c d e f g h", "x y"),
            ("[20/Nov/2026:10:00:00 +0000] q", "+0000 z"),
            ("20/Nov/2026:10:00:00", "+0000"),
            ("one", ""),
        ] {
            tokenize_into(before, &mut held);
            tokenize_into(line, &mut held);
            assert_eq!(
                held.as_slice(),
                tokenize(line).as_slice(),
                "{before:?} then {line:?}"
            );
        }
        assert!(held.as_slice().is_empty());
    }

    #[test]
    fn quoted_fields_keep_their_spaces() {
        let t = tokenize(r#"a "b c" [d e] "unterminated f"#);
        let texts: Vec<&str> = t.as_slice().iter().map(|t| t.text).collect();
        assert_eq!(texts, ["a", "b c", "d e", "unterminated f"]);
        let t = tokenize(r#""x \" y" z"#);
        assert_eq!(t.as_slice()[0].text, r#"x \" y"#);
        assert_eq!(t.as_slice()[1].text, "z");
    }
}
