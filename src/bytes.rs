//! Byte searches shared by the array framer and the skim of JSON records.

/// The index of the first byte that ends a plain run of string content: a quote, a
/// backslash or a control character (below 0x20). Eight bytes at a time: strings in traces
/// are mostly short, where a vectorised search costs more to set up than it saves.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_bytes_are_found_first_wherever_they_are() {
        for len in 0..24 {
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
}
