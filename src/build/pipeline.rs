//! One file's lines, judged on every core and handed back in file order.
//!
//! A splitter thread decompresses the file and cuts it into numbered chunks
//! of lines, parser threads judge each line on its own (the costly part:
//! parsing, checking, and working out how a batch is coded), and
//! the calling thread receives the chunks strictly in order, so what it does
//! with them gives the same result as a single thread would. Channels are
//! bounded, so memory stays flat whatever the file's size.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use super::BuildError;
use crate::code::Gtin;
use crate::index::{coded, write};
use crate::resolver::links::Link;
use crate::snapshot::record::{self, Reason, Rejection};
use crate::snapshot::{Kind, LineReader, MAX_LINE, SnapshotError};

/// A line judged on its own by a parser thread.
pub(super) struct ParsedLine {
    pub(super) number: u64,
    /// False only for a last line with no newline after it.
    pub(super) terminated: bool,
    pub(super) parsed: Parsed,
}

pub(super) enum Parsed {
    /// A rejected product carries its GTIN when one could be read.
    /// Boxed, as batches are, so that a line of any kind moves few bytes.
    Product(Result<Box<record::Product>, Box<(Rejection, Option<u64>)>>),
    /// A batch comes with its coding worked out (`index::coded::prepare`);
    /// boxed, so that a chunk of items, the bulk, moves fewer bytes.
    Batch(Result<Box<(record::Batch, coded::Prepared)>, Rejection>),
    Item(Result<ChunkItem, Rejection>),
}

impl Parsed {
    /// An item's hashes, `None` for any other line.
    pub(super) fn item_hashes(&self) -> Option<ItemHashes> {
        match self {
            Parsed::Item(Ok(item)) => Some(item.hashes()),
            _ => None,
        }
    }
}

/// A chunk of judged lines, in file order, and the text its items point into.
pub(super) struct Judged {
    pub(super) lines: Vec<ParsedLine>,
    pub(super) text: String,
}

/// An item whose text lies in its chunk's `text`: items are the bulk of a
/// snapshot, and one buffer a chunk spares an allocation a string (freed on
/// another thread than made it). Small, as a judged line moves a few times
/// on its way (56 bytes, where ranges and a `Vec` took 128).
pub(super) struct ChunkItem {
    hashes: ItemHashes,
    gtin: Gtin,
    /// Its own links, which few items have.
    #[expect(
        clippy::box_collection,
        reason = "8 bytes where a Vec takes 24; an item with links pays the allocation"
    )]
    links: Option<Box<Vec<Link>>>,
    /// Where its serial, then its lot and stamp if it has them, lie in the
    /// chunk's text, one after another; the record checked their lengths
    /// (at most 20, 20 and 64 bytes).
    at: u32,
    serial: u8,
    lot: Option<u8>,
    stamp: Option<u8>,
    void: bool,
}

/// An item's keys hashed as the index's tables hash them: worked out on a
/// parser thread, so the collecting thread can fetch their slots early.
#[derive(Clone, Copy, Default)]
pub(super) struct ItemHashes {
    pub(super) item: u64,
    /// `None` for an item without a stamp.
    pub(super) stamp: Option<u64>,
}

impl ChunkItem {
    fn new(item: record::Item<'_>, text: &mut String) -> ChunkItem {
        let hashes = ItemHashes {
            item: write::item_hash(item.gtin.as_u64(), item.serial.as_bytes()),
            stamp: item
                .stamp
                .as_deref()
                .filter(|s| !s.is_empty())
                .map(|s| write::stamp_hash(s.as_bytes())),
        };
        let at = text.len() as u32;
        let mut keep = |s: &str| {
            text.push_str(s);
            s.len() as u8
        };
        ChunkItem {
            hashes,
            gtin: item.gtin,
            serial: keep(&item.serial),
            lot: item.lot.as_deref().map(&mut keep),
            stamp: item.stamp.as_deref().map(&mut keep),
            at,
            void: item.void,
            links: (!item.links.is_empty()).then(|| Box::new(item.links)),
        }
    }

    pub(super) fn hashes(&self) -> ItemHashes {
        self.hashes
    }

    /// The item, borrowing from `text`, its chunk's, and its hashes.
    pub(super) fn into_item(self, text: &str) -> (record::Item<'_>, ItemHashes) {
        let mut at = self.at as usize;
        let mut next = |len: u8| {
            let s = &text[at..at + usize::from(len)];
            at += usize::from(len);
            Cow::Borrowed(s)
        };
        let item = record::Item {
            gtin: self.gtin,
            serial: next(self.serial),
            lot: self.lot.map(&mut next),
            stamp: self.stamp.map(&mut next),
            void: self.void,
            links: self.links.map_or_else(Vec::new, |l| *l),
        };
        (item, self.hashes)
    }
}

/// Lines in a chunk.
const CHUNK: usize = 4096;

/// Raw lines from the splitter, numbered so the chunks can be put back in order.
struct RawChunk {
    seq: u64,
    bytes: Vec<u8>,
    /// Per line: where it ends in `bytes`, its line number, whether a newline
    /// ended it, and the length of a line too long to hold.
    lines: Vec<(usize, u64, bool, Option<u64>)>,
}

/// A chunk of judged lines and its number, or why the file could not be read.
type Done = Result<(u64, Judged), SnapshotError>;

/// Reads the `kind` file at `path` and calls `each` on its chunks of judged
/// lines, in file order, on this thread. Stops at the first error, of reading
/// or of `each`; the threads it started end with it.
///
/// Cost: one streaming pass over the file, on up to eight threads; memory is
/// a few chunks per thread.
pub(super) fn read_lines(
    kind: Kind,
    path: &Path,
    mut each: impl FnMut(Judged) -> Result<(), BuildError>,
) -> Result<(), BuildError> {
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 8);
    std::thread::scope(|scope| -> Result<(), BuildError> {
        let (raw_tx, raw_rx) = sync_channel::<RawChunk>(2 * workers);
        let (done_tx, done_rx) = sync_channel::<Done>(2 * workers);
        // Only the parsers hold the raw receiver: when the last of them
        // stops (the build failed), the splitter's sends fail and it stops.
        let raw_rx = Arc::new(Mutex::new(raw_rx));
        for _ in 0..workers {
            let (raw_rx, done_tx) = (raw_rx.clone(), done_tx.clone());
            scope.spawn(move || {
                yield_to_collector();
                parse_chunks(kind, &raw_rx, &done_tx)
            });
        }
        drop(raw_rx);
        let split_errors = done_tx.clone();
        scope.spawn(move || {
            yield_to_collector();
            split_file(path, &raw_tx, &split_errors)
        });
        drop(done_tx);
        let mut next = 0u64;
        let mut waiting: BTreeMap<u64, Judged> = BTreeMap::new();
        for message in done_rx {
            let (seq, lines) = message?;
            waiting.insert(seq, lines);
            while let Some(chunk) = waiting.remove(&next) {
                next += 1;
                each(chunk)?;
            }
        }
        Ok(())
    })
}

/// Lowers the calling thread's priority (nice 10) below the thread that
/// takes the chunks in order. That thread is the one all others wait for:
/// at 100 M items it is runnable all the time, but with four threads on two
/// cores it ran only 0.45-0.85 of one, the parsers taking the rest while
/// they had chunks to spare. A thread's nice value is its own on Linux, and
/// raising it needs no privilege; where it fails, the thread runs as before.
fn yield_to_collector() {
    let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 10);
}

/// The splitter thread: streams `path` and cuts it into raw chunks. A read
/// error goes straight to the thread that takes the chunks in order.
fn split_file(path: &Path, raw: &SyncSender<RawChunk>, errors: &SyncSender<Done>) {
    let mut reader = match LineReader::open(path) {
        Ok(r) => r,
        Err(e) => {
            let _ = errors.send(Err(e));
            return;
        }
    };
    let mut seq = 0;
    let mut chunk = RawChunk {
        seq,
        bytes: Vec::with_capacity(CHUNK * 128),
        lines: Vec::with_capacity(CHUNK),
    };
    loop {
        match reader.next_line() {
            Ok(Some(line)) => {
                chunk.bytes.extend_from_slice(line.bytes);
                chunk.lines.push((
                    chunk.bytes.len(),
                    line.number,
                    line.terminated,
                    line.too_long,
                ));
            }
            Ok(None) => break,
            Err(e) => {
                let _ = errors.send(Err(e));
                return;
            }
        }
        if chunk.lines.len() == CHUNK {
            seq += 1;
            let next = RawChunk {
                seq,
                bytes: Vec::with_capacity(chunk.bytes.capacity()),
                lines: Vec::with_capacity(CHUNK),
            };
            if raw.send(std::mem::replace(&mut chunk, next)).is_err() {
                return;
            }
        }
    }
    let _ = raw.send(chunk);
}

/// A parser thread: judges the lines of raw chunks until there are no more.
fn parse_chunks(kind: Kind, raw: &Mutex<Receiver<RawChunk>>, done: &SyncSender<Done>) {
    loop {
        let received = raw
            .lock()
            .map_err(|_| ())
            .and_then(|rx| rx.recv().map_err(|_| ()));
        let Ok(chunk) = received else { return };
        let mut start = 0;
        let mut text = String::new();
        let lines = chunk
            .lines
            .iter()
            .map(|&(end, number, terminated, too_long)| {
                let bytes = &chunk.bytes[start..end];
                start = end;
                let parsed = match too_long {
                    Some(length) => too_long_line(kind, length),
                    None => parse_line(kind, bytes, &mut text),
                };
                ParsedLine {
                    number,
                    terminated,
                    parsed,
                }
            })
            .collect();
        if done.send(Ok((chunk.seq, Judged { lines, text }))).is_err() {
            return;
        }
    }
}

/// The reject of a line over [`MAX_LINE`], which was not read.
fn too_long_line(kind: Kind, length: u64) -> Parsed {
    let rejection = Rejection {
        reason: Reason::LineTooLong,
        key: None,
        detail: format!("the line is {length} bytes long, at most {MAX_LINE} are read"),
    };
    match kind {
        Kind::Products => Parsed::Product(Err(Box::new((rejection, None)))),
        Kind::Batches => Parsed::Batch(Err(rejection)),
        Kind::Items => Parsed::Item(Err(rejection)),
    }
}

/// Judges one line; an item's text goes to `text`, its chunk's.
fn parse_line(kind: Kind, bytes: &[u8], text: &mut String) -> Parsed {
    match kind {
        Kind::Products => Parsed::Product(record::product(bytes).map(Box::new).map_err(|r| {
            let gtin = serde_json::from_slice::<serde_json::Value>(bytes)
                .ok()
                .and_then(|v| v.get("gtin")?.as_str().and_then(|g| Gtin::parse(g).ok()));
            Box::new((r, gtin.map(Gtin::as_u64)))
        })),
        Kind::Batches => Parsed::Batch(record::batch(bytes).map(|b| {
            let keys = coded::Keys {
                gtin: b.gtin.digits(),
                lot: b.lot.as_bytes(),
            };
            let prepared = coded::prepare(b.json.as_bytes(), keys);
            Box::new((b, prepared))
        })),
        Kind::Items => Parsed::Item(record::item(bytes).map(|it| ChunkItem::new(it, text))),
    }
}
