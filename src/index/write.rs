//! Writing an index: hash tables over the entries, the rkyv archive streamed
//! to the file, the JSON blob after it, a header, and publication by rename.

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use rkyv::ser::writer::IoWriter;
use rkyv::util::AlignedVec;
use xxhash_rust::xxh3::Xxh3;

use super::ahead::Ahead;
use super::format::{
    BatchEntry, EMPTY, HEADER_LEN, Header, ItemEntry, Payload, ProductEntry, Slots, Table, VERSION,
    home_slot, key_hash,
};
use super::spill::{Spill, Window};

/// The seed of the key hashes. Fixed, so that the same snapshot gives the same
/// bytes; it is recorded in the header all the same, so a later version may
/// choose another without misreading old files.
pub const HASH_SEED: u64 = 0x7472_6163_6573_6361;

/// An open-addressing table as an index stores it (load at most 2/3, linear
/// probing), filled a key at a time: the build fills its tables as it reads,
/// and checks each key against them, so no second table of keys is held and
/// no pass over the entries is left for the end.
///
/// Laid out for a planned number of entries (the snapshot's manifest counts
/// them); past that, or for an entry number its slots cannot hold, it is laid
/// out again twice as large. Entries are put in ascending order, so a table
/// filled as planned has the same slots as [`build_table`] gives.
pub struct SlotTable {
    slots: Vec<u32>,
    split: Slots,
    planned: usize,
    held: usize,
    longest: u32,
}

impl SlotTable {
    /// An empty table for `planned` entries, whose slots split by `split`;
    /// for none, to grow as entries come, when memory for that many cannot
    /// be had.
    pub fn laid_out(planned: usize, split: Slots) -> SlotTable {
        // Linear probing clusters badly above 2/3 load: at 0.8 the longest
        // probe of even a 100-entry table reached 46.
        let len = planned.saturating_add(planned / 2).saturating_add(1);
        let mut slots = Vec::new();
        let planned = match slots.try_reserve_exact(len) {
            Ok(()) => {
                slots.resize(len, EMPTY);
                planned
            }
            Err(_) => {
                slots.push(EMPTY);
                0
            }
        };
        SlotTable {
            slots,
            split,
            planned,
            held: 0,
            longest: 0,
        }
    }

    /// An empty table for `planned` entries numbered below `planned`.
    pub fn new(planned: usize) -> SlotTable {
        SlotTable::laid_out(planned, Slots::for_entries(planned))
    }

    /// Starts loading the home slot of `hash`, to be probed a little later.
    #[inline]
    pub fn prefetch(&self, hash: u64) {
        super::format::prefetch(&self.slots[home_slot(hash, self.slots.len())]);
    }

    /// The entry under `hash` that `same` confirms, given its number.
    pub fn find(&self, hash: u64, mut same: impl FnMut(u32) -> bool) -> Option<u32> {
        let len = self.slots.len();
        let tag = self.split.tag(hash);
        let mut at = home_slot(hash, len);
        // A table is never full: the probe meets an empty slot.
        loop {
            let slot = self.slots[at];
            if slot == EMPTY {
                return None;
            }
            let (entry, t) = self.split.parts(slot);
            if t == tag && same(entry) {
                return Some(entry);
            }
            at = if at + 1 == len { 0 } else { at + 1 };
        }
    }

    /// Adds entry `entry` under `hash`; no entry may hold its key yet, and
    /// entries come in ascending order. `rehash` gives the hash of an entry
    /// held already, for when the table is laid out again: it is asked for
    /// them in ascending order, so that keys spilled to a file are read in
    /// order.
    pub fn insert(&mut self, hash: u64, entry: u32, rehash: impl FnMut(u32) -> u64) {
        if self.held == self.planned || !self.split.holds(entry) {
            let planned = (self.planned * 2).max(entry as usize + 1).max(64);
            let split = Slots::for_entries(planned.max(entry as usize + 1));
            self.lay_out(planned, split, rehash);
        }
        self.put(hash, entry);
    }

    fn put(&mut self, hash: u64, entry: u32) {
        let len = self.slots.len();
        let mut at = home_slot(hash, len);
        let mut probe = 0;
        while self.slots[at] != EMPTY {
            at = if at + 1 == len { 0 } else { at + 1 };
            probe += 1;
        }
        self.slots[at] = self.split.slot(hash, entry);
        self.longest = self.longest.max(probe);
        self.held += 1;
    }

    /// Lays the table out again for `planned` entries split by `split`.
    fn lay_out(&mut self, planned: usize, split: Slots, mut rehash: impl FnMut(u32) -> u64) {
        let mut entries: Vec<u32> = self
            .slots
            .iter()
            .filter(|&&s| s != EMPTY)
            .map(|&s| self.split.parts(s).0)
            .collect();
        entries.sort_unstable();
        *self = SlotTable::laid_out(planned.max(entries.len()), split);
        for e in entries {
            self.put(rehash(e), e);
        }
    }

    /// The slots, split as readers of an index whose table counts `entries`
    /// entries expect (laid out again if they differ), and the longest probe.
    pub fn finish(mut self, entries: usize, rehash: impl FnMut(u32) -> u64) -> (Vec<u32>, u32) {
        let split = Slots::for_entries(entries);
        if split != self.split {
            self.lay_out(self.planned, split, rehash);
        }
        (self.slots, self.longest)
    }
}

/// Builds an open-addressing table for `n` keys (see [`SlotTable`]), whose
/// entry numbers are `entry(k)`, split by `split`; `hash_of` is asked for
/// the keys in order. Returns the slots and the longest probe.
pub fn build_table(
    n: usize,
    split: Slots,
    mut hash_of: impl FnMut(usize) -> u64,
    entry: impl Fn(usize) -> u32,
) -> (Vec<u32>, u32) {
    let mut table = SlotTable::laid_out(n, split);
    for i in 0..n {
        table.put(hash_of(i), entry(i));
    }
    (table.slots, table.longest)
}

/// The hash of a product's key, as the index's tables hash it.
pub fn product_hash(gtin: u64) -> u64 {
    key_hash(HASH_SEED, Table::Products, gtin, &[])
}

/// The hash of batch `b`'s key (its product's GTIN and its lot).
pub fn batch_hash(products: &[ProductEntry], b: &BatchEntry) -> u64 {
    lot_hash(products[b.product as usize].gtin, b.lot.as_bytes())
}

/// The hash of a batch key: a product's GTIN and a lot.
pub fn lot_hash(gtin: u64, lot: &[u8]) -> u64 {
    key_hash(HASH_SEED, Table::Batches, gtin, lot)
}

/// The hash of an item's key: its product's GTIN and its serial.
pub fn item_hash(gtin: u64, serial: &[u8]) -> u64 {
    key_hash(HASH_SEED, Table::Items, gtin, serial)
}

/// Items' keys read back from their spilled bytes: hashed, for a table
/// laid out again, or compared, for a check whose tag matched. A read that
/// fails reads as no key (hash 0, no match) and is kept for [`result`],
/// which the caller asks before trusting what it got.
///
/// [`result`]: SpilledKeys::result
pub struct SpilledKeys<'a> {
    bytes: &'a Spill,
    window: Window,
    failed: Option<io::Error>,
}

impl<'a> SpilledKeys<'a> {
    /// For reads in ascending order.
    pub fn in_order(bytes: &'a Spill) -> SpilledKeys<'a> {
        SpilledKeys {
            bytes,
            window: Window::in_order(),
            failed: None,
        }
    }

    /// For reads anywhere.
    pub fn at_random(bytes: &'a Spill) -> SpilledKeys<'a> {
        SpilledKeys {
            window: Window::random(),
            ..SpilledKeys::in_order(bytes)
        }
    }

    /// The hash of item `e`'s key, its product being `products[..]`'s.
    pub fn item(
        &mut self,
        products: &[ProductEntry],
        batches: &[BatchEntry],
        e: &ItemEntry,
    ) -> u64 {
        let gtin = products[e.product(batches) as usize].gtin;
        let serial = e.serial(self.bytes, &mut self.window);
        kept(&mut self.failed, serial).map_or(0, |serial| item_hash(gtin, serial))
    }

    /// The hash of item `e`'s stamp.
    pub fn stamp(&mut self, e: &ItemEntry) -> u64 {
        let stamp = e.stamp(self.bytes, &mut self.window);
        kept(&mut self.failed, stamp).map_or(0, stamp_hash)
    }

    /// Whether item `e`'s serial is `serial`.
    pub fn has_serial(&mut self, e: &ItemEntry, serial: &[u8]) -> bool {
        let read = e.serial(self.bytes, &mut self.window);
        kept(&mut self.failed, read) == Some(serial)
    }

    /// Whether item `e`'s stamp is `stamp`.
    pub fn has_stamp(&mut self, e: &ItemEntry, stamp: &[u8]) -> bool {
        let read = e.stamp(self.bytes, &mut self.window);
        kept(&mut self.failed, read) == Some(stamp)
    }

    /// The first read that failed since the last call, if any.
    pub fn result(&mut self) -> io::Result<()> {
        self.failed.take().map_or(Ok(()), Err)
    }
}

/// The bytes read, or `None` with the first failure kept in `failed`.
fn kept<'b>(failed: &mut Option<io::Error>, read: io::Result<&'b [u8]>) -> Option<&'b [u8]> {
    read.map_err(|error| failed.get_or_insert(error)).ok()
}

/// The hash of a stamp.
pub fn stamp_hash(stamp: &[u8]) -> u64 {
    key_hash(HASH_SEED, Table::Stamps, 0, stamp)
}

/// Fills the tables of `payload` that are not built yet (the build fills
/// them as it reads; a payload made otherwise has none) from its entries.
/// Returns the longest probe of each, or why the items' spilled bytes could
/// not be read.
pub fn index_entries(payload: &mut Payload) -> io::Result<[u32; 4]> {
    let same = |i: usize| i as u32;
    let (np, nb, ni) = (
        payload.products.len(),
        payload.batches.len(),
        payload.items.len(),
    );
    if payload.product_slots.is_empty() {
        let products = &payload.products;
        let (slots, longest) = build_table(
            np,
            Slots::for_entries(np),
            |i| product_hash(products[i].gtin),
            same,
        );
        payload.product_slots = slots;
        payload.max_probe[0] = longest;
    }
    if payload.batch_slots.is_empty() {
        let (products, batches) = (&payload.products, &payload.batches);
        let (slots, longest) = build_table(
            nb,
            Slots::for_entries(nb),
            |i| batch_hash(products, &batches[i]),
            same,
        );
        payload.batch_slots = slots;
        payload.max_probe[1] = longest;
    }
    let split = Slots::for_entries(ni);
    if payload.item_slots.is_empty() {
        let p = &*payload;
        let mut keys = SpilledKeys::in_order(&p.item_bytes);
        let (slots, longest) = build_table(
            ni,
            split,
            |i| keys.item(&p.products, &p.batches, &p.items[i]),
            same,
        );
        keys.result()?;
        payload.item_slots = slots;
        payload.max_probe[2] = longest;
    }
    if payload.stamp_slots.is_empty() {
        // Items without a stamp are not in the stamp table: the table's keys
        // are the stamped items, its entries their item numbers.
        let items = &payload.items;
        let mut keys = SpilledKeys::in_order(&payload.item_bytes);
        let stamped: Vec<u32> = (0..ni)
            .filter(|&i| items[i].stamp_len > 0)
            .map(|i| i as u32)
            .collect();
        let (slots, longest) = build_table(
            stamped.len(),
            split,
            |k| keys.stamp(&items[stamped[k] as usize]),
            |k| stamped[k],
        );
        keys.result()?;
        payload.stamp_slots = slots;
        payload.max_probe[3] = longest;
    }
    Ok(payload.max_probe)
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
    let max_probe = index_entries(&mut payload)?;
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

/// The index file's writer: counts and checksums what passes through it,
/// keeps the first error it met (rkyv's serializer reports a failed write
/// without its cause, and "no space left on device" is what an operator must
/// read), and has pages readied ahead of it ([`Ahead`]).
struct Summing<'f> {
    inner: BufWriter<&'f mut File>,
    ahead: Ahead,
    sum: Xxh3,
    len: u64,
    failed: Option<io::Error>,
}

impl Write for Summing<'_> {
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
        let in_file = HEADER_LEN as u64 + self.len - self.inner.buffer().len() as u64;
        self.ahead.wrote(self.inner.get_ref(), in_file);
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
    let max_probe = index_entries(&mut payload)?;
    let result = crate::durable::replace(out, |file| {
        // The header is written last, once the lengths and checksum are known.
        file.write_all(&[0u8; HEADER_LEN])?;
        let ahead = Ahead::start(file, HEADER_LEN as u64);
        let mut w = Summing {
            inner: BufWriter::with_capacity(1 << 20, &mut *file),
            ahead,
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
        w.ahead
            .finish(file, HEADER_LEN as u64 + payload_len + blob_len)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(e: u32) -> u64 {
        xxhash_rust::xxh3::xxh3_64(&e.to_le_bytes())
    }

    /// Fills a table of `planned` entries with entries `0..n`, each checked
    /// absent first, as the build does.
    fn filled(planned: usize, n: u32) -> (Vec<u32>, u32) {
        let mut table = SlotTable::new(planned);
        for e in 0..n {
            assert_eq!(table.find(hash(e), |x| x == e), None);
            table.insert(hash(e), e, hash);
            assert_eq!(table.find(hash(e), |x| x == e), Some(e));
        }
        table.finish(n as usize, hash)
    }

    #[test]
    fn a_table_filled_as_planned_is_the_table_built_at_once() {
        for n in [0u32, 1, 2, 100, 5000] {
            let at_once = build_table(
                n as usize,
                Slots::for_entries(n as usize),
                |i| hash(i as u32),
                |i| i as u32,
            );
            assert_eq!(filled(n as usize, n), at_once, "{n}");
        }
    }

    #[test]
    fn a_table_past_its_plan_grows_and_its_split_is_the_readers() {
        // No plan (no manifest), and a plan larger than the entries kept
        // (rejects) across a power of two: the slots split as readers
        // derive from the entry count, and every entry is found.
        for (planned, n) in [(0, 3000u32), (10, 70_000), (70_000, 60_000)] {
            let (slots, _) = filled(planned, n);
            let split = Slots::for_entries(n as usize);
            let mut found: Vec<u32> = slots
                .iter()
                .filter(|&&s| s != EMPTY)
                .map(|&s| {
                    let (e, tag) = split.parts(s);
                    assert_eq!(tag, split.tag(hash(e)));
                    e
                })
                .collect();
            found.sort_unstable();
            assert_eq!(found, (0..n).collect::<Vec<_>>(), "{planned} {n}");
            assert!(slots.len() >= n as usize * 3 / 2, "load at most 2/3");
        }
    }
}
