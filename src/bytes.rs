//! Byte searches shared by the array framer and the skim of JSON records.

/// The index of the first byte that ends a plain run of string content: a quote, a
/// backslash or a control character (below 0x20). Eight bytes at a time: strings in traces
/// are mostly short, where a general vectorised search costs more to set up than it saves.
#[inline]
pub fn string_stop(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
    // Sets the high bit of the first byte below `n` (and maybe of later ones); exact for
    // the lowest flagged byte, which is all that is read.
    let below = |x: u64, n: u64| x.wrapping_sub(ONES * n) & !x & HIGHS;
    let mut words = bytes.chunks_exact(8);
    let mut at = 0;
    for word in &mut words {
        let x = u64::from_le_bytes(word.try_into().expect("eight bytes"));
        let hits = below(x ^ (ONES * u64::from(b'"')), 1)
            | below(x ^ (ONES * u64::from(b'\\')), 1)
            | below(x, 0x20);
        if hits != 0 {
            return Some(at + hits.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    let rest = words.remainder();
    rest.iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .map(|k| at + k)
}

/// Where the JSON string whose content starts at `bytes[start]` ends: the index of its
/// closing quote, and whether it holds escapes. `None` for a string JSON forbids (a
/// control character, an unknown escape), one with a `\u` escape (left to a full parser),
/// and one not closed before the end. Works sixteen bytes at a time and handles every
/// escape in a block without leaving it: escaped bodies have one every few bytes.
#[inline]
pub fn string_end(bytes: &[u8], start: usize) -> Option<(usize, bool)> {
    let mut at = start;
    let mut escaped = false;
    loop {
        let (mut mask, width) = if at + 16 <= bytes.len() {
            (block_stops(bytes, at), 16)
        } else {
            let rest = bytes.get(at..)?;
            let mask = rest
                .iter()
                .enumerate()
                .filter(|(_, c)| is_stop(**c))
                .fold(0u32, |m, (k, _)| m | 1 << k);
            (mask, rest.len())
        };
        while mask != 0 {
            let k = mask.trailing_zeros() as usize;
            match bytes[at + k] {
                b'"' => return Some((at + k, escaped)),
                b'\\' => {
                    escaped = true;
                    match bytes.get(at + k + 1)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                        _ => return None,
                    }
                    if k + 1 >= width {
                        // The escaped byte opens the next block: start it after that byte.
                        at += k + 2;
                        break;
                    }
                    // The escaped byte is content, whatever it is.
                    mask &= !(0b11 << k);
                    continue;
                }
                _ => return None,
            }
        }
        if mask == 0 {
            if width < 16 {
                // The tail held no closing quote.
                return None;
            }
            at += 16;
        }
    }
}

fn is_stop(c: u8) -> bool {
    c == b'"' || c == b'\\' || c < 0x20
}

/// Bit k set when `bytes[at + k]` (k < 16) is a quote, a backslash or a control byte.
/// Needs `at + 16 <= bytes.len()`.
#[cfg(target_arch = "x86_64")]
#[inline]
fn block_stops(bytes: &[u8], at: usize) -> u32 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    let block = &bytes[at..at + 16];
    // SAFETY: SSE2 is in the x86_64 baseline, so these intrinsics exist on every CPU this
    // is built for; the load reads exactly `block` (16 bytes) and accepts any alignment.
    unsafe {
        let x = _mm_loadu_si128(block.as_ptr().cast::<__m128i>());
        let stops = _mm_or_si128(
            _mm_or_si128(
                _mm_cmpeq_epi8(x, _mm_set1_epi8(b'"' as i8)),
                _mm_cmpeq_epi8(x, _mm_set1_epi8(b'\\' as i8)),
            ),
            // min(x, 0x1f) == x exactly when x <= 0x1f (unsigned).
            _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x1f)), x),
        );
        _mm_movemask_epi8(stops) as u32
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn block_stops(bytes: &[u8], at: usize) -> u32 {
    bytes[at..at + 16]
        .iter()
        .enumerate()
        .filter(|(_, c)| is_stop(**c))
        .fold(0, |m, (k, _)| m | 1 << k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_bytes_are_found_first_wherever_they_are() {
        for len in 0..40 {
            for at in 0..len {
                for c in [b'"', b'\\', 0x00, 0x1f, b'\n'] {
                    let mut text = vec![b'a'; len];
                    text[at] = c;
                    // A later special byte must not hide the first.
                    if at + 1 < len {
                        text[at + 1] = b'"';
                    }
                    assert_eq!(string_stop(&text), Some(at), "{c:#x} at {at} of {len}");
                }
            }
            let plain: Vec<u8> = (0..len).map(|i| b' ' + (i as u8 % 90)).collect();
            let plain: Vec<u8> = plain
                .into_iter()
                .filter(|c| !matches!(c, b'"' | b'\\'))
                .collect();
            assert_eq!(string_stop(&plain), None);
            assert_eq!(
                string_stop(&[0x80, 0xff, 0x7f, 0x21, 0x5b, 0x5d, 0xc3, 0xa9, 0x20]),
                None
            );
        }
    }

    /// The obvious byte-at-a-time reading of a JSON string, to check `string_end` against.
    fn reference(bytes: &[u8], start: usize) -> Option<(usize, bool)> {
        let mut i = start;
        let mut escaped = false;
        loop {
            match *bytes.get(i)? {
                b'"' => return Some((i, escaped)),
                b'\\' => {
                    match bytes.get(i + 1)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                        _ => return None,
                    }
                    escaped = true;
                    i += 2;
                }
                c if c < 0x20 => return None,
                _ => i += 1,
            }
        }
    }

    #[test]
    fn string_end_agrees_with_a_byte_at_a_time_reading() {
        let alphabet = [b'a', b'"', b'\\', b'n', b'u', b'/', b'\t', 0xc3, 0xa9, b' '];
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..200_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 48) as usize;
            let mut bits = state;
            let bytes: Vec<u8> = (0..len)
                .map(|i| {
                    if i % 16 == 0 {
                        bits = bits.rotate_left(29) ^ 0x5851_f42d_4c95_7f2d;
                    }
                    // Mostly plain content, so strings often run long enough to span blocks.
                    let pick = (bits >> (4 * (i % 16))) & 0xf;
                    if pick < 10 {
                        alphabet[pick as usize]
                    } else {
                        b'a'
                    }
                })
                .collect();
            let start = (state >> 58) as usize % (len + 1);
            assert_eq!(
                string_end(&bytes, start),
                reference(&bytes, start),
                "{:?} from {start}",
                String::from_utf8_lossy(&bytes)
            );
        }
    }
}
