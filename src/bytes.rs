//! Byte searches shared by the array framer and the skim of JSON records.

/// The bytes `bytes[start..end]` (at most the first 16 of them) as a little-endian number,
/// zero past `end`: a short key as one value to hash and compare. Reads the 16 bytes from
/// `start` in one load where the buffer has them (a key is always followed by more of its
/// record), so it takes no copy and no branch on the key's length.
#[inline(always)]
pub fn head16(bytes: &[u8], start: usize, end: usize) -> u128 {
    let n = end - start;
    let raw = match bytes.get(start..start + 16) {
        Some(window) => u128::from_le_bytes(window.try_into().expect("16 bytes")),
        None => {
            let mut window = [0u8; 16];
            let n = n.min(16);
            window[..n].copy_from_slice(&bytes[start..start + n]);
            u128::from_le_bytes(window)
        }
    };
    raw & LOW_BYTES[n.min(16)]
}

/// `LOW_BYTES[n]` keeps the low `n` bytes of a `u128`: one load where a shift of a
/// `u128` by a variable takes a dozen instructions (a key of every member of a record).
const LOW_BYTES: [u128; 17] = {
    let mut masks = [u128::MAX; 17];
    let mut n = 0;
    while n < 16 {
        masks[n] = (1u128 << (8 * n)) - 1;
        n += 1;
    }
    masks
};

/// Where the JSON string whose content starts at `bytes[start]` ends: the index of its
/// closing quote, and whether it holds escapes. `None` for a string JSON forbids (a
/// control character, an unknown escape), one with a `\u` escape (left to a full parser),
/// and one not closed before the end. Works sixteen bytes at a time and handles every
/// escape in a block without leaving it: escaped bodies have one every few bytes.
///
/// Bytes from 0x80 up are content when `WIDE`, the caller having checked that `bytes` is
/// UTF-8. Without `WIDE` they make it `None` too, like control bytes: a caller that has
/// not checked the UTF-8 learns that `Some` covers ASCII content only, and checks the
/// buffer once it meets a string that is not (trace records are nearly all ASCII).
#[inline(always)]
pub fn string_end<const WIDE: bool>(bytes: &[u8], start: usize) -> Option<(usize, bool)> {
    // Most strings (keys, ids, names) hold no escape: find their closing quote inline,
    // from the quote bits, and leave escapes, control bytes and the tail to the loop below.
    let mut at = start;
    loop {
        let (quotes, stops, high) = if at + 16 <= bytes.len() {
            block_quotes_stops(bytes, at)
        } else if let Some(masks) = tail_block(bytes, at) {
            // The last strings of a record (and of every object in it) end here.
            masks
        } else {
            break;
        };
        let stops = if WIDE { stops & !high } else { stops };
        if stops == 0 && at + 16 <= bytes.len() {
            at += 16;
            continue;
        }
        let first = stops & stops.wrapping_neg();
        if first & quotes != 0 {
            return Some((at + first.trailing_zeros() as usize, false));
        }
        break;
    }
    string_end_from::<WIDE>(bytes, at)
}

/// The masks of `block_quotes_stops` for the fewer than sixteen bytes from `at` to the
/// end, read as the last sixteen bytes of `bytes` and shifted down, so that the end of a
/// record takes one load rather than a loop over its bytes. `None` when `bytes` is
/// shorter than sixteen; needs `at <= bytes.len()`.
#[inline(always)]
fn tail_block(bytes: &[u8], at: usize) -> Option<(u32, u32, u32)> {
    let base = bytes.len().checked_sub(16)?;
    let shift = at - base;
    let (quotes, stops, high) = block_quotes_stops(bytes, base);
    // `shift` is at most 16, and the masks have 16 bits: what is left is the tail's.
    Some((quotes >> shift, stops >> shift, high >> shift))
}

/// `string_end` from `at`, where the content from the string's start up to `at` holds
/// no quote, backslash or control byte (nor, without `WIDE`, a byte from 0x80 up).
#[inline(never)]
fn string_end_from<const WIDE: bool>(bytes: &[u8], mut at: usize) -> Option<(usize, bool)> {
    let mut escaped = false;
    'blocks: loop {
        let (stops, high, width) = stops_from(bytes, at);
        let mut mask = if WIDE { stops & !high } else { stops };
        while mask != 0 {
            let k = mask.trailing_zeros() as usize;
            match bytes[at + k] {
                b'"' => return Some((at + k, escaped)),
                b'\\' => {
                    escaped = true;
                    unescaped(*bytes.get(at + k + 1)?)?;
                    if k + 1 >= width {
                        // The escaped byte opens the next block: start it after that byte.
                        at += k + 2;
                        continue 'blocks;
                    }
                    // The escaped byte is content, whatever it is.
                    mask &= !(0b11 << k);
                }
                // A control byte, or (without `WIDE`) one from 0x80 up.
                _ => return None,
            }
        }
        if width < 16 {
            // The tail held no closing quote.
            return None;
        }
        at += 16;
    }
}

/// The index of the first space or tab in `bytes` from `at` on, or `bytes.len()`: where
/// an access-log field ends. Needs `at <= bytes.len()`.
#[inline]
pub fn blank(bytes: &[u8], at: usize) -> usize {
    first_in_blocks(bytes, at, [b' ', b'\t'])
}

/// The index of the first byte from `at` on that is one of `needles`, or `bytes.len()`:
/// sixteen bytes a step, and the last few bytes read as the end of the last sixteen
/// (overlapping the step before), not one by one. Needs `at <= bytes.len()`.
#[inline(always)]
fn first_in_blocks<const N: usize>(bytes: &[u8], mut at: usize, needles: [u8; N]) -> usize {
    while at + 16 <= bytes.len() {
        let found = equal16(bytes, at, needles);
        if found != 0 {
            return at + found.trailing_zeros() as usize;
        }
        at += 16;
    }
    match bytes.len().checked_sub(16) {
        Some(base) => {
            // `at - base` is at most 16, and the mask has 16 bits; the bytes before `at`
            // were searched above.
            let found = equal16(bytes, base, needles) >> (at - base);
            if found == 0 {
                bytes.len()
            } else {
                at + found.trailing_zeros() as usize
            }
        }
        None => bytes[at..]
            .iter()
            .position(|c| needles.contains(c))
            .map_or(bytes.len(), |k| at + k),
    }
}

/// Bit k set when `bytes[at + k]` is a backslash, for the sixteen bytes from `at`. Needs
/// `at + 16 <= bytes.len()`.
#[inline(always)]
pub fn backslashes16(bytes: &[u8], at: usize) -> u32 {
    equal16(bytes, at, [b'\\'])
}

/// Bit k set when `bytes[at + k]` is one of `needles` (at least one), for the sixteen
/// bytes from `at`. Needs `at + 16 <= bytes.len()`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn equal16<const N: usize>(bytes: &[u8], at: usize, needles: [u8; N]) -> u32 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };
    let block = &bytes[at..at + 16];
    // SAFETY: SSE2 is in the x86_64 baseline; the load reads exactly `block` (16 bytes,
    // any alignment).
    unsafe {
        let x = _mm_loadu_si128(block.as_ptr().cast::<__m128i>());
        let eq = |needle: u8| _mm_cmpeq_epi8(x, _mm_set1_epi8(needle as i8));
        let mut hit = eq(needles[0]);
        for &needle in &needles[1..] {
            hit = _mm_or_si128(hit, eq(needle));
        }
        _mm_movemask_epi8(hit) as u32
    }
}

/// `equal16` without SSE2.
#[cfg(not(target_arch = "x86_64"))]
fn equal16<const N: usize>(bytes: &[u8], at: usize, needles: [u8; N]) -> u32 {
    bytes[at..at + 16]
        .iter()
        .enumerate()
        .fold(0, |m, (k, c)| m | u32::from(needles.contains(c)) << k)
}

/// The index of the first backslash in `bytes`. Most string values a record's fields take
/// (ids, names, paths) are short: they are searched inline (`first_in_blocks`, or two
/// overlapping words under sixteen bytes), as a call to `memchr` costs more than their
/// whole search; longer ones go to `memchr`.
#[inline]
pub fn backslash(bytes: &[u8]) -> Option<usize> {
    let len = bytes.len();
    if len > 64 {
        return memchr::memchr(b'\\', bytes);
    }
    if len >= 16 {
        let at = first_in_blocks(bytes, 0, [b'\\']);
        return (at < len).then_some(at);
    }
    if len >= 8 {
        let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        if let Some(k) = backslash_in_word(word(0)) {
            return Some(k);
        }
        // The last eight bytes; those before byte 8 were searched above.
        return backslash_in_word(word(len - 8)).map(|k| len - 8 + k);
    }
    bytes.iter().position(|&b| b == b'\\')
}

/// The index of the first backslash among the eight bytes of `word` (little-endian).
#[inline(always)]
fn backslash_in_word(word: u64) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let x = word ^ (ONES * u64::from(b'\\'));
    // The lowest bit set marks the first zero byte of `x`, the first backslash (a borrow
    // can set bits only above a zero byte).
    let zero = x.wrapping_sub(ONES) & !x & HIGH;
    (zero != 0).then(|| (zero.trailing_zeros() / 8) as usize)
}

/// How many of the eight bytes of `word` (little-endian) are ASCII digits before the
/// first that is not. A byte is a digit when its high nibble is 3 and adding 6 to it
/// keeps that nibble (`0x30..=0x39`). The addition can carry into the next byte only from
/// a byte of 0xFA and up, which is no digit: the count stops there first.
#[inline(always)]
pub fn digits_in_word(word: u64) -> usize {
    const HIGH_NIBBLES: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    const THREES: u64 = 0x3030_3030_3030_3030;
    const SIXES: u64 = 0x0606_0606_0606_0606;
    let not_digit =
        ((word & HIGH_NIBBLES) ^ THREES) | ((word.wrapping_add(SIXES) & HIGH_NIBBLES) ^ THREES);
    (not_digit.trailing_zeros() / 8) as usize
}

/// The character the escape `\c` stands for; `None` for `\u` (left to a full parser) and
/// for any byte JSON does not allow after a backslash.
#[inline]
pub fn unescaped(c: u8) -> Option<char> {
    Some(match c {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        _ => return None,
    })
}

/// Where a run of string content ends, for `string_skip`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// The closing quote is at this index.
    Quote(usize),
    /// The caller must look at the byte at this index itself: a control byte (newlines are
    /// counted), or a backslash before a control byte or at the very end.
    Stop(usize),
    /// The bytes ended inside the string.
    Open,
}

/// Skips string content from `bytes[0]`, inside a string and not right after a backslash,
/// stepping over escapes sixteen bytes at a time (see `Skip` for where it stops). It
/// checks nothing: the array framer only looks for where values end.
#[inline]
pub fn string_skip(bytes: &[u8]) -> Skip {
    let mut at = 0;
    'blocks: loop {
        let (stops, high, width) = stops_from(bytes, at);
        // Non-ASCII bytes are content here: the framer checks no UTF-8.
        let mut mask = stops & !high;
        while mask != 0 {
            let k = mask.trailing_zeros() as usize;
            match bytes[at + k] {
                b'"' => return Skip::Quote(at + k),
                b'\\' => match bytes.get(at + k + 1) {
                    Some(&next) if next >= 0x20 => {
                        if k + 1 >= width {
                            at += k + 2;
                            continue 'blocks;
                        }
                        mask &= !(0b11 << k);
                    }
                    _ => return Skip::Stop(at + k),
                },
                _ => return Skip::Stop(at + k),
            }
        }
        if width < 16 {
            return Skip::Open;
        }
        at += 16;
    }
}

/// The stop bits and non-ASCII bits (see `block_quotes_stops`) of the sixteen bytes from
/// `at`, or of the fewer left at the end: (stops, non-ASCII, how many bytes they cover).
#[inline]
fn stops_from(bytes: &[u8], at: usize) -> (u32, u32, usize) {
    if at + 16 <= bytes.len() {
        let (_, stops, high) = block_quotes_stops(bytes, at);
        (stops, high, 16)
    } else if let Some((_, stops, high)) = tail_block(bytes, at) {
        (stops, high, bytes.len() - at)
    } else {
        let rest = &bytes[at..];
        let (stops, high) = scalar_stops(rest);
        (stops, high, rest.len())
    }
}

/// (stop bits, non-ASCII bits) of `bytes` (at most 32), as `block_quotes_stops` gives them.
fn scalar_stops(bytes: &[u8]) -> (u32, u32) {
    bytes
        .iter()
        .enumerate()
        .fold((0, 0), |(stops, high), (k, &c)| {
            let stop = c == b'"' || c == b'\\' || !(0x20..0x80).contains(&c);
            (
                stops | u32::from(stop) << k,
                high | u32::from(c >= 0x80) << k,
            )
        })
}

/// (quote bits, stop bits, non-ASCII bits) of the sixteen bytes from `at`: bit k of the
/// first is set when `bytes[at + k]` is a quote, of the second when it is a quote, a
/// backslash, a control byte or a byte from 0x80 up, of the third when it is from 0x80 up.
/// Needs `at + 16 <= bytes.len()`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn block_quotes_stops(bytes: &[u8], at: usize) -> (u32, u32, u32) {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_cmplt_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    let block = &bytes[at..at + 16];
    // SAFETY: SSE2 is in the x86_64 baseline, so these intrinsics exist on every CPU this
    // is built for; the load reads exactly `block` (16 bytes) and accepts any alignment.
    unsafe {
        let x = _mm_loadu_si128(block.as_ptr().cast::<__m128i>());
        let quotes = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'"' as i8));
        let stops = _mm_or_si128(
            _mm_or_si128(quotes, _mm_cmpeq_epi8(x, _mm_set1_epi8(b'\\' as i8))),
            // Signed, bytes from 0x80 up are negative: one compare finds them and the
            // control bytes.
            _mm_cmplt_epi8(x, _mm_set1_epi8(0x20)),
        );
        (
            _mm_movemask_epi8(quotes) as u32,
            _mm_movemask_epi8(stops) as u32,
            // The top bit of each byte: set exactly from 0x80 up.
            _mm_movemask_epi8(x) as u32,
        )
    }
}

/// Where the bytes of interest to the array framer lie in a block of 64: bit k stands
/// for `block[k]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Block64 {
    pub quote: u64,
    pub backslash: u64,
    /// `{` or `[`.
    pub open: u64,
    /// `}` or `]`.
    pub close: u64,
    pub newline: u64,
}

/// The masks of `block`, which must be 64 bytes long.
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn block64(block: &[u8]) -> Block64 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };
    assert_eq!(block.len(), 64, "a block is 64 bytes");
    let mut m = Block64::default();
    for part in 0..4 {
        let bytes = &block[16 * part..16 * part + 16];
        // SAFETY: SSE2 is in the x86_64 baseline; the load reads exactly `bytes` (16
        // bytes, any alignment).
        let masks = unsafe {
            let x = _mm_loadu_si128(bytes.as_ptr().cast::<__m128i>());
            let is = |v: __m128i, c: u8| {
                _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8))) as u16
            };
            // `[` and `{`, `]` and `}` differ only in bit 0x20, and no other byte maps
            // onto `{` or `}` with that bit set.
            let folded = _mm_or_si128(x, _mm_set1_epi8(0x20));
            five(x, folded, |v, c| u64::from(is(v, c)))
        };
        m.add(masks, 16 * part as u32);
    }
    m
}

/// The five masks of a `Block64` from the bytes `x` and the same bytes with bit 0x20 set,
/// `is` giving the bits of a vector's bytes equal to a byte.
#[inline(always)]
fn five<V: Copy>(x: V, folded: V, is: impl Fn(V, u8) -> u64) -> [u64; 5] {
    [
        is(x, b'"'),
        is(x, b'\\'),
        is(folded, b'{'),
        is(folded, b'}'),
        is(x, b'\n'),
    ]
}

impl Block64 {
    /// Adds masks from `five` for the bytes from `at` on.
    #[inline(always)]
    fn add(&mut self, masks: [u64; 5], at: u32) {
        self.quote |= masks[0] << at;
        self.backslash |= masks[1] << at;
        self.open |= masks[2] << at;
        self.close |= masks[3] << at;
        self.newline |= masks[4] << at;
    }
}

/// `block64` with AVX2, for callers compiled with it.
///
/// # Safety
///
/// The CPU must have AVX2 (callers compiled with it may call this without `unsafe`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
pub fn block64_avx2(block: &[u8]) -> Block64 {
    use std::arch::x86_64::*;
    assert_eq!(block.len(), 64, "a block is 64 bytes");
    let half = |at: usize| {
        // SAFETY: reads the 32 bytes of `block` from `at` (0 or 32), any alignment.
        let x = unsafe { _mm256_loadu_si256(block.as_ptr().add(at).cast::<__m256i>()) };
        let bits = |v: __m256i| u64::from(_mm256_movemask_epi8(v) as u32);
        let is = |v: __m256i, c: u8| bits(_mm256_cmpeq_epi8(v, _mm256_set1_epi8(c as i8)));
        // As in `block64`: `{[` and `}]` differ only in bit 0x20.
        let folded = _mm256_or_si256(x, _mm256_set1_epi8(0x20));
        five(x, folded, is)
    };
    let mut m = Block64::default();
    m.add(half(0), 0);
    m.add(half(32), 32);
    m
}

/// The masks of `block`, which must be 64 bytes long.
#[cfg(not(target_arch = "x86_64"))]
pub fn block64(block: &[u8]) -> Block64 {
    block64_bytewise(block)
}

/// `block64` one byte at a time: the portable version, and what tests check against.
pub fn block64_bytewise(block: &[u8]) -> Block64 {
    assert_eq!(block.len(), 64, "a block is 64 bytes");
    let mut m = Block64::default();
    for (k, &c) in block.iter().enumerate() {
        let bit = 1u64 << k;
        match c {
            b'"' => m.quote |= bit,
            b'\\' => m.backslash |= bit,
            b'{' | b'[' => m.open |= bit,
            b'}' | b']' => m.close |= bit,
            b'\n' => m.newline |= bit,
            _ => {}
        }
    }
    m
}

/// The bytes a backslash escapes in a block: a backslash escapes the next byte unless it
/// is itself escaped, so in a run of backslashes every second one escapes. `carry` is 1
/// when the block's first byte is escaped by the previous block, and is set for the next
/// block. Runs are told apart by parity: adding each run's start to the run carries past
/// its end, and whether that start sits on an even or odd bit says which bits escape.
#[inline]
pub fn escaped_bits(backslash: u64, carry: &mut u64) -> u64 {
    const EVEN: u64 = 0x5555_5555_5555_5555;
    // A backslash that is itself escaped starts nothing.
    let backslash = backslash & !*carry;
    let follows = backslash << 1 | *carry;
    // Runs starting on an odd bit (their start not escaped).
    let odd_starts = backslash & !EVEN & !follows;
    let (ends, overflow) = odd_starts.overflowing_add(backslash);
    *carry = u64::from(overflow);
    (EVEN ^ (ends << 1)) & follows
}

/// Bit k set when an odd number of `bits` lie at or below k: with `bits` the unescaped
/// quotes, the bytes from an opening quote up to (not including) its closing one.
#[inline]
pub fn prefix_xor(mut bits: u64) -> u64 {
    for shift in [1, 2, 4, 8, 16, 32] {
        bits ^= bits << shift;
    }
    bits
}

#[cfg(not(target_arch = "x86_64"))]
fn block_quotes_stops(bytes: &[u8], at: usize) -> (u32, u32, u32) {
    let block = &bytes[at..at + 16];
    let quotes = block
        .iter()
        .enumerate()
        .fold(0, |m, (k, &c)| m | u32::from(c == b'"') << k);
    let (stops, high) = scalar_stops(block);
    (quotes, stops, high)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Up to `max_len` bytes, each `pick` of a random number: a few bytes that matter
    /// among plain letters.
    fn random_bytes(state: &mut u64, max_len: u64, pick: impl Fn(u64) -> u8) -> Vec<u8> {
        let len = crate::testing::xorshift(state) % max_len;
        (0..len)
            .map(|_| pick(crate::testing::xorshift(state)))
            .collect()
    }

    #[test]
    fn blank_is_the_first_space_or_tab() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..20_000 {
            let bytes = random_bytes(&mut state, 70, |r| match r % 16 {
                0 => b' ',
                1 => b'\t',
                2 => b' ' | 0x80,
                3 => b'\n',
                n => b'a' + n as u8,
            });
            let len = bytes.len();
            for at in 0..=len {
                let want = bytes[at..]
                    .iter()
                    .position(|&c| c == b' ' || c == b'\t')
                    .map_or(len, |k| at + k);
                assert_eq!(blank(&bytes, at), want, "{bytes:?} from {at}");
            }
        }
    }

    #[test]
    fn backslash_is_found_where_memchr_finds_it() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for round in 0..40_000 {
            // Dense and sparse: long strings with no backslash or one late in them too.
            let one_in = if round % 2 == 0 { 24 } else { 400 };
            let bytes = random_bytes(&mut state, 90, |r| match r % one_in {
                0 => b'\\',
                1 => 0x5c ^ 0x80,
                2 => 0x5b,
                3 => 0,
                n => b'a' + (n % 24) as u8,
            });
            assert_eq!(
                backslash(&bytes),
                memchr::memchr(b'\\', &bytes),
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn digits_in_word_counts_the_leading_digits() {
        let count = |bytes: [u8; 8]| bytes.iter().take_while(|b| b.is_ascii_digit()).count();
        // Every byte value at every place, behind digits (and after a byte that carries
        // when 6 is added to it).
        for place in 0..8 {
            for value in 0..=255u8 {
                for filler in [b'7', 0xFF] {
                    let mut bytes = [b'0'; 8];
                    bytes[place] = value;
                    if place + 1 < 8 {
                        bytes[place + 1] = filler;
                    }
                    let word = u64::from_le_bytes(bytes);
                    assert_eq!(digits_in_word(word), count(bytes), "{bytes:?}");
                }
            }
        }
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..100_000 {
            let bytes = random_bytes(&mut state, 8, |r| match r % 4 {
                0 => (r >> 8) as u8,
                _ => b'0' + (r % 10) as u8,
            });
            let mut word = [b'0'; 8];
            word[..bytes.len()].copy_from_slice(&bytes);
            assert_eq!(
                digits_in_word(u64::from_le_bytes(word)),
                count(word),
                "{word:?}"
            );
        }
    }

    /// The obvious byte-at-a-time reading of a JSON string, to check `string_end` against:
    /// bytes from 0x80 up are content when `wide`, and end it as invalid otherwise.
    fn reference(bytes: &[u8], start: usize, wide: bool) -> Option<(usize, bool)> {
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
                c if c >= 0x80 && !wide => return None,
                _ => i += 1,
            }
        }
    }

    /// `count` pseudo-random byte strings (xorshift from `seed`) of up to `max_len` bytes,
    /// each with the generator state it came from; mostly `a`, so strings often run long
    /// enough to span blocks.
    fn strings(seed: u64, alphabet: [u8; 10], max_len: u64, count: usize) -> Vec<(Vec<u8>, u64)> {
        let mut state = seed;
        (0..count)
            .map(|_| {
                let state = crate::testing::xorshift(&mut state);
                let mut bits = state;
                let bytes = (0..(state % max_len) as usize)
                    .map(|i| {
                        if i % 16 == 0 {
                            bits = bits.rotate_left(29) ^ 0x5851_f42d_4c95_7f2d;
                        }
                        let pick = (bits >> (4 * (i % 16))) & 0xf;
                        alphabet.get(pick as usize).copied().unwrap_or(b'a')
                    })
                    .collect();
                (bytes, state)
            })
            .collect()
    }

    /// `string_end` from a random start of 200,000 random strings over `alphabet` agrees
    /// with `reference`.
    fn string_end_agrees_on(seed: u64, alphabet: [u8; 10], max_len: u64) {
        for (bytes, state) in strings(seed, alphabet, max_len, 200_000) {
            let start = (state >> 58) as usize % (bytes.len() + 1);
            let text = String::from_utf8_lossy(&bytes);
            assert_eq!(
                string_end::<true>(&bytes, start),
                reference(&bytes, start, true),
                "{text:?} from {start}"
            );
            assert_eq!(
                string_end::<false>(&bytes, start),
                reference(&bytes, start, false),
                "{text:?} from {start}, not wide"
            );
        }
    }

    #[test]
    fn string_end_agrees_with_a_byte_at_a_time_reading() {
        let alphabet = [b'a', b'"', b'\\', b'n', b'u', b'/', b'\t', 0xc3, 0xa9, b' '];
        string_end_agrees_on(0x9e37_79b9_7f4a_7c15, alphabet, 48);
    }

    #[test]
    fn string_end_stops_at_bytes_from_0x80_unless_wide() {
        // Multi-byte characters, quotes and escapes at every offset in and across blocks.
        let alphabet = [0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, b'"', b'\\', b'a'];
        string_end_agrees_on(0x51_7cc1_b727_220a, alphabet, 64);
        for text in [
            "é\"",
            "aaaaaaaaaaaaaaaaaaaaaaaa日本語\\n€😀\"",
            "ключ-значение\"",
        ] {
            let end = text.len() - 1;
            assert_eq!(
                string_end::<true>(text.as_bytes(), 0),
                Some((end, text.contains('\\')))
            );
            assert_eq!(string_end::<false>(text.as_bytes(), 0), None, "{text}");
        }
    }

    #[test]
    fn string_end_agrees_on_runs_of_backslashes_across_blocks() {
        // Backslashes most of the time, so that runs of every length, odd and even, start
        // and end at every offset and straddle the 16-byte blocks.
        let alphabet = [
            b'\\', b'\\', b'\\', b'\\', b'\\', b'\\', b'"', b'n', b'u', b'\n',
        ];
        string_end_agrees_on(0x2545_f491_4f6c_dd1d, alphabet, 70);
    }

    /// `string_skip` byte by byte.
    fn skip_reference(bytes: &[u8]) -> Skip {
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'"' => return Skip::Quote(i),
                b'\\' if bytes.get(i + 1).is_some_and(|&c| c >= 0x20) => i += 2,
                b'\\' => return Skip::Stop(i),
                c if c < 0x20 => return Skip::Stop(i),
                _ => i += 1,
            }
        }
        Skip::Open
    }

    #[test]
    fn string_skip_agrees_with_a_byte_at_a_time_reading() {
        let alphabet = [
            b'a', b'"', b'\\', b'\n', b'\t', b'x', b' ', 0xc3, b'a', b'a',
        ];
        for (bytes, _) in strings(0x1234_5678_9abc_def1, alphabet, 50, 200_000) {
            assert_eq!(
                string_skip(&bytes),
                skip_reference(&bytes),
                "{:?}",
                String::from_utf8_lossy(&bytes)
            );
        }
    }

    /// The bytes escaped in a run of blocks, one byte at a time.
    fn escaped_reference(bytes: &[u8]) -> Vec<bool> {
        let mut out = vec![false; bytes.len()];
        let mut k = 0;
        while k < bytes.len() {
            if bytes[k] == b'\\' && k + 1 < bytes.len() {
                out[k + 1] = true;
                k += 2;
            } else {
                k += 1;
            }
        }
        out
    }

    #[test]
    fn block_masks_agree_with_a_byte_at_a_time_reading() {
        let alphabet = [
            b'\\', b'\\', b'"', b'{', b']', b'\n', b'[', b'}', b'a', 0xc3,
        ];
        let blocks = strings(0x7f4a_7c15_9e37_79b9, alphabet, 256, 20_000);
        for (bytes, _) in blocks {
            let whole = bytes.len() / 64 * 64;
            let want = escaped_reference(&bytes[..whole]);
            let mut carry = 0;
            for (b, block) in bytes[..whole].chunks(64).enumerate() {
                let m = block64(block);
                assert_eq!(m, block64_bytewise(block));
                #[cfg(target_arch = "x86_64")]
                if std::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2, checked just above.
                    assert_eq!(unsafe { block64_avx2(block) }, m);
                }
                let escaped = escaped_bits(m.backslash, &mut carry);
                for (k, want) in want[64 * b..64 * b + 64].iter().enumerate() {
                    assert_eq!(escaped >> k & 1 == 1, *want, "{block:?} bit {k}");
                }
                let quotes = m.quote & !escaped;
                let mut inside = false;
                let xor = prefix_xor(quotes);
                for k in 0..64 {
                    inside ^= quotes >> k & 1 == 1;
                    assert_eq!(xor >> k & 1 == 1, inside);
                }
            }
        }
    }
}
