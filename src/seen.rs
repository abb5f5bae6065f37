//! De-duplication of trace ids: a concurrent set of 64-bit id hashes whose memory stays
//! within 16 bytes per distinct id, however many there are. Nothing else lives here.

use std::sync::Mutex;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

/// Stable 64-bit hash of a string (XXH3, a fixed algorithm without keys, so every run
/// agrees).
pub fn stable_hash(text: &str) -> u64 {
    xxh3_64(text.as_bytes())
}

/// The de-duplication key of a record with a trace id: the id together with every field
/// the reports use. Copies of one delivery agree on all of them, so whichever copy is
/// counted, the reports are the same; two different records that happen to share an id
/// are both counted. This keeps reports independent of the order threads see records in.
/// XXH3, so every run agrees; two distinct records collide with probability about
/// n²/2⁶⁵ (one in ten thousand runs at 60 million records). XXH3 rather than SipHash:
/// nothing here needs a keyed hash, and SipHash was a tenth of the time spent on an ECS
/// trace.
pub fn record_key(id: &str, record: &crate::parse::Record) -> u64 {
    // One-shot XXH3 per field, each seeded with the hash so far: a streaming hasher copied
    // every short field into its buffer first, and took twice as long.
    let mut fixed = [0u8; 12];
    fixed[..8].copy_from_slice(&record.time.unwrap_or(i64::MIN).to_le_bytes());
    fixed[8..10].copy_from_slice(&record.status.unwrap_or(u16::MAX).to_le_bytes());
    fixed[10] = u8::from(record.time.is_some()) | u8::from(record.status.is_some()) << 1;
    fixed[11] = u8::from(record.bad_status);
    let mut h = xxh3_64_with_seed(&fixed, xxh3_64(id.as_bytes()));
    for field in [
        &record.method,
        &record.path,
        &record.project,
        &record.user,
        &record.request,
        &record.response,
        &record.request_id,
        &record.source_ip,
        &record.trace_name,
        &record.trace_rating,
        &record.message,
        &record.resource_url,
        &record.gateway_code,
    ] {
        h = match field.as_deref() {
            Some(text) => xxh3_64_with_seed(text.as_bytes(), h),
            // Unlike any seeded hash of "", so a missing field differs from an empty one.
            None => xxh3_64_with_seed(&[0xff], !h),
        };
    }
    h
}

/// An open-addressing set of non-zero u64s with linear probing. It grows by half when 80%
/// full, so between 8/0.8 = 10 and 8/0.533 = 15 bytes per element (a doubling table would
/// reach 18 and more while resizing).
#[derive(Debug, Default)]
struct IdTable {
    slots: Vec<u64>,
    len: usize,
}

impl IdTable {
    fn slot_of(hash: u64, capacity: usize) -> usize {
        // Multiply-shift maps the hash onto any capacity, not only powers of two. The top
        // bits chose the shard, so rotate them out of the way first.
        ((u128::from(hash.rotate_left(6)) * capacity as u128) >> 64) as usize
    }

    /// `hash` as a slot holds it: 0 marks an empty slot, so 0 is stored as 1.
    fn stored(hash: u64) -> u64 {
        hash.max(1)
    }

    /// Inserts `hash` (as `stored`); true when it was not there yet.
    fn insert(&mut self, hash: u64) -> bool {
        let hash = Self::stored(hash);
        if (self.len + 1) * 5 > self.slots.len() * 4 {
            self.grow();
        }
        let capacity = self.slots.len();
        let mut i = Self::slot_of(hash, capacity);
        loop {
            match self.slots[i] {
                0 => {
                    self.slots[i] = hash;
                    self.len += 1;
                    return true;
                }
                h if h == hash => return false,
                _ => i = if i + 1 == capacity { 0 } else { i + 1 },
            }
        }
    }

    fn grow(&mut self) {
        let capacity = (self.slots.len() * 3 / 2).max(1024);
        // Zeroes written, not left to a zeroed allocation: that maps the shared zero page,
        // and a probe reads a slot before writing it, so every page of the table would
        // fault twice, the second time flushing the other cores' TLBs. `black_box` keeps
        // the compiler from turning allocation and fill back into a zeroed allocation.
        let mut fresh = std::hint::black_box(Vec::with_capacity(capacity));
        fresh.resize(capacity, 0);
        let old = std::mem::replace(&mut self.slots, fresh);
        self.len = 0;
        for h in old.into_iter().filter(|h| *h != 0) {
            self.insert(h);
        }
    }
}

const SHARDS: usize = 64;

/// One shard: its table, and where the table's slots were when last seen, for `prefetch`.
#[derive(Debug, Default)]
struct Shard {
    table: Mutex<IdTable>,
    /// The slots' address and length after the last insert. Read without the lock, only
    /// to compute an address to prefetch: a stale pair (the table grown meanwhile) makes
    /// a useless hint, never a wrong answer.
    slots: AtomicPtr<u64>,
    len: AtomicUsize,
}

/// Trace-id hashes seen so far, in 64 independently locked shards, so threads rarely wait
/// and a resize copies one shard at a time.
#[derive(Debug)]
pub struct Seen {
    shards: Vec<Shard>,
}

impl Default for Seen {
    fn default() -> Self {
        Seen {
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
        }
    }
}

impl Seen {
    fn shard(&self, hash: u64) -> &Shard {
        // The top bits pick the shard; the table uses the whole hash for its slot.
        &self.shards[(hash >> 58) as usize % SHARDS]
    }

    /// True the first time `hash` is offered.
    pub fn first(&self, hash: u64) -> bool {
        let shard = self.shard(hash);
        let mut table = shard
            .table
            .lock()
            .expect("no panics while holding the lock");
        let first = table.insert(hash);
        let slots = table.slots.as_ptr().cast_mut();
        if shard.slots.load(Ordering::Relaxed) != slots {
            shard.slots.store(slots, Ordering::Relaxed);
            shard.len.store(table.slots.len(), Ordering::Relaxed);
        }
        first
    }

    /// Asks the CPU to fetch the slot where `first(hash)` will start probing, so that a
    /// caller with other work to do first does not wait for it: the table is too large
    /// for the caches, and that wait was most of an insert. Only a hint: no effect on
    /// any result.
    pub fn prefetch(&self, hash: u64) {
        let shard = self.shard(hash);
        let len = shard.len.load(Ordering::Relaxed);
        if len == 0 {
            return;
        }
        let slot = IdTable::slot_of(IdTable::stored(hash), len);
        // A stale address (the table grown meanwhile) is harmless: see `hint::prefetch`.
        let at = shard.slots.load(Ordering::Relaxed).wrapping_add(slot);
        crate::hint::prefetch(at.cast_const().cast());
    }

    /// Bytes held by the tables (checked by the tests against the 16-bytes-per-id bound).
    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.table
                    .lock()
                    .expect("no panics while holding the lock")
                    .slots
                    .len()
                    * 8
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_time_only_and_zero_is_a_value() {
        let seen = Seen::default();
        assert!(seen.first(0));
        assert!(!seen.first(0));
        assert!(seen.first(u64::MAX));
        assert!(!seen.first(u64::MAX));
    }

    #[test]
    fn prefetching_changes_no_answer_even_while_tables_grow() {
        // Hints for empty shards, for slots of tables that have since grown (stale
        // addresses), and for ids never inserted: the answers stay those of a plain set.
        let seen = Seen::default();
        let mut model = std::collections::HashSet::new();
        seen.prefetch(42);
        for i in 0..50_000u64 {
            let hash = stable_hash(&format!("id-{}", i % 30_000));
            seen.prefetch(hash);
            seen.prefetch(hash.wrapping_mul(31));
            assert_eq!(seen.first(hash), model.insert(hash), "{i}");
        }
    }

    #[test]
    fn memory_stays_within_16_bytes_per_id() {
        let seen = Seen::default();
        let n = 60_000u64;
        for i in 0..n {
            assert!(seen.first(stable_hash(&format!("trace-{i}"))));
        }
        for i in (0..n).step_by(7) {
            assert!(!seen.first(stable_hash(&format!("trace-{i}"))));
        }
        let per_id = seen.bytes() as f64 / n as f64;
        assert!(per_id <= 16.0, "{per_id} bytes per id");
    }

    #[test]
    fn copies_share_a_key_and_different_records_do_not() {
        let a = crate::parse::Record {
            trace_name: Some("startServer".into()),
            status: Some(403),
            ..Default::default()
        };
        let b = a.clone();
        let c = crate::parse::Record {
            status: Some(200),
            ..a.clone()
        };
        assert_eq!(record_key("t1", &a), record_key("t1", &b));
        assert_ne!(record_key("t1", &a), record_key("t1", &c));
        assert_ne!(record_key("t1", &a), record_key("t2", &a));
        // A missing field is not an empty one, and text moved across a field boundary
        // changes the key.
        let empty = crate::parse::Record {
            user: Some("".into()),
            ..a.clone()
        };
        assert_ne!(record_key("t1", &a), record_key("t1", &empty));
        let split = |method: &str, path: &str| crate::parse::Record {
            method: Some(method.to_string().into()),
            path: Some(path.to_string().into()),
            ..a.clone()
        };
        assert_ne!(
            record_key("t1", &split("GE", "T/x")),
            record_key("t1", &split("GET", "/x"))
        );
        let no_time = crate::parse::Record {
            time: Some(i64::MIN),
            ..a.clone()
        };
        assert_ne!(record_key("t1", &a), record_key("t1", &no_time));
    }
}
