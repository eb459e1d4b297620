//! What changes while an index is served: urgent status changes on top of it
//! ([`overlay`]) and the scan count of each item ([`scans`]), both kept in
//! append-only logs ([`journal`]) so that they survive restarts and swaps.
//!
//! Both are keyed by what identifies a record across snapshots (GTIN, lot,
//! serial), never by a position in one index.

pub mod journal;
pub mod overlay;
pub mod repeats;
pub mod scans;

use std::hash::{BuildHasherDefault, Hasher};

use xxhash_rust::xxh3::xxh3_128;

use crate::code::Gtin;
use crate::date::Date;
use overlay::Changes;
use scans::Scans;

/// What a lookup sees besides the index.
pub struct Context<'a> {
    /// Status changes in force.
    pub changes: &'a Changes,
    /// Where item scans are counted; `None` counts nothing.
    pub scans: Option<&'a Scans>,
    /// Who scans, as a hash of the client's address: one client's repeated
    /// scans of an item count once a window. `None` counts every scan.
    pub client: Option<u64>,
    /// Above this many scans an item answer warns `scanned_many_times`.
    pub warn_above: u64,
    /// Now, Unix seconds, and the date it is in the service's calendar.
    pub now: i64,
    pub today: Date,
}

#[derive(Clone, Copy)]
pub(crate) enum KeyKind {
    Product = 1,
    Batch = 2,
    Item = 3,
}

/// A record's identity as 128 bits: collisions among even billions of keys
/// are out of reach, so maps hold the hash and not the text.
pub(crate) fn key(kind: KeyKind, gtin: Gtin, id: &str) -> u128 {
    // Lots and serials are at most 20 bytes; a longer id is still hashed whole.
    let mut buf = [0u8; 9 + 64];
    let id = id.as_bytes();
    buf[0] = kind as u8;
    buf[1..9].copy_from_slice(&gtin.as_u64().to_le_bytes());
    if id.len() <= 64 {
        buf[9..9 + id.len()].copy_from_slice(id);
        xxh3_128(&buf[..9 + id.len()])
    } else {
        let mut long = buf[..9].to_vec();
        long.extend_from_slice(id);
        xxh3_128(&long)
    }
}

/// Maps keyed by [`key`] (or by another xxh3 hash) hash nothing again: the
/// key is already a good hash.
pub(crate) type KeyHasher = BuildHasherDefault<PreHashed>;

#[derive(Default)]
pub(crate) struct PreHashed(u64);

impl Hasher for PreHashed {
    fn write(&mut self, bytes: &[u8]) {
        // Only `u128` keys are hashed here; anything else still spreads.
        self.0 = xxhash_rust::xxh3::xxh3_64_with_seed(bytes, self.0);
    }

    fn write_u128(&mut self, n: u128) {
        self.0 ^= (n as u64) ^ ((n >> 64) as u64);
    }

    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}
