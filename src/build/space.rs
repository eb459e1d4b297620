//! Free space, checked before a build writes gigabytes: the index's size is
//! estimated from the snapshot and set against what the output's filesystem
//! has free, so that a build that cannot fit says so at once, with the
//! figures, instead of failing hours in with a full disk.

use std::path::Path;

use crate::snapshot::{self, Kind, SnapshotError};

/// What a build of a snapshot needs on the output's filesystem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Need {
    /// The index: the products' and batches' JSON as exported, an entry per
    /// item, and the tables (a tenth more).
    pub index: u64,
    /// The products' and batches' JSON spilled beside the index while it is
    /// built, removed when it is written.
    pub spill: u64,
}

impl Need {
    pub fn total(self) -> u64 {
        self.index + self.spill
    }
}

/// Estimates what building the snapshot in `dir` needs, from the size of its
/// files as decoded (compressed files are sampled: see
/// [`snapshot::decoded_size`]). Measured on generated snapshots the index
/// comes to 0.8–1.0 of the decoded snapshot; the estimate errs on the large
/// side.
pub fn estimate(dir: &Path) -> Result<Need, SnapshotError> {
    let mut decoded = [0u64; 3];
    for (slot, kind) in decoded
        .iter_mut()
        .zip([Kind::Products, Kind::Batches, Kind::Items])
    {
        if let Some(path) = snapshot::find(dir, kind.file_name())? {
            *slot = snapshot::decoded_size(&path)?;
        }
    }
    let [products, batches, items] = decoded;
    let records = products + batches;
    Ok(Need {
        index: (records + items) + (records + items) / 10,
        spill: records,
    })
}

/// Bytes free to an unprivileged writer on the filesystem holding `dir`.
pub fn available(dir: &Path) -> std::io::Result<u64> {
    let stat = rustix::fs::statvfs(dir)?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// A size for people: `9.8 GB`, `512 kB`.
pub fn human(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < units.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}
