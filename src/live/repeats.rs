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
//!
//! Both windows are sized for [`MAX_PAIRS`] when they are made, and a
//! closing window is emptied in place, never dropped: a set that grew by
//! doubling would rehash every pair it holds on the worker's thread, under
//! the lock, 30 ms for the last doubling (`cargo bench --bench live`), and at
//! national rates a window fills in a minute or two. Emptying one costs
//! about 0.1 ms. A server writes both windows once before it serves
//! ([`Repeats::touch`]): until written, the room is only reserved, and each
//! first write to a page of it would be a page fault on the worker.

use std::collections::HashSet;
use std::sync::Mutex;

use super::KeyHasher;

/// The most (client, item) pairs one window holds: 2 Mi pairs, 36 MiB per
/// window with the set's overhead (4 Mi slots of 8 bytes and a control byte).
pub const MAX_PAIRS: usize = 1 << 21;

/// Slots of a window between two pairs written by [`Repeats::touch`]: 2 KiB
/// of 8-byte slots, two to a 4 KiB page.
const TOUCH_STRIDE: usize = 256;

/// The pairs of the current and the previous window.
pub struct Repeats {
    /// Seconds a window lasts; 0 counts every scan.
    window: i64,
    sets: Mutex<Windows>,
}

struct Windows {
    current: HashSet<u64, KeyHasher>,
    previous: HashSet<u64, KeyHasher>,
    /// When the current window began, Unix seconds.
    started: i64,
}

impl Repeats {
    /// Repeats within `window_secs` (0: none are recognised, and no room is
    /// taken).
    pub fn new(window_secs: u64) -> Repeats {
        let room = if window_secs == 0 { 0 } else { MAX_PAIRS };
        let window = || HashSet::with_capacity_and_hasher(room, KeyHasher::default());
        Repeats {
            window: i64::try_from(window_secs).unwrap_or(i64::MAX),
            sets: Mutex::new(Windows {
                current: window(),
                previous: window(),
                started: 0,
            }),
        }
    }

    /// Writes every page of both windows once, before the first scan: a
    /// window's room is only reserved until written, and the first write to
    /// each fresh page is a page fault (a whole 2 MiB page zeroed where the
    /// kernel backs the set with huge pages), which would otherwise fall on
    /// the worker in a fresh server's first second of traffic. A pair is its
    /// own hash ([`KeyHasher`]), so pair `i` goes to slot `i` of an empty
    /// window: one pair every [`TOUCH_STRIDE`] slots writes each page, and
    /// the window is emptied again.
    ///
    /// Cost: 2 × 16,384 insertions and a clear, once, before the server
    /// serves; the windows' 72 MiB become resident then rather than as
    /// they fill.
    pub fn touch(&self) {
        if self.window == 0 {
            return;
        }
        let mut sets = self.sets.lock().unwrap_or_else(|p| p.into_inner());
        let sets = &mut *sets;
        for set in [&mut sets.current, &mut sets.previous] {
            set.extend((0..2 * MAX_PAIRS as u64).step_by(TOUCH_STRIDE));
            set.clear();
        }
    }

    /// Whether `client` scanned `item` (a [`super::key`]) within the window
    /// before `now`; records this scan either way.
    ///
    /// Cost: one hash and one short lock; an insertion into a set that
    /// never grows.
    pub fn seen_before(&self, client: u64, item: u128, now: i64) -> bool {
        if self.window == 0 {
            return false;
        }
        let mut bytes = [0u8; 24];
        bytes[..8].copy_from_slice(&client.to_le_bytes());
        bytes[8..].copy_from_slice(&item.to_le_bytes());
        let pair = xxhash_rust::xxh3::xxh3_64(&bytes);
        let mut sets = self.sets.lock().unwrap_or_else(|p| p.into_inner());
        let sets = &mut *sets;
        if now.saturating_sub(sets.started) >= self.window || sets.current.len() >= MAX_PAIRS {
            std::mem::swap(&mut sets.previous, &mut sets.current);
            sets.current.clear();
            sets.started = now;
        }
        // Inserted into the current window even when the previous one had
        // it: a client that keeps scanning stays recognised.
        let new_here = sets.current.insert(pair);
        !new_here || sets.previous.contains(&pair)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The room of the current and the previous window.
    fn room(r: &Repeats) -> (usize, usize) {
        let sets = r.sets.lock().unwrap();
        (sets.current.capacity(), sets.previous.capacity())
    }

    #[test]
    fn a_clients_repeats_count_once_per_one_to_two_windows() {
        let repeats = Repeats::new(60);
        assert!(!repeats.seen_before(1, 10, 1000), "a first scan counts");
        assert!(repeats.seen_before(1, 10, 1030), "its repeat does not");
        assert!(!repeats.seen_before(2, 10, 1030), "another client's does");
        // The window closes at 1060; the pair is still known from it.
        assert!(!repeats.seen_before(3, 11, 1061));
        assert!(repeats.seen_before(1, 10, 1062));
        // Two windows with no scan of (2, 10): it counts again.
        assert!(!repeats.seen_before(3, 12, 1122));
        assert!(!repeats.seen_before(3, 13, 1183));
        assert!(!repeats.seen_before(2, 10, 1184));
    }

    #[test]
    fn touched_windows_hold_nothing_and_keep_their_room() {
        let repeats = Repeats::new(60);
        let before = room(&repeats);
        assert!(!repeats.seen_before(1, 10, 1000));
        repeats.touch();
        assert_eq!(room(&repeats), before, "touching grew no window");
        {
            let sets = repeats.sets.lock().unwrap();
            assert_eq!((sets.current.len(), sets.previous.len()), (0, 0));
        }
        // Touching forgets the pairs seen: it is done before any scan.
        assert!(!repeats.seen_before(1, 10, 1000));
        assert!(repeats.seen_before(1, 10, 1001));
    }

    #[test]
    fn no_window_recognises_nothing() {
        let repeats = Repeats::new(0);
        assert!(!repeats.seen_before(1, 10, 1000));
        assert!(!repeats.seen_before(1, 10, 1000));
    }

    #[test]
    fn a_full_window_closes_early_and_no_window_ever_grows() {
        let repeats = Repeats::new(3600);
        let before = room(&repeats);
        assert!(before.0 >= MAX_PAIRS && before.1 >= MAX_PAIRS, "{before:?}");
        for i in 0..MAX_PAIRS as u128 {
            assert!(!repeats.seen_before(1, i, 1000));
        }
        // The window is full: the next scan closes it, an hour early, and
        // the pairs it held are still known.
        assert!(!repeats.seen_before(2, 0, 1000));
        assert!(repeats.seen_before(1, 0, 1000));
        assert_eq!(repeats.sets.lock().unwrap().current.len(), 2);
        assert_eq!(room(&repeats), before, "no window was reallocated");
    }
}
