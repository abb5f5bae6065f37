//! Input transport: finding input files, undoing compression (by magic bytes), and cutting
//! a stream into chunks that end on record boundaries. What a record means is `parse`'s job.

pub mod frame;

use anyhow::{Context, Result};
use flate2::read::MultiGzDecoder;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

/// One input: a file or standard input. `name` is what reports call it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub name: String,
    /// `None` for standard input.
    pub path: Option<PathBuf>,
}

/// A path that could not be walked, with the reason; the rest of the input still counts.
#[derive(Debug, Clone)]
pub struct WalkError {
    pub name: String,
    /// Short code for errors.csv: `unreadable_input` or `not_a_regular_file`.
    pub code: &'static str,
    pub reason: String,
}

fn hidden(name: &std::ffi::OsStr) -> bool {
    name.to_str()
        .is_some_and(|n| n.starts_with('.') && n != "." && n != "..")
}

/// Expands inputs into files: a directory is walked recursively (links followed, loops
/// reported), skipping hidden entries and CTS `Digest` folders; `-` is standard input.
/// Files under each directory come sorted by path, so the order never depends on the disk.
pub fn discover(inputs: &[PathBuf]) -> (Vec<Source>, Vec<WalkError>) {
    let mut sources = Vec::new();
    let mut errors = Vec::new();
    for input in inputs {
        if input.as_os_str() == "-" {
            sources.push(Source {
                name: "<stdin>".into(),
                path: None,
            });
            continue;
        }
        if !input.is_dir() {
            sources.push(Source {
                name: input.display().to_string(),
                path: Some(input.clone()),
            });
            continue;
        }
        let walker = walkdir::WalkDir::new(input)
            .follow_links(true)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| {
                e.depth() == 0
                    || !(hidden(e.file_name())
                        || (e.file_type().is_dir() && e.file_name() == "Digest"))
            });
        for entry in walker {
            match entry {
                Ok(e) if e.file_type().is_dir() => {}
                // A FIFO or device found while walking would block or never end: skip it,
                // reported. (Named on the command line, it is read: process substitution.)
                Ok(e) if !e.file_type().is_file() => errors.push(WalkError {
                    name: e.path().display().to_string(),
                    code: "not_a_regular_file",
                    reason: "not a regular file (FIFO, socket or device): skipped".into(),
                }),
                Ok(e) => sources.push(Source {
                    name: e.path().display().to_string(),
                    path: Some(e.into_path()),
                }),
                Err(e) => errors.push(WalkError {
                    name: e
                        .path()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| input.display().to_string()),
                    code: "unreadable_input",
                    reason: e.to_string(),
                }),
            }
        }
    }
    (sources, errors)
}

/// A decompressing reader chosen by the stream's first bytes, never by the file name.
pub enum Decoder {
    Plain(Box<dyn Read + Send>),
    Gzip(Box<MultiGzDecoder<BufReader<Box<dyn Read + Send>>>>),
}

impl Read for Decoder {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoder::Plain(r) => r.read(buf),
            Decoder::Gzip(r) => r.read(buf),
        }
    }
}

/// Whether the stream was compressed, for the summary.
impl Decoder {
    pub fn is_gzip(&self) -> bool {
        matches!(self, Decoder::Gzip(_))
    }
}

/// Chunk buffers given back after their records were counted, for the readers to reuse:
/// a fresh multi-megabyte buffer per chunk costs page faults and regrowth copies on every
/// chunk. At most `POOLED` are kept, so the pool never holds more than a few chunks.
static POOL: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());
const POOLED: usize = 4;

/// An empty buffer, reused when one was given back.
pub fn take_buffer() -> Vec<u8> {
    POOL.lock()
        .ok()
        .and_then(|mut pool| pool.pop())
        .unwrap_or_default()
}

/// Gives a chunk's buffer back for reuse (or frees it when the pool is full).
pub fn give_buffer(mut buf: Vec<u8>) {
    buf.clear();
    if buf.capacity() > 0
        && let Ok(mut pool) = POOL.lock()
        && pool.len() < POOLED
    {
        pool.push(buf);
    }
}

/// Splits `buf` at `at`: returns the head and leaves the tail in `buf`, moved to a reused
/// buffer so the head's allocation travels with the chunk.
pub(crate) fn split_buffer(buf: &mut Vec<u8>, at: usize) -> Vec<u8> {
    let mut tail = take_buffer();
    tail.extend_from_slice(&buf[at..]);
    buf.truncate(at);
    std::mem::replace(buf, tail)
}

/// Reads `raw` until `buf` holds `want` bytes or the stream ends. `read_to_end` reads into
/// the buffer's spare capacity without zeroing it first where the reader allows (files do)
/// and grows the buffer only as data arrives, so a large `want` on a short stream costs no
/// more than the stream. On an error, the bytes read before it stay in `buf`.
pub(crate) fn fill(raw: &mut dyn Read, buf: &mut Vec<u8>, want: usize) -> io::Result<()> {
    let missing = want.saturating_sub(buf.len());
    if missing > 0 {
        // Exactly: `read_to_end` alone would double the buffer, and chunks in flight would
        // hold twice the memory they need.
        buf.reserve_exact(missing.min(16 << 20));
        raw.take(missing as u64).read_to_end(buf)?;
    }
    Ok(())
}

/// A reader that first replays bytes already read (the sniffed magic).
struct Replay<R> {
    head: Vec<u8>,
    pos: usize,
    rest: R,
}

impl<R: Read> Read for Replay<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.head.len() {
            let n = buf.len().min(self.head.len() - self.pos);
            buf[..n].copy_from_slice(&self.head[self.pos..self.pos + n]);
            self.pos += n;
            return Ok(n);
        }
        self.rest.read(buf)
    }
}

/// Opens a source and picks plain or gzip by its first two bytes (`1f 8b`).
pub fn open(source: &Source) -> Result<Decoder> {
    let mut raw: Box<dyn Read + Send> = match &source.path {
        Some(path) => {
            Box::new(File::open(path).with_context(|| format!("failed to open {}", source.name))?)
        }
        None => Box::new(io::stdin()),
    };
    let mut head = Vec::with_capacity(2);
    fill(&mut raw, &mut head, 2).with_context(|| format!("failed to read {}", source.name))?;
    let gzip = head == [0x1f, 0x8b];
    let replay: Box<dyn Read + Send> = Box::new(Replay {
        head,
        pos: 0,
        rest: raw,
    });
    Ok(if gzip {
        // Below the mmap threshold pinned in `main.rs`: a mapped buffer per file would be
        // faulted in anew for each of the thousands of small files in an OBS tree.
        Decoder::Gzip(Box::new(MultiGzDecoder::new(BufReader::with_capacity(
            64 * 1024,
            replay,
        ))))
    } else {
        Decoder::Plain(replay)
    })
}

/// Size of a file on disk, for progress; 0 when unknown.
pub fn size_of(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

pub(crate) use fill as fill_from;
pub use frame::{Chunk, Framing, Span};
