//! Whole-file gzip decoding with libdeflate, for the small files of an OBS tree: it
//! inflates a buffer in one call about 1.5 times as fast as the streaming decoder (zlib-rs
//! through flate2) on the same files, which matters because an OBS tree spends a third of
//! its time inflating. It handles exactly one gzip member that ends where the input ends;
//! anything else (several members, trailing bytes, damage, a size over the limit) is left
//! to the streaming decoder, so what a scan reports never depends on which one ran.

use super::buffer::{ALIGN, to_boundary};
use std::io::{self, Read};
use std::ptr::NonNull;

/// Largest decoded size inflated whole. Real CTS trace files are a few MB; each reading
/// thread keeps one output buffer of at most this size for reuse.
pub const MAX_OUTPUT: usize = 8 << 20;

/// Largest compressed size read whole before inflating.
pub const MAX_INPUT: usize = 8 << 20;

/// A libdeflate decompressor. Invariant: `0` is a live decompressor owned by this value.
struct Decompressor(NonNull<libdeflate_sys::libdeflate_decompressor>);

// SAFETY: a libdeflate decompressor holds no thread-bound state; it must only not be used
// by two threads at once, which `&mut self` on every use ensures.
unsafe impl Send for Decompressor {}

impl Decompressor {
    fn new() -> Option<Decompressor> {
        // SAFETY: allocates a fresh decompressor (null when out of memory).
        NonNull::new(unsafe { libdeflate_sys::libdeflate_alloc_decompressor() }).map(Decompressor)
    }

    /// Inflates the one gzip member that must fill all of `input` into `out` (cleared
    /// first, room for at most `limit` bytes); false, with `out` empty, when that fails
    /// for any reason.
    fn gunzip(&mut self, input: &[u8], out: &mut Vec<u8>, limit: usize) -> bool {
        out.clear();
        // Rounded up, so that the buffer kept for the next file (see `Inflated`) fits a
        // slightly larger one without growing: growing maps and faults in new pages.
        out.reserve_exact(limit.next_power_of_two().min(MAX_OUTPUT).max(limit));
        let (mut used, mut produced) = (0usize, 0usize);
        // SAFETY: `input` is readable for its length; `out` has room for `limit` bytes
        // from its (empty) start; the decompressor is live and used by this thread only.
        let result = unsafe {
            libdeflate_sys::libdeflate_gzip_decompress_ex(
                self.0.as_ptr(),
                input.as_ptr().cast(),
                input.len(),
                out.as_mut_ptr().cast(),
                limit,
                &mut used,
                &mut produced,
            )
        };
        if result != libdeflate_sys::libdeflate_result_LIBDEFLATE_SUCCESS
            || used != input.len()
            || produced > limit
        {
            return false;
        }
        // SAFETY: libdeflate reported `produced` bytes written from the start of `out`,
        // within its capacity.
        unsafe { out.set_len(produced) };
        true
    }
}

impl Drop for Decompressor {
    fn drop(&mut self) {
        // SAFETY: the decompressor is live (type invariant) and freed once, here.
        unsafe { libdeflate_sys::libdeflate_free_decompressor(self.0.as_ptr()) }
    }
}

thread_local! {
    /// Per reading thread: the decompressor and the last output buffer given back, so that
    /// thousands of small files do not each allocate and fault in a new one.
    static SPARE: std::cell::RefCell<Spare> = const {
        std::cell::RefCell::new(Spare {
            decompressor: None,
            output: Vec::new(),
            input: Vec::new(),
        })
    };
}

struct Spare {
    decompressor: Option<Decompressor>,
    output: Vec<u8>,
    input: Vec<u8>,
}

/// A buffer for a compressed file of up to `size` bytes read from its start (this thread's
/// last one when it gave one back), with room for it, and the index where the file's
/// first byte goes: the bytes before are padding, so that the file starts on an `ALIGN`
/// boundary, where the kernel copies it at full speed (see `buffer::ALIGN`).
pub fn take_input(size: usize) -> (Vec<u8>, usize) {
    let mut input = SPARE.with_borrow_mut(|spare| std::mem::take(&mut spare.input));
    // Reserved before the address is taken: it must not move when the file is read in.
    input.reserve(ALIGN + size);
    let pad = to_boundary(input.as_ptr());
    input.resize(pad, 0);
    (input, pad)
}

/// Gives a buffer from `take_input` back for the next file.
pub fn give_input(mut input: Vec<u8>) {
    input.clear();
    if input.capacity() <= ALIGN + MAX_INPUT + 1 {
        let _ = SPARE.try_with(|spare| {
            if let Ok(mut spare) = spare.try_borrow_mut() {
                spare.input = input;
            }
        });
    }
}

/// The decoded bytes of a whole gzip file, `None` when it is not one member that decodes
/// to at most `MAX_OUTPUT` bytes (see the module comment).
pub fn gunzip(input: &[u8]) -> Option<Inflated> {
    // The member's trailer ends the input and gives its decoded size modulo 2^32: a
    // hint, checked by the decoder, that sizes the output.
    let size = u32::from_le_bytes(input.last_chunk::<4>().copied()?) as usize;
    if size > MAX_OUTPUT {
        return None;
    }
    SPARE.with_borrow_mut(|spare| {
        let decompressor = match &mut spare.decompressor {
            Some(d) => d,
            None => spare.decompressor.insert(Decompressor::new()?),
        };
        let mut out = std::mem::take(&mut spare.output);
        // A size hint smaller than the data makes the decoder run out of room: it fails,
        // and the streaming decoder takes over.
        if decompressor.gunzip(input, &mut out, size) {
            Some(Inflated { data: out, pos: 0 })
        } else {
            spare.output = out;
            None
        }
    })
}

/// Decoded bytes read as a stream; the buffer goes back to this thread's spare on drop.
pub struct Inflated {
    data: Vec<u8>,
    pos: usize,
}

impl Inflated {
    /// All the decoded bytes, while none have been read as a stream yet.
    pub fn whole(&self) -> Option<&[u8]> {
        (self.pos == 0).then_some(&self.data[..])
    }
}

impl Read for Inflated {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Drop for Inflated {
    fn drop(&mut self) {
        let data = std::mem::take(&mut self.data);
        // Only buffers of the bounded size are kept; `try_with`, as the thread may be
        // ending.
        if data.capacity() <= MAX_OUTPUT {
            let _ = SPARE.try_with(|spare| {
                if let Ok(mut spare) = spare.try_borrow_mut()
                    && spare.output.capacity() < data.capacity()
                {
                    spare.output = data;
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_read_into_a_taken_input_starts_on_a_64_byte_boundary() {
        // Sizes that the allocator serves from its heap and from mappings of their own,
        // growing the thread's spare buffer and reusing it.
        for size in [0, 1, 100, 4096, 200_000, 3 << 20, 1000, MAX_INPUT + 1] {
            let (input, pad) = take_input(size);
            assert_eq!(input.len(), pad, "{size}");
            assert!(pad < ALIGN, "{size}");
            assert!(input.capacity() >= pad + size, "{size}");
            assert_eq!((input.as_ptr() as usize + pad) % ALIGN, 0, "{size}");
            assert!(input.iter().all(|&b| b == 0));
            give_input(input);
        }
    }
}
