//! Snapshot to index: every line read is either indexed or reported.
//!
//! Files are read in dependency order (products, batches, items). Each line is
//! judged by `snapshot::record`; this module adds what needs all records:
//! duplicate keys (the first occurrence wins, the later one names its line),
//! a batch's product, an item's product and lot, stamp uniqueness. Rejects go
//! to a JSON Lines report as they are found. If there are more than
//! `max_rejects`, or a file is truncated, no index is written.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{self, BufWriter, IsTerminal, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hashbrown::HashTable;

use crate::code::Gtin;
use crate::index::format::{
    BatchEntry, HAS_BATCHES, HAS_ITEMS, ItemEntry, MAX_SNAPSHOT_ID, NO_BATCH, Payload, ProductEntry,
};
use crate::index::format::{Span, Table, key_hash};
use crate::index::write::{self, Written};
use crate::snapshot::record::{self, Reason, Rejection};
use crate::snapshot::{FILES, Kind, LineReader, Manifest, SnapshotError};

/// How to build.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Where the rejects report goes; by default beside the index, as
    /// `<index>.rejects.jsonl`.
    pub rejects: Option<PathBuf>,
    /// The build fails when there are more rejects than this.
    pub max_rejects: u64,
    /// Show progress on standard error (only when it is a terminal).
    pub progress: bool,
}

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(
        "{rejected} lines rejected, more than --max-rejects {max}; no index written (see {report})"
    )]
    TooManyRejects {
        rejected: u64,
        max: u64,
        report: PathBuf,
    },
    #[error("rejects report {path}: {error}")]
    Report { path: PathBuf, error: io::Error },
    #[error("writing the index: {0}")]
    Write(io::Error),
    #[error("spilling record JSON to a temporary file: {0}")]
    Spill(io::Error),
}

/// Lines of one file, accounted for: read = indexed + rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileCount {
    pub kind: Kind,
    pub path: Option<PathBuf>,
    pub read: u64,
    pub indexed: u64,
    pub rejected: u64,
    /// Time spent reading and checking the file.
    pub elapsed: Duration,
}

/// What a build did.
#[derive(Debug)]
pub struct Summary {
    pub files: Vec<FileCount>,
    pub rejects_report: Option<PathBuf>,
    pub written: Written,
    /// Time spent building the tables and writing the index.
    pub write_elapsed: Duration,
    pub elapsed: Duration,
}

impl Summary {
    pub fn records(&self) -> u64 {
        self.files.iter().map(|f| f.read).sum()
    }
}

/// Builds the index of the snapshot in `dir` at `out`.
///
/// Cost: one streaming pass over the snapshot. Memory grows with the number of
/// records, about 90 bytes per item plus the entries of products and batches;
/// their JSON is spilled to a temporary file beside `out`, never held.
pub fn build(dir: &Path, out: &Path, options: &Options) -> Result<Summary, BuildError> {
    let started = Instant::now();
    let report_path = options.rejects.clone().unwrap_or_else(|| {
        let mut name = out.as_os_str().to_owned();
        name.push(".rejects.jsonl");
        PathBuf::from(name)
    });
    let mut rejects = RejectLog::new(report_path.clone());
    let spill = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let Collected {
        payload,
        mut blob,
        files,
    } = collect(dir, &mut rejects, options.progress, Some(spill))?;
    let rejected = rejects.count;
    rejects.finish()?;
    if rejected > options.max_rejects {
        return Err(BuildError::TooManyRejects {
            rejected,
            max: options.max_rejects,
            report: report_path,
        });
    }
    let writing = Instant::now();
    let written = write::write(
        payload,
        &mut blob.reader().map_err(BuildError::Spill)?,
        crate::date::unix_now(),
        out,
    )
    .map_err(BuildError::Write)?;
    Ok(Summary {
        files,
        rejects_report: (rejected > 0).then_some(report_path),
        written,
        write_elapsed: writing.elapsed(),
        elapsed: started.elapsed(),
    })
}

/// A snapshot read and checked: the index payload (tables not yet built), the
/// pre-rendered JSON its entries point into, and the line counts.
pub struct Collected {
    pub payload: Payload,
    pub blob: Blob,
    pub files: Vec<FileCount>,
}

/// The pre-rendered JSON of products and batches, in memory or spilled.
pub enum Blob {
    Memory(Vec<u8>),
    Spilled(BufWriter<File>),
}

impl Blob {
    fn append(&mut self, bytes: &[u8], at: u64) -> io::Result<Span> {
        let len =
            u32::try_from(bytes.len()).map_err(|_| io::Error::other("a record over 4 GiB"))?;
        match self {
            Blob::Memory(v) => v.extend_from_slice(bytes),
            Blob::Spilled(w) => w.write_all(bytes)?,
        }
        Ok(Span { at, len })
    }

    /// Reads the blob from its start.
    pub fn reader(&mut self) -> io::Result<Box<dyn Read + '_>> {
        Ok(match self {
            Blob::Memory(v) => Box::new(&v[..]),
            Blob::Spilled(w) => {
                w.flush()?;
                let file = w.get_mut();
                file.seek(SeekFrom::Start(0))?;
                Box::new(io::BufReader::with_capacity(1 << 20, file))
            }
        })
    }
}

/// Reads and checks the snapshot in `dir`, reporting rejects to `rejects`.
/// The JSON goes to an unnamed temporary file in `spill_in`, or to memory when
/// it is `None` (for tests and small snapshots).
pub fn collect(
    dir: &Path,
    rejects: &mut RejectLog,
    progress: bool,
    spill_in: Option<&Path>,
) -> Result<Collected, BuildError> {
    let manifest = Manifest::read(dir)?;
    let snapshot_id = manifest
        .snapshot_id
        .clone()
        .unwrap_or_else(|| default_snapshot_id(dir));
    let blob = match spill_in {
        Some(d) => Blob::Spilled(BufWriter::with_capacity(
            1 << 20,
            tempfile::tempfile_in(d).map_err(BuildError::Spill)?,
        )),
        None => Blob::Memory(Vec::new()),
    };
    let mut c = Collector {
        payload: Payload {
            snapshot_id,
            exported_at: manifest.exported_at.clone().unwrap_or_default(),
            ..Payload::default()
        },
        blob,
        blob_len: 0,
        product_keys: HashTable::new(),
        product_lines: Vec::new(),
        rejected_products: HashMap::new(),
        batch_keys: HashTable::new(),
        batch_lines: Vec::new(),
        item_keys: HashTable::new(),
        item_lines: Vec::new(),
        stamp_keys: HashTable::new(),
    };
    c.reserve(&manifest);
    let mut files = Vec::new();
    for (kind, expected) in FILES.into_iter().zip(manifest.counts) {
        let path = crate::snapshot::find(dir, kind.file_name())?;
        let Some(path) = path else {
            if kind == Kind::Products {
                return Err(SnapshotError::MissingProducts {
                    dir: dir.to_owned(),
                }
                .into());
            }
            if let Some(n) = expected.filter(|&n| n > 0) {
                return Err(SnapshotError::Truncated {
                    path: dir.join(kind.file_name()),
                    detail: format!(
                        "the manifest counts {n} {} but the file is missing",
                        kind.count_key()
                    ),
                }
                .into());
            }
            files.push(FileCount {
                kind,
                path: None,
                read: 0,
                indexed: 0,
                rejected: 0,
                elapsed: Duration::ZERO,
            });
            continue;
        };
        let count = c.read_file(kind, &path, rejects, progress)?;
        if let Some(n) = expected.filter(|&n| n != count.read) {
            return Err(SnapshotError::Truncated {
                path,
                detail: format!(
                    "the manifest counts {n} {} but {} lines were read",
                    kind.count_key(),
                    count.read
                ),
            }
            .into());
        }
        files.push(count);
    }
    Ok(Collected {
        payload: c.payload,
        blob: c.blob,
        files,
    })
}

/// Without a manifest, the snapshot is named after its directory.
fn default_snapshot_id(dir: &Path) -> String {
    let name = dir
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
    let mut id = name.unwrap_or_else(|| "snapshot".into());
    while id.len() > MAX_SNAPSHOT_ID {
        id.pop();
    }
    id
}

/// The state of a build: entries so far, and their keys for duplicate checks.
///
/// Key tables hold entry indexes only (4 bytes and a control byte each); a
/// candidate is confirmed against the entry itself, so no key is stored twice.
struct Collector {
    payload: Payload,
    /// Where the pre-rendered JSON goes, and its length so far.
    blob: Blob,
    blob_len: u64,
    product_keys: HashTable<u32>,
    /// The line of each kept product, to name it in a duplicate's report.
    product_lines: Vec<u64>,
    /// GTIN → line of a product line that was rejected (to explain orphans).
    rejected_products: HashMap<u64, u64>,
    batch_keys: HashTable<u32>,
    batch_lines: Vec<u64>,
    item_keys: HashTable<u32>,
    item_lines: Vec<u64>,
    stamp_keys: HashTable<u32>,
}

const SEED: u64 = write::HASH_SEED;

fn product_hash(gtin: u64) -> u64 {
    key_hash(SEED, Table::Products, gtin, &[])
}

fn batch_hash(products: &[ProductEntry], b: &BatchEntry) -> u64 {
    key_hash(
        SEED,
        Table::Batches,
        products[b.product as usize].gtin,
        b.lot.as_bytes(),
    )
}

/// The serial and stamp of an item.
fn item_parts<'a>(bytes: &'a [u8], item: &ItemEntry) -> (&'a [u8], &'a [u8]) {
    let at = item.bytes_at as usize;
    let serial_end = at + usize::from(item.serial_len);
    (
        &bytes[at..serial_end],
        &bytes[serial_end..serial_end + usize::from(item.stamp_len)],
    )
}

impl Collector {
    /// Sizes the vectors from the manifest's counts, so that a large build
    /// does not pass through doubling reallocations (a transient twice the
    /// memory). A count that cannot be met is simply not reserved.
    fn reserve(&mut self, manifest: &Manifest) {
        let n = |i: usize| manifest.counts[i].unwrap_or(0).min(u64::from(u32::MAX)) as usize;
        let p = &mut self.payload;
        let _ = p.products.try_reserve_exact(n(0));
        let _ = self.product_lines.try_reserve_exact(n(0));
        let _ = p.batches.try_reserve_exact(n(1));
        let _ = self.batch_lines.try_reserve_exact(n(1));
        let _ = p.items.try_reserve_exact(n(2));
        let _ = self.item_lines.try_reserve_exact(n(2));
        let _ = p.item_bytes.try_reserve_exact(n(2).saturating_mul(20));
        // The tables are empty: their hasher is never called while reserving.
        let unused = |_: &u32| 0;
        let _ = self.product_keys.try_reserve(n(0), unused);
        let _ = self.batch_keys.try_reserve(n(1), unused);
        let _ = self.item_keys.try_reserve(n(2), unused);
        let _ = self.stamp_keys.try_reserve(n(2), unused);
    }

    /// Reads one file on every core: a splitter thread decompresses and cuts
    /// it into numbered chunks of lines, parser threads judge each line on its
    /// own (the costly part), and this thread applies the chunks strictly in
    /// order (duplicates, references, spilling), so the result is the same as
    /// a single thread's. Channels are bounded, so memory stays flat.
    fn read_file(
        &mut self,
        kind: Kind,
        path: &Path,
        rejects: &mut RejectLog,
        progress: bool,
    ) -> Result<FileCount, BuildError> {
        let file = kind.file_name();
        let started = Instant::now();
        let mut count = FileCount {
            kind,
            path: Some(path.to_owned()),
            read: 0,
            indexed: 0,
            rejected: 0,
            elapsed: Duration::ZERO,
        };
        let show = progress && io::stderr().is_terminal();
        let mut last_shown = Instant::now();
        let workers = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(1, 8);
        std::thread::scope(|scope| -> Result<(), BuildError> {
            let (raw_tx, raw_rx) = sync_channel::<RawChunk>(2 * workers);
            let (done_tx, done_rx) =
                sync_channel::<Result<(u64, Vec<ParsedLine>), SnapshotError>>(2 * workers);
            // Only the parsers hold the raw receiver: when the last of them
            // stops (the build failed), the splitter's sends fail and it stops.
            let raw_rx = Arc::new(Mutex::new(raw_rx));
            for _ in 0..workers {
                let (raw_rx, done_tx) = (raw_rx.clone(), done_tx.clone());
                scope.spawn(move || parse_chunks(kind, &raw_rx, &done_tx));
            }
            drop(raw_rx);
            let split_errors = done_tx.clone();
            scope.spawn(move || split_file(path, &raw_tx, &split_errors));
            drop(done_tx);
            let mut next = 0u64;
            let mut waiting: BTreeMap<u64, Vec<ParsedLine>> = BTreeMap::new();
            for message in done_rx {
                let (seq, lines) = message?;
                waiting.insert(seq, lines);
                while let Some(chunk) = waiting.remove(&next) {
                    next += 1;
                    for line in chunk {
                        count.read += 1;
                        match self.apply(line.parsed, line.number) {
                            Ok(()) => count.indexed += 1,
                            Err(Refusal::Spill(e)) => return Err(BuildError::Spill(e)),
                            Err(Refusal::Line(r))
                                if !line.terminated && r.reason == Reason::InvalidJson =>
                            {
                                return Err(SnapshotError::Truncated {
                                    path: path.to_owned(),
                                    detail: format!(
                                        "the last line ({}) has no newline and does not parse: {}",
                                        line.number, r.detail
                                    ),
                                }
                                .into());
                            }
                            Err(Refusal::Line(r)) => {
                                count.rejected += 1;
                                rejects.add(file, line.number, &r)?;
                            }
                        }
                    }
                }
                if show && last_shown.elapsed() > Duration::from_millis(200) {
                    last_shown = Instant::now();
                    eprint!(
                        "\r{file}: {} lines read, {} rejected ",
                        count.read, count.rejected
                    );
                }
            }
            Ok(())
        })?;
        if show {
            eprint!("\r\x1b[2K");
        }
        count.elapsed = started.elapsed();
        Ok(count)
    }

    fn apply(&mut self, parsed: Parsed, line: u64) -> Result<(), Refusal> {
        match parsed {
            Parsed::Product(Ok(p)) => self.product(p, line),
            Parsed::Product(Err((r, gtin))) => {
                // Remember the GTIN so that its batches and items can say why
                // they have no product.
                if let Some(g) = gtin {
                    self.rejected_products.entry(g).or_insert(line);
                }
                Err(r.into())
            }
            Parsed::Batch(b) => self.batch(b?, line),
            Parsed::Item(it) => self.item(it?, line),
        }
    }

    fn spill(&mut self, json: &str) -> Result<Span, Refusal> {
        let span = self
            .blob
            .append(json.as_bytes(), self.blob_len)
            .map_err(Refusal::Spill)?;
        self.blob_len += u64::from(span.len);
        Ok(span)
    }

    fn product(&mut self, p: record::Product, line: u64) -> Result<(), Refusal> {
        let gtin = p.gtin.as_u64();
        let hash = product_hash(gtin);
        let products = &self.payload.products;
        if let Some(&first) = self
            .product_keys
            .find(hash, |&i| products[i as usize].gtin == gtin)
        {
            return Err(Rejection::new(
                Reason::DuplicateKey,
                Some(p.gtin.to_string()),
                format!(
                    "GTIN {} is already the product of line {}",
                    p.gtin, self.product_lines[first as usize]
                ),
            )
            .into());
        }
        let json = self.spill(&p.json)?;
        let id = self.payload.products.len() as u32;
        let products = &self.payload.products;
        self.product_keys
            .insert_unique(hash, id, |&i| product_hash(products[i as usize].gtin));
        self.product_lines.push(line);
        self.payload.products.push(ProductEntry {
            gtin,
            status: p.status as u8,
            flags: 0,
            recall_notice: p.recall_notice.unwrap_or_default(),
            json,
        });
        Ok(())
    }

    /// The product index of `gtin`, or the rejection of an orphan.
    fn product_of(
        &self,
        gtin: Gtin,
        key: impl FnOnce() -> String,
        what: &str,
    ) -> Result<u32, Rejection> {
        let products = &self.payload.products;
        if let Some(&id) = self.product_keys.find(product_hash(gtin.as_u64()), |&i| {
            products[i as usize].gtin == gtin.as_u64()
        }) {
            return Ok(id);
        }
        let why = match self.rejected_products.get(&gtin.as_u64()) {
            Some(line) => {
                format!("the product of GTIN {gtin} was rejected (products.jsonl line {line})")
            }
            None => format!("no product has GTIN {gtin}"),
        };
        Err(Rejection::new(
            Reason::UnknownProduct,
            Some(key()),
            format!("{what}: {why}"),
        ))
    }

    /// The batch `lot` of product `product`, if kept.
    fn batch_of(&self, product: u32, lot: &str) -> Option<u32> {
        let gtin = self.payload.products[product as usize].gtin;
        let batches = &self.payload.batches;
        let hash = key_hash(SEED, Table::Batches, gtin, lot.as_bytes());
        self.batch_keys
            .find(hash, |&i| {
                batches[i as usize].product == product && batches[i as usize].lot == lot
            })
            .copied()
    }

    fn batch(&mut self, b: record::Batch, line: u64) -> Result<(), Refusal> {
        let key = || format!("{}/{}", b.gtin, b.lot);
        let product = self.product_of(b.gtin, key, "batch")?;
        if let Some(first) = self.batch_of(product, &b.lot) {
            return Err(Rejection::new(
                Reason::DuplicateKey,
                Some(key()),
                format!(
                    "lot {} of GTIN {} is already the batch of line {}",
                    b.lot, b.gtin, self.batch_lines[first as usize]
                ),
            )
            .into());
        }
        let json = self.spill(&b.json)?;
        let entry = BatchEntry {
            product,
            status: b.status as u8,
            expiry: b.expiry.map_or(0, |d| d.to_yyyymmdd()),
            lot: b.lot,
            recall_notice: b.recall_notice.unwrap_or_default(),
            json,
        };
        let id = self.payload.batches.len() as u32;
        let (products, batches) = (&self.payload.products, &self.payload.batches);
        self.batch_keys
            .insert_unique(batch_hash(products, &entry), id, |&i| {
                batch_hash(products, &batches[i as usize])
            });
        self.batch_lines.push(line);
        self.payload.products[product as usize].flags |= HAS_BATCHES;
        self.payload.batches.push(entry);
        Ok(())
    }

    fn item(&mut self, it: record::Item<'static>, line: u64) -> Result<(), Refusal> {
        let product = self.product_of(it.gtin, || it.key(), "item")?;
        let batch = match &it.lot {
            None => NO_BATCH,
            Some(lot) => self.batch_of(product, lot).ok_or_else(|| {
                Rejection::new(
                    Reason::UnknownLot,
                    Some(it.key()),
                    format!("lot {lot} is not a batch of GTIN {}", it.gtin),
                )
            })?,
        };
        let p = &self.payload;
        let gtin = it.gtin.as_u64();
        let hash = key_hash(SEED, Table::Items, gtin, it.serial.as_bytes());
        let same_item = |&i: &u32| {
            let e = &p.items[i as usize];
            e.product == product && item_parts(&p.item_bytes, e).0 == it.serial.as_bytes()
        };
        if let Some(&first) = self.item_keys.find(hash, same_item) {
            return Err(Rejection::new(
                Reason::DuplicateKey,
                Some(it.key()),
                format!(
                    "serial {} of GTIN {} is already the item of line {}",
                    it.serial, it.gtin, self.item_lines[first as usize]
                ),
            )
            .into());
        }
        let stamp: &str = it.stamp.as_deref().unwrap_or("");
        let stamp_hash = key_hash(SEED, Table::Stamps, 0, stamp.as_bytes());
        if !stamp.is_empty() {
            let same_stamp =
                |&i: &u32| item_parts(&p.item_bytes, &p.items[i as usize]).1 == stamp.as_bytes();
            if let Some(&first) = self.stamp_keys.find(stamp_hash, same_stamp) {
                return Err(Rejection::new(
                    Reason::DuplicateKey,
                    Some(it.key()),
                    format!(
                        "stamp {stamp} is already on the item of line {}",
                        self.item_lines[first as usize]
                    ),
                )
                .into());
            }
        }
        let id = self.payload.items.len() as u32;
        let bytes_at = self.payload.item_bytes.len() as u64;
        self.payload
            .item_bytes
            .extend_from_slice(it.serial.as_bytes());
        self.payload.item_bytes.extend_from_slice(stamp.as_bytes());
        self.payload.items.push(ItemEntry {
            product,
            batch,
            bytes_at,
            serial_len: it.serial.len() as u8,
            stamp_len: stamp.len() as u8,
            void: u8::from(it.void),
        });
        self.item_lines.push(line);
        self.payload.products[product as usize].flags |= HAS_ITEMS;
        let p = &self.payload;
        let rehash_item = |&i: &u32| {
            let e = &p.items[i as usize];
            key_hash(
                SEED,
                Table::Items,
                p.products[e.product as usize].gtin,
                item_parts(&p.item_bytes, e).0,
            )
        };
        self.item_keys.insert_unique(hash, id, rehash_item);
        if !stamp.is_empty() {
            let rehash_stamp = |&i: &u32| {
                key_hash(
                    SEED,
                    Table::Stamps,
                    0,
                    item_parts(&p.item_bytes, &p.items[i as usize]).1,
                )
            };
            self.stamp_keys.insert_unique(stamp_hash, id, rehash_stamp);
        }
        Ok(())
    }
}

/// A line judged on its own by the parser thread.
struct ParsedLine {
    number: u64,
    /// False only for a last line with no newline after it.
    terminated: bool,
    parsed: Parsed,
}

enum Parsed {
    /// A rejected product carries its GTIN when one could be read.
    Product(Result<record::Product, (Rejection, Option<u64>)>),
    Batch(Result<record::Batch, Rejection>),
    Item(Result<record::Item<'static>, Rejection>),
}

/// Lines in a chunk.
const CHUNK: usize = 4096;

/// Raw lines from the splitter, numbered so the chunks can be put back in order.
struct RawChunk {
    seq: u64,
    bytes: Vec<u8>,
    /// Per line: where it ends in `bytes`, its line number, whether a newline
    /// ended it.
    lines: Vec<(usize, u64, bool)>,
}

/// The splitter thread: streams `path` and cuts it into raw chunks. A read
/// error goes straight to the collector.
fn split_file(
    path: &Path,
    raw: &SyncSender<RawChunk>,
    errors: &SyncSender<Result<(u64, Vec<ParsedLine>), SnapshotError>>,
) {
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
                chunk
                    .lines
                    .push((chunk.bytes.len(), line.number, line.terminated));
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
fn parse_chunks(
    kind: Kind,
    raw: &Mutex<Receiver<RawChunk>>,
    done: &SyncSender<Result<(u64, Vec<ParsedLine>), SnapshotError>>,
) {
    loop {
        let received = raw
            .lock()
            .map_err(|_| ())
            .and_then(|rx| rx.recv().map_err(|_| ()));
        let Ok(chunk) = received else { return };
        let mut start = 0;
        let parsed = chunk
            .lines
            .iter()
            .map(|&(end, number, terminated)| {
                let bytes = &chunk.bytes[start..end];
                start = end;
                ParsedLine {
                    number,
                    terminated,
                    parsed: parse_line(kind, bytes),
                }
            })
            .collect();
        if done.send(Ok((chunk.seq, parsed))).is_err() {
            return;
        }
    }
}

fn parse_line(kind: Kind, bytes: &[u8]) -> Parsed {
    match kind {
        Kind::Products => Parsed::Product(record::product(bytes).map_err(|r| {
            let gtin = serde_json::from_slice::<serde_json::Value>(bytes)
                .ok()
                .and_then(|v| v.get("gtin")?.as_str().and_then(|g| Gtin::parse(g).ok()));
            (r, gtin.map(Gtin::as_u64))
        })),
        Kind::Batches => Parsed::Batch(record::batch(bytes)),
        Kind::Items => Parsed::Item(record::item(bytes).map(record::Item::into_owned)),
    }
}

/// Why a line was not indexed: a rejection to report, or a failure to spill
/// its JSON, which fails the build.
enum Refusal {
    Line(Rejection),
    Spill(io::Error),
}

impl From<Rejection> for Refusal {
    fn from(r: Rejection) -> Refusal {
        Refusal::Line(r)
    }
}

/// The rejects report: JSON Lines, created on the first reject.
pub struct RejectLog {
    path: PathBuf,
    out: Option<BufWriter<File>>,
    /// Rejects so far.
    pub count: u64,
}

impl RejectLog {
    /// A report at `path`. A stale report from an earlier build is removed at
    /// once, so a report on disk always belongs to the latest build.
    pub fn new(path: PathBuf) -> RejectLog {
        let _ = fs::remove_file(&path);
        RejectLog {
            path,
            out: None,
            count: 0,
        }
    }

    fn add(&mut self, file: &str, line: u64, r: &Rejection) -> Result<(), BuildError> {
        self.count += 1;
        let report = |error| BuildError::Report {
            path: self.path.clone(),
            error,
        };
        if self.out.is_none() {
            self.out = Some(BufWriter::new(File::create(&self.path).map_err(report)?));
        }
        let entry = serde_json::json!({
            "file": file,
            "line": line,
            "key": r.key,
            "reason": r.reason.as_str(),
            "detail": r.detail,
        });
        let out = self.out.as_mut().expect("created above");
        writeln!(out, "{entry}").map_err(|error| BuildError::Report {
            path: self.path.clone(),
            error,
        })
    }

    fn finish(self) -> Result<(), BuildError> {
        if let Some(mut out) = self.out {
            out.flush().map_err(|error| BuildError::Report {
                path: self.path.clone(),
                error,
            })?;
        }
        Ok(())
    }
}
