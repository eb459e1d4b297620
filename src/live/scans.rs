//! Scan counts: how often each serialized item has been scanned, and when
//! first. A stamp scanned far more often than one unit's life explains is the
//! sign of a cloned code.
//!
//! Hot path: one sharded `DashMap` entry update per item scan, no global
//! lock. An item whose count changed since the last flush is pushed once onto
//! the dirty list (a short mutex, taken once per item and interval, not per
//! scan); every flush interval the flusher swaps the list out, writes those
//! items' totals to the scan log in one append and syncs it.
//!
//! Loss window: a crash of the process loses at most the scans counted since
//! the last flush began (one flush interval, 1 s by default; on a core
//! saturated with answers, about two intervals and a flush: see
//! [`spawn_flushers`]): what a flush wrote is in the operating system's
//! hands even if the process dies before the sync returns. A crash of the machine loses at most that plus the time
//! the sync takes, since each flush is synced (`fdatasync`) before the next.
//!
//! The log holds totals, not increments: replay keeps the last line of each
//! item, so a line written twice never counts twice. When the log holds more
//! than twice as many lines as there are counted items (and at least
//! `compact_min_lines`), it is rewritten with one line per item.
//!
//! In a fleet ([`Scans::share`], `serve --redis`), the counts here are this
//! replica's own; `crate::fleet` sends them to Redis, as totals again, and
//! learns what the other replicas counted. An answer shows both: the fleet's
//! total as this replica last heard it, plus what it counted since.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dashmap::DashMap;

use super::journal::Journal;
use super::repeats::Repeats;
use super::{KeyHasher, KeyKind, key};
use crate::code::Gtin;
use crate::date::unix_ms;

/// Shards of the count map. Many, so that a flush or a compaction, which
/// holds one shard at a time, holds few entries: on a server whose flusher
/// shares a core with a worker, a preempted flusher must not hold a large part
/// of the map.
const SHARDS: usize = 256;

/// Items the count map has room for unless told otherwise
/// ([`Scans::with_room`], `serve --scan-count-room`): 2^18, about 50 MB
/// (2,048 slots of 97 bytes in each of the 256 shards). A map grows by
/// doubling each shard, and the keys spread evenly, so every shard doubles
/// at about the same count: a round of doublings rehashes the whole map into
/// fresh pages on the worker, seconds of it once millions of items are
/// counted (`cargo bench --bench live -- scans_growth`).
pub const DEFAULT_ROOM: usize = 1 << 18;

/// The most bytes the count map takes for each item of room: a slot and its
/// control byte (97 bytes), times the table's spare slots (a shard's table
/// is at most 7/8 full and its size a power of two: up to 16/7 slots an
/// item). What `--scan-count-room` is bounded by.
pub const ROOM_BYTES_PER_ITEM: u64 = 97 * 16 / 7 + 1;

/// Placeholder counts [`Scans::touch`] writes at most: a larger room is
/// written in part (where the kernel backs the map with 2 MiB pages, this
/// many spread over it still write every one of them).
const TOUCH_MAX: usize = 1 << 22;

/// An empty count map with room for `items`, in [`SHARDS`] shards.
fn map_with_room(items: usize) -> DashMap<u128, Count, KeyHasher> {
    DashMap::with_capacity_and_hasher_and_shard_amount(items, KeyHasher::default(), SHARDS)
}

/// An item's count as an answer shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen {
    /// Scans so far, this one included.
    pub count: u64,
    /// The first scan, Unix seconds.
    pub first_at: i64,
}

struct Count {
    /// This replica's scans of the item.
    count: u64,
    /// The count the log holds.
    logged: u64,
    /// In a fleet: the count last sent to Redis, and what the other
    /// replicas had counted then.
    pushed: u64,
    others: u64,
    first_at: i64,
    gtin: Gtin,
    serial: Serial,
}

/// An item's serial, held in its count: a GS1 serial is at most 20
/// characters, so counting a new item allocates nothing beyond the map's
/// room (an allocation per item was a page fault every few thousand new
/// items, on the worker). A longer one, which no GS1 code carries, is boxed.
enum Serial {
    Inline { len: u8, bytes: [u8; SERIAL_INLINE] },
    Boxed(Box<str>),
}

/// Bytes a serial holds in place: what fits beside the length in the room
/// the boxed form takes anyway.
const SERIAL_INLINE: usize = 22;

impl Serial {
    fn new(serial: &str) -> Serial {
        let mut bytes = [0; SERIAL_INLINE];
        match bytes.get_mut(..serial.len()) {
            Some(room) => {
                room.copy_from_slice(serial.as_bytes());
                Serial::Inline {
                    len: serial.len() as u8,
                    bytes,
                }
            }
            None => Serial::Boxed(serial.into()),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // Copied whole from a `str`: always UTF-8.
            Serial::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            Serial::Boxed(serial) => serial,
        }
    }
}

/// Counters the metrics endpoint shows.
#[derive(Default)]
pub struct ScanStats {
    pub scans: AtomicU64,
    /// Scans not counted: the same client scanned the same item within the
    /// repeat window.
    pub repeats: AtomicU64,
    /// Flushes that wrote counts.
    pub flushes: AtomicU64,
    pub flush_errors: AtomicU64,
    pub compactions: AtomicU64,
    pub log_bytes: AtomicU64,
    /// When the last flush finished (or the counts were opened), Unix
    /// milliseconds: the log holds every count as of then.
    pub last_flush_ms: AtomicU64,
    /// Since when flushes fail, Unix milliseconds; 0 while they succeed.
    pub failing_since_ms: AtomicU64,
    /// Failed flushes in a row, and when the next may be tried.
    failures: std::sync::atomic::AtomicU32,
    retry_at_ms: AtomicU64,
    /// Set by [`Scans::close`]: the flusher threads end.
    closed: std::sync::atomic::AtomicBool,
}

/// The longest wait between two tries of a failing flush.
const MAX_BACKOFF_MS: u64 = 60_000;

/// The counts of every item scanned, and the log that keeps them.
pub struct Scans {
    counts: DashMap<u128, Count, KeyHasher>,
    /// Items `counts` was sized for (see [`Scans::with_room`]).
    room: usize,
    /// Keys of the items whose count is ahead of the log, each once: a key is
    /// pushed when its count first moves past `logged`.
    dirty: Mutex<Vec<u128>>,
    /// `None`: counts are kept in memory only.
    log: Mutex<Option<Log>>,
    compact_min_lines: u64,
    /// Which client scanned which item lately: repeats count once.
    repeats: Repeats,
    /// In a fleet: keys of the items whose count is ahead of what Redis
    /// was sent, each once (as `dirty` is to the log); `None` outside one.
    unpushed: Mutex<Option<Vec<u128>>>,
    /// Items taken to be sent whose answer has not come back.
    in_flight: AtomicU64,
    pub stats: ScanStats,
}

/// An item's count as sent to the fleet's shared counts.
#[derive(Debug)]
pub struct Unpushed {
    key: u128,
    pub gtin: Gtin,
    pub serial: Box<str>,
    /// This replica's count, and its first scan.
    pub count: u64,
    pub first_at: i64,
    /// What Redis was last sent: put back if this push fails.
    before: u64,
}

impl Scans {
    /// Counts kept in memory only, lost at exit.
    pub fn in_memory() -> Scans {
        Scans::with(None, u64::MAX)
    }

    fn with(log: Option<Journal>, compact_min_lines: u64) -> Scans {
        let stats = ScanStats::default();
        stats.last_flush_ms.store(unix_ms(), Ordering::Relaxed);
        Scans {
            counts: map_with_room(DEFAULT_ROOM),
            room: DEFAULT_ROOM,
            dirty: Mutex::default(),
            log: Mutex::new(log.map(|journal| Log {
                journal,
                text: Vec::new(),
            })),
            compact_min_lines,
            repeats: Repeats::new(0),
            unpushed: Mutex::new(None),
            in_flight: AtomicU64::new(0),
            stats,
        }
    }

    /// Room in the count map for `items` (or for the counts it holds, if
    /// more) before it first grows: see [`DEFAULT_ROOM`]. Counts replayed
    /// from the log are moved into the new map, unless the map already has
    /// that room.
    pub fn with_room(mut self, items: usize) -> Scans {
        self.room = items;
        if self.counts.capacity() >= items {
            return self;
        }
        let sized = map_with_room(items.max(self.counts.len()));
        for (key, count) in std::mem::replace(&mut self.counts, sized) {
            self.counts.insert(key, count);
        }
        self
    }

    /// Writes every page of the count map's room and of the repeat windows
    /// once, so that a fresh server's first scans find them faulted in (see
    /// [`Repeats::touch`]). Before the server serves: the map is filled with
    /// placeholder counts where it holds none (as many as it has room for,
    /// at most [`TOUCH_MAX`]), which are then removed.
    ///
    /// Cost, with the default room: [`DEFAULT_ROOM`] insertions into the
    /// map and as many removals, 32,768 into the windows;
    /// 0.08 s in a release build, once. The process's resident memory grows
    /// by what it will reach anyway under national traffic: 124 MB with the
    /// default repeat window.
    pub fn touch(&self) {
        self.repeats.touch();
        let Some(gtin) = Gtin::from_u64(0) else {
            return;
        };
        let room = self.room.min(TOUCH_MAX);
        let mut placed = Vec::with_capacity(room);
        for i in 1..=room.saturating_sub(self.counts.len()) as u128 {
            let key = i.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835);
            // Only where no count is: a replayed item's count stays.
            if let dashmap::Entry::Vacant(vacant) = self.counts.entry(key) {
                vacant.insert(Count::new(gtin, "", 0, 0));
                placed.push(key);
            }
        }
        for key in placed {
            self.counts.remove(&key);
        }
    }

    /// Counts one client's repeated scans of an item once every
    /// `window_secs` (see [`super::repeats`]); 0 counts every scan.
    pub fn with_repeat_window(mut self, window_secs: u64) -> Scans {
        self.repeats = Repeats::new(window_secs);
        self
    }

    /// Opens the scan log at `path` and replays it. A half-written last line
    /// is cut off; a bad line elsewhere is an error naming it.
    pub fn open(path: &Path, compact_min_lines: u64) -> io::Result<Scans> {
        let (log, replayed) = Journal::open(path)?;
        if replayed.torn > 0 {
            tracing::warn!(
                "{}: cut off a half-written last line ({} bytes)",
                path.display(),
                replayed.torn
            );
        }
        let bytes = log.bytes();
        let scans = Scans::with(Some(log), compact_min_lines);
        for (i, line) in replayed.lines.iter().enumerate() {
            let (gtin, serial, count, first_at) = parse_line(line).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{} line {}: not a scan count: {line:?}",
                        path.display(),
                        i + 1
                    ),
                )
            })?;
            scans.counts.insert(
                key(KeyKind::Item, gtin, serial),
                Count::new(gtin, serial, count, first_at),
            );
        }
        scans.stats.log_bytes.store(bytes, Ordering::Relaxed);
        tracing::info!(
            "{}: scan counts of {} item(s)",
            path.display(),
            scans.counts.len()
        );
        Ok(scans)
    }

    /// Counts a scan of the item (`gtin`, `serial`) at `now` by `client`,
    /// unless the same client scanned it within the repeat window; returns
    /// the count either way.
    ///
    /// Cost: a hash of the key and one shard lock (with a client, a second
    /// hash and a short lock); an allocation the first time an item is
    /// scanned.
    pub fn count(&self, gtin: Gtin, serial: &str, now: i64, client: Option<u64>) -> Seen {
        let key = key(KeyKind::Item, gtin, serial);
        if let Some(client) = client
            && self.repeats.seen_before(client, key, now)
            && let Some(seen) = self.get_key(key)
        {
            self.stats.repeats.fetch_add(1, Ordering::Relaxed);
            return seen;
        }
        let mut entry = self
            .counts
            .entry(key)
            .or_insert_with(|| Count::new(gtin, serial, 0, now));
        if entry.count == entry.logged {
            // First change since the last flush: the flusher must see it.
            // (The entry's shard lock is held, so a flush cannot set
            // `logged` in between and the key is pushed exactly once.)
            self.dirty
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(key);
        }
        if entry.count == entry.pushed {
            // The same for the fleet's counts (a no-op outside a fleet).
            self.list_unpushed([key]);
        }
        entry.count += 1;
        self.stats.scans.fetch_add(1, Ordering::Relaxed);
        entry.seen()
    }

    /// The item's count without counting a scan.
    pub fn get(&self, gtin: Gtin, serial: &str) -> Option<Seen> {
        self.get_key(key(KeyKind::Item, gtin, serial))
    }

    fn get_key(&self, key: u128) -> Option<Seen> {
        self.counts.get(&key).map(|c| c.seen())
    }

    /// Shares the counts with a fleet from now on: every counted item is to
    /// be sent (see [`Scans::take_unpushed`]).
    pub fn share(&self) {
        {
            let mut unpushed = self.unpushed.lock().unwrap_or_else(|p| p.into_inner());
            if unpushed.is_some() {
                return;
            }
            // From here scans list the items they count (twice at worst:
            // `take_unpushed` skips what was sent).
            *unpushed = Some(Vec::new());
        }
        // Keys are gathered first: a scan takes its shard and then the list.
        let keys: Vec<u128> = self.counts.iter().map(|c| *c.key()).collect();
        self.list_unpushed(keys);
    }

    /// Lists `keys` as ahead of what the fleet was sent; outside a fleet,
    /// nothing.
    fn list_unpushed(&self, keys: impl IntoIterator<Item = u128>) {
        if let Some(unpushed) = self
            .unpushed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
        {
            unpushed.extend(keys);
        }
    }

    /// Marks every counted item as unsent: the fleet's store lost what it
    /// was sent (sending a count again never counts it twice).
    pub fn resend_all(&self) {
        let mut keys = Vec::with_capacity(self.counts.len());
        for mut c in self.counts.iter_mut() {
            c.pushed = 0;
            keys.push(*c.key());
        }
        self.list_unpushed(keys);
    }

    /// Items whose count is ahead of what the fleet has taken (being sent
    /// included).
    pub fn unpushed(&self) -> usize {
        let unpushed = self.unpushed.lock().unwrap_or_else(|p| p.into_inner());
        unpushed.as_ref().map_or(0, Vec::len) + self.in_flight.load(Ordering::Relaxed) as usize
    }

    /// Takes up to `max` items whose count is ahead of what the fleet was
    /// sent, as sent from now on: give each back to [`Scans::pushed`] with
    /// what the fleet answered, or to [`Scans::push_failed`].
    pub fn take_unpushed(&self, max: usize) -> Vec<Unpushed> {
        let keys: Vec<u128> = {
            let mut unpushed = self.unpushed.lock().unwrap_or_else(|p| p.into_inner());
            let Some(unpushed) = unpushed.as_mut() else {
                return Vec::new();
            };
            let from = unpushed.len().saturating_sub(max);
            unpushed.split_off(from)
        };
        let mut taken = Vec::with_capacity(keys.len());
        for key in keys {
            // A failed push puts a key back that a scan may have pushed again.
            if let Some(mut c) = self.counts.get_mut(&key).filter(|c| c.count != c.pushed) {
                taken.push(Unpushed {
                    key,
                    gtin: c.gtin,
                    serial: c.serial.as_str().into(),
                    count: c.count,
                    first_at: c.first_at,
                    before: c.pushed,
                });
                // From here a scan of this item pushes its key again.
                c.pushed = c.count;
            }
        }
        self.in_flight
            .fetch_add(taken.len() as u64, Ordering::Relaxed);
        taken
    }

    /// Records the fleet's answer for an item sent: its total over every
    /// replica (this one's count as sent included) and its first scan.
    pub fn pushed(&self, sent: &Unpushed, total: u64, first_at: i64) {
        if let Some(mut c) = self.counts.get_mut(&sent.key) {
            c.others = total.saturating_sub(sent.count);
            c.first_at = c.first_at.min(first_at);
        }
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    /// Puts back items whose push failed: they are sent again next time.
    pub fn push_failed(&self, sent: Vec<Unpushed>) {
        let mut keys = Vec::with_capacity(sent.len());
        self.in_flight
            .fetch_sub(sent.len() as u64, Ordering::Relaxed);
        for item in sent {
            if let Some(mut c) = self.counts.get_mut(&item.key) {
                c.pushed = item.before;
                keys.push(item.key);
            }
        }
        self.list_unpushed(keys);
    }

    /// Items with a count.
    pub fn items(&self) -> usize {
        self.counts.len()
    }

    /// Items the count map was sized for (`--scan-count-room`): past it,
    /// it grows.
    pub fn room(&self) -> usize {
        self.room
    }

    /// Time since the log last took every count (or since the counts were
    /// opened).
    pub fn since_flush(&self) -> std::time::Duration {
        let last = self.stats.last_flush_ms.load(Ordering::Relaxed);
        std::time::Duration::from_millis(unix_ms().saturating_sub(last))
    }

    /// Items whose count is ahead of the log: what a crash now would lose.
    pub fn unflushed(&self) -> usize {
        self.dirty.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Writes the totals of items scanned since the last flush to the log and
    /// syncs it; compacts the log when it is mostly history. Returns how many
    /// items were written.
    pub fn flush(&self) -> io::Result<usize> {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let Some(Log { journal, text }) = log.as_mut() else {
            return Ok(0);
        };
        let keys = std::mem::take(&mut *self.dirty.lock().unwrap_or_else(|p| p.into_inner()));
        // The buffer is kept from flush to flush: a fresh megabyte each second
        // costs page faults (and zeroing) on the core that answers scans.
        text.clear();
        // What each item's log total was before this flush, to restore if
        // the write fails.
        let mut before = Vec::with_capacity(keys.len());
        for key in &keys {
            // A compaction since the push may have logged it already.
            if let Some(mut c) = self.counts.get_mut(key).filter(|c| c.count != c.logged) {
                write_line(text, &c);
                before.push((*key, c.logged));
                // From here a scan of this item pushes its key again.
                c.logged = c.count;
            }
        }
        let written = before.len();
        let result = (|| {
            if !journal.in_place() {
                // The log was removed or replaced under us: appending would
                // write where no restart reads. Every count is written anew
                // (a vanished directory fails here, and is tried again).
                tracing::warn!(
                    "{}: the scan log was removed or replaced; writing every count anew",
                    journal.path().display()
                );
                self.compact(journal)?;
                return Ok(written);
            }
            if !text.is_empty() {
                journal.append(text)?;
                journal.sync()?;
            }
            if journal.lines() > self.compact_min_lines.max(2 * self.counts.len() as u64) {
                self.compact(journal)?;
            }
            Ok(written)
        })();
        let now = unix_ms();
        match &result {
            Ok(n) => {
                if *n > 0 {
                    self.stats.flushes.fetch_add(1, Ordering::Relaxed);
                }
                self.stats.last_flush_ms.store(now, Ordering::Relaxed);
                self.stats.failing_since_ms.store(0, Ordering::Relaxed);
                self.stats.failures.store(0, Ordering::Relaxed);
            }
            Err(_) => {
                // Nothing is dropped: the items are ahead of the log again
                // and back on the dirty list (a key a scan pushed meanwhile
                // is there twice, which a flush skips), and the next try
                // waits out a backoff.
                for (key, logged) in &before {
                    if let Some(mut c) = self.counts.get_mut(key) {
                        c.logged = *logged;
                    }
                }
                self.dirty
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend(before.iter().map(|(key, _)| *key));
                self.stats.flush_errors.fetch_add(1, Ordering::Relaxed);
                let failures = self.stats.failures.fetch_add(1, Ordering::Relaxed);
                let _ = self.stats.failing_since_ms.compare_exchange(
                    0,
                    now,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
                let wait = (1000u64 << failures.min(6)).min(MAX_BACKOFF_MS);
                self.stats.retry_at_ms.store(now + wait, Ordering::Relaxed);
            }
        }
        self.stats
            .log_bytes
            .store(journal.bytes(), Ordering::Relaxed);
        result
    }

    /// Flushes one last time and ends the flusher threads (a server's
    /// stop): what the log does not take now is reported, not retried.
    pub fn close(&self) -> io::Result<usize> {
        self.stats.closed.store(true, Ordering::Relaxed);
        self.flush()
    }

    /// Whether the flushers should try now: not while a failed flush's
    /// backoff lasts (a full disk is not retried every interval).
    pub fn flush_due(&self) -> bool {
        unix_ms() >= self.stats.retry_at_ms.load(Ordering::Relaxed)
    }

    /// Rewrites the log with one line per counted item.
    fn compact(&self, log: &mut Journal) -> io::Result<()> {
        let mut text = Vec::with_capacity(self.counts.len() * 48);
        for mut c in self.counts.iter_mut() {
            write_line(&mut text, &c);
            c.logged = c.count;
        }
        if let Err(e) = log.replace(&text) {
            // Nothing was written, and the log may be gone: every count is
            // ahead of it again, so every item goes back on the dirty list
            // (the next flush that succeeds writes them all).
            // (Keys are gathered first: a scan takes its shard and then the
            // dirty list, so the list is never taken under a shard here.)
            let mut keys = Vec::with_capacity(self.counts.len());
            for mut c in self.counts.iter_mut() {
                c.logged = 0;
                keys.push(*c.key());
            }
            self.dirty
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend(keys);
            return Err(e);
        }
        self.stats.compactions.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            "{}: compacted to {} item(s), {} bytes",
            log.path().display(),
            self.counts.len(),
            log.bytes()
        );
        Ok(())
    }
}

impl Count {
    /// The count of (`gtin`, `serial`) first scanned at `first_at`, with
    /// `count` scans that the log already holds.
    fn new(gtin: Gtin, serial: &str, count: u64, first_at: i64) -> Count {
        Count {
            count,
            logged: count,
            pushed: 0,
            others: 0,
            first_at,
            gtin,
            serial: Serial::new(serial),
        }
    }

    /// What an answer shows: the fleet's count as last heard, with this
    /// replica's scans since.
    fn seen(&self) -> Seen {
        Seen {
            count: self.others + self.count,
            first_at: self.first_at,
        }
    }
}

/// The scan log and the flush's text buffer, under one lock.
struct Log {
    journal: Journal,
    text: Vec<u8>,
}

/// `GTIN TAB count TAB first-at TAB serial`: serials are GS1 text and never
/// hold a tab or newline.
fn write_line(out: &mut Vec<u8>, c: &Count) {
    use std::io::Write;
    let _ = writeln!(
        out,
        "{}\t{}\t{}\t{}",
        c.gtin,
        c.count,
        c.first_at,
        c.serial.as_str()
    );
}

fn parse_line(line: &str) -> Option<(Gtin, &str, u64, i64)> {
    let mut fields = line.splitn(4, '\t');
    let gtin = Gtin::parse(fields.next()?).ok()?;
    let count = fields.next()?.parse().ok()?;
    let first_at = fields.next()?.parse().ok()?;
    let serial = fields.next().filter(|s| !s.is_empty())?;
    Some((gtin, serial, count, first_at))
}

/// Starts the threads that write scan counts to the scan log.
///
/// The flusher proper runs every `interval` in the idle scheduling class
/// (`SCHED_IDLE`): it then runs only when no answering thread wants its core,
/// and a worker that wakes takes the core back at once. At normal priority, a
/// flush of a second's counts (a few milliseconds of work) preempted the
/// worker it shared a core with for whole scheduler slices, and every answer
/// queued behind waited. But on a saturated core the idle class may get no
/// time at all, and counts would go unflushed without bound; so a second
/// thread at normal priority wakes every `interval` too and flushes only when
/// the last flush is more than two intervals old. The loss window is thus
/// about two intervals and a flush under saturation; a flush the idle thread
/// had begun when the core filled up still finishes at the idle class's share,
/// with the log's lock held, and can stretch it by seconds.
pub fn spawn_flushers(scans: &Arc<Scans>, interval: Duration) -> io::Result<()> {
    let flush = |scans: &Scans| {
        if let Err(e) = scans.flush() {
            // Counts stay in memory and are written at the next flush.
            tracing::error!("flushing scan counts: {e}");
        }
    };
    let idle = scans.clone();
    std::thread::Builder::new()
        .name("scan-flush".into())
        .spawn(move || {
            idle_class();
            while !idle.stats.closed.load(Ordering::Relaxed) {
                std::thread::sleep(interval);
                if idle.flush_due() {
                    flush(&idle);
                }
            }
        })?;
    let late = scans.clone();
    std::thread::Builder::new()
        .name("scan-flush-late".into())
        .spawn(move || {
            while !late.stats.closed.load(Ordering::Relaxed) {
                std::thread::sleep(interval);
                if late.since_flush() > 2 * interval && late.flush_due() {
                    flush(&late);
                }
            }
        })?;
    Ok(())
}

/// Puts the calling thread in the idle scheduling class; on failure it keeps
/// its priority, and says so.
fn idle_class() {
    use thread_priority::unix::{
        NormalThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy,
        thread_native_id,
    };
    let policy = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
    if let Err(e) = set_thread_priority_and_policy(
        thread_native_id(),
        thread_priority::ThreadPriority::Min,
        policy,
    ) {
        tracing::warn!("scan flusher keeps normal priority: {e:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_serial_reads_back_as_written_in_place_or_boxed() {
        for serial in [
            "",
            "S1",
            "12345678901234567890",
            "Đ1-ỆÊ",
            "x".repeat(22).as_str(),
        ] {
            let kept = Serial::new(serial);
            assert!(
                matches!(kept, Serial::Inline { .. }),
                "{serial:?} is held in place"
            );
            assert_eq!(kept.as_str(), serial);
        }
        let long = "Ậ".repeat(10);
        let kept = Serial::new(&long);
        assert!(matches!(kept, Serial::Boxed(_)), "30 bytes are boxed");
        assert_eq!(kept.as_str(), long);
        // In place, it takes no more room than the box it replaces.
        assert_eq!(std::mem::size_of::<Serial>(), 24);
    }
}
