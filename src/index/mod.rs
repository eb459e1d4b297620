//! The immutable index: opened once, verified once, then read without checks.
//!
//! `Index<D>` is generic over its storage: production maps a file (`Mmap`),
//! tests use an `AlignedVec`. Every lookup is a bounded probe of an
//! open-addressing table, no I/O, no allocation.

pub mod ahead;
pub mod cache;
pub mod coded;
pub mod format;
pub mod spill;
pub mod write;

use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::code::Gtin;
use crate::date::Date;
use crate::snapshot::record::Status;
use format::{
    ArchivedBatchEntry, ArchivedItemEntry, ArchivedLinkEntry, ArchivedLinks, ArchivedPayload,
    ArchivedProductEntry, EMPTY, FormatError, HAS_BATCHES, HAS_ITEMS, Header, ITEM_LINKS,
    ITEM_VOID, Slots, Table, Verified, home_slot, key_hash,
};

/// Why an index could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: {error}")]
    Format { path: PathBuf, error: FormatError },
}

impl Header {
    /// Reads and decodes the header of the index at `path`, without mapping
    /// or verifying the rest. Cost: one read of [`format::HEADER_LEN`] bytes.
    pub fn read(path: &Path) -> Result<Header, IndexError> {
        let mut head = [0u8; format::HEADER_LEN];
        File::open(path)
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
            .map_err(|error| IndexError::Io {
                path: path.to_owned(),
                error,
            })?;
        Header::decode(&head).map_err(|error| IndexError::Format {
            path: path.to_owned(),
            error,
        })
    }
}

/// How many entries of a table [`Index::check_findable`] tries at most.
pub const FINDABLE_ALL: usize = 1 << 16;

/// The first entry of `0..n`, among all of them or an even spread of
/// [`FINDABLE_ALL`], for which `found` fails.
fn spread(n: usize, found: impl Fn(usize) -> bool + Sync) -> Option<usize> {
    let step = n.div_ceil(FINDABLE_ALL).max(1);
    format::first_failing(n.div_ceil(step), |k| found(k * step)).map(|k| k * step)
}

/// An open, verified index.
pub struct Index<D = Mmap> {
    data: Verified<D>,
    /// How each table's slots split between entry and tag.
    slots: [Slots; 4],
}

/// How a served index's mapping is kept in memory. A page of the index not
/// in memory costs its answer a disk read (a millisecond, not a
/// microsecond), and at national scale the index is a good part of the
/// machine's memory: left to the page cache, a build, a backup or a log
/// rotation running beside the server would evict it.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Residency {
    /// `lock` when the index fits in the memory available with room to
    /// spare (an eighth of the machine's, at least 1 GiB), else `advise`.
    #[default]
    Auto,
    /// Lock every page in memory (`mlock`, which also reads in what is not
    /// yet there); `advise` when the kernel refuses (`RLIMIT_MEMLOCK`
    /// without CAP_IPC_LOCK).
    Lock,
    /// Only tell the kernel the whole index will be needed: it reads ahead,
    /// and may evict under pressure.
    Advise,
}

/// What [`Index::keep_resident`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kept {
    Locked,
    /// Advised; `instead_of_lock` says why a lock was not taken (`None`
    /// when advising was asked for).
    Advised {
        instead_of_lock: Option<String>,
    },
}

impl Index<Mmap> {
    /// Keeps the mapping in memory as `residency` asks, before the index
    /// serves. Cost: locking reads in every page not in memory (none, right
    /// after verification read the file, unless memory is short).
    pub fn keep_resident(&self, residency: Residency) -> Kept {
        let map = self.data.data();
        let lock = match residency {
            Residency::Lock => Ok(()),
            Residency::Advise => Err(None),
            Residency::Auto => fits_in_memory(map.len() as u64).map_err(Some),
        };
        let locked = lock.and_then(|()| {
            format::lock(map).map_err(|e| Some(format!("the kernel refused to lock it: {e}")))
        });
        match locked {
            Ok(()) => Kept::Locked,
            Err(why) => {
                // Advice is a hint: a kernel that ignores it leaves the
                // page cache in charge, as without it.
                let _ = format::advise_will_need(map);
                Kept::Advised {
                    instead_of_lock: why,
                }
            }
        }
    }
}

/// `Ok` when `bytes` fit in the memory available with room to spare.
fn fits_in_memory(bytes: u64) -> Result<(), String> {
    let (total, available) = memory();
    let spare = (total / 8).max(1 << 30);
    if bytes.saturating_add(spare) > available {
        return Err(format!(
            "{bytes} bytes would leave less than {spare} of the {available} bytes available"
        ));
    }
    Ok(())
}

/// The machine's memory, in bytes (see [`memory`]).
pub(crate) fn memory_total() -> u64 {
    memory().0
}

/// The machine's memory and how much of it is available, in bytes: from
/// `/proc/meminfo`, or, where a sandbox hides it (systemd's
/// `ProcSubset=pid`), half the machine's memory, so that a swap's two
/// indexes fit.
fn memory() -> (u64, u64) {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let field = |name: &str| {
        meminfo.lines().find_map(|l| {
            let kib = l.strip_prefix(name)?.trim().strip_suffix("kB")?;
            kib.trim().parse::<u64>().ok().map(|k| k * 1024)
        })
    };
    if let (Some(total), Some(available)) = (field("MemTotal:"), field("MemAvailable:")) {
        return (total, available);
    }
    let info = rustix::system::sysinfo();
    let total = info.totalram.saturating_mul(u64::from(info.mem_unit));
    (total, total / 2)
}

impl Index<Mmap> {
    /// Maps and verifies the index at `path`.
    ///
    /// Cost: reads the whole file once (checksum and validation); about a
    /// hundred milliseconds per million records. Lookups after it are cheap.
    pub fn open(path: &Path) -> Result<Index<Mmap>, IndexError> {
        let io = |error| IndexError::Io {
            path: path.to_owned(),
            error,
        };
        let file = File::open(path).map_err(io)?;
        let map = format::map_file(&file).map_err(io)?;
        Index::from_bytes(map).map_err(|error| IndexError::Format {
            path: path.to_owned(),
            error,
        })
    }
}

impl<D: AsRef<[u8]>> Index<D> {
    /// Verifies `data` as an index. Same cost as [`Index::open`] without I/O.
    pub fn from_bytes(data: D) -> Result<Index<D>, FormatError>
    where
        D: Sync,
    {
        let data = Verified::new(data)?;
        let h = data.header();
        let (np, nb, ni) = (h.products, h.batches, h.items);
        let slots = [np, nb, ni, ni].map(|n| Slots::for_entries(n as usize));
        let index = Index { data, slots };
        index.check_findable()?;
        Ok(index)
    }

    /// Entries are found by their own keys, through the same probe a lookup
    /// makes: a hash seed or probe bound altered in the header (behind a
    /// recomputed checksum) would otherwise make lookups miss while the index
    /// looks healthy. Every entry of a table up to [`FINDABLE_ALL`] entries
    /// is tried, and an even spread of that many of a larger one: a wrong
    /// seed fails every key, and a bound lowered enough to matter fails a
    /// share of them, while trying all 100 M items of a national index would
    /// keep it out of service for half a minute more (one cache miss each).
    ///
    /// Cost: one hash and one probe per entry tried, on every core.
    fn check_findable(&self) -> Result<(), FormatError>
    where
        D: Sync,
    {
        let p = self.payload();
        let lost = |what: &str, i: usize| {
            Err(FormatError::Payload(format!(
                "{what} {i} is not found by its key: the hash seed or a probe bound is wrong"
            )))
        };
        let product_found = |i: usize| {
            let gtin = Gtin::from_u64(p.products[i].gtin.to_native());
            gtin.and_then(|g| self.product(g))
                .is_some_and(|f| f.id as usize == i)
        };
        if let Some(i) = spread(p.products.len(), product_found) {
            return lost("product", i);
        }
        let batch_found = |i: usize| {
            let b = &p.batches[i];
            let product = self.product_at(b.product.to_native());
            let found = self.batch(&product, b.lot.as_str());
            found.is_some_and(|f| std::ptr::eq(f.entry, b))
        };
        if let Some(i) = spread(p.batches.len(), batch_found) {
            return lost("batch", i);
        }
        let item_found = |i: usize| {
            let item = self.item_at(i);
            let product = self.product_at(p.product_of(item.entry));
            let same =
                |f: Option<ItemRef<'_>>| f.is_some_and(|f| std::ptr::eq(f.entry, item.entry));
            same(self.item(&product, item.serial()))
                && item
                    .stamp()
                    .is_none_or(|stamp| same(self.item_by_stamp(stamp)))
        };
        if let Some(i) = spread(p.items.len(), item_found) {
            return lost("item (or its stamp)", i);
        }
        Ok(())
    }

    pub fn header(&self) -> &Header {
        self.data.header()
    }

    /// The file's length, header included.
    pub fn file_len(&self) -> u64 {
        self.data.bytes().len() as u64
    }

    /// The manifest's export time, if it gave one.
    pub fn exported_at(&self) -> Option<&str> {
        Some(self.payload().exported_at.as_str()).filter(|s| !s.is_empty())
    }

    #[inline]
    fn payload(&self) -> &ArchivedPayload {
        self.data.payload()
    }

    /// Probes `table` for a key, calling `matches` on each candidate entry.
    /// Bounded by the table's longest probe, recorded at build time.
    #[inline]
    fn probe(
        &self,
        table: Table,
        slots: &[rkyv::rend::u32_le],
        hash: u64,
        matches: impl Fn(usize) -> bool,
    ) -> Option<usize> {
        let max = self.header().max_probe[table as usize] as usize;
        let split = self.slots[table as usize];
        let want = split.tag(hash);
        let mut slot = home_slot(hash, slots.len());
        for _ in 0..=max.min(slots.len()) {
            let v = slots[slot].to_native();
            if v == EMPTY {
                return None;
            }
            // The tag settles most other keys without reading their entries.
            let (entry, got) = split.parts(v);
            if got == want && matches(entry as usize) {
                return Some(entry as usize);
            }
            slot += 1;
            if slot == slots.len() {
                slot = 0;
            }
        }
        None
    }

    /// The product with this GTIN.
    pub fn product(&self, gtin: Gtin) -> Option<ProductRef<'_>> {
        let p = self.payload();
        let key = gtin.as_u64();
        let hash = key_hash(self.header().hash_seed, Table::Products, key, &[]);
        let id = self.probe(Table::Products, &p.product_slots, hash, |i| {
            p.products[i].gtin.to_native() == key
        })?;
        Some(self.product_at(id as u32))
    }

    /// Starts loading the slot where item `serial` of `gtin` would be found,
    /// so that its probe's first read overlaps the product's probe: the item
    /// is keyed by the GTIN the code carries, not by anything the product's
    /// entry holds.
    #[inline]
    pub fn prefetch_item(&self, gtin: Gtin, serial: &str) {
        let p = self.payload();
        let hash = key_hash(
            self.header().hash_seed,
            Table::Items,
            gtin.as_u64(),
            serial.as_bytes(),
        );
        if let Some(slot) = p.item_slots.get(home_slot(hash, p.item_slots.len())) {
            format::prefetch(slot);
        }
    }

    /// The batch `lot` of `product`.
    pub fn batch(&self, product: &ProductRef<'_>, lot: &str) -> Option<BatchRef<'_>> {
        let p = self.payload();
        let hash = key_hash(
            self.header().hash_seed,
            Table::Batches,
            product.entry.gtin.to_native(),
            lot.as_bytes(),
        );
        let id = self.probe(Table::Batches, &p.batch_slots, hash, |i| {
            let b = &p.batches[i];
            b.product.to_native() == product.id && b.lot.as_str() == lot
        })?;
        Some(self.batch_at(id as u32))
    }

    /// The item `serial` of `product`.
    pub fn item(&self, product: &ProductRef<'_>, serial: &str) -> Option<ItemRef<'_>> {
        let p = self.payload();
        let hash = key_hash(
            self.header().hash_seed,
            Table::Items,
            product.entry.gtin.to_native(),
            serial.as_bytes(),
        );
        let id = self.probe(Table::Items, &p.item_slots, hash, |i| {
            let item = &p.items[i];
            p.serial_of(item) == serial.as_bytes() && p.product_of(item) == product.id
        })?;
        Some(self.item_at(id))
    }

    /// The item whose stamp code is `stamp`.
    pub fn item_by_stamp(&self, stamp: &str) -> Option<ItemRef<'_>> {
        let p = self.payload();
        let hash = key_hash(self.header().hash_seed, Table::Stamps, 0, stamp.as_bytes());
        let id = self.probe(Table::Stamps, &p.stamp_slots, hash, |i| {
            p.stamp_of(&p.items[i]) == stamp.as_bytes()
        })?;
        Some(self.item_at(id))
    }

    /// Product number `id`; starts loading its JSON, which an answer
    /// copies after its other reads.
    pub fn product_at(&self, id: u32) -> ProductRef<'_> {
        let entry = &self.payload().products[id as usize];
        let json = self.data.json(&entry.json);
        if let Some(first) = json.first() {
            format::prefetch(first);
        }
        ProductRef { id, entry, json }
    }

    /// Batch number `id`; starts loading its coded JSON, as
    /// [`Index::product_at`] does.
    pub fn batch_at(&self, id: u32) -> BatchRef<'_> {
        let entry = &self.payload().batches[id as usize];
        let coded = self.data.json(&entry.json);
        if let Some(first) = coded.first() {
            format::prefetch(first);
        }
        BatchRef {
            id,
            entry,
            coded,
            payload: self.payload(),
        }
    }

    /// Item number `id` (0 to `header().items - 1`).
    pub fn item_at(&self, id: usize) -> ItemRef<'_> {
        let payload = self.payload();
        ItemRef {
            id: id as u32,
            entry: &payload.items[id],
            payload,
        }
    }

    /// The links of a product: its own, and its linkset.
    pub fn product_links(&self, product: &ProductRef<'_>) -> LinksRef<'_> {
        self.links_ref(&product.entry.links)
    }

    /// The links of a batch: its own, and its linkset (its product's when
    /// it has no links of its own).
    pub fn batch_links(&self, batch: &BatchRef<'_>) -> LinksRef<'_> {
        self.links_ref(&batch.entry.links)
    }

    /// The links of an item that has its own. Cheap: a flag test, and for
    /// the few items with links a binary search.
    pub fn item_links(&self, item: &ItemRef<'_>) -> Option<LinksRef<'_>> {
        if item.entry.flags & ITEM_LINKS == 0 {
            return None;
        }
        let list = &self.payload().item_links;
        let at = list
            .binary_search_by_key(&item.id, |e| e.item.to_native())
            .ok()?;
        Some(self.links_ref(&list[at].links))
    }

    fn links_ref(&self, links: &ArchivedLinks) -> LinksRef<'_> {
        let at = links.at.to_native() as usize;
        let own = self
            .payload()
            .links
            .get(at..at + links.len.to_native() as usize)
            .unwrap_or(&[]);
        let linkset = self.data.json(&links.linkset);
        LinksRef {
            own,
            linkset,
            split: (links.split.to_native() as usize).min(linkset.len()),
            has_default: links.has_default == 1,
        }
    }

    /// The product of `item`, and its batch when it names one.
    pub fn parents(&self, item: &ItemRef<'_>) -> (ProductRef<'_>, Option<BatchRef<'_>>) {
        match item.entry.batch() {
            Some(b) => {
                let batch = self.batch_at(b);
                (
                    self.product_at(batch.entry.product.to_native()),
                    Some(batch),
                )
            }
            None => (self.product_at(item.entry.parent.to_native()), None),
        }
    }
}

/// A product of the index.
#[derive(Clone, Copy)]
pub struct ProductRef<'a> {
    id: u32,
    entry: &'a ArchivedProductEntry,
    json: &'a [u8],
}

impl<'a> ProductRef<'a> {
    pub fn id(&self) -> u32 {
        self.id
    }
    pub fn gtin(&self) -> Gtin {
        // Every product GTIN was checked when the index was verified.
        Gtin::from_u64(self.entry.gtin.to_native()).expect("verified GTIN")
    }
    pub fn status(&self) -> Status {
        Status::from_u8(self.entry.status)
    }
    pub fn recall_notice(&self) -> Option<&'a str> {
        Some(self.entry.recall_notice.as_str()).filter(|s| !s.is_empty())
    }
    /// The record as pre-rendered JSON (UTF-8, checked when it was built).
    pub fn json_bytes(&self) -> &'a [u8] {
        self.json
    }
    /// The record as text.
    pub fn json(&self) -> &'a str {
        std::str::from_utf8(self.json).unwrap_or("")
    }
    pub fn has_batches(&self) -> bool {
        self.entry.flags & HAS_BATCHES != 0
    }
    pub fn has_items(&self) -> bool {
        self.entry.flags & HAS_ITEMS != 0
    }
}

/// A batch of the index.
#[derive(Clone, Copy)]
pub struct BatchRef<'a> {
    id: u32,
    entry: &'a ArchivedBatchEntry,
    /// Its JSON, coded (`coded`).
    coded: &'a [u8],
    payload: &'a ArchivedPayload,
}

impl<'a> BatchRef<'a> {
    /// Its place among the index's batches.
    pub fn id(&self) -> u32 {
        self.id
    }
    pub fn lot(&self) -> &'a str {
        self.entry.lot.as_str()
    }
    pub fn status(&self) -> Status {
        Status::from_u8(self.entry.status)
    }
    pub fn recall_notice(&self) -> Option<&'a str> {
        Some(self.entry.recall_notice.as_str()).filter(|s| !s.is_empty())
    }
    pub fn expiry(&self) -> Option<Date> {
        let n = self.entry.expiry.to_native();
        (n != 0).then(|| Date::from_yyyymmdd(n))
    }
    /// Appends the record's JSON. Cost: a decode (`coded`), a few hundred
    /// nanoseconds.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        // Every batch decoded when the index was verified.
        let _ = self.payload.write_batch_json(self.entry, self.coded, out);
    }
    /// The record as text.
    pub fn json(&self) -> String {
        let mut out = Vec::with_capacity(2048);
        self.write_json(&mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// A record's links (SPEC section 6).
#[derive(Clone, Copy)]
pub struct LinksRef<'a> {
    /// The record's own links.
    pub own: &'a [ArchivedLinkEntry],
    /// The linkset of its level, pre-rendered
    /// (`crate::resolver::links::Fragment`), and where its traceability
    /// links start.
    pub linkset: &'a [u8],
    pub split: usize,
    /// Whether a record of the level or above marks a default link.
    pub has_default: bool,
}

/// An item of the index.
#[derive(Clone, Copy)]
pub struct ItemRef<'a> {
    /// Its place among the index's items.
    id: u32,
    entry: &'a ArchivedItemEntry,
    /// The payload the entry belongs to, which holds its serial and stamp.
    payload: &'a ArchivedPayload,
}

impl<'a> ItemRef<'a> {
    pub fn serial(&self) -> &'a str {
        std::str::from_utf8(self.payload.serial_of(self.entry)).unwrap_or("")
    }
    pub fn stamp(&self) -> Option<&'a str> {
        let stamp = self.payload.stamp_of(self.entry);
        (!stamp.is_empty()).then(|| std::str::from_utf8(stamp).unwrap_or(""))
    }
    pub fn is_void(&self) -> bool {
        self.entry.flags & ITEM_VOID != 0
    }
    pub fn has_batch(&self) -> bool {
        self.entry.batch().is_some()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn auto_locks_what_fits_with_room_to_spare_and_says_why_not_otherwise() {
        assert_eq!(super::fits_in_memory(4096), Ok(()));
        let why = super::fits_in_memory(u64::MAX / 2).unwrap_err();
        assert!(why.contains("would leave less than"), "{why}");
    }
}
