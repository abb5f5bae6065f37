//! Read buffers whose memory is zeroed once, not once per use.
//!
//! `Read::read` writes into initialised memory. Reading into a vector's spare room
//! therefore zeroes that room first, unless the reader can write into uninitialised
//! memory, which the wrapper readers and the gzip decoder cannot. Every 1 MiB chunk paid
//! for such a pass. A `Buffer` keeps its bytes initialised from one use to the next.
//! Emptying it only forgets the content, so the next read writes in place.

use std::io::{self, Read};
use std::ops::Deref;

/// Bytes read so far: the content is `bytes[start..start + len]`. `bytes[start + len..]`
/// holds stale bytes that are only ever overwritten, never read. Invariant:
/// `start + len <= bytes.len()`. When `fill` last reserved memory, the content starts on
/// an `ALIGN`-byte boundary (see `fill`).
#[derive(Debug, Clone, Default)]
pub struct Buffer {
    bytes: Vec<u8>,
    start: usize,
    len: usize,
}

impl Deref for Buffer {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes[self.start..self.start + self.len]
    }
}

impl From<Vec<u8>> for Buffer {
    fn from(bytes: Vec<u8>) -> Buffer {
        Buffer {
            len: bytes.len(),
            start: 0,
            bytes,
        }
    }
}

/// How much the initialised part grows at least when a read needs more room.
const STEP: usize = 64 * 1024;

/// The most reserved ahead of the data at once. A large `want` (a whole document) on a
/// short stream then reserves no more than this, and touches only what arrives.
const RESERVE_AHEAD: usize = 16 << 20;

/// The boundary a file's bytes start on in memory: in a newly reserved `Buffer`, and in a
/// compressed file read whole (`inflate::take_input`). The kernel copies each read from
/// the page cache, where every 4 KiB of the file starts a page, and the copy ran five
/// times slower on the machines measured when its destination lay 1 to 16 bytes (in some
/// runs up to 31) past its source's place in a page: its loads seem to wait on its own
/// earlier stores, whose addresses match in their low 12 bits. glibc maps a buffer of
/// over 128 KiB 16 bytes into a page, so a file read from its start met that. On a
/// 64-byte boundary the bytes' offset in a page matches the file's.
pub(super) const ALIGN: usize = 64;

/// How many bytes past `at` the next `ALIGN`-byte boundary lies (0 to `ALIGN - 1`).
pub(super) fn to_boundary(at: *const u8) -> usize {
    (ALIGN - at as usize % ALIGN) % ALIGN
}

impl Buffer {
    /// Forgets the content and keeps the memory, still initialised, for the next use.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Keeps the first `n` bytes of the content.
    pub fn truncate(&mut self, n: usize) {
        self.len = self.len.min(n);
    }

    /// Drops the first `n` bytes of the content and moves the rest to the front.
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.len);
        let start = self.start;
        self.bytes.copy_within(start + n..start + self.len, start);
        self.len -= n;
    }

    /// Appends `src` to the content.
    pub fn extend_from_slice(&mut self, src: &[u8]) {
        let at = self.start + self.len;
        let end = at + src.len();
        if end <= self.bytes.len() {
            self.bytes[at..end].copy_from_slice(src);
        } else {
            self.bytes.truncate(at);
            self.bytes.extend_from_slice(src);
        }
        self.len += src.len();
    }

    /// Bytes the buffer holds without allocating.
    pub fn capacity(&self) -> usize {
        self.bytes.capacity()
    }

    /// Reads `raw` until the content is `want` bytes long or the stream ends. Memory is
    /// reserved exactly (but for `ALIGN` bytes), since a chunk in flight should hold no
    /// more than it needs, and the content moved to start on an `ALIGN`-byte boundary of
    /// it. It is initialised only as data arrives. On an error, the bytes read before it
    /// stay.
    pub fn fill(&mut self, raw: &mut dyn Read, want: usize) -> io::Result<()> {
        if self.start + want > self.bytes.capacity() {
            let ahead = (self.start + want)
                .saturating_sub(self.bytes.len())
                .min(RESERVE_AHEAD);
            self.bytes.reserve_exact(ahead + ALIGN);
            self.align();
        }
        while self.len < want {
            let at = self.start + self.len;
            if at == self.bytes.len() {
                // Double the initialised part, up to `want`: each byte is zeroed once in
                // the buffer's life, and never far ahead of the data.
                let step = self.bytes.len().max(STEP).min(want - self.len);
                self.bytes.resize(at + step, 0);
            }
            let end = self.bytes.len().min(self.start + want);
            match raw.read(&mut self.bytes[at..end]) {
                Ok(0) => break,
                Ok(n) => self.len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Moves the content to the first `ALIGN`-byte boundary of `bytes`, which must have
    /// `ALIGN` bytes of capacity to spare past the content.
    fn align(&mut self) {
        let to = to_boundary(self.bytes.as_ptr());
        if to == self.start {
            return;
        }
        let end = to + self.len;
        if self.bytes.len() < end {
            self.bytes.resize(end, 0);
        }
        self.bytes
            .copy_within(self.start..self.start + self.len, to);
        self.start = to;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out at most `step` bytes a call and fails once after `fail_at`.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
        fail_at: Option<usize>,
        pos: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.fail_at == Some(self.pos) {
                self.fail_at = None;
                return Err(io::Error::other("disk on fire"));
            }
            let mut n = buf.len().min(self.step).min(self.data.len() - self.pos);
            if let Some(at) = self.fail_at {
                n = n.min(at - self.pos);
            }
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    #[test]
    fn content_is_what_was_read_whatever_the_buffer_held_before() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let mut buf = Buffer::default();
        // A used buffer: stale bytes behind the content must never show.
        buf.extend_from_slice(&[0xee; 200_000]);
        buf.clear();
        for (step, want) in [
            (7, 10),
            (4096, 70_000),
            (100_000, 250_000),
            (1 << 20, 400_000),
        ] {
            let mut raw = Trickle {
                data: &data,
                step,
                fail_at: None,
                pos: 0,
            };
            buf.clear();
            buf.fill(&mut raw, want).expect("no error");
            let n = want.min(data.len());
            assert_eq!(&buf[..], &data[..n], "step {step}, want {want}");
            // Appending and reading on continue where the content ends.
            buf.truncate(3);
            buf.extend_from_slice(b"xyz");
            assert_eq!(&buf[..], [&data[..3], b"xyz"].concat());
            buf.consume(2);
            assert_eq!(&buf[..], [&data[2..3], b"xyz"].concat());
        }
    }

    #[test]
    fn an_error_keeps_what_came_before_it() {
        let data = vec![5u8; 1000];
        let mut raw = Trickle {
            data: &data,
            step: 64,
            fail_at: Some(300),
            pos: 0,
        };
        let mut buf = Buffer::from(b"head".to_vec());
        assert!(buf.fill(&mut raw, 2000).is_err());
        assert_eq!(buf.len(), 4 + 300);
        buf.fill(&mut raw, 2000).expect("the error came once");
        assert_eq!(buf.len(), 4 + 1000);
    }

    #[test]
    fn a_large_want_on_a_short_stream_touches_only_what_arrives() {
        let data = vec![1u8; 10];
        let mut raw = Trickle {
            data: &data,
            step: 1 << 20,
            fail_at: None,
            pos: 0,
        };
        let mut buf = Buffer::default();
        buf.fill(&mut raw, 64 << 20).expect("no error");
        assert_eq!(&buf[..], &data[..]);
        assert_eq!(
            buf.bytes.len() - buf.start,
            STEP,
            "initialised one step, not the whole want"
        );
        assert!(buf.capacity() <= RESERVE_AHEAD + STEP + ALIGN);
    }

    #[test]
    fn content_starts_on_a_boundary_once_memory_is_reserved() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 241) as u8).collect();
        for carried in [0, 1, 17, 63, 64, 1000] {
            // A buffer holding a carried partial record in memory that is not aligned.
            let mut buf = Buffer::from(data[..carried].to_vec());
            let mut raw = Trickle {
                data: &data[carried..],
                step: 1 << 20,
                fail_at: None,
                pos: 0,
            };
            buf.fill(&mut raw, 2_000_000).expect("no error");
            assert_eq!(&buf[..], &data[..2_000_000], "carried {carried}");
            assert_eq!(buf.as_ptr() as usize % ALIGN, 0, "carried {carried}");
            // Refilled within its memory, it keeps the boundary.
            buf.consume(1_999_990);
            buf.fill(&mut raw, 1_000_000).expect("no error");
            assert_eq!(&buf[..10], &data[1_999_990..2_000_000]);
            assert_eq!(buf.as_ptr() as usize % ALIGN, 0);
        }
    }
}
