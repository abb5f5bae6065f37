//! Evidence of held permissions per (project, user): what allowed calls prove their caller
//! held, as bit sets over the catalog's permissions, for inferring the cause of denials
//! that name no action.
//!
//! The table is too large for the caches on a big trail (one entry per pair: 100,000 pairs
//! for 500 users in 200 projects), and waiting for its entry took 5-12% of a scan of JSON
//! lines (by profile, and by a build without evidence). So an update is queued a few records deep while the CPU fetches its entry, and
//! applied when later updates push it out. The table is therefore open addressing of its
//! own, since the address to fetch must be known before the lookup.
//!
//! Invariant: once `settle` has run, the table holds for each pair the union of every set
//! added for it, and nothing for a pair whose sets were all empty.

/// Words of a `Held` set kept in the table entry itself: 128 permissions, more than the
/// built-in catalog's 101. Each word more is 8 bytes in every (project, user) entry, and
/// each worker keeps an evidence table of its own until it folds it into the shared tally.
pub const INLINE_WORDS: usize = 2;

/// A set of permissions as bits over `Catalog::permissions`, the first `INLINE_WORDS`
/// words inline: recording an allowed call then touches the table entry only, not a
/// second allocation (that second cache miss was a third of counting an ECS trace).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Held {
    inline: [u64; INLINE_WORDS],
    /// Words from `INLINE_WORDS` on, only for catalogs with more permissions. Boxed twice
    /// so that the entry holds one pointer, not a slice's pointer and length: an entry is
    /// then 40 bytes with its key, not 48.
    more: Option<Box<Box<[u64]>>>,
}

impl Held {
    /// Word `w` of the set, for writing; grows `more` when needed.
    fn word_mut(&mut self, w: usize) -> &mut u64 {
        if w < INLINE_WORDS {
            return &mut self.inline[w];
        }
        let i = w - INLINE_WORDS;
        let more = self.more.get_or_insert_with(Default::default);
        if more.len() <= i {
            let mut grown = more.to_vec();
            grown.resize(i + 1, 0);
            **more = grown.into_boxed_slice();
        }
        &mut more[i]
    }

    /// The words of the set in order (trailing words may be missing: they are zero).
    fn words(&self) -> impl Iterator<Item = u64> + '_ {
        self.inline
            .iter()
            .chain(self.more.iter().flat_map(|m| m.iter()))
            .copied()
    }

    /// Whether the set has no permission. `more` exists only once a bit was set in it.
    fn is_empty(&self) -> bool {
        self.inline == [0; INLINE_WORDS] && self.more.is_none()
    }

    /// Whether permission `index` is in the set.
    pub fn contains(&self, index: usize) -> bool {
        let w = index / 64;
        let word = match w.checked_sub(INLINE_WORDS) {
            None => self.inline[w],
            Some(i) => self
                .more
                .as_ref()
                .and_then(|m| m.get(i))
                .copied()
                .unwrap_or(0),
        };
        word & (1 << (index % 64)) != 0
    }
}

/// One entry: the pair's `who` keys and its set. A slot whose set is empty is free, as
/// only pairs with a permission are stored.
#[derive(Debug, Clone, Default)]
struct Slot {
    project: u64,
    user: u64,
    held: Held,
}

/// Updates waiting for their entry. An ECS trace takes a microsecond or more to read, and
/// an entry far longer than that to arrive from memory, so a few suffice.
const QUEUE: usize = 4;

/// Slots `Proven::merge` takes in a row; a table has at least 64.
const MERGE_BLOCK: usize = 16;

/// The evidence table. See the module invariant.
#[derive(Debug, Clone, Default)]
pub struct Proven {
    /// Open addressing with linear probing; empty or a power of two long, at most 7/8
    /// full: as dense as a general map, and most probes stay within the two cache lines
    /// fetched ahead. (At most 3/4 full peaked 6 MiB higher in an 8 GiB soak, at no time
    /// saved that alternating runs could show.)
    slots: Vec<Slot>,
    /// Stored pairs.
    len: usize,
    /// Updates not yet applied: `queue[..queued]`, in a ring whose oldest is at `next` once
    /// it is full.
    queue: [(u64, u64, [u64; INLINE_WORDS]); QUEUE],
    queued: usize,
    next: usize,
    /// Slots looked at by `entry`, for the tests.
    #[cfg(test)]
    probes: u64,
}

impl Proven {
    /// Adds the permissions `inline` (the first `INLINE_WORDS` words of a set) for the pair
    /// `(project, user)` of `who` keys. Applied later (at the latest by `settle`), once
    /// its entry had time to arrive.
    pub fn add(&mut self, project: u64, user: u64, inline: [u64; INLINE_WORDS]) {
        if inline == [0; INLINE_WORDS] {
            return;
        }
        self.prefetch(project, user);
        let at = self.next;
        if self.queued == QUEUE {
            let (p, u, words) = self.queue[at];
            self.apply(p, u, &words);
        } else {
            self.queued += 1;
        }
        self.queue[at] = (project, user, inline);
        self.next = (at + 1) % QUEUE;
    }

    /// Adds the permissions in word `w` (`bits`, any word) for the pair now.
    pub fn add_word(&mut self, project: u64, user: u64, w: usize, bits: u64) {
        if bits != 0 {
            *self.entry(project, user).word_mut(w) |= bits;
        }
    }

    /// Applies every queued update. Reading needs it first.
    pub fn settle(&mut self) {
        for k in 0..self.queued {
            let (p, u, words) = self.queue[k];
            self.apply(p, u, &words);
        }
        self.queued = 0;
        self.next = 0;
    }

    /// The set of the pair, if it has a permission. The table must be settled.
    pub fn get(&self, project: u64, user: u64) -> Option<&Held> {
        assert_eq!(self.queued, 0, "evidence read before it was settled");
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(project, user);
        loop {
            let slot = &self.slots[i];
            if slot.held.is_empty() {
                return None;
            }
            if (slot.project, slot.user) == (project, user) {
                return Some(&slot.held);
            }
            i = (i + 1) & mask;
        }
    }

    /// Pairs stored, counting each queued update as one more: a bound on what the table
    /// will hold, cheap to ask after every chunk.
    pub fn len(&self) -> usize {
        self.len + self.queued
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds everything `other` holds.
    pub fn merge(&mut self, mut other: Proven) {
        other.settle();
        // `other`'s slots are in the order of where their probes start. Taken in that
        // order, the pairs filled this table one stretch at a time, and where that
        // stretch passed the fill limit they piled up into one cluster that each later
        // pair walked to its end (1,000 slots per pair in the test below, a third of a
        // second for 100,000 pairs). So the slots go in blocks of 16, the blocks in an
        // order that spreads over the whole table at every moment: an odd stride through
        // a power of two visits every block once, and a stride of the golden ratio's
        // fraction of the table leaves the blocks visited so far about evenly spaced at
        // any step (the test probes as many slots per pair as in a random order).
        let blocks = other.slots.len() / MERGE_BLOCK;
        let stride = ((blocks as u128 * 0x9e37_79b9_7f4a_7c15) >> 64) as usize | 1;
        for k in 0..blocks {
            let block = k.wrapping_mul(stride) & (blocks - 1);
            for slot in &other.slots[block * MERGE_BLOCK..][..MERGE_BLOCK] {
                if slot.held.is_empty() {
                    continue;
                }
                // A stored set is never empty, so the slot taken gets a bit below.
                let held = self.entry(slot.project, slot.user);
                for (w, bits) in slot.held.words().enumerate() {
                    if bits != 0 {
                        *held.word_mut(w) |= bits;
                    }
                }
            }
        }
    }

    /// Applies a queued update (never all zero: `add` queues no such update).
    fn apply(&mut self, project: u64, user: u64, inline: &[u64; INLINE_WORDS]) {
        let held = self.entry(project, user);
        for (word, bits) in held.inline.iter_mut().zip(inline) {
            *word |= bits;
        }
    }

    /// The slot where the pair's probe starts (the table is not empty).
    fn home(&self, project: u64, user: u64) -> usize {
        // The keys are hashes already; mixing keeps pairs with equal or zero keys apart.
        let mixed = (project ^ user.rotate_left(29)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (mixed >> 32) as usize & (self.slots.len() - 1)
    }

    /// The pair's set, its slot taken when it has none; the caller sets a bit at once, or
    /// the slot stays free.
    fn entry(&mut self, project: u64, user: u64) -> &mut Held {
        if (self.len + 1) * 8 > self.slots.len() * 7 {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(project, user);
        loop {
            #[cfg(test)]
            {
                self.probes += 1;
            }
            let slot = &self.slots[i];
            if slot.held.is_empty() {
                self.len += 1;
                let slot = &mut self.slots[i];
                (slot.project, slot.user) = (project, user);
                return &mut slot.held;
            }
            if (slot.project, slot.user) == (project, user) {
                return &mut self.slots[i].held;
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let capacity = (self.slots.len() * 2).max(64);
        // Written, not a zeroed allocation: see `seen::IdTable::grow`.
        let mut fresh = std::hint::black_box(Vec::with_capacity(capacity));
        fresh.resize_with(capacity, Slot::default);
        let old = std::mem::replace(&mut self.slots, fresh);
        let mask = capacity - 1;
        for slot in old.into_iter().filter(|s| !s.held.is_empty()) {
            let mut i = self.home(slot.project, slot.user);
            while !self.slots[i].held.is_empty() {
                i = (i + 1) & mask;
            }
            self.slots[i] = slot;
        }
    }

    /// Asks the CPU to fetch the lines where the pair's probe starts. Only a hint.
    fn prefetch(&self, project: u64, user: u64) {
        if self.slots.is_empty() {
            return;
        }
        let at = self.slots.as_ptr().wrapping_add(self.home(project, user));
        crate::hint::prefetch(at.cast());
        crate::hint::prefetch(at.cast::<u8>().wrapping_add(64));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_sets_reach_past_their_inline_words() {
        // Permission indexes inside and past the inline words, as a catalog with more
        // than 128 permissions has.
        assert_eq!(std::mem::size_of::<Slot>(), 40);
        let mut a = Held::default();
        let mut b = Held::default();
        for i in [0, 63, 64, 255] {
            *a.word_mut(i / 64) |= 1 << (i % 64);
        }
        for i in [256, 700] {
            *b.word_mut(i / 64) |= 1 << (i % 64);
        }
        let held = |set: &Held| (0..1000).filter(|i| set.contains(*i)).collect::<Vec<_>>();
        assert_eq!(held(&a), [0, 63, 64, 255]);
        assert_eq!(held(&b), [256, 700]);
        assert!(!a.contains(10_000) && Held::default().is_empty());
        assert!(!a.is_empty() && !b.is_empty());
    }

    #[test]
    fn holds_the_union_per_pair_like_a_map() {
        // Few projects and users, so pairs repeat; zero keys (an empty name) among them;
        // enough pairs to grow the table several times; words inside and past the inline
        // ones; merged in halves, as worker tallies are.
        let mut state = 0x5eed;
        let mut next = || crate::testing::xorshift(&mut state);
        let mut want: std::collections::HashMap<(u64, u64), Vec<u64>> = Default::default();
        let (mut a, mut b) = (Proven::default(), Proven::default());
        for n in 0..20_000 {
            let project = next() % 40;
            let user = match next() % 300 {
                0 => 0,
                u => u.wrapping_mul(0x9e37_79b9_7f4a_7c15),
            };
            let w = (next() % 4) as usize;
            let bits = 1u64 << (next() % 64);
            let table = if n % 3 == 0 { &mut a } else { &mut b };
            if w < INLINE_WORDS {
                let mut inline = [0; INLINE_WORDS];
                inline[w] = bits;
                table.add(project, user, inline);
            } else {
                table.add_word(project, user, w, bits);
            }
            let words = want.entry((project, user)).or_default();
            words.resize(words.len().max(w + 1), 0);
            words[w] |= bits;
        }
        // Empty sets store nothing.
        a.add(7, 7, [0; INLINE_WORDS]);
        a.add_word(8, 8, 3, 0);
        a.merge(b);
        a.settle();
        assert_eq!(a.len(), want.len());
        for ((project, user), words) in &want {
            let held = a.get(*project, *user).expect("every pair added is held");
            let got: Vec<u64> = (0..words.len() * 64)
                .filter(|i| held.contains(*i))
                .map(|i| i as u64)
                .collect();
            let expected: Vec<u64> = (0..words.len() * 64)
                .filter(|i| words[i / 64] & (1 << (i % 64)) != 0)
                .map(|i| i as u64)
                .collect();
            assert_eq!(got, expected, "pair ({project}, {user})");
        }
        assert!(a.get(7, 7).is_none() && a.get(8, 8).is_none() && a.get(41, 1).is_none());
    }

    #[test]
    #[should_panic(expected = "settled")]
    fn reading_before_settling_is_refused() {
        let mut p = Proven::default();
        p.add(1, 2, [1, 0]);
        let _ = p.get(1, 2);
    }

    #[test]
    fn merging_probes_a_few_slots_per_pair_however_full_the_table() {
        // A table three quarters full that the merge fills past its limit (a worker's
        // evidence folded into the shared tally), and one it fills to just below it.
        for (held, merged) in [(49_198, 25_768), (37_500, 19_750)] {
            let mut state = 0x5eed;
            let mut next = || crate::testing::xorshift(&mut state);
            let mut table = Proven::default();
            for _ in 0..held {
                table.add(next(), next(), [1, 0]);
            }
            let mut part = Proven::default();
            for _ in 0..merged {
                part.add(next(), next(), [0, 1]);
            }
            table.settle();
            let before = table.probes;
            table.merge(part);
            let per_pair = (table.probes - before) as f64 / merged as f64;
            // Linear probing at 7/8 full expects about 30 at worst; pairs in slot order
            // (as the merge took them before) probed about 1,000 here.
            assert!(
                per_pair < 16.0,
                "{per_pair} probes per pair ({held} + {merged})"
            );
            assert_eq!(table.len(), held + merged);
        }
    }
}
