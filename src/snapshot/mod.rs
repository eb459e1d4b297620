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

/// The longest line read, in bytes (1 MiB; a product with a long description
/// and many links is a few KiB). A longer line is rejected as
/// `line_too_long` and skipped to its end without being held in memory.
pub const MAX_LINE: usize = 1 << 20;

/// The longest line skipped over, in bytes (64 MiB): past it the file is no
/// JSON Lines export at all, and reading it further would never end on an
/// endless stream.
pub const MAX_SKIP: u64 = 64 << 20;

/// The largest manifest read, in bytes: it is a handful of fields.
pub const MAX_MANIFEST: u64 = 64 * 1024;

/// The byte order mark some exporters put at the start of a UTF-8 file: not
/// part of the first line.
const BOM: &[u8] = b"\xEF\xBB\xBF";

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
        // Read one byte past the limit to tell a manifest at the limit from
        // one beyond it, without reading a hostile one whole.
        open_decoded(&path)?
            .take(MAX_MANIFEST + 1)
            .read_to_end(&mut text)
            .map_err(|e| stream_error(&path, e))?;
        let bad = |detail: String| SnapshotError::Manifest {
            path: path.clone(),
            detail,
        };
        if text.len() as u64 > MAX_MANIFEST {
            return Err(bad(format!(
                "the manifest is over {MAX_MANIFEST} bytes; it holds a few fields"
            )));
        }
        let text = text.strip_prefix(BOM).unwrap_or(&text);
        let value: serde_json::Value =
            serde_json::from_slice(text).map_err(|e| bad(format!("not valid JSON: {e}")))?;
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
    let io = |error| SnapshotError::Io {
        path: path.to_owned(),
        error,
    };
    let file = File::open(path).map_err(io)?;
    // A device or a pipe (a link to /dev/zero, say) never ends: an export
    // is a file.
    if !file.metadata().map_err(io)?.is_file() {
        return Err(io(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        )));
    }
    decoder(path, file).map_err(io)
}

/// `input`, the bytes of the file at `path`, decoded as its name says.
fn decoder<R: Read + Send + 'static>(path: &Path, input: R) -> io::Result<Box<dyn Read + Send>> {
    let name = path.to_string_lossy();
    Ok(if name.ends_with(".gz") {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
            1 << 16,
            input,
        )))
    } else if name.ends_with(".zst") {
        Box::new(zstd::Decoder::new(input)?)
    } else {
        Box::new(input)
    })
}

/// About how many bytes the file at `path` holds once decoded: its size for
/// a plain file; for a compressed one, its size times the ratio of its first
/// 8 MiB decoded to the compressed bytes they took (exact when the file is
/// smaller). Reads at most that much.
pub fn decoded_size(path: &Path) -> Result<u64, SnapshotError> {
    const SAMPLE: u64 = 8 << 20;
    let io = |error| SnapshotError::Io {
        path: path.to_owned(),
        error,
    };
    let file = File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    if path.extension().is_none_or(|x| x != "gz" && x != "zst") {
        return Ok(size);
    }
    let consumed = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counting = Counting {
        inner: file,
        read: consumed.clone(),
    };
    let mut decoded = decoder(path, counting).map_err(io)?;
    let out = io::copy(&mut (&mut decoded).take(SAMPLE), &mut io::sink())
        .map_err(|e| stream_error(path, e))?;
    let took = consumed.load(std::sync::atomic::Ordering::Relaxed).max(1);
    Ok(if out < SAMPLE {
        out
    } else {
        (size as f64 * out as f64 / took as f64) as u64
    })
}

/// A reader that counts the bytes taken from it.
struct Counting<R> {
    inner: R,
    read: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
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
    /// Empty for a line over [`MAX_LINE`].
    pub bytes: &'a [u8],
    /// False only for a last line with no newline after it.
    pub terminated: bool,
    /// For a line over [`MAX_LINE`], its length: it was skipped unread.
    pub too_long: Option<u64>,
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
    ///
    /// Cost: at most [`MAX_LINE`] bytes held, whatever the line's length.
    pub fn next_line(&mut self) -> Result<Option<Line<'_>>, SnapshotError> {
        self.buf.clear();
        let n = (&mut self.reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| stream_error(&self.path, e))?;
        if n == 0 {
            return Ok(None);
        }
        self.number += 1;
        let mut terminated = self.buf.last() == Some(&b'\n');
        if !terminated && self.buf.len() > MAX_LINE {
            let (length, ended) = self.skip_line()?;
            self.buf.clear();
            return Ok(Some(Line {
                number: self.number,
                bytes: &[],
                terminated: ended,
                too_long: Some(length),
            }));
        }
        if self.number == 1 && self.buf.starts_with(BOM) {
            self.buf.drain(..BOM.len());
            terminated = self.buf.last() == Some(&b'\n');
        }
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
            too_long: None,
        }))
    }

    /// Reads past the rest of a line too long to hold, keeping none of it;
    /// returns its whole length (newline excluded) and whether a newline
    /// ended it.
    fn skip_line(&mut self) -> Result<(u64, bool), SnapshotError> {
        let mut length = self.buf.len() as u64;
        loop {
            if length > MAX_SKIP {
                return Err(SnapshotError::Truncated {
                    path: self.path.clone(),
                    detail: format!(
                        "line {} runs past {MAX_SKIP} bytes without a newline: not a JSON Lines file",
                        self.number
                    ),
                });
            }
            let available = self
                .reader
                .fill_buf()
                .map_err(|e| stream_error(&self.path, e))?;
            if available.is_empty() {
                return Ok((length, false));
            }
            match available.iter().position(|&b| b == b'\n') {
                Some(end) => {
                    self.reader.consume(end + 1);
                    return Ok((length + end as u64, true));
                }
                None => {
                    let all = available.len();
                    self.reader.consume(all);
                    length += all as u64;
                }
            }
        }
    }
}
