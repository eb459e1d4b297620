//! From a parsed scan to what the index knows: the record at each level, the
//! status changes in force on top of it, the item's scan count, and every
//! warning a consumer must see. No I/O, no rendering: this module is the one
//! place warnings are made.

use crate::code::{Gs1Code, Scan};
use crate::date::{Date, rfc3339_utc};
use crate::index::{BatchRef, Index, ItemRef, ProductRef};
use crate::live::Context;
use crate::live::overlay::{Change, Changes, NewStatus};
use crate::live::scans::Seen;
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
    /// Status changes in force for the product, batch and item found.
    pub product_change: Option<&'a Change>,
    pub batch_change: Option<&'a Change>,
    pub item_change: Option<&'a Change>,
    /// The item's scan count, this scan included, once [`count`] has counted it.
    pub seen: Option<Seen>,
}

impl<'a> Found<'a> {
    /// The product's status and notice, a change in force first.
    pub fn product_status(&self) -> (Status, Option<&'a str>) {
        effective(
            self.product_change,
            self.product.status(),
            self.product.recall_notice(),
        )
    }

    /// The batch's status and notice, a change in force first.
    pub fn batch_status(&self) -> Option<(Status, Option<&'a str>)> {
        let batch = self.batch?;
        Some(effective(
            self.batch_change,
            batch.status(),
            batch.recall_notice(),
        ))
    }

    /// Whether the item is void, a change in force first.
    pub fn item_void(&self) -> bool {
        match (self.item_change, &self.item) {
            (Some(change), _) => change.status == NewStatus::Void,
            (None, Some(item)) => item.is_void(),
            (None, None) => false,
        }
    }

    fn with_changes(mut self, changes: &'a Changes) -> Found<'a> {
        let gtin = self.product.gtin();
        self.product_change = changes.product(gtin);
        self.batch_change = self.batch.and_then(|b| changes.batch(gtin, b.lot()));
        self.item_change = self.item.and_then(|i| changes.item(gtin, i.serial()));
        self
    }
}

/// A record's status under a change: the change's notice replaces the
/// record's, and lifting a recall (`active`) drops the notice.
fn effective<'a>(
    change: Option<&'a Change>,
    status: Status,
    notice: Option<&'a str>,
) -> (Status, Option<&'a str>) {
    match change.and_then(|c| Some((c.status.as_status()?, c.notice.as_deref()))) {
        Some((Status::Active, _)) => (Status::Active, None),
        Some(changed) => changed,
        None => (status, notice),
    }
}

/// Resolves `scan` against `index` under the status changes in force in
/// `live`; its `today` decides expiry. Counts nothing: see [`count`].
///
/// Cost: one to three hash probes, as many more when changes are in force;
/// allocation only for warnings.
pub fn resolve<'a, D: AsRef<[u8]>>(
    index: &'a Index<D>,
    scan: &Scan,
    live: &Context<'a>,
) -> Option<Found<'a>> {
    let (today, changes) = (live.today, live.changes);
    match scan {
        Scan::Gs1(code) => resolve_gs1(index, code, today, changes),
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
                product_change: None,
                batch_change: None,
                item_change: None,
                seen: None,
            }
            .with_changes(changes);
            status_warnings(&mut found, None, today);
            Some(found)
        }),
    }
}

fn resolve_gs1<'a, D: AsRef<[u8]>>(
    index: &'a Index<D>,
    code: &Gs1Code,
    today: Date,
    changes: &'a Changes,
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
        product_change: None,
        batch_change: None,
        item_change: None,
        seen: None,
    }
    .with_changes(changes);
    let scanned_expiry = code.expiry().map(|e| {
        let (year, month, day) = e.resolve(today.year);
        Date { year, month, day }
    });
    status_warnings(&mut found, scanned_expiry, today);
    Some(found)
}

/// Counts the scan of the item found, where `live` counts scans, and warns
/// `scanned_many_times` past its threshold. A product or batch answer counts
/// nothing: only a serialized item has a life to compare with.
///
/// Cost: one sharded map update.
pub fn count(found: &mut Found<'_>, live: &Context<'_>) {
    let (Some(scans), Some(item)) = (live.scans, &found.item) else {
        return;
    };
    let seen = scans.count(found.product.gtin(), item.serial(), live.now, live.client);
    found.seen = Some(seen);
    if seen.count > live.warn_above {
        found.warnings.push(Warning {
            code: "scanned_many_times",
            message: format!(
                "This stamp has been scanned {} times since {}: a genuine item is rarely scanned this often, the code may have been copied.",
                seen.count,
                rfc3339_utc(seen.first_at)
            ),
        });
    }
}

/// Recall, withdrawal, void and expiry: what the records and the changes in
/// force say. Each warning code appears once; the product's status comes first.
fn status_warnings(found: &mut Found<'_>, scanned_expiry: Option<Date>, today: Date) {
    let (product_status, product_notice) = found.product_status();
    let batch_status = found.batch_status();
    let void = found.item_void();
    let mut add = |code: &'static str, message: String| {
        if !found.warnings.iter().any(|w| w.code == code) {
            found.warnings.push(Warning { code, message });
        }
    };
    if let Some((code, message)) = status_warning(product_status, "This product", product_notice) {
        add(code, message);
    }
    if let (Some(batch), Some((status, notice))) = (found.batch, batch_status) {
        if let Some((code, message)) =
            status_warning(status, &format!("Lot {}", batch.lot()), notice)
        {
            add(code, message);
        }
    }
    if void {
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
