//! Writing an index: hash tables over the entries, the rkyv archive streamed
//! to the file, the JSON blob after it, a header, and publication by rename.

use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use rkyv::ser::writer::IoWriter;
use rkyv::util::AlignedVec;
use xxhash_rust::xxh3::Xxh3;

use super::format::{
    EMPTY, HEADER_LEN, Header, Payload, Slots, Table, VERSION, home_slot, key_hash,
};

/// The seed of the key hashes. Fixed, so that the same snapshot gives the same
/// bytes; it is recorded in the header all the same, so a later version may
/// choose another without misreading old files.
pub const HASH_SEED: u64 = 0x7472_6163_6573_6361;

/// Builds an open-addressing table for `n` keys (load at most 2/3, linear
/// probing), whose entry numbers are `entry(k)`, split by `split`. Returns
/// the slots and the longest probe.
pub fn build_table(
    n: usize,
    split: Slots,
    hash_of: impl Fn(usize) -> u64,
    entry: impl Fn(usize) -> u32,
) -> (Vec<u32>, u32) {
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
        slots[at] = split.slot(hash, entry(i));
        longest = longest.max(probe);
    }
    (slots, longest)
}

/// Fills the four tables of `payload` from its entries. Returns the longest
/// probe of each.
pub fn index_entries(payload: &mut Payload, seed: u64) -> [u32; 4] {
    let same = |i: usize| i as u32;
    let (np, nb, ni) = (
        payload.products.len(),
        payload.batches.len(),
        payload.items.len(),
    );
    let (slots, p) = build_table(
        np,
        Slots::for_entries(np),
        |i| key_hash(seed, Table::Products, payload.products[i].gtin, &[]),
        same,
    );
    payload.product_slots = slots;
    let (slots, b) = build_table(
        nb,
        Slots::for_entries(nb),
        |i| {
            let batch = &payload.batches[i];
            key_hash(
                seed,
                Table::Batches,
                payload.products[batch.product as usize].gtin,
                batch.lot.as_bytes(),
            )
        },
        same,
    );
    payload.batch_slots = slots;
    let items = Slots::for_entries(ni);
    let (slots, it) = build_table(
        ni,
        items,
        |i| {
            let item = &payload.items[i];
            let gtin = payload.products[item.product(&payload.batches) as usize].gtin;
            key_hash(seed, Table::Items, gtin, item.serial(&payload.item_bytes))
        },
        same,
    );
    payload.item_slots = slots;
    // Items without a stamp are not in the stamp table: the table's keys are
    // the stamped items, its entries their item numbers.
    let stamped: Vec<u32> = (0..ni)
        .filter(|&i| payload.items[i].stamp_len > 0)
        .map(|i| i as u32)
        .collect();
    let (slots, st) = build_table(
        stamped.len(),
        items,
        |k| {
            let stamp = payload.items[stamped[k] as usize].stamp(&payload.item_bytes);
            key_hash(seed, Table::Stamps, 0, stamp)
        },
        |k| stamped[k],
    );
    payload.stamp_slots = slots;
    [p, b, it, st]
}

fn header(
    payload: &Payload,
    max_probe: [u32; 4],
    payload_len: u64,
    blob_len: u64,
    checksum: u64,
    built_at: i64,
) -> Header {
    Header {
        version: VERSION,
        payload_len,
        blob_len,
        checksum,
        hash_seed: HASH_SEED,
        built_at,
        products: payload.products.len() as u64,
        batches: payload.batches.len() as u64,
        items: payload.items.len() as u64,
        max_probe,
        snapshot_id: payload.snapshot_id.clone(),
    }
}

/// The bytes of a whole index file for `payload` and its JSON `blob`, in
/// memory and aligned: for tests and benches that open an index without a file.
pub fn to_bytes(mut payload: Payload, blob: &[u8], built_at: i64) -> io::Result<AlignedVec> {
    let max_probe = index_entries(&mut payload, HASH_SEED);
    let archive = rkyv::to_bytes::<rkyv::rancor::Error>(&payload).map_err(io::Error::other)?;
    let mut sum = Xxh3::new();
    sum.update(&archive);
    sum.update(blob);
    let h = header(
        &payload,
        max_probe,
        archive.len() as u64,
        blob.len() as u64,
        sum.digest(),
        built_at,
    );
    let mut out = AlignedVec::with_capacity(HEADER_LEN + archive.len() + blob.len());
    out.extend_from_slice(&h.encode());
    out.extend_from_slice(&archive);
    out.extend_from_slice(blob);
    Ok(out)
}

/// What was written.
#[derive(Clone, Debug)]
pub struct Written {
    pub path: PathBuf,
    pub header: Header,
    pub bytes: u64,
}

/// A writer that counts and checksums what passes through it, and keeps
/// the first error it met: rkyv's serializer reports a failed write without
/// its cause, and "no space left on device" is what an operator must read.
struct Summing<W> {
    inner: W,
    sum: Xxh3,
    len: u64,
    failed: Option<io::Error>,
}

impl<W: Write> Write for Summing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = match self.inner.write(buf) {
            Ok(n) => n,
            Err(e) => {
                if self.failed.is_none() {
                    self.failed = Some(io::Error::new(e.kind(), e.to_string()));
                }
                return Err(e);
            }
        };
        self.sum.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Builds the tables of `payload` and publishes it with its JSON `blob` at
/// `out`: written to a temporary file in the same directory, synced, then
/// renamed over `out`, so a reader sees the old index or the new one, never a
/// part.
///
/// Cost: one pass over the entries for the tables, then one sequential write;
/// the archive is streamed to the file, never held in memory whole.
pub fn write(
    mut payload: Payload,
    blob: &mut dyn Read,
    built_at: i64,
    out: &Path,
) -> io::Result<Written> {
    let max_probe = index_entries(&mut payload, HASH_SEED);
    let result = crate::durable::replace(out, |file| {
        // The header is written last, once the lengths and checksum are known.
        file.write_all(&[0u8; HEADER_LEN])?;
        let mut w = Summing {
            inner: BufWriter::with_capacity(1 << 20, &mut *file),
            sum: Xxh3::new(),
            len: 0,
            failed: None,
        };
        let archived =
            rkyv::api::high::to_bytes_in::<_, rkyv::rancor::Error>(&payload, IoWriter::new(&mut w))
                .map(drop);
        if let Err(e) = archived {
            return Err(w.failed.take().unwrap_or_else(|| io::Error::other(e)));
        }
        let payload_len = w.len;
        let blob_len = io::copy(blob, &mut w)?;
        let h = header(
            &payload,
            max_probe,
            payload_len,
            blob_len,
            w.sum.digest(),
            built_at,
        );
        let file = w.inner.into_inner().map_err(|e| e.into_error())?;
        file.seek(SeekFrom::Start(0))?;
        file.write_all(&h.encode())?;
        Ok(h)
    });
    match result {
        Ok(header) => {
            let bytes = HEADER_LEN as u64 + header.payload_len + header.blob_len;
            Ok(Written {
                path: out.to_owned(),
                header,
                bytes,
            })
        }
        Err(e) => Err(io::Error::new(e.kind(), format!("{}: {e}", out.display()))),
    }
}
