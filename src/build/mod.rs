//! Snapshot to index: every line read is either indexed or reported.
//!
//! Files are read in dependency order (products, batches, items), each line
//! going through the submodules in this order:
//!
//! - `pipeline`: one file's lines read, split into chunks and judged on
//!   every core by `snapshot::record`, then handed back in file order.
//! - `checks`: what needs all records, line by line: duplicate keys (the
//!   first occurrence wins, the later one names its line), a batch's product,
//!   an item's product and lot, stamp uniqueness. A line that passes becomes
//!   an entry of the index payload. The pre-rendered JSON of kept products
//!   and batches, and the items' serials and stamps, are spilled to
//!   temporary files as they come (`index::spill`).
//! - `rejects`: the report of every line not indexed, written as rejects
//!   are found.
//!
//! This module reads the snapshot through them ([`collect`]) and hands the
//! payload and blob to `index::write` ([`build`]). If there are more than
//! `max_rejects` rejects, or a file is truncated, no index is written.

mod checks;
mod pipeline;
mod rejects;
pub mod space;

use std::fmt;
use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::index::format::{MAX_SNAPSHOT_ID, Payload};
use crate::index::spill::Spill;
use crate::index::write::{self, Written};
use crate::snapshot::record::Reason;
use crate::snapshot::{FILES, Kind, Manifest, SnapshotError};
use checks::{Collector, Refusal};
pub use rejects::RejectLog;

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
    /// Build even when the output's filesystem has less free space than the
    /// index is estimated to need.
    pub ignore_free_space: bool,
}

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(
        "more lines rejected than --max-rejects {max} allows: reading stopped at {at}, the reject number {rejected}; no index written (see {report})"
    )]
    TooManyRejects {
        rejected: u64,
        max: u64,
        report: PathBuf,
        /// The file and line where reading stopped.
        at: String,
    },
    #[error(
        "not enough free space in {}: the build needs about {} (an index of about {} and {} of record JSON, serials and stamps spilled beside it while it is built), and {} is free; free some space, or pass --ignore-free-space to try anyway",
        dir.display(), space::human(need.total()), space::human(need.index), space::human(need.spill), space::human(*free)
    )]
    NoSpace {
        dir: PathBuf,
        need: space::Need,
        free: u64,
    },
    #[error("checking the free space in {}: {error}", dir.display())]
    FreeSpace { dir: PathBuf, error: io::Error },
    #[error("rejects report {path}: {error}")]
    Report { path: PathBuf, error: io::Error },
    #[error("writing the index: {0}")]
    Write(io::Error),
    #[error("spilling record JSON, serials and stamps to a temporary file: {0}")]
    Spill(io::Error),
    #[error("spilling record JSON, serials and stamps to a temporary file in {}: {error}", dir.display())]
    SpillIn { dir: PathBuf, error: io::Error },
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

/// A spill error, naming the directory of the temporary file (which has no
/// name of its own).
fn in_dir(e: BuildError, dir: &Path) -> BuildError {
    match e {
        BuildError::Spill(error) => BuildError::SpillIn {
            dir: dir.to_owned(),
            error,
        },
        other => other,
    }
}

/// Refuses a build whose index, by the snapshot's estimate, cannot fit in
/// `out_dir`.
fn check_space(dir: &Path, out_dir: &Path) -> Result<(), BuildError> {
    let need = space::estimate(dir)?;
    let free = space::available(out_dir).map_err(|error| BuildError::FreeSpace {
        dir: out_dir.to_owned(),
        error,
    })?;
    if need.total() > free {
        return Err(BuildError::NoSpace {
            dir: out_dir.to_owned(),
            need,
            free,
        });
    }
    Ok(())
}

/// Builds the index of the snapshot in `dir` at `out`.
///
/// Cost: one streaming pass over the snapshot. Memory grows with the number of
/// records: about 24 bytes an item (its entry and two table slots) and 100 a
/// batch (3.8 GiB at 100 M items and 10 M batches); the records' JSON and the
/// items' serials and stamps are spilled to temporary files beside `out`,
/// never held.
/// First, unless told otherwise, the output's filesystem must have room for
/// what the snapshot is estimated to need ([`space::estimate`]).
pub fn build(dir: &Path, out: &Path, options: &Options) -> Result<Summary, BuildError> {
    let started = Instant::now();
    let report_path = options.rejects.clone().unwrap_or_else(|| {
        let mut name = out.as_os_str().to_owned();
        name.push(".rejects.jsonl");
        PathBuf::from(name)
    });
    let spill = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !options.ignore_free_space {
        check_space(dir, spill)?;
    }
    let mut rejects = RejectLog::new(report_path).with_limit(options.max_rejects);
    let Collected {
        payload,
        blob,
        files,
    } = collect(dir, &mut rejects, options.progress, Some(spill)).map_err(|e| in_dir(e, spill))?;
    let (rejected, report_path) = (rejects.count, rejects.finish()?);
    let writing = Instant::now();
    let written = write::write(payload, &mut blob.reader(), crate::date::unix_now(), out)
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
    pub blob: Spill,
    pub files: Vec<FileCount>,
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
    let spill = || match spill_in {
        Some(d) => Spill::in_dir(d).map_err(BuildError::Spill),
        None => Ok(Spill::in_memory()),
    };
    let (blob, item_bytes) = (spill()?, spill()?);
    let payload = Payload {
        snapshot_id,
        exported_at: manifest.exported_at.clone().unwrap_or_default(),
        item_bytes,
        ..Payload::default()
    };
    let mut c = Collector::new(payload, blob, planned(dir, &manifest)?);
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
        let count = read_file(&mut c, kind, &path, expected, rejects, progress)?;
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
    let (payload, blob) = c.finish().map_err(BuildError::Spill)?;
    Ok(Collected {
        payload,
        blob,
        files,
    })
}

/// Reads and checks the snapshot in `dir` in memory, reporting rejects to
/// `rejects`: the payload and its JSON blob, ready for `index::write`. For
/// tests and benches; a build of any size uses [`build`], which spills the
/// JSON to a file instead of holding it.
///
/// Cost: as [`build`]'s pass over the snapshot, with the JSON of every
/// product and batch held in memory.
pub fn in_memory(dir: &Path, rejects: &mut RejectLog) -> Result<(Payload, Vec<u8>), BuildError> {
    let Collected { payload, blob, .. } = collect(dir, rejects, false, None)?;
    let blob = blob.into_bytes().map_err(BuildError::Spill)?;
    Ok((payload, blob))
}

/// Reads the `kind` file at `path` into `c`, reporting its rejects. A last
/// line with no newline that does not parse is a truncated file, which fails
/// the build.
fn read_file(
    c: &mut Collector,
    kind: Kind,
    path: &Path,
    expected: Option<u64>,
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
    pipeline::read_lines(kind, path, |chunk| {
        let hashes: Vec<_> = chunk.lines.iter().map(|l| l.parsed.item_hashes()).collect();
        for (k, line) in chunk.lines.into_iter().enumerate() {
            if let Some(&Some(ahead)) = hashes.get(k + PREFETCH_AHEAD) {
                c.prefetch(ahead);
            }
            count.read += 1;
            // A file longer than its manifest says is not read to its end:
            // a decompression bomb stops at the count it announced.
            if let Some(n) = expected.filter(|&n| count.read > n) {
                return Err(SnapshotError::Truncated {
                    path: path.to_owned(),
                    detail: format!(
                        "the manifest counts {n} {} but the file has more lines; reading stopped at line {}",
                        kind.count_key(),
                        line.number
                    ),
                }
                .into());
            }
            match c.apply(line.parsed, &chunk.text, line.number) {
                Ok(()) => count.indexed += 1,
                Err(Refusal::Spill(e)) => return Err(BuildError::Spill(e)),
                Err(Refusal::Line(r))
                    if !line.terminated
                        && matches!(r.reason, Reason::InvalidJson | Reason::LineTooLong) =>
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
        if show && last_shown.elapsed() > Duration::from_millis(200) {
            last_shown = Instant::now();
            eprint!(
                "\r{file}: {} lines read, {} rejected ",
                count.read, count.rejected
            );
        }
        Ok(())
    })?;
    if show {
        eprint!("\r\x1b[2K");
    }
    count.elapsed = started.elapsed();
    Ok(count)
}

/// How many lines ahead an item's slots are fetched: enough for the fetch
/// to arrive, few enough to stay in cache.
const PREFETCH_AHEAD: usize = 8;

/// The products, batches and items to lay the tables out for: the manifest's
/// counts, where it gives them (without, the tables grow as they fill), but
/// no more than the files could hold at 32 bytes a line, however short a
/// record can be: a manifest wrong by millions must not make the build
/// touch gigabytes of empty table.
fn planned(dir: &Path, manifest: &Manifest) -> Result<[usize; 3], BuildError> {
    const SHORTEST_LINE: u64 = 32;
    let mut planned = [0; 3];
    for ((slot, kind), count) in planned.iter_mut().zip(FILES).zip(manifest.counts) {
        let (Some(count), Some(path)) = (count, crate::snapshot::find(dir, kind.file_name())?)
        else {
            continue;
        };
        let fits = crate::snapshot::decoded_size(&path)? / SHORTEST_LINE;
        *slot = count.min(fits).min(u64::from(u32::MAX)) as usize;
    }
    Ok(planned)
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

impl fmt::Display for Summary {
    /// What `tracescan build` prints: each file's line accounting, then the
    /// index written.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for file in &self.files {
            let name = file.path.as_ref().map_or_else(
                || format!("{} (absent)", file.kind.file_name()),
                |p| p.display().to_string(),
            );
            let secs = file.elapsed.as_secs_f64();
            writeln!(
                f,
                "{name}: read {} = indexed {} + rejected {} ({secs:.2} s)",
                file.read, file.indexed, file.rejected
            )?;
        }
        let secs = self.elapsed.as_secs_f64();
        writeln!(
            f,
            "index {} ({} bytes): {} records in {secs:.2} s ({:.0} records/s; tables and writing {:.2} s)",
            self.written.path.display(),
            self.written.bytes,
            self.records(),
            self.records() as f64 / secs.max(1e-9),
            self.write_elapsed.as_secs_f64()
        )?;
        if let Some(r) = &self.rejects_report {
            writeln!(f, "rejects: {}", r.display())?;
        }
        Ok(())
    }
}
