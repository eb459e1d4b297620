//! The pointer: the small object `current.json` that names the index a fleet
//! serves. Written last by a publication, read by every poll of a replica.
//!
//! ```json
//! {
//!   "format": 1,
//!   "key": "indexes/sample-2026-11-22-20261122T021519Z-6bbd1f0c4f41e6a2.tsidx",
//!   "length": 104960,
//!   "checksum": "6bbd1f0c4f41e6a2",
//!   "snapshot_id": "sample-2026-11-22",
//!   "built_at": "2026-11-22T02:15:19Z",
//!   "published_at": "2026-11-22T02:15:21Z"
//! }
//! ```
//!
//! `key` is relative to the URL published to; `length` is the whole file's;
//! `checksum` is the xxh3-64 of payload and blob exactly as the index header
//! holds it (`tracescan inspect` prints it), in 16 lowercase hex digits.
//! Unknown fields are ignored, so that a later format may add some; a later
//! `format` number is refused.

use serde::{Deserialize, Serialize};

use crate::date::{parse_rfc3339_utc, rfc3339_utc};
use crate::index::format::{HEADER_LEN, Header, MAX_SNAPSHOT_ID};

/// The pointer's name under the URL.
pub const POINTER: &str = "current.json";
/// Where indexes go under the URL.
pub const INDEXES: &str = "indexes";
/// The pointer format written and read.
pub const FORMAT: u32 = 1;
/// The largest pointer read: a real one is about 350 bytes.
pub const MAX_POINTER_BYTES: u64 = 16 * 1024;
/// The longest key taken.
pub const MAX_KEY: usize = 512;
/// The longest snapshot id kept in an index's name.
const NAME_SNAPSHOT_CHARS: usize = 64;

/// A pointer, checked: every field within its bounds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pointer {
    /// The index object's key under the URL: `/`-separated segments of
    /// `[A-Za-z0-9._-]`, none empty, `.` or `..`; the last one, a file name
    /// ending in `.tsidx` and not starting with a dot, is the name the index
    /// takes in the replica's directory.
    pub key: String,
    /// The whole index file's length in bytes (at least a header's).
    pub length: u64,
    /// The header's checksum: xxh3-64 of payload and blob.
    pub checksum: u64,
    pub snapshot_id: String,
    /// When the index was built and published, Unix seconds.
    pub built_at: i64,
    pub published_at: i64,
}

/// The pointer as it is written: text fields.
#[derive(Serialize, Deserialize)]
struct Wire {
    format: u32,
    key: String,
    length: u64,
    checksum: String,
    snapshot_id: String,
    built_at: String,
    published_at: String,
}

impl Pointer {
    /// The pointer to the index of `header`, `length` bytes long, published
    /// now: its key is `indexes/<name>` ([`index_name`]).
    pub fn for_index(header: &Header, length: u64, published_at: i64) -> Pointer {
        Pointer {
            key: format!("{INDEXES}/{}", index_name(header)),
            length,
            checksum: header.checksum,
            snapshot_id: header.snapshot_id.clone(),
            built_at: header.built_at,
            published_at,
        }
    }

    /// The pointer's bytes: pretty JSON and a newline.
    pub fn encode(&self) -> Vec<u8> {
        let wire = Wire {
            format: FORMAT,
            key: self.key.clone(),
            length: self.length,
            checksum: format!("{:016x}", self.checksum),
            snapshot_id: self.snapshot_id.clone(),
            built_at: rfc3339_utc(self.built_at),
            published_at: rfc3339_utc(self.published_at),
        };
        let mut bytes = serde_json::to_vec_pretty(&wire).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// Reads and checks a pointer; the error says what is wrong with it.
    /// Cost: parsing at most [`MAX_POINTER_BYTES`], which the caller bounds.
    pub fn decode(bytes: &[u8]) -> Result<Pointer, String> {
        let wire: Wire =
            serde_json::from_slice(bytes).map_err(|e| format!("not a pointer: {e}"))?;
        if wire.format != FORMAT {
            return Err(format!(
                "pointer format {}, this tracescan reads format {FORMAT}",
                wire.format
            ));
        }
        check_key(&wire.key)?;
        if wire.length < HEADER_LEN as u64 {
            return Err(format!(
                "length {} is shorter than an index header",
                wire.length
            ));
        }
        let hex =
            |s: &str| s.len() == 16 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !hex(&wire.checksum) {
            return Err(format!(
                "checksum {:?} is not 16 lowercase hex digits",
                clip(&wire.checksum)
            ));
        }
        let checksum = u64::from_str_radix(&wire.checksum, 16).map_err(|e| e.to_string())?;
        if wire.snapshot_id.len() > MAX_SNAPSHOT_ID {
            return Err(format!(
                "snapshot_id is {} bytes, more than {MAX_SNAPSHOT_ID}",
                wire.snapshot_id.len()
            ));
        }
        let time = |name: &str, s: &str| {
            parse_rfc3339_utc(s).ok_or_else(|| {
                format!("{name} {:?} is not a time as YYYY-MM-DDTHH:MM:SSZ", clip(s))
            })
        };
        Ok(Pointer {
            built_at: time("built_at", &wire.built_at)?,
            published_at: time("published_at", &wire.published_at)?,
            key: wire.key,
            length: wire.length,
            checksum,
            snapshot_id: wire.snapshot_id,
        })
    }

    /// The index's file name: the key's last segment.
    pub fn file_name(&self) -> &str {
        self.key.rsplit('/').next().unwrap_or(&self.key)
    }

    /// Whether `header`, read from the object named, is the index this
    /// pointer describes; the error says where they differ.
    pub fn describes(&self, header: &Header) -> Result<(), Mismatch> {
        let announced = (HEADER_LEN as u64)
            .saturating_add(header.payload_len)
            .saturating_add(header.blob_len);
        if announced != self.length {
            return Err(Mismatch::Length(format!(
                "the object's header announces {announced} bytes, the pointer {}",
                self.length
            )));
        }
        if header.checksum != self.checksum {
            return Err(Mismatch::Content(format!(
                "the object's header holds checksum {:016x}, the pointer names {:016x}",
                header.checksum, self.checksum
            )));
        }
        if header.snapshot_id != self.snapshot_id || header.built_at != self.built_at {
            return Err(Mismatch::Content(format!(
                "the object holds snapshot {:?} built at {}, the pointer names {:?} built at {}",
                header.snapshot_id,
                rfc3339_utc(header.built_at),
                self.snapshot_id,
                rfc3339_utc(self.built_at)
            )));
        }
        Ok(())
    }
}

/// How an object's header differs from the pointer that names it.
#[derive(Debug, PartialEq, Eq)]
pub enum Mismatch {
    /// In the length it announces.
    Length(String),
    /// In its checksum, snapshot or build time.
    Content(String),
}

/// The name an index is published under, which no other index has:
/// `<snapshot>-<built at>-<checksum>.tsidx`, the snapshot id cut to 64
/// characters of `[A-Za-z0-9._-]` (others become `_`).
pub fn index_name(header: &Header) -> String {
    let mut snapshot: String = header
        .snapshot_id
        .chars()
        .take(NAME_SNAPSHOT_CHARS)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    // A name starting with a dot would be a temporary file to the watcher.
    while snapshot.starts_with('.') {
        snapshot.remove(0);
    }
    if snapshot.is_empty() {
        snapshot.push_str("index");
    }
    let built: String = rfc3339_utc(header.built_at)
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .collect();
    format!("{snapshot}-{built}-{:016x}.tsidx", header.checksum)
}

/// A key a replica may follow: see [`Pointer::key`].
fn check_key(key: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("key {:?} {why}", clip(key)));
    if key.is_empty() || key.len() > MAX_KEY {
        return bad(&format!("is empty or longer than {MAX_KEY} bytes"));
    }
    let safe = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    };
    if !key.split('/').all(safe) {
        return bad("is not a relative key of [A-Za-z0-9._-] segments");
    }
    let name = key.rsplit('/').next().unwrap_or(key);
    if name.starts_with('.') || !name.ends_with(".tsidx") || name.len() <= ".tsidx".len() {
        return bad("does not name an index file (NAME.tsidx)");
    }
    Ok(())
}

/// At most 80 characters of `s`, for a message.
fn clip(s: &str) -> String {
    s.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            version: crate::index::format::VERSION,
            payload_len: 1000,
            blob_len: 24,
            checksum: 0x6bbd_1f0c_4f41_e6a2,
            hash_seed: 0,
            built_at: 1_795_400_000,
            products: 1,
            batches: 1,
            items: 1,
            max_probe: [0; 4],
            snapshot_id: "sample 2026/11/22".into(),
        }
    }

    #[test]
    fn a_pointer_reads_back_as_written() {
        let p = Pointer::for_index(&header(), 1280, 1_795_400_100);
        assert_eq!(
            p.key,
            "indexes/sample_2026_11_22-20261123T021320Z-6bbd1f0c4f41e6a2.tsidx"
        );
        assert_eq!(Pointer::decode(&p.encode()), Ok(p.clone()));
        assert_eq!(p.describes(&header()), Ok(()));
    }

    #[test]
    fn bad_pointers_say_what_is_wrong() {
        let good = String::from_utf8(Pointer::for_index(&header(), 1280, 0).encode()).unwrap();
        let cases = [
            ("\"format\": 1", "\"format\": 2", "pointer format 2"),
            ("indexes/sample", "../sample", "relative key"),
            (
                "indexes/sample",
                "indexes/.sample",
                "does not name an index",
            ),
            (
                "6bbd1f0c4f41e6a2\"",
                "6BBD1F0C4F41E6A2\"",
                "16 lowercase hex",
            ),
            ("\"length\": 1280", "\"length\": 12", "shorter than"),
            ("\"length\": 1280", "\"length\": -1", "not a pointer"),
            ("1970-01-01T00:00:00Z", "1970-01-01 00:00:00", "not a time"),
        ];
        for (from, to, expected) in cases {
            let bad = good.replacen(from, to, 1);
            assert_ne!(bad, good, "{from}");
            let error = Pointer::decode(bad.as_bytes()).unwrap_err();
            assert!(error.contains(expected), "{to}: {error}");
        }
        assert!(
            Pointer::decode(b"{")
                .unwrap_err()
                .starts_with("not a pointer")
        );
    }

    #[test]
    fn a_header_that_differs_is_named() {
        let p = Pointer::for_index(&header(), 1280, 0);
        let mut other = header();
        other.checksum ^= 1;
        assert!(matches!(p.describes(&other), Err(Mismatch::Content(m)) if m.contains("checksum")));
        let p = Pointer::for_index(&header(), 1281, 0);
        assert!(
            matches!(p.describes(&header()), Err(Mismatch::Length(m)) if m.contains("announces 1280"))
        );
    }
}
