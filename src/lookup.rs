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

/// A warning of SPEC section 4, with what a renderer needs to word it: the
/// lookup decides, each renderer says it in its own words and language.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Warning {
    /// The product (`lot: None`) or a lot has been recalled.
    Recalled {
        lot: Option<String>,
        notice: Option<String>,
    },
    /// The product (`lot: None`) or a lot has been withdrawn from sale.
    Withdrawn {
        lot: Option<String>,
        notice: Option<String>,
    },
    /// The item's stamp has been voided.
    VoidItem,
    /// Past its expiry date: the one registered for `lot`, or (`lot: None`)
    /// the one printed on the code.
    Expired { date: Date, lot: Option<String> },
    /// The scanned serial is not registered for a product that has items.
    SerialNotRegistered { serial: String },
    /// The scanned lot is not registered for a product that has batches.
    LotNotRegistered { lot: String },
    /// The scanned lot differs from the item's registered lot.
    LotMismatch { scanned: String, registered: String },
    /// The item has been scanned more than the service's threshold.
    ScannedManyTimes { count: u64, since: i64 },
}

impl Warning {
    /// The warning's code in a JSON answer.
    pub fn code(&self) -> &'static str {
        match self {
            Warning::Recalled { .. } => "recalled",
            Warning::Withdrawn { .. } => "withdrawn",
            Warning::VoidItem => "void_item",
            Warning::Expired { .. } => "expired",
            Warning::SerialNotRegistered { .. } => "serial_not_registered",
            Warning::LotNotRegistered { .. } => "lot_not_registered",
            Warning::LotMismatch { .. } => "lot_mismatch",
            Warning::ScannedManyTimes { .. } => "scanned_many_times",
        }
    }

    /// Whether the warning says the item in hand may not be genuine (a
    /// counterfeit signal) or must not be consumed (a recall): what a page
    /// shows most prominently.
    pub fn is_grave(&self) -> bool {
        !matches!(self, Warning::Withdrawn { .. } | Warning::Expired { .. })
    }

    /// The English message of a JSON answer.
    pub fn message(&self) -> String {
        let subject = |lot: &Option<String>| match lot {
            Some(lot) => format!("Lot {lot}"),
            None => "This product".to_owned(),
        };
        let notice = |n: &Option<String>| n.as_ref().map(|n| format!(" {n}")).unwrap_or_default();
        match self {
            Warning::Recalled { lot, notice: n } => {
                format!("{} has been recalled.{}", subject(lot), notice(n))
            }
            Warning::Withdrawn { lot, notice: n } => {
                format!(
                    "{} has been withdrawn from sale.{}",
                    subject(lot),
                    notice(n)
                )
            }
            Warning::VoidItem => {
                "This item's stamp has been voided: do not accept it as genuine.".to_owned()
            }
            Warning::Expired {
                date,
                lot: Some(lot),
            } => format!("Expired on {date} (expiry date registered for lot {lot})."),
            Warning::Expired { date, lot: None } => {
                format!("Expired on {date} (expiry date printed on the code).")
            }
            Warning::SerialNotRegistered { serial } => format!(
                "Serial {serial} is not registered for this product: the code may be counterfeit."
            ),
            Warning::LotNotRegistered { lot } => format!(
                "Lot {lot} is not registered for this product: the code may be counterfeit."
            ),
            Warning::LotMismatch {
                scanned,
                registered,
            } => format!(
                "The scanned lot {scanned} differs from lot {registered} registered for this item: the label may have been tampered with."
            ),
            Warning::ScannedManyTimes { count, since } => format!(
                "This stamp has been scanned {count} times since {}: a genuine item is rarely scanned this often, the code may have been copied.",
                rfc3339_utc(*since)
            ),
        }
    }
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
    let gtin = code.gtin()?;
    if let Some(serial) = code.serial() {
        index.prefetch_item(gtin, serial);
    }
    let product = index.product(gtin)?;
    let mut warnings = Vec::new();
    let item = code.serial().and_then(|serial| {
        let item = index.item(&product, serial);
        if item.is_none() && product.has_items() {
            warnings.push(Warning::SerialNotRegistered {
                serial: serial.to_owned(),
            });
        }
        item
    });
    let item_batch = item.as_ref().and_then(|i| index.parents(i).1);
    let batch = match (item_batch, code.lot()) {
        (Some(registered), Some(lot)) if registered.lot() != lot => {
            warnings.push(Warning::LotMismatch {
                scanned: lot.to_owned(),
                registered: registered.lot().to_owned(),
            });
            Some(registered)
        }
        (Some(registered), _) => Some(registered),
        (None, Some(lot)) => {
            let batch = index.batch(&product, lot);
            if batch.is_none() && product.has_batches() {
                warnings.push(Warning::LotNotRegistered {
                    lot: lot.to_owned(),
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
        found.warnings.push(Warning::ScannedManyTimes {
            count: seen.count,
            since: seen.first_at,
        });
    }
}

/// Recall, withdrawal, void and expiry: what the records and the changes in
/// force say. Each warning code appears once; the product's status comes first.
fn status_warnings(found: &mut Found<'_>, scanned_expiry: Option<Date>, today: Date) {
    let (product_status, product_notice) = found.product_status();
    let batch = found.batch.zip(found.batch_status());
    let void = found.item_void();
    let mut add = |warning: Warning| {
        if !found.warnings.iter().any(|w| w.code() == warning.code()) {
            found.warnings.push(warning);
        }
    };
    if let Some(w) = status_warning(product_status, None, product_notice) {
        add(w);
    }
    if let Some((b, (status, notice))) = batch {
        if let Some(w) = status_warning(status, Some(b.lot()), notice) {
            add(w);
        }
    }
    if void {
        add(Warning::VoidItem);
    }
    // The earlier of the registered and the printed expiry dates, when past;
    // on a tie the registered one, which names its lot.
    let registered = batch.and_then(|(b, _)| Some((b.expiry()?, Some(b.lot()))));
    let printed = scanned_expiry.map(|d| (d, None));
    let expired = [registered, printed]
        .into_iter()
        .flatten()
        .filter(|(d, _)| *d < today)
        .min_by_key(|(d, _)| *d);
    if let Some((date, lot)) = expired {
        add(Warning::Expired {
            date,
            lot: lot.map(str::to_owned),
        });
    }
}

/// The warning a recalled or withdrawn product (`lot: None`) or lot gives,
/// with its notice.
fn status_warning(status: Status, lot: Option<&str>, notice: Option<&str>) -> Option<Warning> {
    let (lot, notice) = (lot.map(str::to_owned), notice.map(str::to_owned));
    match status {
        Status::Recalled => Some(Warning::Recalled { lot, notice }),
        Status::Withdrawn => Some(Warning::Withdrawn { lot, notice }),
        Status::Active => None,
    }
}
