//! Snapshot exports: a directory of JSON Lines files, plain, `.gz` or `.zst`.
//!
//! This module reads bytes and lines; `record` judges each line. Files are
//! streamed through one reused line buffer: a snapshot is never held in memory
//! as text. A broken compressed stream, a last line cut short, and a manifest
//! count that does not match are *truncation*, which fails the build: a partial
//! export must never replace a complete index.

pub mod record;

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// The files of a snapshot, in the order they must be read: batches refer to
/// products, items to batches.
pub const FILES: [Kind; 3] = [Kind::Products, Kind::Batches, Kind::Items];

/// Which file of a snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Products,
    Batches,
    Items,
}

impl Kind {
    /// The file's base name in the snapshot directory.
    pub fn file_name(self) -> &'static str {
        match self {
            Kind::Products => "products.jsonl",
            Kind::Batches => "batches.jsonl",
            Kind::Items => "items.jsonl",
        }
    }

    /// The manifest's key for this file's count.
    pub fn count_key(self) -> &'static str {
        match self {
            Kind::Products => "products",
            Kind::Batches => "batches",
            Kind::Items => "items",
        }
    }
}

/// Why a snapshot cannot be read. Each variant names the file concerned.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("{path}: {error}")]
    Io { path: PathBuf, error: io::Error },
    #[error("{dir}: no products.jsonl (or .gz, .zst) in the snapshot directory")]
    MissingProducts { dir: PathBuf },
    #[error("{dir}: {name} is there in more than one form ({found}); keep one")]
    Ambiguous {
        dir: PathBuf,
        name: &'static str,
        found: String,
    },
    #[error("{path}: truncated: {detail}")]
    Truncated { path: PathBuf, detail: String },
    #[error("{path}: {detail}")]
    Manifest { path: PathBuf, detail: String },
}

/// The snapshot's manifest, when it has one.
#[derive(Clone, Debug, Default)]
pub struct Manifest {
    pub snapshot_id: Option<String>,
    pub exported_at: Option<String>,
    /// Per file, the number of records the exporter wrote, if it said.
    pub counts: [Option<u64>; 3],
}

impl Manifest {
    /// Reads `manifest.json` (or `.gz`, `.zst`) from `dir`; the default when
    /// there is none.
    pub fn read(dir: &Path) -> Result<Manifest, SnapshotError> {
        let Some(path) = find(dir, "manifest.json")? else {
            return Ok(Manifest::default());
        };
        let mut text = Vec::new();
        open_decoded(&path)?
            .read_to_end(&mut text)
            .map_err(|e| stream_error(&path, e))?;
        let bad = |detail: String| SnapshotError::Manifest {
            path: path.clone(),
            detail,
        };
        let value: serde_json::Value =
            serde_json::from_slice(&text).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        let obj = value
            .as_object()
            .ok_or_else(|| bad("the manifest is not a JSON object".into()))?;
        let text_field = |key: &str| -> Result<Option<String>, SnapshotError> {
            match obj.get(key) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(bad(format!("\"{key}\" must be a string, found {other}"))),
            }
        };
        let snapshot_id = text_field("snapshot_id")?;
        if let Some(id) = &snapshot_id
            && (id.is_empty() || id.len() > 128 || id.chars().any(char::is_control))
        {
            return Err(bad(format!(
                "\"snapshot_id\" must be 1 to 128 bytes of text, found {id:?}"
            )));
        }
        let exported_at = text_field("exported_at")?;
        if let Some(t) = &exported_at {
            crate::date::check_rfc3339(t).map_err(|e| bad(format!("\"exported_at\": {e}")))?;
        }
        let mut counts = [None; 3];
        if let Some(c) = obj.get("counts") {
            let c = c
                .as_object()
                .ok_or_else(|| bad("\"counts\" must be an object".into()))?;
            for (slot, kind) in counts.iter_mut().zip(FILES) {
                if let Some(n) = c.get(kind.count_key()) {
                    let n = n.as_u64().ok_or_else(|| {
                        bad(format!(
                            "\"counts.{}\" must be a whole number, found {n}",
                            kind.count_key()
                        ))
                    })?;
                    *slot = Some(n);
                }
            }
        }
        Ok(Manifest {
            snapshot_id,
            exported_at,
            counts,
        })
    }
}

/// The path of `name` in `dir`, in whichever one form it is there.
pub fn find(dir: &Path, name: &'static str) -> Result<Option<PathBuf>, SnapshotError> {
    let found: Vec<PathBuf> = ["", ".gz", ".zst"]
        .iter()
        .map(|ext| dir.join(format!("{name}{ext}")))
        .filter(|p| p.exists())
        .collect();
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.into_iter().next()),
        _ => Err(SnapshotError::Ambiguous {
            dir: dir.to_owned(),
            name,
            found: found
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

fn open_decoded(path: &Path) -> Result<Box<dyn Read + Send>, SnapshotError> {
    let file = File::open(path).map_err(|error| SnapshotError::Io {
        path: path.to_owned(),
        error,
    })?;
    let name = path.to_string_lossy();
    Ok(if name.ends_with(".gz") {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
            1 << 16,
            file,
        )))
    } else if name.ends_with(".zst") {
        let decoder = zstd::Decoder::new(file).map_err(|error| SnapshotError::Io {
            path: path.to_owned(),
            error,
        })?;
        Box::new(decoder)
    } else {
        Box::new(file)
    })
}

/// A read error inside a compressed stream is a truncated or damaged export,
/// not a passing I/O fault: say so.
fn stream_error(path: &Path, e: io::Error) -> SnapshotError {
    let compressed = path.extension().is_some_and(|x| x == "gz" || x == "zst");
    if compressed
        && matches!(
            e.kind(),
            io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidData | io::ErrorKind::Other
        )
    {
        SnapshotError::Truncated {
            path: path.to_owned(),
            detail: format!("the compressed stream is broken: {e}"),
        }
    } else {
        SnapshotError::Io {
            path: path.to_owned(),
            error: e,
        }
    }
}

/// One line of a snapshot file: its number (from 1) and bytes, newline removed.
pub struct Line<'a> {
    pub number: u64,
    pub bytes: &'a [u8],
    /// False only for a last line with no newline after it.
    pub terminated: bool,
}

/// Streams the lines of one snapshot file through a reused buffer.
pub struct LineReader {
    path: PathBuf,
    reader: BufReader<Box<dyn Read + Send>>,
    buf: Vec<u8>,
    number: u64,
}

impl LineReader {
    /// Opens `path`, decompressing by its extension. Cheap: nothing is read yet.
    pub fn open(path: &Path) -> Result<LineReader, SnapshotError> {
        Ok(LineReader {
            path: path.to_owned(),
            reader: BufReader::with_capacity(1 << 18, open_decoded(path)?),
            buf: Vec::with_capacity(4096),
            number: 0,
        })
    }

    /// The next line, or `None` at the end of the file.
    pub fn next_line(&mut self) -> Result<Option<Line<'_>>, SnapshotError> {
        self.buf.clear();
        let n = self
            .reader
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| stream_error(&self.path, e))?;
        if n == 0 {
            return Ok(None);
        }
        self.number += 1;
        let terminated = self.buf.last() == Some(&b'\n');
        let mut bytes = &self.buf[..];
        if terminated {
            bytes = &bytes[..bytes.len() - 1];
        }
        if bytes.last() == Some(&b'\r') {
            bytes = &bytes[..bytes.len() - 1];
        }
        Ok(Some(Line {
            number: self.number,
            bytes,
            terminated,
        }))
    }
}
