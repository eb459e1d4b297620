//! The pre-rendered JSON of products and batches, which index entries point
//! into: spilled to an unnamed temporary file as records are kept, so that a
//! build never holds it, or kept in memory for tests and small snapshots.

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};

use crate::index::format::Span;

/// The pre-rendered JSON of products and batches, in memory or spilled.
pub enum Blob {
    Memory(Vec<u8>),
    Spilled(BufWriter<File>),
}

impl Blob {
    /// Appends `bytes`, which start at `at` in the blob (its length so far,
    /// kept by the caller), and returns where they lie.
    pub(super) fn append(&mut self, bytes: &[u8], at: u64) -> io::Result<Span> {
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

    /// The whole blob in memory. Free for a blob kept in memory; a spilled one
    /// is read back whole.
    pub fn into_bytes(mut self) -> io::Result<Vec<u8>> {
        if let Blob::Memory(v) = self {
            return Ok(v);
        }
        let mut bytes = Vec::new();
        self.reader()?.read_to_end(&mut bytes)?;
        Ok(bytes)
    }
}
