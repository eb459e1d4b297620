//! The index file's byte layout, its version, and every `unsafe` byte access.
//!
//! ```text
//! 0     256-byte header (little-endian fields, see `Header`), ending in an xxh3
//!       checksum of the header itself
//! 256   payload: an rkyv archive of `Payload` (entries and hash tables)
//! …     blob: the pre-rendered JSON of products, the coded JSON of batches
//!       (`super::coded`) and the linksets, which entries point into; the
//!       header's checksum covers payload and blob
//! ```
//!
//! The JSON stands outside the archive so that a build never holds it in
//! memory: it is spilled to a file as records are read and copied after the
//! archive at the end.
//!
//! Trust model. An index file is written by `tracescan build` and published by
//! rename; it is never modified in place. On open, the header is decoded and
//! checked, the checksum of payload and blob is recomputed, rkyv validates the archive
//! (every relative pointer and length lands inside the buffer), and `Verified`
//! checks every cross-reference (slot to entry, entry to entry, item to its
//! bytes). Only a buffer that passed all of that becomes a `Verified`, and only
//! a `Verified` is ever read without checks. What remains outside the model is a
//! file changed underneath a live mapping by another process: memmap2 cannot
//! prevent that, which is why indexes are replaced by rename, never rewritten.

use std::fmt;
use std::fs::File;
use std::io;

use rkyv::rancor::{Fallible, Source};
use rkyv::ser::Writer;
use rkyv::string::{ArchivedString, StringResolver};
use rkyv::with::{ArchiveWith, SerializeWith};
use rkyv::{Archive, Place, Serialize};

use super::coded;
use super::spill::{Spill, Window};
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

/// The first eight bytes of every index file.
pub const MAGIC: [u8; 8] = *b"TRSCNIDX";
/// Bumped whenever the layout changes; an index of another version is refused
/// with a message to rebuild it.
pub const VERSION: u32 = 3;
/// The header's size. A multiple of 16, so the payload after it keeps the
/// alignment rkyv needs inside a page-aligned mapping.
pub const HEADER_LEN: usize = 256;
/// The hashing scheme, recorded so that a future scheme is refused, not misread:
/// xxh3-64 with a seed, a multiply-shift range reduction and linear probing.
pub const HASH_XXH3_LINEAR: u32 = 1;
/// The longest snapshot id the header holds.
pub const MAX_SNAPSHOT_ID: usize = 128;
/// The value of an empty slot. Other slots hold the entry index plus one in
/// their low bits, as many as the table's entry count needs, and a tag of the
/// key's hash in the bits left (see `Slots`), so that a probe passes over most
/// other keys without reading their entries.
pub const EMPTY: u32 = 0;

/// Why an index file cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormatError {
    #[error(
        "the file is {len} bytes, too short for an index header ({HEADER_LEN} bytes): truncated or not an index"
    )]
    TooShort { len: usize },
    #[error("not a tracescan index (the file does not start with the index magic bytes)")]
    Magic,
    #[error(
        "index format version {got}, this tracescan reads version {expected}: rebuild the index with `tracescan build`"
    )]
    Version { expected: u32, got: u32 },
    #[error("the index header is damaged: {0}")]
    Header(String),
    #[error(
        "the index is truncated: the header announces {expected} payload bytes, the file holds {got}"
    )]
    Truncated { expected: u64, got: u64 },
    #[error(
        "index checksum mismatch (expected {expected:016x}, got {got:016x}): the file is damaged"
    )]
    ChecksumMismatch { expected: u64, got: u64 },
    #[error(
        "the index payload is not aligned in memory (offset {0} mod 16); load it from a file or an aligned buffer"
    )]
    Unaligned(usize),
    #[error("the index payload does not validate: {0}")]
    Payload(String),
}

/// The decoded header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub version: u32,
    /// Length of the rkyv archive.
    pub payload_len: u64,
    /// Length of the JSON blob after it.
    pub blob_len: u64,
    /// xxh3-64 of the payload and blob bytes.
    pub checksum: u64,
    pub hash_seed: u64,
    /// When the index was built, in seconds since the Unix epoch. The only
    /// field that differs between two builds of the same snapshot.
    pub built_at: i64,
    pub products: u64,
    pub batches: u64,
    pub items: u64,
    /// The longest probe sequence of each table (products, batches, items,
    /// stamps), measured at build time: a lookup never probes further.
    pub max_probe: [u32; 4],
    pub snapshot_id: String,
}

impl Header {
    /// Encodes the header into its fixed 256 bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0..8].copy_from_slice(&MAGIC);
        h[8..12].copy_from_slice(&self.version.to_le_bytes());
        h[12..16].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
        h[16..24].copy_from_slice(&self.payload_len.to_le_bytes());
        h[24..32].copy_from_slice(&self.checksum.to_le_bytes());
        h[32..40].copy_from_slice(&self.hash_seed.to_le_bytes());
        h[40..48].copy_from_slice(&self.built_at.to_le_bytes());
        h[48..56].copy_from_slice(&self.products.to_le_bytes());
        h[56..64].copy_from_slice(&self.batches.to_le_bytes());
        h[64..72].copy_from_slice(&self.items.to_le_bytes());
        for (i, p) in self.max_probe.iter().enumerate() {
            h[72 + 4 * i..76 + 4 * i].copy_from_slice(&p.to_le_bytes());
        }
        h[88..92].copy_from_slice(&HASH_XXH3_LINEAR.to_le_bytes());
        let id = self.snapshot_id.as_bytes();
        let id = &id[..id.len().min(MAX_SNAPSHOT_ID)];
        h[92..96].copy_from_slice(&(id.len() as u32).to_le_bytes());
        h[96..96 + id.len()].copy_from_slice(id);
        h[224..232].copy_from_slice(&self.blob_len.to_le_bytes());
        let sum = xxh3_64(&h[..HEADER_LEN - 8]);
        h[HEADER_LEN - 8..].copy_from_slice(&sum.to_le_bytes());
        h
    }

    /// Decodes and checks a header. Cheap: reads 256 bytes.
    pub fn decode(bytes: &[u8]) -> Result<Header, FormatError> {
        if bytes.len() < HEADER_LEN {
            return Err(FormatError::TooShort { len: bytes.len() });
        }
        let h = &bytes[..HEADER_LEN];
        if h[0..8] != MAGIC {
            return Err(FormatError::Magic);
        }
        let u32_at = |at: usize| u32::from_le_bytes(h[at..at + 4].try_into().expect("4 bytes"));
        let u64_at = |at: usize| u64::from_le_bytes(h[at..at + 8].try_into().expect("8 bytes"));
        let version = u32_at(8);
        if version != VERSION {
            return Err(FormatError::Version {
                expected: VERSION,
                got: version,
            });
        }
        let (expected, got) = (u64_at(HEADER_LEN - 8), xxh3_64(&h[..HEADER_LEN - 8]));
        // A fuzzer cannot forge xxh3 sums; without this it would never get past them.
        if expected != got && !cfg!(fuzzing) {
            return Err(FormatError::Header(format!(
                "header checksum {got:016x}, expected {expected:016x}"
            )));
        }
        if u32_at(12) as usize != HEADER_LEN {
            return Err(FormatError::Header(format!("header length {}", u32_at(12))));
        }
        if u32_at(88) != HASH_XXH3_LINEAR {
            return Err(FormatError::Header(format!(
                "unknown hash scheme {}",
                u32_at(88)
            )));
        }
        let id_len = u32_at(92) as usize;
        if id_len > MAX_SNAPSHOT_ID {
            return Err(FormatError::Header(format!("snapshot id length {id_len}")));
        }
        let snapshot_id = std::str::from_utf8(&h[96..96 + id_len])
            .map_err(|_| FormatError::Header("snapshot id is not UTF-8".into()))?
            .to_owned();
        Ok(Header {
            version,
            payload_len: u64_at(16),
            blob_len: u64_at(224),
            checksum: u64_at(24),
            hash_seed: u64_at(32),
            built_at: u64_at(40) as i64,
            products: u64_at(48),
            batches: u64_at(56),
            items: u64_at(64),
            max_probe: [u32_at(72), u32_at(76), u32_at(80), u32_at(84)],
            snapshot_id,
        })
    }
}

/// Everything after the header: records and the hash tables over them.
#[derive(Archive, Serialize, Debug, Default)]
pub struct Payload {
    pub snapshot_id: String,
    /// The manifest's `exported_at`, empty when it gave none.
    pub exported_at: String,
    pub products: Vec<ProductEntry>,
    pub batches: Vec<BatchEntry>,
    /// Items are the bulk of an index, so they are small fixed-size entries
    /// pointing into one shared byte area for their serial and stamp.
    pub items: Vec<ItemEntry>,
    /// Archived as a `Vec<u8>`; a build spills it to a file (`Spill`).
    #[rkyv(with = super::spill::AsVec)]
    pub item_bytes: Spill,
    /// The links of every record, each record's own in a run (see `Links`).
    pub links: Vec<LinkEntry>,
    /// The links of the few items that have their own, by item, ascending.
    pub item_links: Vec<ItemLinks>,
    /// The dictionary of the batches' coded JSON (`super::coded`): fragment
    /// `i` is `fragments[fragment_ends[i - 1]..fragment_ends[i]]`.
    pub fragments: Vec<u8>,
    pub fragment_ends: Vec<u32>,
    /// Open-addressing tables of slots (see `EMPTY` and `Slots`).
    pub product_slots: Vec<u32>,
    pub batch_slots: Vec<u32>,
    pub item_slots: Vec<u32>,
    pub stamp_slots: Vec<u32>,
    /// The longest probe of each table, for the header, once it is built.
    #[rkyv(with = rkyv::with::Skip)]
    pub max_probe: [u32; 4],
}

#[derive(Archive, Serialize, Debug)]
pub struct ProductEntry {
    /// The GTIN-14 as a number.
    pub gtin: u64,
    /// `record::Status` as a byte.
    pub status: u8,
    /// Bit 0: the product has registered batches; bit 1: registered items.
    pub flags: u8,
    pub recall_notice: String,
    /// The record, pre-rendered as the JSON a lookup returns.
    pub json: Span,
    pub links: Links,
}

/// Where a pre-rendered record lies in the blob.
#[derive(Archive, Serialize, Debug, Clone, Copy, Default)]
pub struct Span {
    pub at: u64,
    pub len: u32,
}

pub const HAS_BATCHES: u8 = 1;
pub const HAS_ITEMS: u8 = 2;

/// A batch as a build holds it, 10 M times over at national scale: its lot
/// inline and its rare notice boxed, where two `String`s took 48 bytes and
/// an allocation; both are archived as strings all the same.
#[derive(Archive, Serialize, Debug)]
pub struct BatchEntry {
    pub product: u32,
    pub status: u8,
    /// Registered expiry date as YYYYMMDD, 0 for none.
    pub expiry: u32,
    #[rkyv(with = AsStr)]
    pub lot: Lot,
    #[rkyv(with = AsStr)]
    pub recall_notice: Option<Box<str>>,
    /// The record's JSON, coded (`super::coded`).
    pub json: Span,
    /// Its own links, and the linkset of its level (its product's when it
    /// has none of its own).
    pub links: Links,
}

/// The longest lot (GS1 AI 10): 20 characters of the 82-character set.
pub const MAX_LOT: usize = 20;

/// A lot of at most [`MAX_LOT`] bytes, held inline.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Lot {
    len: u8,
    bytes: [u8; MAX_LOT],
}

impl Lot {
    /// `None` for a lot longer than [`MAX_LOT`] bytes.
    pub fn new(lot: &str) -> Option<Lot> {
        let mut bytes = [0; MAX_LOT];
        bytes.get_mut(..lot.len())?.copy_from_slice(lot.as_bytes());
        Some(Lot {
            len: lot.len() as u8,
            bytes,
        })
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).expect("a lot is copied whole from a str")
    }
}

impl fmt::Debug for Lot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// Text a build holds in a smaller form than a `String`.
pub trait Text {
    fn text(&self) -> &str;
}

impl Text for Lot {
    fn text(&self) -> &str {
        self.as_str()
    }
}

impl Text for Option<Box<str>> {
    fn text(&self) -> &str {
        self.as_deref().unwrap_or("")
    }
}

/// Archives [`Text`] as the string it holds (an absent one as empty).
pub struct AsStr;

impl<F: Text> ArchiveWith<F> for AsStr {
    type Archived = ArchivedString;
    type Resolver = StringResolver;

    fn resolve_with(field: &F, resolver: StringResolver, out: Place<ArchivedString>) {
        ArchivedString::resolve_from_str(field.text(), resolver, out);
    }
}

impl<F: Text, S: Fallible + Writer + ?Sized> SerializeWith<F, S> for AsStr
where
    S::Error: Source,
{
    fn serialize_with(field: &F, serializer: &mut S) -> Result<StringResolver, S::Error> {
        ArchivedString::serialize_from_str(field.text(), serializer)
    }
}

/// A record's links: its own, to choose from, and the linkset of its level,
/// to list (SPEC section 6).
#[derive(Archive, Serialize, Debug, Clone, Copy, Default)]
pub struct Links {
    /// Its own links are `Payload::links[at..at + len]`.
    pub at: u32,
    pub len: u32,
    /// The linkset of its level pre-rendered in the blob: the record's links
    /// and those of every level above it (see
    /// `crate::resolver::links::Fragment`).
    pub linkset: Span,
    /// Where the linkset's traceability links start.
    pub split: u32,
    /// 1 when a record of the level or above marks a default link.
    pub has_default: u8,
}

/// One link of a record, as a request chooses among them.
#[derive(Archive, Serialize, Debug)]
pub struct LinkEntry {
    /// The GS1 link type's name (`pip`).
    pub kind: String,
    pub href: String,
    /// Language tags separated by commas, empty for none.
    pub langs: String,
    /// The media type, empty for none.
    pub media: String,
    /// 1 for the record's default link.
    pub default: u8,
}

/// The links of an item that has its own.
#[derive(Archive, Serialize, Debug)]
pub struct ItemLinks {
    pub item: u32,
    pub links: Links,
}

/// Twelve bytes: at 100 M items every byte of it is 100 MB of index.
#[derive(Archive, Serialize, Debug)]
pub struct ItemEntry {
    /// Its batch, whose entry names the product; or, for an item that names
    /// no lot (`ITEM_NO_BATCH`), its product.
    pub parent: u32,
    /// Where the serial starts in `item_bytes` (low 32 of 40 bits, the high
    /// 8 in `bytes_at_high`); the stamp follows it.
    pub bytes_at: u32,
    pub bytes_at_high: u8,
    pub serial_len: u8,
    /// 0 for an item without a stamp.
    pub stamp_len: u8,
    /// `ITEM_VOID`, `ITEM_LINKS` and `ITEM_NO_BATCH`.
    pub flags: u8,
}

/// An item's flag: its stamp is void.
pub const ITEM_VOID: u8 = 1;
/// An item's flag: it has links of its own, in `Payload::item_links`.
pub const ITEM_LINKS: u8 = 2;
/// An item's flag: it names no lot, and its parent is its product.
pub const ITEM_NO_BATCH: u8 = 4;
/// The largest byte area items can point into (40-bit offsets).
pub const MAX_ITEM_BYTES: u64 = 1 << 40;

impl ItemEntry {
    /// An entry whose serial starts at `at` in `item_bytes`.
    pub fn new(parent: u32, at: u64, serial_len: u8, stamp_len: u8, flags: u8) -> ItemEntry {
        debug_assert!(at < MAX_ITEM_BYTES);
        ItemEntry {
            parent,
            bytes_at: at as u32,
            bytes_at_high: (at >> 32) as u8,
            serial_len,
            stamp_len,
            flags,
        }
    }

    fn start(&self) -> u64 {
        u64::from(self.bytes_at_high) << 32 | u64::from(self.bytes_at)
    }

    /// Its product, through its batch when it has one.
    pub fn product(&self, batches: &[BatchEntry]) -> u32 {
        match self.batch() {
            Some(b) => batches[b as usize].product,
            None => self.parent,
        }
    }

    pub fn batch(&self) -> Option<u32> {
        (self.flags & ITEM_NO_BATCH == 0).then_some(self.parent)
    }

    /// The serial of this item in the payload's `item_bytes`, read through
    /// `window` when they are spilled.
    #[inline]
    pub fn serial<'a>(
        &self,
        item_bytes: &'a Spill,
        window: &'a mut Window,
    ) -> io::Result<&'a [u8]> {
        item_bytes.read(self.start(), usize::from(self.serial_len), window)
    }

    /// The stamp of this item in the payload's `item_bytes`: the bytes right
    /// after the serial, empty for an item without a stamp.
    #[inline]
    pub fn stamp<'a>(&self, item_bytes: &'a Spill, window: &'a mut Window) -> io::Result<&'a [u8]> {
        let at = self.start() + u64::from(self.serial_len);
        item_bytes.read(at, usize::from(self.stamp_len), window)
    }
}

// ---- Hashing: shared by the writer and the reader, so they cannot disagree ----

/// The four tables, for seeds and probe limits.
#[derive(Clone, Copy, Debug)]
pub enum Table {
    Products = 0,
    Batches = 1,
    Items = 2,
    Stamps = 3,
}

/// The hash of a table's key. A key is the GTIN followed by the qualifier
/// bytes (lot or serial; none for products); a stamp key is the stamp alone.
#[inline]
pub fn key_hash(seed: u64, table: Table, gtin: u64, rest: &[u8]) -> u64 {
    let seed = seed ^ (table as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    match table {
        Table::Stamps => xxh3_64_with_seed(rest, seed),
        _ => {
            // Lots and serials are at most 20 bytes: a stack buffer holds the key.
            let mut buf = [0u8; 8 + 32];
            let n = rest.len().min(32);
            buf[..8].copy_from_slice(&gtin.to_le_bytes());
            buf[8..8 + n].copy_from_slice(&rest[..n]);
            xxh3_64_with_seed(&buf[..8 + n], seed)
        }
    }
}

/// The home slot of a hash in a table of `len` slots (multiply-shift, so any
/// table size works and no modulo is paid). It depends on the hash's high bits.
#[inline]
pub fn home_slot(hash: u64, len: usize) -> usize {
    ((u128::from(hash) * len as u128) >> 64) as usize
}

/// How a table's 32-bit slots split between entry and tag: the entry plus one
/// takes the low bits that the table's entry count needs, a tag of the key's
/// hash the bits left. The tag comes from the hash's low bits, nearly
/// independent of the home slot, which the high bits decide. A table of up
/// to 65 535 entries keeps 16 bits of tag; at 100 M entries 5 bits remain,
/// and a probe still passes over 31 of 32 other keys without reading them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slots {
    tag_mask: u32,
}

impl Slots {
    /// The split for a table of `entries` entries (at most `u32::MAX - 1`).
    pub fn for_entries(entries: usize) -> Slots {
        let bits = usize::BITS - entries.leading_zeros();
        Slots {
            tag_mask: if bits >= 32 { 0 } else { !0 << bits },
        }
    }

    #[inline]
    pub fn tag(self, hash: u64) -> u32 {
        hash as u32 & self.tag_mask
    }

    /// Whether a slot can hold entry `entry`.
    #[inline]
    pub fn holds(self, entry: u32) -> bool {
        entry.checked_add(1).is_some_and(|n| n & self.tag_mask == 0)
    }

    /// A slot holding entry `entry` of a key with hash `hash`.
    #[inline]
    pub fn slot(self, hash: u64, entry: u32) -> u32 {
        self.tag(hash) | (entry + 1)
    }

    /// The entry of a non-empty slot (`u32::MAX` for a slot naming none,
    /// which only a damaged index has), and its tag.
    #[inline]
    pub fn parts(self, slot: u32) -> (u32, u32) {
        (
            (slot & !self.tag_mask).wrapping_sub(1),
            slot & self.tag_mask,
        )
    }
}

// ---- Reading ----------------------------------------------------------------

/// Maps `file` read-only.
pub fn map_file(file: &File) -> io::Result<memmap2::Mmap> {
    // SAFETY: the mapping is read-only and private to this process. Index files
    // are published by rename and never written again (see the trust model
    // above), so no one changes these bytes while they are mapped; a file
    // truncated underneath would raise SIGBUS, not undefined reads, and is
    // outside what a published index can go through.
    unsafe { memmap2::Mmap::map(file) }
}

/// Starts loading the cache line of `at`, so that a read of it later
/// overlaps other reads instead of following them: at national scale each
/// of an answer's reads is a cache miss.
#[inline]
pub fn prefetch<T>(at: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it reads nothing the program sees and
    // cannot fault, whatever the address. `sse`, which it needs, is part of
    // every x86_64 target.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
            (at as *const T).cast(),
        )
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

/// Pins the pages of `map` in memory (`mlock`), faulting in those not yet
/// read: the kernel may then not evict them, whatever else wants memory.
pub fn lock(map: &memmap2::Mmap) -> io::Result<()> {
    map.lock()
}

/// Tells the kernel the whole of `map` will be needed (`MADV_WILLNEED`): it
/// reads ahead what is not in memory, and may still evict it later.
pub fn advise_will_need(map: &memmap2::Mmap) -> io::Result<()> {
    map.advise(memmap2::Advice::WillNeed)
}

/// Bytes that passed every check of `verify`: the only way to read a payload.
pub struct Verified<D> {
    data: D,
    header: Header,
}

impl<D: AsRef<[u8]>> Verified<D> {
    /// Decodes the header, checks lengths and checksum, validates the rkyv
    /// archive and every cross-reference inside it.
    ///
    /// Cost: one pass over the file for the checksum (memory speed), plus
    /// rkyv's validation and one pass over the tables and items: about a
    /// hundred milliseconds per million records. Done once per load.
    pub fn new(data: D) -> Result<Verified<D>, FormatError> {
        let bytes = data.as_ref();
        let header = Header::decode(bytes)?;
        let got = (bytes.len() - HEADER_LEN) as u64;
        let expected = header.payload_len.saturating_add(header.blob_len);
        if got != expected {
            return Err(FormatError::Truncated { expected, got });
        }
        let sum = xxh3_64(&bytes[HEADER_LEN..]);
        // A fuzzer cannot forge xxh3 sums; without this it would never reach the payload.
        if sum != header.checksum && !cfg!(fuzzing) {
            return Err(FormatError::ChecksumMismatch {
                expected: header.checksum,
                got: sum,
            });
        }
        let payload = &bytes[HEADER_LEN..HEADER_LEN + header.payload_len as usize];
        let misalignment = payload.as_ptr() as usize % 16;
        if misalignment != 0 {
            return Err(FormatError::Unaligned(misalignment));
        }
        let archived = rkyv::access::<ArchivedPayload, rkyv::rancor::Error>(payload)
            .map_err(|e| FormatError::Payload(e.to_string()))?;
        check_references(archived, &header)?;
        let verified = Verified { data, header };
        check_json(&verified)?;
        Ok(verified)
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// What the bytes are held in (the mapping, for an opened file).
    pub fn data(&self) -> &D {
        &self.data
    }

    /// The whole file, header included.
    pub fn bytes(&self) -> &[u8] {
        self.data.as_ref()
    }

    /// The archived payload. Cheap: computes the root's position.
    #[inline]
    pub fn payload(&self) -> &ArchivedPayload {
        let payload =
            &self.data.as_ref()[HEADER_LEN..HEADER_LEN + self.header.payload_len as usize];
        // SAFETY: `Verified::new` is the only constructor; it ran
        // `rkyv::access` (full validation) on exactly these bytes, and `data`
        // is immutable for the lifetime of `self` (see the trust model).
        unsafe { rkyv::access_unchecked::<ArchivedPayload>(payload) }
    }

    /// The pre-rendered JSON of `span` (empty if out of range, which a
    /// verified span never is).
    #[inline]
    pub fn json(&self, span: &ArchivedSpan) -> &[u8] {
        let blob = &self.data.as_ref()[HEADER_LEN + self.header.payload_len as usize..];
        let at = span.at.to_native() as usize;
        blob.get(at..at + span.len.to_native() as usize)
            .unwrap_or(&[])
    }
}

/// Every index stored inside the payload points at something that exists, and
/// the counts agree with the header, so that lookups can never go out of range.
fn check_references(p: &ArchivedPayload, h: &Header) -> Result<(), FormatError> {
    let bad = |what: String| Err(FormatError::Payload(what));
    let (np, nb, ni) = (p.products.len(), p.batches.len(), p.items.len());
    if (np as u64, nb as u64, ni as u64) != (h.products, h.batches, h.items) {
        return bad(format!(
            "counts {np}/{nb}/{ni} differ from the header's {}/{}/{}",
            h.products, h.batches, h.items
        ));
    }
    if p.snapshot_id.as_str() != h.snapshot_id {
        return bad("the snapshot id differs from the header's".into());
    }
    // Product keys are read back as GTINs; a forged number must stop here.
    if let Some(e) = p
        .products
        .iter()
        .find(|e| crate::code::Gtin::from_u64(e.gtin.to_native()).is_none())
    {
        return bad(format!(
            "a product's GTIN {} is not a valid GTIN",
            e.gtin.to_native()
        ));
    }
    for (name, slots, n) in [
        ("product", &p.product_slots, np),
        ("batch", &p.batch_slots, nb),
        ("item", &p.item_slots, ni),
        ("stamp", &p.stamp_slots, ni),
    ] {
        if slots.is_empty() {
            return bad(format!("the {name} table has no slots"));
        }
        if n >= u32::MAX as usize {
            return bad(format!("the {name} table has {n} entries"));
        }
        // A non-empty slot must name an entry.
        let split = Slots::for_entries(n);
        let points_outside = |s: u32| s != EMPTY && split.parts(s).0 as usize >= n;
        if let Some(s) = slots
            .iter()
            .map(|s| s.to_native())
            .find(|&s| points_outside(s))
        {
            return bad(format!(
                "a {name} slot points at entry {} of {n}",
                split.parts(s).0
            ));
        }
    }
    if let Some(b) = p
        .batches
        .iter()
        .find(|b| b.product.to_native() as usize >= np)
    {
        return bad(format!(
            "a batch points at product {} of {np}",
            b.product.to_native()
        ));
    }
    // Status bytes and flags hold only what the writer writes: an unknown
    // value must not pass for "active".
    if let Some((i, e)) = p
        .products
        .iter()
        .enumerate()
        .find(|(_, e)| e.status > MAX_STATUS || e.flags & !(HAS_BATCHES | HAS_ITEMS) != 0)
    {
        return bad(format!(
            "product {i} has status byte {} and flags {:#04x}",
            e.status, e.flags
        ));
    }
    if let Some((i, b)) = p.batches.iter().enumerate().find(|(_, b)| {
        let expiry = b.expiry.to_native();
        b.status > MAX_STATUS || (expiry != 0 && !is_yyyymmdd(expiry))
    }) {
        return bad(format!(
            "batch {i} has status byte {} and expiry {}",
            b.status,
            b.expiry.to_native()
        ));
    }
    let blob = h.blob_len;
    let outside = |s: &ArchivedSpan| {
        s.at.to_native()
            .checked_add(u64::from(s.len.to_native()))
            .is_none_or(|end| end > blob)
    };
    if p.products.iter().any(|e| outside(&e.json)) || p.batches.iter().any(|e| outside(&e.json)) {
        return bad("a record points outside the JSON blob".into());
    }
    check_links(p, &outside)?;
    let area = p.item_bytes.len() as u64;
    for (i, item) in p.items.iter().enumerate() {
        let parent = item.parent.to_native() as usize;
        let end = item.start() as u64 + u64::from(item.serial_len) + u64::from(item.stamp_len);
        let parent_outside = match item.flags & ITEM_NO_BATCH {
            0 => parent >= nb,
            _ => parent >= np,
        };
        if parent_outside || end > area {
            return bad(format!("item {i} points outside the index"));
        }
        if item.flags & !(ITEM_VOID | ITEM_LINKS | ITEM_NO_BATCH) != 0 || item.serial_len == 0 {
            return bad(format!(
                "item {i} has flags {:#04x} and a serial of {} bytes",
                item.flags, item.serial_len
            ));
        }
        if std::str::from_utf8(p.item_bytes_of(item)).is_err() {
            return bad(format!("item {i} has bytes that are not text"));
        }
    }
    Ok(())
}

/// Every record's links lie inside the index, and hold what the build
/// writes: a known link type, an href fit for a `Location` header.
fn check_links(
    p: &ArchivedPayload,
    outside: &dyn Fn(&ArchivedSpan) -> bool,
) -> Result<(), FormatError> {
    let bad = |what: String| Err(FormatError::Payload(what));
    let n = p.links.len() as u64;
    let broken = |l: &ArchivedLinks| {
        u64::from(l.at.to_native()) + u64::from(l.len.to_native()) > n
            || outside(&l.linkset)
            || l.split.to_native() > l.linkset.len.to_native()
            || l.has_default > 1
    };
    let levels = p.products.iter().map(|e| &e.links);
    let levels = levels.chain(p.batches.iter().map(|e| &e.links));
    if levels
        .chain(p.item_links.iter().map(|e| &e.links))
        .any(broken)
    {
        return bad("a record's links point outside the index".into());
    }
    let flagged = p.items.iter().filter(|i| i.flags & ITEM_LINKS != 0).count();
    let mut previous = None;
    for e in p.item_links.iter() {
        let item = e.item.to_native();
        let in_order = previous.is_none_or(|p| p < item);
        let flags = p.items.get(item as usize).map(|i| i.flags);
        if !in_order || flags.is_none_or(|f| f & ITEM_LINKS == 0) {
            return bad(format!(
                "the links of item {item} are out of order or unflagged"
            ));
        }
        previous = Some(item);
    }
    if flagged != p.item_links.len() {
        return bad(format!(
            "{flagged} items are flagged as having links, {} have them",
            p.item_links.len()
        ));
    }
    let href_ok = |h: &str| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic());
    if let Some((i, e)) = p.links.iter().enumerate().find(|(_, e)| {
        crate::resolver::vocab::title(e.kind.as_str()).is_none()
            || !href_ok(e.href.as_str())
            || e.default > 1
    }) {
        return bad(format!(
            "link {i} has type {:?} and href {:?}",
            e.kind.as_str(),
            e.href.as_str()
        ));
    }
    Ok(())
}

/// The largest status byte the writer writes.
const MAX_STATUS: u8 = crate::snapshot::record::Status::Withdrawn as u8;

/// Whether `n` is a date of the calendar written as YYYYMMDD.
fn is_yyyymmdd(n: u32) -> bool {
    let (year, month, day) = (n / 10000, n / 100 % 100, n % 100);
    (1..=9999).contains(&year)
        && (1..=12).contains(&month)
        && day >= 1
        && day <= crate::date::days_in_month(year as i32, month)
}

/// Every record's pre-rendered JSON is a JSON object: it is served as stored,
/// so a damaged one must be refused at open, not sent to a client.
///
/// Cost: one parse of the whole blob (hundreds of MB/s), on every core.
fn check_json<D: AsRef<[u8]>>(v: &Verified<D>) -> Result<(), FormatError> {
    let p = v.payload();
    let blob = &v.bytes()[HEADER_LEN + v.header.payload_len as usize..];
    let is_object = |span: &ArchivedSpan| {
        let at = span.at.to_native() as usize;
        let json = blob
            .get(at..at + span.len.to_native() as usize)
            .unwrap_or(&[]);
        json.first() == Some(&b'{') && serde_json::from_slice::<serde::de::IgnoredAny>(json).is_ok()
    };
    let bad = |what: &str, n: usize| {
        Err(FormatError::Payload(format!(
            "the JSON of {what} {n} is not a JSON object"
        )))
    };
    if let Some(n) = first_failing(p.products.len(), |i| is_object(&p.products[i].json)) {
        return bad("product", n);
    }
    // A batch is JSON when it decodes and what the decoder copies is:
    // parsing ten million decoded records would keep a national index out
    // of service for half a minute, when the dictionary's templates and
    // values, a few hundred thousand, can be checked once each. A template
    // is an object with values taken out; any JSON value put in each place
    // keeps it one.
    let fragments = p.fragment_ends.len();
    let (templates, values) = (Bits::new(fragments), Bits::new(fragments));
    let batch_decodes = |i: usize| {
        let b = &p.batches[i];
        let at = b.json.at.to_native() as usize;
        let coded = blob.get(at..at + b.json.len.to_native() as usize);
        let mut copied_json = true;
        let decodes = coded::check(
            coded.unwrap_or(&[]),
            |id| p.fragment(id),
            |part| {
                copied_json &= match part {
                    coded::Part::Text(text) => text.first() == Some(&b'{') && is_json(text),
                    coded::Part::Template(id) => templates.set(id),
                    coded::Part::Value(id) => values.set(id),
                    coded::Part::Literal(value) => is_json(value),
                    coded::Part::Lot => is_string_body(b.lot.as_bytes()),
                }
            },
        );
        decodes.is_ok() && copied_json
    };
    if let Some(n) = first_failing(p.batches.len(), batch_decodes) {
        return bad("batch", n);
    }
    let template_is_object = |id: usize| {
        let template = p.fragment(id as u64).unwrap_or(&[]);
        !templates.get(id)
            || coded::template_filled(template)
                .is_some_and(|t| t.first() == Some(&b'{') && is_json(&t))
    };
    if let Some(n) = first_failing(fragments, template_is_object) {
        return Err(FormatError::Payload(format!(
            "fragment {n} of the batches' dictionary, a template, is not a JSON object with values taken out"
        )));
    }
    let value_is_json =
        |id: usize| !values.get(id) || is_json(p.fragment(id as u64).unwrap_or(&[]));
    if let Some(n) = first_failing(fragments, value_is_json) {
        return Err(FormatError::Payload(format!(
            "fragment {n} of the batches' dictionary, a value, is not a JSON value"
        )));
    }
    // A linkset fragment is not JSON alone: it is checked as an answer
    // puts it together, with an anchor and a last link around it.
    let is_fragment = |links: &ArchivedLinks| {
        let at = links.linkset.at.to_native() as usize;
        let text = blob
            .get(at..at + links.linkset.len.to_native() as usize)
            .unwrap_or(&[]);
        let (main, traceability) =
            text.split_at((links.split.to_native() as usize).min(text.len()));
        let mut whole = Vec::with_capacity(text.len() + 32);
        whole.extend_from_slice(b"{\"anchor\":\"\",");
        whole.extend_from_slice(main);
        whole.extend_from_slice(b",\"t\":[");
        whole.extend_from_slice(traceability);
        whole.extend_from_slice(b"{}]}");
        main.starts_with(b"\"itemDescription\":")
            && serde_json::from_slice::<serde::de::IgnoredAny>(&whole).is_ok()
    };
    let broken = |what: &str, n: usize| {
        Err(FormatError::Payload(format!(
            "the linkset of {what} {n} does not make a linkset"
        )))
    };
    if let Some(n) = first_failing(p.products.len(), |i| is_fragment(&p.products[i].links)) {
        return broken("product", n);
    }
    if let Some(n) = first_failing(p.batches.len(), |i| is_fragment(&p.batches[i].links)) {
        return broken("batch", n);
    }
    if let Some(n) = first_failing(p.item_links.len(), |i| is_fragment(&p.item_links[i].links)) {
        return broken("item", p.item_links[n].item.to_native() as usize);
    }
    Ok(())
}

/// `text` is one JSON value.
fn is_json(text: &[u8]) -> bool {
    serde_json::from_slice::<serde::de::IgnoredAny>(text).is_ok()
}

/// `text` is a JSON string's contents with nothing escaped: what may stand
/// between two quotes as it is.
fn is_string_body(text: &[u8]) -> bool {
    std::str::from_utf8(text).is_ok() && !text.iter().any(|&b| b == b'"' || b == b'\\' || b < 0x20)
}

/// A set of fragment ids, filled from every verifying thread at once.
struct Bits(Vec<std::sync::atomic::AtomicU64>);

impl Bits {
    fn new(n: usize) -> Bits {
        Bits((0..n.div_ceil(64)).map(|_| Default::default()).collect())
    }

    /// Adds `id`; `false` if it is out of range.
    fn set(&self, id: u64) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let Some(word) = usize::try_from(id / 64).ok().and_then(|w| self.0.get(w)) else {
            return false;
        };
        let bit = 1 << (id % 64);
        // Most ids are met again and again: a read spares the write.
        if word.load(Relaxed) & bit == 0 {
            word.fetch_or(bit, Relaxed);
        }
        true
    }

    fn get(&self, id: usize) -> bool {
        self.0[id / 64].load(std::sync::atomic::Ordering::Relaxed) & (1 << (id % 64)) != 0
    }
}

/// The first of `0..n` for which `check` fails, checked on every core (a
/// whole-index check at open would otherwise keep a new index out of
/// service for one core's time).
pub(crate) fn first_failing(n: usize, check: impl Fn(usize) -> bool + Sync) -> Option<usize> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .min(8);
    // Small tables are not worth a thread.
    if threads == 1 || n < 4096 {
        return (0..n).find(|&i| !check(i));
    }
    let chunk = n.div_ceil(threads);
    std::thread::scope(|scope| {
        let check = &check;
        let parts: Vec<_> = (0..threads)
            .map(|t| {
                let range = t * chunk..((t + 1) * chunk).min(n);
                scope.spawn(move || range.into_iter().find(|&i| !check(i)))
            })
            .collect();
        parts
            .into_iter()
            .filter_map(|part| part.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .min()
    })
}

impl ArchivedItemEntry {
    #[inline]
    fn start(&self) -> usize {
        (u64::from(self.bytes_at_high) << 32 | u64::from(self.bytes_at.to_native())) as usize
    }

    /// Its batch, if it names one.
    #[inline]
    pub fn batch(&self) -> Option<u32> {
        (self.flags & ITEM_NO_BATCH == 0).then_some(self.parent.to_native())
    }
}

impl ArchivedPayload {
    /// The product of `item`, through its batch when it has one (0 if out
    /// of range, which a verified payload never is).
    #[inline]
    pub fn product_of(&self, item: &ArchivedItemEntry) -> u32 {
        match item.batch() {
            Some(b) => self
                .batches
                .get(b as usize)
                .map_or(0, |b| b.product.to_native()),
            None => item.parent.to_native(),
        }
    }

    /// Appends the JSON of batch `b`, whose coded bytes are `coded` (see
    /// `super::coded`). An error only for a damaged index, which
    /// verification refuses.
    pub fn write_batch_json(
        &self,
        b: &ArchivedBatchEntry,
        coded: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), coded::Damaged> {
        let gtin = self.products.get(b.product.to_native() as usize);
        let gtin = gtin.and_then(|e| crate::code::Gtin::from_u64(e.gtin.to_native()));
        let keys = coded::Keys {
            gtin: gtin.map_or([b'0'; 14], |g| g.digits()),
            lot: b.lot.as_bytes(),
        };
        coded::decode(coded, |id| self.fragment(id), keys, out)
    }

    /// Fragment `id` of the batches' dictionary.
    #[inline]
    pub fn fragment(&self, id: u64) -> Option<&[u8]> {
        let id = usize::try_from(id).ok()?;
        let end = self.fragment_ends.get(id)?.to_native() as usize;
        let start = match id {
            0 => 0,
            _ => self.fragment_ends[id - 1].to_native() as usize,
        };
        self.fragments.get(start..end)
    }

    /// The serial and stamp bytes of `item` (empty if out of range, which a
    /// verified payload never is).
    #[inline]
    pub fn item_bytes_of(&self, item: &ArchivedItemEntry) -> &[u8] {
        let start = item.start();
        let len = usize::from(item.serial_len) + usize::from(item.stamp_len);
        self.item_bytes.get(start..start + len).unwrap_or(&[])
    }

    /// The serial of `item`. Cheap: slices [`ArchivedPayload::item_bytes_of`]
    /// at the serial's length, which every item of a verified payload has.
    #[inline]
    pub fn serial_of(&self, item: &ArchivedItemEntry) -> &[u8] {
        &self.item_bytes_of(item)[..usize::from(item.serial_len)]
    }

    /// The stamp of `item`: its bytes after the serial, empty for an item
    /// without a stamp. Cheap, as [`ArchivedPayload::serial_of`].
    #[inline]
    pub fn stamp_of(&self, item: &ArchivedItemEntry) -> &[u8] {
        &self.item_bytes_of(item)[usize::from(item.serial_len)..]
    }
}
