//! An index file of any bytes: refused at open, or every lookup stays in
//! bounds. Built with `--cfg fuzzing`, the checksums are not checked, so that
//! mutated files reach the archive and the reference checks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rkyv::util::AlignedVec;
use tracescan::code::Gtin;
use tracescan::index::{BatchRef, Index, ItemRef, ProductRef};

/// Records of each kind, and keys cut from the input, looked at per input:
/// enough to reach every branch, few enough to keep the fuzzer fast on a
/// large index.
const LIMIT: usize = 32;
const INPUT_KEYS: usize = 16;

fuzz_target!(|data: &[u8]| {
    // The payload must be 16-byte aligned, as it is in a mapped file.
    let mut bytes = AlignedVec::<16>::with_capacity(data.len());
    bytes.extend_from_slice(data);
    let Ok(index) = Index::from_bytes(bytes) else {
        return;
    };
    let header = index.header();
    let _ = index.exported_at();

    // Keys cut from the input's bytes mostly miss; the records' own keys hit.
    // Both must stay in bounds.
    let input_texts: Vec<String> = data
        .rchunks(13)
        .take(INPUT_KEYS)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    let mut gtins: Vec<Gtin> = (0..header.products.min(LIMIT as u64))
        .map(|i| index.product_at(i as u32).gtin())
        .collect();
    gtins.extend(data.chunks_exact(8).take(INPUT_KEYS).filter_map(|w| {
        let n = u64::from_le_bytes(w.try_into().expect("8 bytes")) % 10_000_000_000_000 * 10;
        (0..10).find_map(|check| Gtin::from_u64(n + check))
    }));
    let lots: Vec<&str> = (0..header.batches.min(LIMIT as u64))
        .map(|i| {
            let batch = index.batch_at(i as u32);
            visit_batch(&batch);
            batch.lot()
        })
        .collect();

    for gtin in gtins {
        let Some(product) = index.product(gtin) else {
            continue;
        };
        visit_product(&product);
        for lot in lots
            .iter()
            .copied()
            .chain(input_texts.iter().map(String::as_str))
        {
            if let Some(batch) = index.batch(&product, lot) {
                visit_batch(&batch);
            }
        }
        for serial in &input_texts {
            if let Some(item) = index.item(&product, serial) {
                visit_item(&index, &item);
            }
        }
    }
    for i in 0..header.items.min(LIMIT as u64) {
        let item = index.item_at(i as usize);
        let (product, batch) = visit_item(&index, &item);
        let _ = index.item(&product, item.serial());
        if let Some(batch) = batch {
            let _ = index.batch(&product, batch.lot());
        }
        if let Some(stamp) = item.stamp() {
            let _ = index.item_by_stamp(stamp);
        }
    }
    for stamp in &input_texts {
        if let Some(item) = index.item_by_stamp(stamp) {
            visit_item(&index, &item);
        }
    }
});

fn visit_product(product: &ProductRef<'_>) {
    let _ = (product.id(), product.gtin(), product.status());
    let _ = (product.recall_notice(), product.json());
    let _ = (product.has_batches(), product.has_items());
}

fn visit_batch(batch: &BatchRef<'_>) {
    let _ = (batch.lot(), batch.status(), batch.recall_notice());
    let _ = (batch.expiry(), batch.json());
}

fn visit_item<'a, D: AsRef<[u8]>>(
    index: &'a Index<D>,
    item: &ItemRef<'a>,
) -> (ProductRef<'a>, Option<BatchRef<'a>>) {
    let _ = (
        item.serial(),
        item.stamp(),
        item.is_void(),
        item.has_batch(),
    );
    let (product, batch) = index.parents(item);
    visit_product(&product);
    if let Some(batch) = &batch {
        visit_batch(batch);
    }
    (product, batch)
}
