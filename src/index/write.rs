//! Writing an index: hash tables over the entries, one rkyv archive, a header,
//! and publication by rename.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rkyv::util::AlignedVec;
use xxhash_rust::xxh3::xxh3_64;

use super::format::{
    EMPTY, HEADER_LEN, Header, Payload, Table, VERSION, home_slot, key_hash, slot, slot_parts,
};

/// The seed of the key hashes. Fixed, so that the same snapshot gives the same
/// bytes; it is recorded in the header all the same, so a later version may
/// choose another without misreading old files.
pub const HASH_SEED: u64 = 0x7472_6163_6573_6361;

/// Builds an open-addressing table for `n` entries (load at most 2/3, linear
/// probing). Returns the slots and the longest probe.
pub fn build_table(n: usize, hash_of: impl Fn(usize) -> u64) -> (Vec<u64>, u32) {
    // Linear probing clusters badly above 2/3 load: at 0.8 the longest probe
    // of even a 100-entry table reached 46.
    let len = n + n / 2 + 1;
    let mut slots = vec![EMPTY; len];
    let mut longest = 0u32;
    for i in 0..n {
        let hash = hash_of(i);
        let mut at = home_slot(hash, len);
        let mut probe = 0;
        while slots[at] != EMPTY {
            at = if at + 1 == len { 0 } else { at + 1 };
            probe += 1;
        }
        slots[at] = slot(hash, i as u32);
        longest = longest.max(probe);
    }
    (slots, longest)
}

/// Fills the four tables of `payload` from its entries. Returns the longest
/// probe of each.
pub fn index_entries(payload: &mut Payload, seed: u64) -> [u32; 4] {
    let (slots, p) = build_table(payload.products.len(), |i| {
        key_hash(seed, Table::Products, payload.products[i].gtin, &[])
    });
    payload.product_slots = slots;
    let (slots, b) = build_table(payload.batches.len(), |i| {
        let batch = &payload.batches[i];
        key_hash(
            seed,
            Table::Batches,
            payload.products[batch.product as usize].gtin,
            batch.lot.as_bytes(),
        )
    });
    payload.batch_slots = slots;
    let item_key = |i: usize| {
        let item = &payload.items[i];
        let at = item.bytes_at as usize;
        let serial = &payload.item_bytes[at..at + usize::from(item.serial_len)];
        let stamp = &payload.item_bytes[at + usize::from(item.serial_len)
            ..at + usize::from(item.serial_len) + usize::from(item.stamp_len)];
        (payload.products[item.product as usize].gtin, serial, stamp)
    };
    let (slots, it) = build_table(payload.items.len(), |i| {
        let (gtin, serial, _) = item_key(i);
        key_hash(seed, Table::Items, gtin, serial)
    });
    payload.item_slots = slots;
    // Items without a stamp are not in the stamp table: map stamp positions to
    // item indexes.
    let stamped: Vec<u32> = (0..payload.items.len())
        .filter(|&i| payload.items[i].stamp_len > 0)
        .map(|i| i as u32)
        .collect();
    let (slots, st) = build_table(stamped.len(), |k| {
        let (_, _, stamp) = item_key(stamped[k] as usize);
        key_hash(seed, Table::Stamps, 0, stamp)
    });
    payload.stamp_slots = slots
        .into_iter()
        .map(|s| {
            let (k, tag) = slot_parts(s);
            if s == EMPTY {
                EMPTY
            } else {
                (u64::from(tag) << 32) | (u64::from(stamped[k as usize]) + 1)
            }
        })
        .collect();
    [p, b, it, st]
}

/// Builds the tables of `payload` and serialises it; returns the header and
/// the payload bytes.
fn serialize(mut payload: Payload, built_at: i64) -> io::Result<(Header, AlignedVec)> {
    let max_probe = index_entries(&mut payload, HASH_SEED);
    let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&payload).map_err(io::Error::other)?;
    let header = Header {
        version: VERSION,
        payload_len: bytes.len() as u64,
        checksum: xxh3_64(&bytes),
        hash_seed: HASH_SEED,
        built_at,
        products: payload.products.len() as u64,
        batches: payload.batches.len() as u64,
        items: payload.items.len() as u64,
        max_probe,
        snapshot_id: payload.snapshot_id.clone(),
    };
    Ok((header, bytes))
}

/// The bytes of a whole index file for `payload`, in memory and aligned: for
/// tests and benches that open an index without a file.
pub fn to_bytes(payload: Payload, built_at: i64) -> io::Result<AlignedVec> {
    let (header, payload) = serialize(payload, built_at)?;
    let mut out = AlignedVec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&header.encode());
    out.extend_from_slice(&payload);
    Ok(out)
}

/// What was written.
#[derive(Clone, Debug)]
pub struct Written {
    pub path: PathBuf,
    pub header: Header,
    pub bytes: u64,
}

/// Serialises `payload` and publishes it at `out`: written to a temporary file
/// in the same directory, synced, then renamed over `out`, so a reader sees the
/// old index or the new one, never a part.
///
/// Cost: one serialisation of the payload in memory, one sequential write.
pub fn write(payload: Payload, built_at: i64, out: &Path) -> io::Result<Written> {
    let (header, bytes) = serialize(payload, built_at)?;
    let dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = out
        .file_name()
        .ok_or_else(|| io::Error::other(format!("{}: not a file name", out.display())))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(&header.encode())?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, out)?;
        // The rename itself must reach the disk before we call it published.
        File::open(dir)?.sync_all()
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(io::Error::new(e.kind(), format!("{}: {e}", out.display())));
    }
    Ok(Written {
        path: out.to_owned(),
        header,
        bytes: (HEADER_LEN + bytes.len()) as u64,
    })
}
