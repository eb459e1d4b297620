//! Snapshot to index: every line read is either indexed or reported.
//!
//! Files are read in dependency order (products, batches, items). Each line is
//! judged by `snapshot::record`; this module adds what needs all records:
//! duplicate keys (the first occurrence wins, the later one names its line),
//! a batch's product, an item's product and lot, stamp uniqueness. Rejects go
//! to a JSON Lines report as they are found. If there are more than
//! `max_rejects`, or a file is truncated, no index is written.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::index::format::{
    BatchEntry, HAS_BATCHES, HAS_ITEMS, ItemEntry, MAX_SNAPSHOT_ID, NO_BATCH, Payload, ProductEntry,
};
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
    #[error("rejects report {path}: {source}")]
    Report { path: PathBuf, source: io::Error },
    #[error("writing the index: {0}")]
    Write(io::Error),
}

/// Lines of one file, accounted for: read = indexed + rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileCount {
    pub kind: Kind,
    pub path: Option<PathBuf>,
    pub read: u64,
    pub indexed: u64,
    pub rejected: u64,
}

/// What a build did.
#[derive(Debug)]
pub struct Summary {
    pub files: Vec<FileCount>,
    pub rejects_report: Option<PathBuf>,
    pub written: Written,
    pub elapsed: Duration,
}

impl Summary {
    pub fn records(&self) -> u64 {
        self.files.iter().map(|f| f.read).sum()
    }
}

/// Builds the index of the snapshot in `dir` at `out`.
///
/// Cost: one streaming pass over the snapshot; memory grows with the number of
/// records (keys for duplicate detection, and the entries of the index).
pub fn build(dir: &Path, out: &Path, options: &Options) -> Result<Summary, BuildError> {
    let started = Instant::now();
    let report_path = options.rejects.clone().unwrap_or_else(|| {
        let mut name = out.as_os_str().to_owned();
        name.push(".rejects.jsonl");
        PathBuf::from(name)
    });
    let mut rejects = RejectLog::new(report_path.clone());
    let (payload, files) = collect(dir, &mut rejects, options.progress)?;
    let rejected = rejects.count;
    rejects.finish()?;
    if rejected > options.max_rejects {
        return Err(BuildError::TooManyRejects {
            rejected,
            max: options.max_rejects,
            report: report_path,
        });
    }
    let written = write::write(payload, crate::date::unix_now(), out).map_err(BuildError::Write)?;
    Ok(Summary {
        files,
        rejects_report: (rejected > 0).then_some(report_path),
        written,
        elapsed: started.elapsed(),
    })
}

/// Reads and checks the snapshot in `dir` into an index payload (tables not
/// yet built), reporting rejects to `rejects`.
pub fn collect(
    dir: &Path,
    rejects: &mut RejectLog,
    progress: bool,
) -> Result<(Payload, Vec<FileCount>), BuildError> {
    let manifest = Manifest::read(dir)?;
    let snapshot_id = manifest
        .snapshot_id
        .clone()
        .unwrap_or_else(|| default_snapshot_id(dir));
    let mut c = Collector {
        payload: Payload {
            snapshot_id,
            exported_at: manifest.exported_at.clone().unwrap_or_default(),
            ..Payload::default()
        },
        products: HashMap::new(),
        rejected_products: HashMap::new(),
        batches: HashMap::new(),
        items: HashMap::new(),
        stamps: HashMap::new(),
    };
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
            });
            continue;
        };
        let count = c.read_file(kind, &path, rejects, progress)?;
        if let Some(n) = expected
            && n != count.read
        {
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
    Ok((c.payload, files))
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

/// The state of a build: entries so far, and the keys seen with their lines.
struct Collector {
    payload: Payload,
    /// GTIN → (product index, line).
    products: HashMap<u64, (u32, u64)>,
    /// GTIN → line of a product line that was rejected (to explain orphans).
    rejected_products: HashMap<u64, u64>,
    /// (product, lot) → (batch index, line).
    batches: HashMap<(u32, String), (u32, u64)>,
    /// (product, serial) → line.
    items: HashMap<(u32, String), u64>,
    /// stamp → line.
    stamps: HashMap<String, u64>,
}

impl Collector {
    fn read_file(
        &mut self,
        kind: Kind,
        path: &Path,
        rejects: &mut RejectLog,
        progress: bool,
    ) -> Result<FileCount, BuildError> {
        let mut reader = LineReader::open(path)?;
        let file = kind.file_name();
        let mut count = FileCount {
            kind,
            path: Some(path.to_owned()),
            read: 0,
            indexed: 0,
            rejected: 0,
        };
        let show = progress && io::stderr().is_terminal();
        let mut last_shown = Instant::now();
        while let Some(line) = reader.next_line()? {
            count.read += 1;
            let outcome = match kind {
                Kind::Products => self.product(line.bytes, line.number),
                Kind::Batches => self.batch(line.bytes, line.number),
                Kind::Items => self.item(line.bytes, line.number),
            };
            match outcome {
                Ok(()) => count.indexed += 1,
                Err(r) if !line.terminated && r.reason == Reason::InvalidJson => {
                    return Err(SnapshotError::Truncated {
                        path: path.to_owned(),
                        detail: format!(
                            "the last line ({}) has no newline and does not parse: {}",
                            line.number, r.detail
                        ),
                    }
                    .into());
                }
                Err(r) => {
                    count.rejected += 1;
                    rejects.add(file, line.number, &r)?;
                }
            }
            if show
                && count.read.is_multiple_of(65_536)
                && last_shown.elapsed() > Duration::from_millis(200)
            {
                last_shown = Instant::now();
                eprint!(
                    "\r{file}: {} lines read, {} rejected ",
                    count.read, count.rejected
                );
            }
        }
        if show {
            eprint!("\r\x1b[2K");
        }
        Ok(count)
    }

    fn product(&mut self, bytes: &[u8], line: u64) -> Result<(), Rejection> {
        let p = match record::product(bytes) {
            Ok(p) => p,
            Err(r) => {
                // Remember the GTIN so that its batches and items can say why
                // they have no product.
                let gtin = serde_json::from_slice::<serde_json::Value>(bytes)
                    .ok()
                    .and_then(|v| {
                        v.get("gtin")?
                            .as_str()
                            .and_then(|g| crate::code::Gtin::parse(g).ok())
                    });
                if let Some(g) = gtin {
                    self.rejected_products.entry(g.as_u64()).or_insert(line);
                }
                return Err(r);
            }
        };
        let gtin = p.gtin.as_u64();
        if let Some(&(_, first)) = self.products.get(&gtin) {
            return Err(Rejection::new(
                Reason::DuplicateKey,
                Some(p.gtin.to_string()),
                format!("GTIN {} is already the product of line {first}", p.gtin),
            ));
        }
        let id = self.payload.products.len() as u32;
        self.products.insert(gtin, (id, line));
        self.payload.products.push(ProductEntry {
            gtin,
            status: p.status as u8,
            flags: 0,
            recall_notice: p.recall_notice.unwrap_or_default(),
            json: p.json,
        });
        Ok(())
    }

    /// The product index of `gtin`, or the rejection of an orphan.
    fn product_of(&self, gtin: crate::code::Gtin, key: &str, what: &str) -> Result<u32, Rejection> {
        if let Some(&(id, _)) = self.products.get(&gtin.as_u64()) {
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
            Some(key.to_owned()),
            format!("{what}: {why}"),
        ))
    }

    fn batch(&mut self, bytes: &[u8], line: u64) -> Result<(), Rejection> {
        let b = record::batch(bytes)?;
        let key = format!("{}/{}", b.gtin, b.lot);
        let product = self.product_of(b.gtin, &key, "batch")?;
        let map_key = (product, b.lot.clone());
        if let Some(&(_, first)) = self.batches.get(&map_key) {
            return Err(Rejection::new(
                Reason::DuplicateKey,
                Some(key),
                format!(
                    "lot {} of GTIN {} is already the batch of line {first}",
                    b.lot, b.gtin
                ),
            ));
        }
        let id = self.payload.batches.len() as u32;
        self.batches.insert(map_key, (id, line));
        self.payload.products[product as usize].flags |= HAS_BATCHES;
        self.payload.batches.push(BatchEntry {
            product,
            status: b.status as u8,
            expiry: b.expiry.map_or(0, |d| d.to_yyyymmdd()),
            lot: b.lot,
            recall_notice: b.recall_notice.unwrap_or_default(),
            json: b.json,
        });
        Ok(())
    }

    fn item(&mut self, bytes: &[u8], line: u64) -> Result<(), Rejection> {
        let it = record::item(bytes)?;
        let key = format!("{}/{}", it.gtin, it.serial);
        let product = self.product_of(it.gtin, &key, "item")?;
        let batch = match &it.lot {
            None => NO_BATCH,
            Some(lot) => match self.batches.get(&(product, lot.clone())) {
                Some(&(id, _)) => id,
                None => {
                    return Err(Rejection::new(
                        Reason::UnknownLot,
                        Some(key),
                        format!("lot {lot} is not a batch of GTIN {}", it.gtin),
                    ));
                }
            },
        };
        let item_key = (product, it.serial.clone());
        if let Some(&first) = self.items.get(&item_key) {
            return Err(Rejection::new(
                Reason::DuplicateKey,
                Some(key),
                format!(
                    "serial {} of GTIN {} is already the item of line {first}",
                    it.serial, it.gtin
                ),
            ));
        }
        if let Some(stamp) = &it.stamp {
            if let Some(&first) = self.stamps.get(stamp) {
                return Err(Rejection::new(
                    Reason::DuplicateKey,
                    Some(key),
                    format!("stamp {stamp} is already on the item of line {first}"),
                ));
            }
            self.stamps.insert(stamp.clone(), line);
        }
        self.items.insert(item_key, line);
        self.payload.products[product as usize].flags |= HAS_ITEMS;
        let bytes_at = self.payload.item_bytes.len() as u64;
        let stamp = it.stamp.as_deref().unwrap_or("");
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
        Ok(())
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
        let report = |source| BuildError::Report {
            path: self.path.clone(),
            source,
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
        writeln!(out, "{entry}").map_err(|source| BuildError::Report {
            path: self.path.clone(),
            source,
        })
    }

    fn finish(self) -> Result<(), BuildError> {
        if let Some(mut out) = self.out {
            out.flush().map_err(|source| BuildError::Report {
                path: self.path.clone(),
                source,
            })?;
        }
        Ok(())
    }
}
