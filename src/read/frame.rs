//! Framing: cuts a decoded byte stream into chunks that end on record boundaries, so chunks
//! can be parsed in parallel. Three framings, sniffed from the first bytes: JSON lines
//! (cut at the last newline), one or more JSON arrays (cut after the last complete
//! top-level element, found by a scanner that respects strings and escapes), and a single
//! JSON document (read whole, bounded). Memory per file is bounded by chunk size plus the
//! longest record, and the longest record by `max_record_bytes`.

use super::Buffer;
use crate::bytes::Skip;
use memchr::{memchr_iter, memrchr};
use std::io::Read;

/// How records are delimited in a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One record per line.
    Lines,
    /// Top-level JSON array(s) whose elements are records.
    Array,
    /// One JSON value, possibly over many lines (an API page, a trigger event).
    Document,
}

/// One record's bytes inside a chunk, and the line where it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    pub line: u64,
}

/// A run of whole records. Invariant: `data` starts and ends on record boundaries; with
/// `spans` the records are exactly those spans, without them every line is one record.
#[derive(Debug, Clone)]
pub struct Chunk {
    pub data: Buffer,
    /// Line number (1-based) of `data[0]`.
    pub first_line: u64,
    pub spans: Option<Vec<Span>>,
    /// Without `spans`: where `data`'s newlines are, when the reader found them (it counts
    /// them anyway, for the next chunk's line numbers), so the worker does not search the
    /// bytes a second time. Empty: not known, the worker searches.
    pub newlines: Vec<u32>,
}

impl Chunk {
    /// The chunk's records with the line each starts on: the spans, or else every line
    /// that is not blank, without surrounding white space (so CRLF ends are dropped).
    pub fn records(&self) -> Box<dyn Iterator<Item = (u64, &[u8])> + '_> {
        match &self.spans {
            Some(spans) => Box::new(spans.iter().map(|s| (s.line, &self.data[s.start..s.end]))),
            None => {
                let data = &self.data[..];
                let mut start = 0;
                // memchr finds the newlines many bytes at a time; `split` looks at each.
                let newlines: Box<dyn Iterator<Item = usize>> = if self.newlines.is_empty() {
                    Box::new(memchr::memchr_iter(b'\n', data))
                } else {
                    Box::new(self.newlines.iter().map(|&at| at as usize))
                };
                let lines = newlines.chain(std::iter::once(data.len())).map(move |end| {
                    let line = &data[start..end];
                    start = end + 1;
                    line
                });
                Box::new(
                    (self.first_line..)
                        .zip(lines)
                        .map(|(line, bytes)| (line, bytes.trim_ascii()))
                        .filter(|(_, bytes)| !bytes.is_empty()),
                )
            }
        }
    }
}

/// Limits for framing.
#[derive(Debug, Clone, Copy)]
pub struct FrameOptions {
    /// Bytes read per chunk (a chunk may be larger by the carried-over partial record).
    pub chunk_size: usize,
    /// A record longer than this is skipped and reported.
    pub max_record_bytes: usize,
    /// Keep where the lines of each chunk end (`Chunk::newlines`), for workers that split
    /// chunks into lines; without it the reader only counts them (a worker reading JSON
    /// lines in one pass finds each line's end itself).
    pub line_ends: bool,
}

/// What the framer found besides chunks: records it had to skip, and how the stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A record that cannot be framed (too long, trailing garbage): skipped, run goes on.
    Skipped { line: u64, reason: &'static str },
}

/// Why a stream could not be read to its end: its remaining records are lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    pub line: u64,
    /// Short code for errors.csv (`truncated`, `read_error`, `record_too_long`).
    pub reason: &'static str,
    /// Human detail for the summary.
    pub detail: String,
}

/// Totals of one framed stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrameStats {
    pub bytes: u64,
    /// The line the stream ended on.
    pub lines: u64,
}

/// A reader that turns the first read error into the end of the stream, keeping the error
/// for later: whatever was read before it is framed and counted, then the error reported.
struct Deferred<'r> {
    inner: &'r mut dyn Read,
    error: Option<std::io::Error>,
}

impl Read for Deferred<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.error.is_some() {
            return Ok(0);
        }
        match self.inner.read(buf) {
            Err(e) if e.kind() != std::io::ErrorKind::Interrupted => {
                self.error = Some(e);
                Ok(0)
            }
            other => other,
        }
    }
}

/// Everything framing found in a stream: each record with its line, the records skipped,
/// and the error that ended the stream early, if any.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Framed {
    pub records: Vec<(u64, Vec<u8>)>,
    pub events: Vec<Event>,
    pub error: Option<FrameError>,
}

impl Framed {
    /// The same, skipped records sorted by line (then reason), as errors.csv lists them:
    /// a framer that holds more of the stream at once may find a later record's problem
    /// before an earlier one's, so only this order is the same at every chunk size.
    pub fn in_line_order(mut self) -> Framed {
        self.events.sort_by_key(|e| match e {
            Event::Skipped { line, reason } => (*line, *reason),
        });
        self
    }
}

/// Frames a whole in-memory input and collects the result: for tests and fuzzing, which
/// compare framings of one input under different chunk sizes.
pub fn frame_bytes(data: &[u8], options: FrameOptions, forced: Option<Framing>) -> Framed {
    let mut out = Framed::default();
    let result = frame(
        &mut &data[..],
        options,
        forced,
        &mut |c| {
            out.records
                .extend(c.records().map(|(line, bytes)| (line, bytes.to_vec())))
        },
        &mut |e| out.events.push(e),
    );
    out.error = result.err();
    out
}

/// Bytes framing reads at once to pick the framing, before any chunk: a shorter stream is
/// framed as one chunk whatever `FrameOptions::chunk_size` says, so tests of chunking
/// need longer inputs.
pub const SNIFF_BYTES: usize = 64 * 1024;

/// A UTF-8 byte-order mark, which framing drops before the first record.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// `bytes` without a leading UTF-8 byte-order mark: what framing reads of them.
pub fn without_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(BOM).unwrap_or(bytes)
}

/// Picks the framing from the first bytes of a stream (after a UTF-8 BOM and white space).
pub fn sniff(head: &[u8]) -> Framing {
    let start = without_bom(head);
    let Some(first) = start.iter().position(|b| !b.is_ascii_whitespace()) else {
        return Framing::Lines;
    };
    match start[first] {
        b'[' => Framing::Array,
        b'{' => {
            let rest = &start[first..];
            match memchr::memchr(b'\n', rest) {
                Some(nl)
                    if serde_json::from_slice::<serde::de::IgnoredAny>(&rest[..nl]).is_err() =>
                {
                    Framing::Document
                }
                _ => Framing::Lines,
            }
        }
        _ => Framing::Lines,
    }
}

/// Reads `reader` to its end, passing chunks and events to the sinks. `forced` overrides
/// sniffing. Returns the byte count, or the error that ended the stream early (chunks
/// before it have been delivered).
pub fn frame(
    reader: &mut dyn Read,
    options: FrameOptions,
    forced: Option<Framing>,
    chunks: &mut dyn FnMut(Chunk),
    events: &mut dyn FnMut(Event),
) -> Result<FrameStats, FrameError> {
    let mut deferred = Deferred {
        inner: reader,
        error: None,
    };
    let result = frame_stream(&mut deferred, options, forced, chunks, events);
    match (deferred.error, result) {
        (None, result) => result,
        (Some(e), result) => Err(FrameError {
            line: match result {
                Ok(stats) => stats.lines,
                Err(error) => error.line,
            },
            reason: "read_error",
            detail: e.to_string(),
        }),
    }
}

fn frame_stream(
    reader: &mut dyn Read,
    options: FrameOptions,
    forced: Option<Framing>,
    chunks: &mut dyn FnMut(Chunk),
    events: &mut dyn FnMut(Event),
) -> Result<FrameStats, FrameError> {
    let mut buf = super::take_buffer();
    let mut stats = FrameStats::default();
    // Sniff on a fixed-size head, whatever the chunk size, so a BOM or the first line is
    // seen whole even with tiny chunks.
    buf.fill(reader, SNIFF_BYTES)
        .map_err(|e| read_error(1, e))?;
    let framing = forced.unwrap_or_else(|| sniff(&buf));
    if buf.starts_with(BOM) {
        buf.consume(BOM.len());
        stats.bytes += BOM.len() as u64;
    }
    match framing {
        Framing::Lines => lines(reader, buf, options, stats, chunks, events),
        Framing::Array => arrays(reader, buf, options, stats, chunks, events),
        Framing::Document => {
            let limit = options.max_record_bytes;
            buf.fill(reader, limit.saturating_add(1))
                .map_err(|e| read_error(1, e))?;
            if buf.len() > limit {
                return Err(FrameError {
                    line: 1,
                    reason: "record_too_long",
                    detail: format!("document longer than {limit} bytes"),
                });
            }
            stats.bytes += buf.len() as u64;
            let end = buf.len();
            chunks(Chunk {
                data: buf,
                first_line: 1,
                spans: Some(vec![Span {
                    start: 0,
                    end,
                    line: 1,
                }]),
                newlines: Vec::new(),
            });
            stats.lines = 1;
            Ok(stats)
        }
    }
}

/// A read error at `line`. (`frame` defers reader errors, so inside the framers this only
/// covers errors of the buffer handling itself.)
fn read_error(line: u64, e: std::io::Error) -> FrameError {
    FrameError {
        line,
        reason: "read_error",
        detail: e.to_string(),
    }
}

fn lines(
    reader: &mut dyn Read,
    mut buf: Buffer,
    options: FrameOptions,
    mut stats: FrameStats,
    chunks: &mut dyn FnMut(Chunk),
    events: &mut dyn FnMut(Event),
) -> Result<FrameStats, FrameError> {
    let mut line = 1u64;
    // While skipping an over-long record, bytes are dropped until its newline.
    let mut skipping = false;
    loop {
        let before = buf.len();
        let want = before + options.chunk_size;
        buf.fill(reader, want).map_err(|e| read_error(line, e))?;
        let eof = buf.len() < want;
        if skipping {
            match memchr::memchr(b'\n', &buf) {
                Some(nl) => {
                    stats.bytes += (nl + 1) as u64;
                    buf.consume(nl + 1);
                    line += 1;
                    skipping = false;
                }
                None => {
                    stats.bytes += buf.len() as u64;
                    buf.clear();
                }
            }
        }
        if !skipping {
            let cut = if eof {
                Some(buf.len())
            } else {
                memrchr(b'\n', &buf).map(|nl| nl + 1)
            };
            match cut {
                Some(cut) if cut > 0 => {
                    let data = super::split_buffer(&mut buf, cut);
                    stats.bytes += data.len() as u64;
                    line = emit_lines(data, line, options, chunks, events);
                }
                _ if buf.len() > options.max_record_bytes => {
                    events(Event::Skipped {
                        line,
                        reason: "record_too_long",
                    });
                    stats.bytes += buf.len() as u64;
                    buf.clear();
                    skipping = true;
                }
                _ => {}
            }
        }
        if eof {
            // Back to the pool, or the next file's reader allocates (and faults in) anew.
            super::give_buffer(buf);
            stats.lines = line;
            return Ok(stats);
        }
    }
}

/// Passes `data` (whole lines starting at `line`) on as chunks, cutting out lines longer
/// than `options.max_record_bytes` as skipped records, so the limit holds whatever the
/// chunk size. Returns the line number after `data`.
fn emit_lines(
    data: Buffer,
    mut line: u64,
    options: FrameOptions,
    chunks: &mut dyn FnMut(Chunk),
    events: &mut dyn FnMut(Event),
) -> u64 {
    let max = options.max_record_bytes;
    if data.len() <= max {
        // No line can be too long: skip the scan, but keep where the lines end (they are
        // counted anyway) for a worker that splits them.
        let (newlines, lines) = if options.line_ends && u32::try_from(data.len()).is_ok() {
            let newlines: Vec<u32> = memchr_iter(b'\n', &data).map(|at| at as u32).collect();
            let lines = newlines.len() as u64;
            (newlines, lines)
        } else {
            (Vec::new(), memchr_iter(b'\n', &data).count() as u64)
        };
        chunks(Chunk {
            data,
            first_line: line,
            spans: None,
            newlines,
        });
        return line + lines;
    }
    let mut start = 0;
    let mut first_line = line;
    let mut line_start = 0;
    let mut pieces = Vec::new();
    for nl in memchr_iter(b'\n', &data).chain(std::iter::once(data.len())) {
        if nl - line_start > max {
            pieces.push((start, line_start, first_line));
            events(Event::Skipped {
                line,
                reason: "record_too_long",
            });
            start = (nl + 1).min(data.len());
            first_line = line + 1;
        }
        if nl < data.len() {
            line += 1;
        }
        line_start = nl + 1;
    }
    if pieces.is_empty() {
        chunks(Chunk {
            data,
            first_line,
            spans: None,
            newlines: Vec::new(),
        });
        return line;
    }
    pieces.push((start, data.len(), first_line));
    for (from, to, first_line) in pieces {
        if from < to {
            chunks(Chunk {
                data: Buffer::from(data[from..to].to_vec()),
                first_line,
                spans: None,
                newlines: Vec::new(),
            });
        }
    }
    line
}

/// Scanner state for top-level JSON arrays, kept across buffer refills.
#[derive(Debug, Default)]
struct ArrayScan {
    pos: usize,
    line: u64,
    depth: u32,
    in_string: bool,
    escaped: bool,
    /// Start and line of the element being scanned.
    element: Option<(usize, u64)>,
    /// The element being scanned is too long and is being dropped.
    discarding: bool,
    /// The line where bytes that are not white space first follow the last array.
    trailing: Option<u64>,
    /// Longest element kept; longer complete elements are skipped (their lines recorded).
    max: usize,
    too_long: Vec<u64>,
    /// Up to here the byte loop reads on: the block holds something `blocks` leaves to it.
    /// Moves with `pos` when the buffer is cut.
    slow_until: usize,
    /// Tests turn `blocks` off to compare it with the byte loop.
    bytewise: bool,
}

impl ArrayScan {
    /// Scans `buf[pos..]`, appending complete elements to `spans`.
    fn scan(&mut self, buf: &[u8], spans: &mut Vec<Span>) {
        while self.pos < buf.len() {
            if self.depth >= 2
                && !self.in_string
                && !self.escaped
                && self.pos >= self.slow_until
                && self.pos + 64 <= buf.len()
                && !self.bytewise
            {
                if !self.blocks(buf, spans) {
                    self.slow_until = self.pos + 64;
                }
                continue;
            }
            if self.in_string && !self.escaped {
                // Most bytes of a trace are string contents: skip them, escapes and all,
                // instead of stepping through each. (Control bytes, which include the
                // newlines counted, are left to the loop below.)
                match crate::bytes::string_skip(&buf[self.pos..]) {
                    Skip::Quote(offset) => {
                        self.pos += offset + 1;
                        self.in_string = false;
                        continue;
                    }
                    Skip::Stop(offset) => self.pos += offset,
                    Skip::Open => {
                        self.pos = buf.len();
                        break;
                    }
                }
            }
            let b = buf[self.pos];
            if b == b'\n' {
                self.line += 1;
            }
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
                self.pos += 1;
                continue;
            }
            match (self.depth, self.element.is_some(), b) {
                (0, _, b'[') => self.depth = 1,
                (0, _, b) if b.is_ascii_whitespace() || b == b',' => {}
                (0, _, _) => {
                    self.trailing.get_or_insert(self.line);
                }
                (1, false, b) if b.is_ascii_whitespace() || b == b',' => {}
                (1, false, b']') => self.depth = 0,
                (1, false, b) => {
                    self.element = Some((self.pos, self.line));
                    match b {
                        b'{' | b'[' => self.depth = 2,
                        b'"' => self.in_string = true,
                        _ => {}
                    }
                }
                // A scalar element ends at the next separator.
                (1, true, b) if b.is_ascii_whitespace() || b == b',' || b == b']' => {
                    self.finish(self.pos, spans);
                    if b == b']' {
                        self.depth = 0;
                    }
                }
                (1, true, b'"') => self.in_string = true,
                (1, true, _) => {}
                (_, _, b'"') => self.in_string = true,
                (_, _, b'{') | (_, _, b'[') => self.depth += 1,
                (_, _, b'}') | (_, _, b']') => {
                    self.depth -= 1;
                    if self.depth == 1 {
                        self.finish(self.pos + 1, spans);
                    }
                }
                _ => {}
            }
            self.pos += 1;
        }
    }

    /// Inside an element (depth 2 or more, not in a string), reads 64 bytes at a time: bit
    /// masks find the escaped bytes, which bytes are inside strings (a prefix XOR of the
    /// unescaped quotes), the brackets outside them and the newlines, so only brackets
    /// are looked at one by one. Stops at the element's end, before the last partial
    /// block, or before a block with a backslash outside strings (invalid JSON, which the
    /// byte loop reads its own way). Returns false when it stopped on such a block without
    /// moving. The state it leaves is the byte loop's for the same bytes: a test compares.
    fn blocks(&mut self, buf: &[u8], spans: &mut Vec<Span>) -> bool {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { self.blocks_avx2(buf, spans) };
        }
        self.blocks_with(buf, spans, crate::bytes::block64)
    }

    /// `blocks` compiled for AVX2, reading each block in two 32-byte steps.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn blocks_avx2(&mut self, buf: &[u8], spans: &mut Vec<Span>) -> bool {
        self.blocks_with(buf, spans, |block| crate::bytes::block64_avx2(block))
    }

    #[inline(always)]
    fn blocks_with(
        &mut self,
        buf: &[u8],
        spans: &mut Vec<Span>,
        block64: impl Fn(&[u8]) -> crate::bytes::Block64,
    ) -> bool {
        let start = self.pos;
        // All ones while a string runs on past the block; the escape carry is 1 when the
        // next block's first byte is escaped.
        let mut string = 0u64;
        let mut carry = 0u64;
        while self.pos + 64 <= buf.len() {
            let m = block64(&buf[self.pos..self.pos + 64]);
            let mut next_carry = carry;
            let escaped = crate::bytes::escaped_bits(m.backslash, &mut next_carry);
            let inside = crate::bytes::prefix_xor(m.quote & !escaped) ^ string;
            if m.backslash & !inside != 0 {
                break;
            }
            let open = m.open & !inside;
            let mut brackets = (open | m.close) & !inside;
            let mut depth = self.depth;
            while brackets != 0 {
                let k = brackets.trailing_zeros();
                if open >> k & 1 == 1 {
                    depth += 1;
                } else {
                    depth -= 1;
                    if depth == 1 {
                        let through = u64::MAX >> (63 - k);
                        self.line += u64::from((m.newline & through).count_ones());
                        // Outside strings, as on entry: `in_string` and `escaped` hold.
                        self.depth = 1;
                        self.pos += k as usize + 1;
                        self.finish(self.pos, spans);
                        return true;
                    }
                }
                brackets &= brackets - 1;
            }
            self.depth = depth;
            self.line += u64::from(m.newline.count_ones());
            string = ((inside as i64) >> 63) as u64;
            carry = next_carry;
            self.pos += 64;
        }
        self.in_string = string != 0;
        self.escaped = carry != 0;
        self.pos > start
    }

    fn finish(&mut self, end: usize, spans: &mut Vec<Span>) {
        if let Some((start, line)) = self.element.take()
            && !std::mem::take(&mut self.discarding)
        {
            if end - start > self.max {
                self.too_long.push(line);
            } else {
                spans.push(Span { start, end, line });
            }
        }
    }
}

fn arrays(
    reader: &mut dyn Read,
    mut buf: Buffer,
    options: FrameOptions,
    mut stats: FrameStats,
    chunks: &mut dyn FnMut(Chunk),
    events: &mut dyn FnMut(Event),
) -> Result<FrameStats, FrameError> {
    let mut scan = ArrayScan {
        line: 1,
        max: options.max_record_bytes,
        ..ArrayScan::default()
    };
    let mut chunk_line = 1u64;
    let mut spans = Vec::new();
    let mut reported_trailing = false;
    loop {
        scan.scan(&buf, &mut spans);
        for line in scan.too_long.drain(..) {
            events(Event::Skipped {
                line,
                reason: "record_too_long",
            });
        }
        if let Some(line) = scan.trailing
            && !reported_trailing
        {
            reported_trailing = true;
            // Where the trailing bytes start, not where the scan stopped: that depends on
            // how much of the stream the buffer held.
            events(Event::Skipped {
                line,
                reason: "trailing_data",
            });
        }
        // Everything before the open element (or the scan position) is complete.
        let cut = match scan.element {
            Some((start, _)) => start,
            None => scan.pos,
        };
        if !spans.is_empty() {
            let data = super::split_buffer(&mut buf, cut);
            stats.bytes += data.len() as u64;
            chunks(Chunk {
                data,
                first_line: chunk_line,
                spans: Some(std::mem::take(&mut spans)),
                newlines: Vec::new(),
            });
        } else {
            stats.bytes += cut as u64;
            buf.consume(cut);
        }
        scan.pos -= cut;
        scan.slow_until = scan.slow_until.saturating_sub(cut);
        if let Some((start, line)) = scan.element.as_mut() {
            *start -= cut;
            chunk_line = *line;
            if buf.len() > options.max_record_bytes && !scan.discarding {
                events(Event::Skipped {
                    line: *line,
                    reason: "record_too_long",
                });
                scan.discarding = true;
            }
            if scan.discarding {
                // Keep the scan position, drop the bytes: the element is never parsed.
                stats.bytes += scan.pos as u64;
                buf.consume(scan.pos);
                *start = 0;
                scan.slow_until = scan.slow_until.saturating_sub(scan.pos);
                scan.pos = 0;
            }
        } else {
            chunk_line = scan.line;
        }
        let want = buf.len() + options.chunk_size;
        buf.fill(reader, want)
            .map_err(|e| read_error(scan.line, e))?;
        if buf.len() == scan.pos {
            stats.bytes += buf.len() as u64;
            if scan.depth != 0 || scan.element.is_some() {
                return Err(FrameError {
                    line: scan.line,
                    reason: "truncated",
                    detail: "the JSON array is not closed".into(),
                });
            }
            super::give_buffer(buf);
            stats.lines = scan.line;
            return Ok(stats);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Lossy = (Vec<(u64, String)>, Vec<Event>, Result<(), FrameError>);

    fn run(input: &[u8], chunk: usize) -> Lossy {
        let options = FrameOptions {
            chunk_size: chunk,
            max_record_bytes: 64,
            line_ends: true,
        };
        let framed = frame_bytes(input, options, None);
        let records = framed
            .records
            .into_iter()
            .map(|(line, bytes)| (line, String::from_utf8_lossy(&bytes).into_owned()))
            .collect();
        (records, framed.events, framed.error.map_or(Ok(()), Err))
    }

    #[test]
    fn lines_split_by_known_newlines_are_the_lines_searched_for() {
        let data = b"{\"a\":1}\r\n\n  \n{\"b\":2}\n x \n{\"c\":3}".to_vec();
        let newlines: Vec<u32> = memchr_iter(b'\n', &data).map(|at| at as u32).collect();
        let chunk = |newlines: Vec<u32>| Chunk {
            data: data.clone().into(),
            first_line: 7,
            spans: None,
            newlines,
        };
        let (known, searched) = (chunk(newlines), chunk(Vec::new()));
        let lines: Vec<(u64, &[u8])> = known.records().collect();
        assert_eq!(lines, searched.records().collect::<Vec<_>>());
        assert_eq!(
            lines,
            [
                (7, &b"{\"a\":1}"[..]),
                (10, b"{\"b\":2}"),
                (11, b"x"),
                (12, b"{\"c\":3}")
            ]
        );
        // And the reader hands them over as it counts them.
        let mut got = Vec::new();
        let options = |line_ends| FrameOptions {
            chunk_size: 1 << 20,
            max_record_bytes: 1 << 20,
            line_ends,
        };
        let next = emit_lines(
            data.clone().into(),
            7,
            options(true),
            &mut |c| got.push(c),
            &mut |_| (),
        );
        assert_eq!(next, 12);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].newlines, known.newlines);
        // Or only counts them, for a worker that finds the lines' ends itself.
        let next = emit_lines(
            data.into(),
            7,
            options(false),
            &mut |c| got.push(c),
            &mut |_| (),
        );
        assert_eq!(next, 12);
        assert!(got[1].newlines.is_empty());
    }

    #[test]
    fn trailing_data_is_reported_where_it_starts() {
        let input = b"[1]\n] x\n\n\n";
        for chunk in [1, 3, 1 << 20] {
            let (records, events, result) = run(input, chunk);
            assert_eq!(records, [(1, "1".to_string())]);
            assert_eq!(
                events,
                [Event::Skipped {
                    line: 2,
                    reason: "trailing_data"
                }],
                "chunk size {chunk}"
            );
            assert!(result.is_ok());
        }
    }

    #[test]
    fn sniffing() {
        assert_eq!(sniff(b"  [{}]"), Framing::Array);
        assert_eq!(sniff(b"\xEF\xBB\xBF[1]"), Framing::Array);
        assert_eq!(sniff(b"{\"a\":1}\n{\"a\":2}\n"), Framing::Lines);
        assert_eq!(sniff(b"{\n  \"traces\": []\n}\n"), Framing::Document);
        assert_eq!(sniff(b"1.2.3.4 - - [x]"), Framing::Lines);
    }

    #[test]
    fn arrays_split_anywhere_give_the_same_records() {
        let input =
            b"[\n {\"a\": \"]},[\\\"\"},\n {\"b\": [1, {\"c\": 2}]}, 7, \"s,]\"\n]\n[{\"d\": 1}]\n";
        let (whole, events, result) = run(input, 1 << 20);
        assert!(events.is_empty() && result.is_ok(), "{events:?} {result:?}");
        let lines: Vec<u64> = whole.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [2, 3, 3, 3, 5]);
        assert_eq!(whole[0].1, "{\"a\": \"]},[\\\"\"}");
        assert_eq!(whole[3].1, "\"s,]\"");
        for chunk in 1..input.len() {
            let (split, _, result) = run(input, chunk);
            assert_eq!(split, whole, "chunk size {chunk}");
            assert!(result.is_ok());
        }
    }

    #[test]
    fn lines_split_anywhere_give_the_same_records() {
        let input = b"{\"a\":1}\n\n{\"b\":2}\r\n{\"c\":3}";
        let (whole, _, _) = run(input, 1 << 20);
        assert_eq!(whole.iter().map(|(l, _)| *l).collect::<Vec<_>>(), [1, 3, 4]);
        for chunk in 1..input.len() {
            assert_eq!(run(input, chunk).0, whole, "chunk size {chunk}");
        }
    }

    #[test]
    fn regression_bom_with_one_byte_chunks() {
        for chunk in [1, 2, 3, 1 << 20] {
            let (records, _, result) = run(b"\xEF\xBB\xBF{\"a\":1}\n", chunk);
            assert!(result.is_ok());
            assert_eq!(
                records,
                [(1, "{\"a\":1}".to_string())],
                "chunk size {chunk}"
            );
        }
        assert!(run(b"\xEF\xBB\xBF", 1).0.is_empty());
    }

    #[test]
    fn unclosed_array_is_truncated() {
        let (records, _, result) = run(b"[{\"a\":1},\n{\"b\":", 4);
        assert_eq!(records.len(), 1);
        assert_eq!(result.unwrap_err().line, 2);
    }

    #[test]
    fn overlong_records_are_skipped() {
        let long = "x".repeat(100);
        let input = format!("{{\"a\":1}}\n{{\"b\":\"{long}\"}}\n{{\"c\":3}}\n");
        let (records, events, result) = run(input.as_bytes(), 8);
        assert!(result.is_ok());
        assert_eq!(records.iter().map(|(l, _)| *l).collect::<Vec<_>>(), [1, 3]);
        assert!(
            matches!(&events[..], [Event::Skipped { line: 2, .. }]),
            "{events:?}"
        );
        let input = format!("[{{\"a\":1}}, {{\"b\":\"{long}\"}},\n{{\"c\":3}}]");
        let (records, events, result) = run(input.as_bytes(), 8);
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(records.iter().map(|(l, _)| *l).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(events.len(), 1);
    }

    /// Pseudo-random JSON-ish arrays: objects nesting objects and arrays, strings with
    /// escapes, runs of backslashes and newlines, and (one in four) a few bytes replaced by
    /// structural characters, so invalid input is covered too.
    fn arrays_input(state: &mut u64) -> Vec<u8> {
        let mut next = |n: u64| crate::testing::xorshift(state) % n;
        let pieces: [&[u8]; 16] = [
            b"\"k\":",
            b"\"v\\\"x\"",
            b"\"\\\\\"",
            b"\"\\\\\\\"\"",
            b"{",
            b"}",
            b"[",
            b"]",
            b",",
            b"\n",
            b"123",
            b"\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",
            b"\"{[\\n]}\"",
            b" ",
            b"\"\\\\\\\\\"",
            b"true",
        ];
        let mut out = b"[".to_vec();
        for _ in 0..next(8) {
            out.push(b'{');
            for _ in 0..next(60) {
                out.extend_from_slice(pieces[next(16) as usize]);
            }
            out.extend_from_slice(b"},\n");
        }
        out.push(b']');
        if next(4) == 0 {
            for _ in 0..3 {
                let at = next(out.len() as u64) as usize;
                out[at] = b"\\\"{}[]\n,"[next(8) as usize];
            }
        }
        out
    }

    fn scan_all(input: &[u8], cuts: &[usize], bytewise: bool) -> (Vec<Span>, String) {
        let mut scan = ArrayScan {
            line: 1,
            max: 1 << 20,
            bytewise,
            ..ArrayScan::default()
        };
        let mut spans = Vec::new();
        for &cut in cuts.iter().chain([input.len()].iter()) {
            scan.scan(&input[..cut.min(input.len())], &mut spans);
        }
        let state = format!(
            "pos {} line {} depth {} string {} escaped {} element {:?} trailing {:?}",
            scan.pos,
            scan.line,
            scan.depth,
            scan.in_string,
            scan.escaped,
            scan.element,
            scan.trailing
        );
        (spans, state)
    }

    #[test]
    fn array_blocks_agree_with_the_byte_loop() {
        let mut state = 0x853c_49e6_748f_ea9b_u64;
        for _ in 0..20_000 {
            let input = arrays_input(&mut state);
            let cut = (state % (input.len() as u64 + 1)) as usize;
            for cuts in [vec![], vec![cut], vec![cut / 2, cut]] {
                assert_eq!(
                    scan_all(&input, &cuts, false),
                    scan_all(&input, &cuts, true),
                    "{:?} cut at {cuts:?}",
                    String::from_utf8_lossy(&input)
                );
            }
        }
    }
}
