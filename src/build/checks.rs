//! The checks that need all records, applied line by line in file order:
//! duplicate keys (the first occurrence wins, a later one names its line), a
//! batch's product, an item's product and lot, stamp uniqueness. A line that
//! passes becomes an entry of the payload and its JSON goes to the blob, and
//! its key goes to the index's table (`index::write::SlotTable`) that the
//! next lines are checked against.

use std::collections::HashMap;
use std::io;

use super::pipeline::{ItemHashes, Parsed};
use crate::code::Gtin;
use crate::index::coded;
use crate::index::format::{
    BatchEntry, HAS_BATCHES, HAS_ITEMS, ITEM_LINKS, ITEM_NO_BATCH, ITEM_VOID, ItemEntry, ItemLinks,
    LinkEntry, Links, Lot, MAX_ITEM_BYTES, MAX_LOT, Payload, ProductEntry, Span,
};
use crate::index::spill::{Spill, Window};
use crate::index::write::{SlotTable, SpilledKeys, batch_hash, lot_hash, product_hash};
use crate::resolver::links::{self as resolver_links, Link};
use crate::snapshot::record::{self, Reason, Rejection};

/// The state of a build: entries so far, and their keys for duplicate checks.
pub(super) struct Collector {
    payload: Payload,
    /// Where the pre-rendered JSON goes.
    blob: Spill,
    /// An item's serial and stamp, appended as one.
    text: Vec<u8>,
    /// Products by GTIN: the index's own table, filled as products are kept.
    products: SlotTable,
    /// The line of each kept product, to name it in a duplicate's report.
    product_lines: Lines,
    /// GTIN → line of a product line that was rejected (to explain orphans).
    rejected_products: HashMap<u64, u64>,
    /// Batches by GTIN and lot.
    batches: SlotTable,
    batch_lines: Lines,
    /// Items by GTIN and serial.
    items: SlotTable,
    item_lines: Lines,
    /// Items by stamp, only those that have one; its entries are items, so a
    /// duplicate names the line of the item in `item_lines`.
    stamps: SlotTable,
    /// Per item, eight more bits of its stamp's hash than a slot's tag
    /// holds (0 without a stamp). At 100 M items a probe meets a slot whose
    /// tag matches once in 32, about 16 M times in all, and each such slot
    /// cost reading a stamp back from its file (a system call); the mark,
    /// one byte in memory, turns away 255 in 256 of them.
    stamp_marks: Vec<u8>,
    /// Each kept product's name, the description of every linkset below it.
    names: Vec<Box<str>>,
    /// The links of batches that have some, by entry: an item with links of
    /// its own lists them in its linkset too, and its product's, which are
    /// read back from the product's JSON when needed (the last kept here).
    batch_links: HashMap<u32, Vec<Link>>,
    product_links: Option<(u32, Vec<Link>)>,
    /// Gives coded batch records their dictionary ids (`index::coded`), and
    /// holds the last one coded.
    coder: coded::Encoder,
    coded: Vec<u8>,
    /// The parents of the last item whose parents were found.
    last_parents: Option<LastParents>,
}

/// An item's GTIN and lot, and the product and batch they name.
struct LastParents {
    gtin: u64,
    lot: Option<String>,
    product: u32,
    batch: Option<u32>,
}

/// Why a line was not indexed: a rejection to report, or a failure to spill
/// its JSON, which fails the build.
pub(super) enum Refusal {
    Line(Rejection),
    Spill(io::Error),
}

impl From<Rejection> for Refusal {
    fn from(r: Rejection) -> Refusal {
        Refusal::Line(r)
    }
}

/// The line of each kept entry of a file, held as where the lines stop
/// following one another (a line not kept between): a few numbers for a file
/// of millions of lines, where a line number an entry took 8 bytes.
#[derive(Default)]
struct Lines {
    /// Entry and line where each run of kept lines starts, ascending.
    runs: Vec<(u32, u64)>,
}

impl Lines {
    /// Entry `entry`, the next one, is on line `line`.
    fn push(&mut self, entry: usize, line: u64) {
        let entry = entry as u32;
        match self.runs.last() {
            Some(&(e, l)) if line.checked_sub(l) == Some(u64::from(entry - e)) => {}
            _ => self.runs.push((entry, line)),
        }
    }

    /// The line of entry `entry`, one pushed already.
    fn of(&self, entry: u32) -> u64 {
        let run = self.runs.partition_point(|&(e, _)| e <= entry);
        let (e, l) = self.runs[run.saturating_sub(1)];
        l + u64::from(entry - e)
    }
}

/// The bits of a stamp's hash kept in `Collector::stamp_marks`: neither the
/// home slot (the high bits) nor a slot's tag (bits 27-31 at 100 M items, more
/// below) draws on them at national scale.
fn stamp_mark(hash: u64) -> u8 {
    (hash >> 8) as u8
}

/// The refusal of a line whose key an earlier line holds; `detail` names
/// that line.
fn duplicate(key: String, detail: String) -> Refusal {
    Rejection::new(Reason::DuplicateKey, Some(key), detail).into()
}

impl Collector {
    /// An empty collector that adds to `payload` and `blob`, its tables laid
    /// out for `planned` products, batches and items.
    pub(super) fn new(payload: Payload, blob: Spill, planned: [usize; 3]) -> Collector {
        let mut c = Collector {
            payload,
            blob,
            text: Vec::new(),
            products: SlotTable::new(planned[0]),
            product_lines: Lines::default(),
            rejected_products: HashMap::new(),
            batches: SlotTable::new(planned[1]),
            batch_lines: Lines::default(),
            items: SlotTable::new(planned[2]),
            item_lines: Lines::default(),
            stamps: SlotTable::new(planned[2]),
            stamp_marks: Vec::new(),
            names: Vec::new(),
            batch_links: HashMap::new(),
            product_links: None,
            coder: coded::Encoder::default(),
            coded: Vec::new(),
            last_parents: None,
        };
        c.reserve(planned);
        c
    }

    /// The entries kept, their tables and their JSON, or why the items'
    /// spilled keys could not be read back for a table laid out again.
    pub(super) fn finish(mut self) -> io::Result<(Payload, Spill)> {
        self.stamp_marks = Vec::new();
        let (fragments, ends) = self.coder.finish();
        let p = &mut self.payload;
        p.fragments = fragments;
        p.fragment_ends = ends;
        let (np, nb, ni) = (p.products.len(), p.batches.len(), p.items.len());
        let (products, batches, items) = (&p.products, &p.batches, &p.items);
        let (slots, longest) = self
            .products
            .finish(np, |i| product_hash(products[i as usize].gtin));
        p.product_slots = slots;
        p.max_probe[0] = longest;
        let (slots, longest) = self
            .batches
            .finish(nb, |i| batch_hash(products, &batches[i as usize]));
        p.batch_slots = slots;
        p.max_probe[1] = longest;
        let mut keys = SpilledKeys::in_order(&p.item_bytes);
        let (slots, longest) = self
            .items
            .finish(ni, |i| keys.item(products, batches, &items[i as usize]));
        keys.result()?;
        p.item_slots = slots;
        p.max_probe[2] = longest;
        let mut keys = SpilledKeys::in_order(&p.item_bytes);
        let (slots, longest) = self.stamps.finish(ni, |i| keys.stamp(&items[i as usize]));
        keys.result()?;
        p.stamp_slots = slots;
        p.max_probe[3] = longest;
        Ok((self.payload, self.blob))
    }

    /// Sizes the vectors for the planned counts, so that a large build
    /// does not pass through doubling reallocations (a transient twice the
    /// memory). A count that cannot be met is simply not reserved.
    fn reserve(&mut self, [products, batches, items]: [usize; 3]) {
        let p = &mut self.payload;
        let _ = p.products.try_reserve_exact(products);
        let _ = self.names.try_reserve_exact(products);
        let _ = p.batches.try_reserve_exact(batches);
        let _ = p.items.try_reserve_exact(items);
        let _ = self.stamp_marks.try_reserve_exact(items);
    }

    /// Checks line `line`, judged on its own already, against the lines
    /// before it, and keeps it if it passes. An item's text is in `text`,
    /// its chunk's.
    pub(super) fn apply(&mut self, parsed: Parsed, text: &str, line: u64) -> Result<(), Refusal> {
        match parsed {
            Parsed::Product(Ok(p)) => self.product(*p, line),
            Parsed::Product(Err(rejected)) => {
                let (r, gtin) = *rejected;
                // Remember the GTIN so that its batches and items can say why
                // they have no product.
                if let Some(g) = gtin {
                    self.rejected_products.entry(g).or_insert(line);
                }
                Err(r.into())
            }
            Parsed::Batch(b) => self.batch(*b?, line),
            Parsed::Item(it) => self.item(it?.into_item(text), line),
        }
    }

    fn spill(&mut self, bytes: &[u8]) -> Result<Span, Refusal> {
        let len = u32::try_from(bytes.len())
            .map_err(|_| Refusal::Spill(io::Error::other("a record over 4 GiB")))?;
        let at = self.blob.append(bytes).map_err(Refusal::Spill)?;
        Ok(Span { at, len })
    }

    /// Keeps a record's own links `own` and spills the linkset of its level,
    /// whose levels above hold `above` (most specific first), under the
    /// product `product`'s name.
    fn links(&mut self, own: &[Link], above: &[&[Link]], product: u32) -> Result<Links, Refusal> {
        let mut levels = Vec::with_capacity(above.len() + 1);
        levels.push(own);
        levels.extend_from_slice(above);
        let fragment = resolver_links::fragment(&self.names[product as usize], &levels);
        let linkset = self.spill(fragment.text.as_bytes())?;
        let at = self.payload.links.len() as u32;
        self.payload.links.extend(own.iter().map(|l| LinkEntry {
            kind: l.kind.to_owned(),
            href: l.href.clone(),
            langs: l.langs.join(","),
            media: l.media.clone().unwrap_or_default(),
            default: u8::from(l.default),
        }));
        Ok(Links {
            at,
            len: own.len() as u32,
            linkset,
            split: fragment.split as u32,
            has_default: u8::from(fragment.has_default),
        })
    }

    fn product(&mut self, p: record::Product, line: u64) -> Result<(), Refusal> {
        let gtin = p.gtin.as_u64();
        let hash = product_hash(gtin);
        let products = &self.payload.products;
        if let Some(first) = self
            .products
            .find(hash, |i| products[i as usize].gtin == gtin)
        {
            let first = self.product_lines.of(first);
            let detail = format!("GTIN {} is already the product of line {first}", p.gtin);
            return Err(duplicate(p.gtin.to_string(), detail));
        }
        let json = self.spill(p.json.as_bytes())?;
        let id = self.payload.products.len();
        self.names.push(p.name.into_boxed_str());
        let links = self.links(&p.links, &[], id as u32)?;
        let products = &self.payload.products;
        self.products
            .insert(hash, id as u32, |i| product_hash(products[i as usize].gtin));
        self.product_lines.push(id, line);
        self.payload.products.push(ProductEntry {
            gtin,
            status: p.status as u8,
            flags: 0,
            recall_notice: p.recall_notice.unwrap_or_default(),
            json,
            links,
        });
        Ok(())
    }

    /// The links of product `product`, read back from its JSON: only a batch
    /// or item with links of its own lists them, so a national build does
    /// not hold a million products' links for the few that do.
    fn product_links(&mut self, product: u32) -> Result<Vec<Link>, Refusal> {
        if let Some((p, links)) = &self.product_links
            && *p == product
        {
            return Ok(links.clone());
        }
        let entry = &self.payload.products[product as usize];
        let links = if entry.links.len == 0 {
            Vec::new()
        } else {
            let json = entry.json;
            let mut window = Window::random();
            let json = self.blob.read(json.at, json.len as usize, &mut window);
            let unreadable = |e: &dyn std::fmt::Display| {
                Refusal::Spill(io::Error::other(format!(
                    "the links of product entry {product}, read back: {e}"
                )))
            };
            let value: serde_json::Value = serde_json::from_slice(json.map_err(Refusal::Spill)?)
                .map_err(|e| unreadable(&e))?;
            resolver_links::parse(value.get("links")).map_err(|e| unreadable(&format!("{e:?}")))?
        };
        self.product_links = Some((product, links.clone()));
        Ok(links)
    }

    /// The product index of `gtin`, or the rejection of an orphan.
    fn product_of(
        &self,
        gtin: Gtin,
        key: impl FnOnce() -> String,
        what: &str,
    ) -> Result<u32, Rejection> {
        let products = &self.payload.products;
        let hash = product_hash(gtin.as_u64());
        if let Some(id) = self
            .products
            .find(hash, |i| products[i as usize].gtin == gtin.as_u64())
        {
            return Ok(id);
        }
        let why = match self.rejected_products.get(&gtin.as_u64()) {
            Some(line) => {
                format!("the product of GTIN {gtin} was rejected (products.jsonl line {line})")
            }
            None => format!("no product has GTIN {gtin}"),
        };
        Err(Rejection::new(
            Reason::UnknownProduct,
            Some(key()),
            format!("{what}: {why}"),
        ))
    }

    /// The batch `lot` of product `product`, if kept.
    fn batch_of(&self, product: u32, lot: &str) -> Option<u32> {
        let gtin = self.payload.products[product as usize].gtin;
        let batches = &self.payload.batches;
        let hash = lot_hash(gtin, lot.as_bytes());
        self.batches.find(hash, |i| {
            let b = &batches[i as usize];
            b.product == product && b.lot.as_bytes() == lot.as_bytes()
        })
    }

    fn batch(
        &mut self,
        (b, prepared): (record::Batch, coded::Prepared),
        line: u64,
    ) -> Result<(), Refusal> {
        let key = || format!("{}/{}", b.gtin, b.lot);
        let product = self.product_of(b.gtin, key, "batch")?;
        if let Some(first) = self.batch_of(product, &b.lot) {
            let first = self.batch_lines.of(first);
            let detail = format!(
                "lot {} of GTIN {} is already the batch of line {first}",
                b.lot, b.gtin
            );
            return Err(duplicate(key(), detail));
        }
        let lot = Lot::new(&b.lot).ok_or_else(|| {
            Rejection::new(
                Reason::InvalidField,
                Some(key()),
                format!("lot: longer than {MAX_LOT} characters"),
            )
        })?;
        let mut coded = std::mem::take(&mut self.coded);
        coded.clear();
        self.coder.add(b.json.as_bytes(), &prepared, &mut coded);
        let json = self.spill(&coded);
        self.coded = coded;
        let json = json?;
        let id = self.payload.batches.len();
        let links = if b.links.is_empty() {
            // No links of its own: its linkset is its product's.
            Links {
                at: 0,
                len: 0,
                ..self.payload.products[product as usize].links
            }
        } else {
            let above = self.product_links(product)?;
            let links = self.links(&b.links, &[&above], product)?;
            self.batch_links.insert(id as u32, b.links);
            links
        };
        let entry = BatchEntry {
            product,
            status: b.status as u8,
            expiry: b.expiry.map_or(0, |d| d.to_yyyymmdd()),
            lot,
            recall_notice: b.recall_notice.map(String::into_boxed_str),
            json,
            links,
        };
        let (products, batches) = (&self.payload.products, &self.payload.batches);
        self.batches
            .insert(batch_hash(products, &entry), id as u32, |i| {
                batch_hash(products, &batches[i as usize])
            });
        self.batch_lines.push(id, line);
        self.payload.products[product as usize].flags |= HAS_BATCHES;
        self.payload.batches.push(entry);
        Ok(())
    }

    /// The product and batch an item names, or the rejection of an orphan.
    /// Items come batch by batch, so the last item's parents are kept.
    fn parents_of(&mut self, it: &record::Item<'_>) -> Result<(u32, Option<u32>), Rejection> {
        let lot = it.lot.as_deref();
        if let Some(last) = &self.last_parents
            && last.gtin == it.gtin.as_u64()
            && last.lot.as_deref() == lot
        {
            return Ok((last.product, last.batch));
        }
        let product = self.product_of(it.gtin, || it.key(), "item")?;
        let batch = match lot {
            None => None,
            Some(lot) => Some(self.batch_of(product, lot).ok_or_else(|| {
                Rejection::new(
                    Reason::UnknownLot,
                    Some(it.key()),
                    format!("lot {lot} is not a batch of GTIN {}", it.gtin),
                )
            })?),
        };
        self.last_parents = Some(LastParents {
            gtin: it.gtin.as_u64(),
            lot: lot.map(str::to_owned),
            product,
            batch,
        });
        Ok((product, batch))
    }

    /// Starts loading where an item of `hashes` will be looked for, a few
    /// lines before it is: at national scale each is a cache miss.
    pub(super) fn prefetch(&self, hashes: ItemHashes) {
        self.items.prefetch(hashes.item);
        if let Some(stamp) = hashes.stamp {
            self.stamps.prefetch(stamp);
        }
    }

    fn item(
        &mut self,
        (it, hashes): (record::Item<'_>, ItemHashes),
        line: u64,
    ) -> Result<(), Refusal> {
        let (product, batch) = self.parents_of(&it)?;
        let p = &self.payload;
        // A slot whose tag matches is another item's about once in 32 probes
        // at 100 M items: its serial or stamp is read back then.
        let mut keys = SpilledKeys::at_random(&p.item_bytes);
        let serial = it.serial.as_bytes();
        let found = self.items.find(hashes.item, |i| {
            let e = &p.items[i as usize];
            e.product(&p.batches) == product && keys.has_serial(e, serial)
        });
        keys.result().map_err(Refusal::Spill)?;
        if let Some(first) = found {
            let first = self.item_lines.of(first);
            let detail = format!(
                "serial {} of GTIN {} is already the item of line {first}",
                it.serial, it.gtin
            );
            return Err(duplicate(it.key(), detail));
        }
        let stamp: &str = it.stamp.as_deref().unwrap_or("");
        let mark = hashes.stamp.map_or(0, stamp_mark);
        if let Some(stamp_key) = hashes.stamp {
            let marks = &self.stamp_marks;
            let found = self.stamps.find(stamp_key, |i| {
                marks[i as usize] == mark && keys.has_stamp(&p.items[i as usize], stamp.as_bytes())
            });
            keys.result().map_err(Refusal::Spill)?;
            if let Some(first) = found {
                let first = self.item_lines.of(first);
                let detail = format!("stamp {stamp} is already on the item of line {first}");
                return Err(duplicate(it.key(), detail));
            }
        }
        let id = self.payload.items.len();
        if !it.links.is_empty() {
            let none: &[Link] = &[];
            let batch_links = batch.and_then(|b| self.batch_links.get(&b));
            let batch_links = batch_links.map_or(none, |l| &l[..]).to_vec();
            let product_links = self.product_links(product)?;
            let links = self.links(&it.links, &[&batch_links, &product_links], product)?;
            self.payload.item_links.push(ItemLinks {
                item: id as u32,
                links,
            });
        }
        let bytes_at = self.payload.item_bytes.len();
        if bytes_at + (it.serial.len() + stamp.len()) as u64 > MAX_ITEM_BYTES {
            return Err(Refusal::Spill(io::Error::other(format!(
                "the serials and stamps of the items pass {MAX_ITEM_BYTES} bytes, the most an index holds"
            ))));
        }
        self.text.clear();
        self.text.extend_from_slice(it.serial.as_bytes());
        self.text.extend_from_slice(stamp.as_bytes());
        self.payload
            .item_bytes
            .append(&self.text)
            .map_err(Refusal::Spill)?;
        let flags = if it.void { ITEM_VOID } else { 0 }
            | if it.links.is_empty() { 0 } else { ITEM_LINKS }
            | if batch.is_none() { ITEM_NO_BATCH } else { 0 };
        self.payload.items.push(ItemEntry::new(
            batch.unwrap_or(product),
            bytes_at,
            it.serial.len() as u8,
            stamp.len() as u8,
            flags,
        ));
        self.item_lines.push(id, line);
        self.stamp_marks.push(mark);
        self.payload.products[product as usize].flags |= HAS_ITEMS;
        let p = &self.payload;
        let (products, batches, items) = (&p.products, &p.batches, &p.items);
        let mut keys = SpilledKeys::in_order(&p.item_bytes);
        self.items.insert(hashes.item, id as u32, |i| {
            keys.item(products, batches, &items[i as usize])
        });
        if let Some(stamp_key) = hashes.stamp {
            self.stamps
                .insert(stamp_key, id as u32, |i| keys.stamp(&items[i as usize]));
        }
        keys.result().map_err(Refusal::Spill)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_s_line_is_found_across_lines_not_kept() {
        let mut lines = Lines::default();
        // Lines 1-3 kept, 4-5 rejected, 6 kept, 7 rejected, 8-9 kept.
        for (entry, line) in [1, 2, 3, 6, 8, 9].into_iter().enumerate() {
            lines.push(entry, line);
        }
        assert_eq!(lines.runs.len(), 3);
        let of: Vec<u64> = (0..6).map(|e| lines.of(e)).collect();
        assert_eq!(of, [1, 2, 3, 6, 8, 9]);
    }
}
