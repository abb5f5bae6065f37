//! Input transport: finding input files, undoing compression (by magic bytes), and cutting
//! a stream into chunks that end on record boundaries. What a record means is `parse`'s job.

mod buffer;
pub mod frame;
mod inflate;

use anyhow::{Context, Result};
use flate2::bufread::MultiGzDecoder;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// One input: a file or standard input. `name` is what reports call it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub name: String,
    /// `None` for standard input.
    pub path: Option<PathBuf>,
}

/// Names by index in one buffer, for the inputs of a run: a tree of a million small files
/// then costs the bytes of its names and 8 bytes a file, not a few allocations a file.
/// Invariant: `text` is the names in index order, and `ends` rise to `text.len()`.
#[derive(Debug, Default)]
pub struct Names {
    text: String,
    /// Where each name ends in `text`; each starts where the one before it ends.
    ends: Vec<usize>,
}

impl Names {
    /// Adds `name` as the next index.
    pub fn push(&mut self, name: &str) {
        self.text.push_str(name);
        self.ends.push(self.text.len());
    }

    /// The name at `index`, if there is one.
    pub fn get(&self, index: usize) -> Option<&str> {
        let end = *self.ends.get(index)?;
        let start = index.checked_sub(1).map_or(0, |i| self.ends[i]);
        Some(&self.text[start..end])
    }

    /// How many names there are.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
}

impl<S: AsRef<str>> FromIterator<S> for Names {
    fn from_iter<I: IntoIterator<Item = S>>(names: I) -> Names {
        let mut out = Names::default();
        for name in names {
            out.push(name.as_ref());
        }
        out
    }
}

/// The files a run reads, by input index, as `discover` found them. A file's path is its
/// name, except for the few inputs kept apart: standard input and paths that are not
/// UTF-8 (whose names replace the bytes that are not).
#[derive(Debug, Default)]
pub struct Inputs {
    pub names: Names,
    apart: std::collections::HashMap<usize, Option<PathBuf>>,
}

impl Inputs {
    fn push_path(&mut self, path: &Path) {
        match path.to_str() {
            Some(name) => self.names.push(name),
            None => {
                self.apart
                    .insert(self.names.len(), Some(path.to_path_buf()));
                self.names.push(&path.display().to_string());
            }
        }
    }

    fn push_stdin(&mut self) {
        self.apart.insert(self.names.len(), None);
        self.names.push("<stdin>");
    }

    /// How many inputs there are.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The input at `index` (below `len`), to open.
    pub fn source(&self, index: usize) -> Source {
        let name = self.names.get(index).unwrap_or_default().to_string();
        let path = match self.apart.get(&index) {
            Some(path) => path.clone(),
            None => Some(PathBuf::from(&name)),
        };
        Source { name, path }
    }
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
/// `found` counts the inputs found so far, for a progress line while a large tree is
/// walked.
pub fn discover(inputs: &[PathBuf], found: &AtomicUsize) -> (Inputs, Vec<WalkError>) {
    let mut sources = Inputs::default();
    let mut errors = Vec::new();
    for input in inputs {
        if input.as_os_str() == "-" {
            sources.push_stdin();
            found.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        if !input.is_dir() {
            sources.push_path(input);
            found.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let walker = walkdir::WalkDir::new(input)
            .follow_links(true)
            // By name, as `sort_by_file_name` would, without parsing both paths back to
            // their last component at every comparison (6% of a scan of 20,000 small
            // files): siblings' paths are their parent's path joined with their names, so
            // comparing whole paths compares names.
            .sort_by(|a, b| a.path().as_os_str().cmp(b.path().as_os_str()))
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
                Ok(e) => {
                    sources.push_path(e.path());
                    found.fetch_add(1, Ordering::Relaxed);
                }
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
    /// A small gzip file, inflated whole (`inflate`).
    Inflated(inflate::Inflated),
}

impl Read for Decoder {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoder::Plain(r) => r.read(buf),
            Decoder::Gzip(r) => r.read(buf),
            Decoder::Inflated(r) => r.read(buf),
        }
    }
}

impl Decoder {
    /// Whether the stream was compressed, for the summary.
    pub fn is_gzip(&self) -> bool {
        matches!(self, Decoder::Gzip(_) | Decoder::Inflated(_))
    }

    /// The whole decoded content, when it is held in memory (a small gzip file inflated in
    /// one call) and none of it has been read yet.
    pub fn whole(&self) -> Option<&[u8]> {
        match self {
            Decoder::Inflated(inflated) => inflated.whole(),
            _ => None,
        }
    }
}

/// Chunk buffers given back after their records were counted, for the readers to reuse:
/// a fresh multi-megabyte buffer per chunk costs page faults, regrowth copies and a
/// zeroing pass on every chunk. Invariant: it holds at most `keeps` buffers, all empty.
#[derive(Debug)]
struct Pool {
    buffers: std::sync::Mutex<Vec<Buffer>>,
    keeps: std::sync::atomic::AtomicUsize,
}

impl Pool {
    const fn new(keeps: usize) -> Pool {
        Pool {
            buffers: std::sync::Mutex::new(Vec::new()),
            keeps: std::sync::atomic::AtomicUsize::new(keeps),
        }
    }

    fn take(&self) -> Buffer {
        self.buffers
            .lock()
            .ok()
            .and_then(|mut pool| pool.pop())
            .unwrap_or_default()
    }

    fn give(&self, mut buf: Buffer) {
        buf.clear();
        if buf.capacity() > 0
            && let Ok(mut pool) = self.buffers.lock()
            && pool.len() < self.keeps.load(std::sync::atomic::Ordering::Relaxed)
        {
            pool.push(buf);
        }
    }
}

static POOL: Pool = Pool::new(4);

/// Lets the pool keep up to `n` buffers: as many as a scan can have alive at once (chunks
/// queued, chunks being counted, each reader's own). With fewer, the buffers of a file's
/// queued chunks are freed as they come back, and the next file's reader allocates, faults
/// in and zeroes new ones (a fifth of the time of a tree of plain array files). Keeping
/// them holds no more memory than the scan held already.
pub fn keep_buffers(n: usize) {
    POOL.keeps.store(n, std::sync::atomic::Ordering::Relaxed);
}

/// An empty buffer, reused when one was given back.
pub fn take_buffer() -> Buffer {
    POOL.take()
}

/// Gives a chunk's buffer back for reuse (or frees it when the pool is full).
pub fn give_buffer(buf: Buffer) {
    POOL.give(buf)
}

/// Splits `buf` at `at`: returns the head and leaves the tail in `buf`, moved to a reused
/// buffer so the head's allocation travels with the chunk.
pub(crate) fn split_buffer(buf: &mut Buffer, at: usize) -> Buffer {
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

/// A reader whose only content is a read error (then the end): replays an error met while
/// reading ahead, at the point where it happened.
pub(crate) struct Failed(pub(crate) Option<io::Error>);

impl Read for Failed {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        self.0.take().map_or(Ok(0), Err)
    }
}

/// Opens a source and picks plain or gzip by its first two bytes (`1f 8b`).
pub fn open(source: &Source) -> Result<Decoder> {
    // The size of a small regular file: small gzip files are inflated whole.
    let mut small = None;
    let mut raw: Box<dyn Read + Send> = match &source.path {
        Some(path) => {
            let file =
                File::open(path).with_context(|| format!("failed to open {}", source.name))?;
            small = file
                .metadata()
                .ok()
                .filter(|m| m.is_file() && m.len() <= inflate::MAX_INPUT as u64)
                .map(|m| m.len() as usize);
            Box::new(file)
        }
        None => Box::new(io::stdin()),
    };
    let mut head = Vec::with_capacity(2);
    fill(&mut raw, &mut head, 2).with_context(|| format!("failed to read {}", source.name))?;
    let gzip = head == [0x1f, 0x8b];
    if let (true, Some(size)) = (gzip, small) {
        // One byte more than the file had: a file that grew since is streamed.
        let (mut input, pad) = inflate::take_input(size + 1);
        input.extend_from_slice(&head);
        let read = fill(&mut raw, &mut input, pad + size + 1);
        if read.is_ok()
            && input.len() - pad <= size
            && let Some(inflated) = inflate::gunzip(&input[pad..])
        {
            inflate::give_input(input);
            return Ok(Decoder::Inflated(inflated));
        }
        // Streamed after all, from the same bytes: those read so far, then the rest of
        // the file, or the read error that stopped them.
        input.drain(..pad);
        head = input;
        if let Err(e) = read {
            raw = Box::new(Failed(Some(e)));
        }
    }
    let replay: Box<dyn Read + Send> = Box::new(Replay {
        head,
        pos: 0,
        rest: raw,
    });
    Ok(if gzip {
        // The decoder reads this buffer in place: `read::MultiGzDecoder` would wrap it in a
        // buffer of its own and copy every compressed byte once more (4% of a scan of one
        // large `.gz`). Its size is below the mmap threshold pinned in `main.rs`: a mapped
        // buffer per file would be faulted in anew for each of the thousands of small files
        // in an OBS tree.
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

pub use buffer::Buffer;
pub use frame::{Chunk, Framing, Span};

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;

    #[test]
    fn a_pool_keeping_every_buffer_alive_at_once_hands_them_all_out_again() {
        // A reader queues chunks of one file, then all come back: with room for all of
        // them, the next file's reader allocates none.
        let alive = 6;
        let pool = Pool::new(alive);
        let mut out: Vec<Buffer> = (0..alive).map(|_| pool.take()).collect();
        for buf in &mut out {
            buf.extend_from_slice(&[7; 1000]);
        }
        for buf in out {
            pool.give(buf);
        }
        for _ in 0..alive {
            let buf = pool.take();
            assert!(buf.is_empty(), "given back empty");
            assert!(buf.capacity() >= 1000, "a kept buffer, not a new one");
        }
        assert_eq!(pool.take().capacity(), 0, "no more than were given back");
        // Past its keep, a pool frees what comes back.
        let small = Pool::new(1);
        small.give(Buffer::from(vec![1; 10]));
        small.give(Buffer::from(vec![2; 10]));
        assert_eq!(small.take().capacity(), 10);
        assert_eq!(small.take().capacity(), 0);
    }

    #[test]
    fn inputs_keep_the_paths_that_are_not_their_names() {
        let dir = tempfile::tempdir().expect("temp dir");
        // A file that happens to be named like standard input is still that file.
        let file = dir.path().join("<stdin>");
        std::fs::write(&file, b"{}").expect("file");
        let mut args = vec![PathBuf::from("-"), file.clone()];
        #[cfg(unix)]
        let odd = {
            use std::os::unix::ffi::OsStrExt;
            let odd = dir
                .path()
                .join(std::ffi::OsStr::from_bytes(b"odd-\xff.json"));
            std::fs::write(&odd, b"{}").expect("file");
            args.push(odd.clone());
            odd
        };
        let found = AtomicUsize::new(0);
        let (inputs, errors) = discover(&args, &found);
        assert!(errors.is_empty());
        assert_eq!(inputs.len(), args.len());
        assert_eq!(found.into_inner(), args.len());
        let stdin = Source {
            name: "<stdin>".into(),
            path: None,
        };
        assert_eq!(inputs.source(0), stdin);
        let named = Source {
            name: file.display().to_string(),
            path: Some(file),
        };
        assert_eq!(inputs.source(1), named);
        #[cfg(unix)]
        {
            // Opened by its bytes, named with U+FFFD for the byte that is not UTF-8.
            let source = inputs.source(2);
            assert!(
                source.name.ends_with("odd-\u{fffd}.json"),
                "{}",
                source.name
            );
            assert_eq!(source.path, Some(odd));
            assert!(open(&source).is_ok());
        }
    }

    #[test]
    fn discover_walks_depth_first_in_name_order() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        for sub in ["a", "a-b", "Digest", "b/c"] {
            std::fs::create_dir_all(root.join(sub)).expect("dir");
        }
        // Names that sort apart from their paths' bytes when compared whole across
        // levels ('-' and '.' sort before '/'), upper before lower case, a hidden file
        // and a CTS digest folder (both skipped).
        for file in [
            "b/c/z", "b/a", "a.x", "a/z", "a/m", "a-b/q", "A", ".hidden", "Digest/d", "0",
        ] {
            std::fs::write(root.join(file), b"{}").expect("file");
        }
        let found = AtomicUsize::new(0);
        let (sources, errors) = discover(&[root.to_path_buf()], &found);
        assert!(errors.is_empty());
        assert_eq!(found.into_inner(), sources.len());
        let names: Vec<String> = (0..sources.len())
            .map(|i| {
                let source = sources.source(i);
                assert_eq!(Some(source.name.as_str()), sources.names.get(i));
                let path = source.path.as_ref().expect("a file");
                let rel = path.strip_prefix(root).expect("under the root");
                rel.to_string_lossy().replace('\\', "/")
            })
            .collect();
        assert_eq!(
            names,
            ["0", "A", "a/m", "a/z", "a-b/q", "a.x", "b/a", "b/c/z"]
        );
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(data).expect("in memory");
        e.finish().expect("in memory")
    }

    /// What `open` reads from a file holding `bytes`: its decoder's kind and the bytes
    /// and error the decoder gives.
    fn read_file(bytes: &[u8]) -> (&'static str, Vec<u8>, Option<io::ErrorKind>) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("t.json.gz");
        std::fs::write(&path, bytes).expect("write");
        let source = Source {
            name: "t".into(),
            path: Some(path),
        };
        let mut decoder = open(&source).expect("opens");
        let kind = match &decoder {
            Decoder::Plain(_) => "plain",
            Decoder::Gzip(_) => "stream",
            Decoder::Inflated(_) => "whole",
        };
        let mut out = Vec::new();
        let error = decoder.read_to_end(&mut out).err().map(|e| e.kind());
        (kind, out, error)
    }

    /// What the streaming decoder alone makes of `bytes`.
    fn streamed(bytes: &[u8]) -> (Vec<u8>, Option<io::ErrorKind>) {
        let mut out = Vec::new();
        let error = MultiGzDecoder::new(bytes)
            .read_to_end(&mut out)
            .err()
            .map(|e| e.kind());
        (out, error)
    }

    #[test]
    fn small_gzip_files_decode_whole_to_what_the_stream_gives() {
        let text: Vec<u8> = (0..50_000)
            .flat_map(|i| format!("{{\"n\":{i},\"s\":\"é\\\"x\"}}\n").into_bytes())
            .collect();
        let one = gz(&text);
        let (kind, out, error) = read_file(&one);
        assert_eq!((kind, error), ("whole", None));
        assert_eq!(out, text);
        assert_eq!(read_file(&gz(b"")), ("whole", Vec::new(), None));

        // Everything a single member filling the file is not goes to the stream, which
        // then reads exactly what it reads on its own.
        let mut two = one.clone();
        two.extend_from_slice(&one);
        let mut garbage = one.clone();
        garbage.extend_from_slice(b"not gzip");
        let mut corrupt = one.clone();
        corrupt[one.len() / 2] ^= 0xff;
        let mut bad_crc = one.clone();
        let at = one.len() - 8;
        bad_crc[at] ^= 1;
        let mut short_size = one.clone();
        let at = one.len() - 4;
        short_size[at..].copy_from_slice(&100u32.to_le_bytes());
        let mut huge_size = one.clone();
        huge_size[at..].copy_from_slice(&u32::MAX.to_le_bytes());
        let truncated = one[..one.len() - 3].to_vec();
        for (name, bytes) in [
            ("two members", two),
            ("trailing garbage", garbage),
            ("corrupt", corrupt),
            ("bad crc", bad_crc),
            ("size too small", short_size),
            ("size too large", huge_size),
            ("truncated", truncated),
        ] {
            let (kind, out, error) = read_file(&bytes);
            assert_eq!(kind, "stream", "{name}");
            assert_eq!((out, error), streamed(&bytes), "{name}");
        }
    }

    #[test]
    fn gzip_files_over_the_limit_stream() {
        // Incompressible bytes, so the compressed file passes the input limit.
        let mut state = 7u64;
        let noise: Vec<u8> = (0..inflate::MAX_INPUT + 4096)
            .map(|_| crate::testing::xorshift(&mut state) as u8)
            .collect();
        let (kind, out, error) = read_file(&gz(&noise));
        assert_eq!((kind, error), ("stream", None));
        assert!(out == noise);
    }
}
