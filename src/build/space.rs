//! Free space, checked before a build writes gigabytes: the index's size is
//! estimated from the snapshot and set against what the output's filesystem
//! has free, so that a build that cannot fit says so at once, with the
//! figures, instead of failing hours in with a full disk.

use std::path::Path;

use crate::snapshot::{self, Kind, SnapshotError};

/// What a build of a snapshot needs on the output's filesystem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Need {
    /// The index: the products' JSON as exported and the batches' coded, an
    /// entry per item, and the tables (a tenth more), and the linksets
    /// pre-rendered from their links (a quarter of their JSON more).
    pub index: u64,
    /// The products' JSON, the batches' coded JSON and the items' serials
    /// and stamps, spilled beside the index while it is built, removed when
    /// it is written.
    pub spill: u64,
}

impl Need {
    pub fn total(self) -> u64 {
        self.index.saturating_add(self.spill)
    }
}

/// Estimates what building the snapshot in `dir` needs, from the size of its
/// files as decoded (compressed files are sampled: see
/// [`snapshot::decoded_size`]). The estimate errs on the large side: on
/// generated snapshots the index comes to 0.5–0.7 of it.
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
    // Sizes extrapolated from a sample of a compressed file can be anything
    // the file's first bytes claim: the sums saturate (and then refuse the
    // build) rather than wrap.
    let [products, batches, items] = decoded;
    // Batches are stored coded (`index::coded`): a twentieth to a thirtieth
    // of their text on generated snapshots; a quarter leaves room for
    // layouts that code worse.
    let records = products.saturating_add(batches / 4);
    let all = records.saturating_add(items);
    // Products and batches are kept twice over in part: their JSON, and
    // the linkset each level serves, pre-rendered from their links.
    // An item line's serial and stamp are a quarter of it on generated
    // snapshots (20 of 84 bytes); a third leaves room.
    Ok(Need {
        index: all.saturating_add(all / 10).saturating_add(records / 4),
        spill: records.saturating_add(items / 3),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_past_any_disk_saturate_instead_of_wrapping() {
        let need = Need {
            index: u64::MAX - 1,
            spill: 10,
        };
        assert_eq!(need.total(), u64::MAX);
        assert_eq!(human(u64::MAX), "18446744.1 TB");
        assert_eq!(human(999), "999 B");
        assert_eq!(human(182_700), "182.7 kB");
    }
}
