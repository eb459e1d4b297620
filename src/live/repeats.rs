//! Repeated scans: whether a client has scanned an item already within the
//! window, so that one client's repeats count once.
//!
//! A stamp scanned far more often than one unit's life explains is the sign
//! of a cloned code, but only when the scans come from many places: one
//! phone, script or bot scanning a genuine stamp again and again must not
//! push it past the `scanned_many_times` threshold and brand it a
//! counterfeit. So a scan counts only when its (client, item) pair is not
//! among the pairs seen in the current window or the one before it; a
//! client's repeats of one item thus count once every one to two windows.
//!
//! Memory is bounded: each window holds at most [`MAX_PAIRS`] pairs of 8
//! bytes. A window that fills up is closed early, so a flood of distinct
//! pairs shortens the window (its repeats may then count sooner) but never
//! grows the process.

use std::collections::HashSet;
use std::sync::Mutex;

use super::KeyHasher;

/// The most (client, item) pairs one window holds: 2 Mi pairs, about 20 MiB
/// per window with the set's overhead.
pub const MAX_PAIRS: usize = 1 << 21;

/// The pairs of the current and the previous window.
pub struct Repeats {
    /// Seconds a window lasts; 0 counts every scan.
    window: i64,
    sets: Mutex<Windows>,
}

#[derive(Default)]
struct Windows {
    current: HashSet<u64, KeyHasher>,
    previous: HashSet<u64, KeyHasher>,
    /// When the current window began, Unix seconds.
    started: i64,
}

impl Repeats {
    /// Repeats within `window_secs` (0: none are recognised).
    pub fn new(window_secs: u64) -> Repeats {
        Repeats {
            window: i64::try_from(window_secs).unwrap_or(i64::MAX),
            sets: Mutex::default(),
        }
    }

    /// Whether `client` scanned `item` (a [`super::key`]) within the window
    /// before `now`; records this scan either way.
    ///
    /// Cost: one hash and one short lock; an insertion into a set.
    pub fn seen_before(&self, client: u64, item: u128, now: i64) -> bool {
        if self.window == 0 {
            return false;
        }
        let mut bytes = [0u8; 24];
        bytes[..8].copy_from_slice(&client.to_le_bytes());
        bytes[8..].copy_from_slice(&item.to_le_bytes());
        let pair = xxhash_rust::xxh3::xxh3_64(&bytes);
        let mut sets = self.sets.lock().unwrap_or_else(|p| p.into_inner());
        if now.saturating_sub(sets.started) >= self.window || sets.current.len() >= MAX_PAIRS {
            sets.previous = std::mem::take(&mut sets.current);
            sets.started = now;
        }
        // Inserted into the current window even when the previous one had
        // it: a client that keeps scanning stays recognised.
        let new_here = sets.current.insert(pair);
        !new_here || sets.previous.contains(&pair)
    }
}
