//! From a parsed scan to what the index knows: the record at each level and the
//! warnings a consumer must see. Pure over the index: no I/O, no rendering.

use crate::code::{Gs1Code, Scan};
use crate::date::Date;
use crate::index::{BatchRef, Index, ItemRef, ProductRef};
use crate::snapshot::record::Status;

/// The level a lookup matched at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Item,
    Batch,
    Product,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Item => "item",
            Level::Batch => "batch",
            Level::Product => "product",
        }
    }
}

/// A warning of SPEC section 4.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    pub code: &'static str,
    pub message: String,
}

/// A lookup that found at least the product.
pub struct Found<'a> {
    pub level: Level,
    pub product: ProductRef<'a>,
    pub batch: Option<BatchRef<'a>>,
    pub item: Option<ItemRef<'a>>,
    pub warnings: Vec<Warning>,
    /// For a stamp scan, the candidate that matched.
    pub stamp: Option<&'a str>,
}

/// Resolves `scan` against `index`. `today` decides expiry.
///
/// Cost: one to three hash probes; allocation only for warnings.
pub fn resolve<'a, D: AsRef<[u8]>>(
    index: &'a Index<D>,
    scan: &Scan,
    today: Date,
) -> Option<Found<'a>> {
    match scan {
        Scan::Gs1(code) => resolve_gs1(index, code, today),
        Scan::Stamp(stamp) => stamp.candidates.iter().find_map(|candidate| {
            let item = index.item_by_stamp(candidate)?;
            let (product, batch) = index.parents(&item);
            let mut found = Found {
                level: Level::Item,
                product,
                batch,
                item: Some(item),
                warnings: Vec::new(),
                stamp: Some(item.stamp()?),
            };
            status_warnings(&mut found, None, today);
            Some(found)
        }),
    }
}

fn resolve_gs1<'a, D: AsRef<[u8]>>(
    index: &'a Index<D>,
    code: &Gs1Code,
    today: Date,
) -> Option<Found<'a>> {
    let product = index.product(code.gtin()?)?;
    let mut warnings = Vec::new();
    let item = code.serial().and_then(|serial| {
        let item = index.item(&product, serial);
        if item.is_none() && product.has_items() {
            warnings.push(Warning {
                code: "serial_not_registered",
                message: format!("Serial {serial} is not registered for this product: the code may be counterfeit."),
            });
        }
        item
    });
    let item_batch = item.as_ref().and_then(|i| index.parents(i).1);
    let batch = match (item_batch, code.lot()) {
        (Some(registered), Some(lot)) if registered.lot() != lot => {
            warnings.push(Warning {
                code: "lot_mismatch",
                message: format!(
                    "The scanned lot {lot} differs from lot {} registered for this item: the label may have been tampered with.",
                    registered.lot()
                ),
            });
            Some(registered)
        }
        (Some(registered), _) => Some(registered),
        (None, Some(lot)) => {
            let batch = index.batch(&product, lot);
            if batch.is_none() && product.has_batches() {
                warnings.push(Warning {
                    code: "lot_not_registered",
                    message: format!(
                        "Lot {lot} is not registered for this product: the code may be counterfeit."
                    ),
                });
            }
            batch
        }
        (None, None) => None,
    };
    let level = if item.is_some() {
        Level::Item
    } else if batch.is_some() {
        Level::Batch
    } else {
        Level::Product
    };
    let mut found = Found {
        level,
        product,
        batch,
        item,
        warnings,
        stamp: None,
    };
    let scanned_expiry = code.expiry().map(|e| {
        let (year, month, day) = e.resolve(today.year);
        Date { year, month, day }
    });
    status_warnings(&mut found, scanned_expiry, today);
    Some(found)
}

/// Recall, withdrawal, void and expiry: what the records themselves say. Each
/// warning code appears once; the product's own status comes first.
fn status_warnings(found: &mut Found<'_>, scanned_expiry: Option<Date>, today: Date) {
    let mut add = |code: &'static str, message: String| {
        if !found.warnings.iter().any(|w| w.code == code) {
            found.warnings.push(Warning { code, message });
        }
    };
    if let Some((code, message)) = status_warning(
        found.product.status(),
        "This product",
        found.product.recall_notice(),
    ) {
        add(code, message);
    }
    if let Some(batch) = &found.batch {
        if let Some((code, message)) = status_warning(
            batch.status(),
            &format!("Lot {}", batch.lot()),
            batch.recall_notice(),
        ) {
            add(code, message);
        }
    }
    if found.item.is_some_and(|i| i.is_void()) {
        add(
            "void_item",
            "This item's stamp has been voided: do not accept it as genuine.".into(),
        );
    }
    let registered = found.batch.and_then(|b| b.expiry());
    let expired = [
        (registered, "registered for lot"),
        (scanned_expiry, "printed on the code"),
    ]
    .into_iter()
    .filter_map(|(d, how)| d.filter(|d| *d < today).map(|d| (d, how)))
    .min();
    if let Some((date, how)) = expired {
        let lot = if how == "registered for lot" {
            found
                .batch
                .map(|b| format!(" {}", b.lot()))
                .unwrap_or_default()
        } else {
            String::new()
        };
        add(
            "expired",
            format!("Expired on {date} (expiry date {how}{lot})."),
        );
    }
}

/// The warning a recalled or withdrawn product or batch gives, with its notice.
fn status_warning(
    status: Status,
    subject: &str,
    notice: Option<&str>,
) -> Option<(&'static str, String)> {
    let notice = notice.map(|n| format!(" {n}")).unwrap_or_default();
    match status {
        Status::Recalled => Some(("recalled", format!("{subject} has been recalled.{notice}"))),
        Status::Withdrawn => Some((
            "withdrawn",
            format!("{subject} has been withdrawn from sale.{notice}"),
        )),
        Status::Active => None,
    }
}
