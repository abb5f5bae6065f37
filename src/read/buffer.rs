//! Read buffers whose memory is zeroed once, not once per use.
//!
//! `Read::read` writes into initialised memory. Reading into a vector's spare room
//! therefore zeroes that room first, unless the reader can write into uninitialised
//! memory, which the wrapper readers and the gzip decoder cannot. Every 1 MiB chunk paid
//! for such a pass. A `Buffer` keeps its bytes initialised from one use to the next.
//! Emptying it only forgets the content, so the next read writes in place.

use std::io::{self, Read};
use std::ops::Deref;

/// Bytes read so far: the content is `bytes[..len]`. `bytes[len..]` holds stale bytes
/// that are only ever overwritten, never read. Invariant: `len <= bytes.len()`.
#[derive(Debug, Clone, Default)]
pub struct Buffer {
    bytes: Vec<u8>,
    len: usize,
}

impl Deref for Buffer {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl From<Vec<u8>> for Buffer {
    fn from(bytes: Vec<u8>) -> Buffer {
        Buffer {
            len: bytes.len(),
            bytes,
        }
    }
}

/// How much the initialised part grows at least when a read needs more room.
const STEP: usize = 64 * 1024;

/// The most reserved ahead of the data at once. A large `want` (a whole document) on a
/// short stream then reserves no more than this, and touches only what arrives.
const RESERVE_AHEAD: usize = 16 << 20;

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
        self.bytes.copy_within(n..self.len, 0);
        self.len -= n;
    }

    /// Appends `src` to the content.
    pub fn extend_from_slice(&mut self, src: &[u8]) {
        let end = self.len + src.len();
        if end <= self.bytes.len() {
            self.bytes[self.len..end].copy_from_slice(src);
        } else {
            self.bytes.truncate(self.len);
            self.bytes.extend_from_slice(src);
        }
        self.len = end;
    }

    /// Bytes the buffer holds without allocating.
    pub fn capacity(&self) -> usize {
        self.bytes.capacity()
    }

    /// Reads `raw` until the content is `want` bytes long or the stream ends. Memory is
    /// reserved exactly, since a chunk in flight should hold no more than it needs. It is
    /// initialised only as data arrives. On an error, the bytes read before it stay.
    pub fn fill(&mut self, raw: &mut dyn Read, want: usize) -> io::Result<()> {
        if want > self.bytes.capacity() {
            let ahead = want.saturating_sub(self.bytes.len()).min(RESERVE_AHEAD);
            self.bytes.reserve_exact(ahead);
        }
        while self.len < want {
            if self.len == self.bytes.len() {
                // Double the initialised part, up to `want`: each byte is zeroed once in
                // the buffer's life, and never far ahead of the data.
                let step = self.bytes.len().max(STEP).min(want - self.len);
                self.bytes.resize(self.len + step, 0);
            }
            let end = self.bytes.len().min(want);
            match raw.read(&mut self.bytes[self.len..end]) {
                Ok(0) => break,
                Ok(n) => self.len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
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
            buf.bytes.len(),
            STEP,
            "initialised one step, not the whole want"
        );
        assert!(buf.capacity() <= RESERVE_AHEAD + STEP);
    }
}
