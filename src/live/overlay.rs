//! Urgent status changes on top of the immutable index: a product or batch
//! recalled or withdrawn, an item voided, before the next nightly snapshot
//! can carry it.
//!
//! A change is appended to the overlay log and synced before it is
//! acknowledged; readers see an immutable set of changes swapped whole
//! (arc-swap), so a lookup never waits for a writer and the change applies to
//! the very next lookup. Changes are rare, so each one copies the set.
//!
//! Retirement: when a newly served index carries, for a changed key, the same
//! status as the change, the change is retired (logged as such) and the
//! snapshot's own record speaks from then on. A change the new snapshot does
//! not agree with stays in force, however new the snapshot: an urgent recall
//! is only ever lifted by an explicit undo or by the snapshot catching up.

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};

use super::journal::Journal;
use super::{KeyHasher, KeyKind, key};
use crate::code::Gtin;
use crate::date::{rfc3339_utc, unix_now};
use crate::index::Index;
use crate::snapshot::record::Status;

/// What a change targets.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    Product(Gtin),
    Batch(Gtin, String),
    Item(Gtin, String),
}

impl Target {
    /// The target a GTIN names with a lot (a batch), a serial (an item) or
    /// neither (the product); `None` when given both.
    pub fn of(gtin: Gtin, lot: Option<&str>, serial: Option<&str>) -> Option<Target> {
        match (lot, serial) {
            (None, None) => Some(Target::Product(gtin)),
            (Some(lot), None) => Some(Target::Batch(gtin, lot.to_owned())),
            (None, Some(serial)) => Some(Target::Item(gtin, serial.to_owned())),
            (Some(_), Some(_)) => None,
        }
    }

    /// The GTIN, the lot of a batch and the serial of an item: what
    /// [`Target::of`] takes back.
    pub fn parts(&self) -> (Gtin, Option<&str>, Option<&str>) {
        match self {
            Target::Product(g) => (*g, None, None),
            Target::Batch(g, lot) => (*g, Some(lot), None),
            Target::Item(g, serial) => (*g, None, Some(serial)),
        }
    }

    fn key(&self) -> u128 {
        match self {
            Target::Product(g) => key(KeyKind::Product, *g, ""),
            Target::Batch(g, lot) => key(KeyKind::Batch, *g, lot),
            Target::Item(g, serial) => key(KeyKind::Item, *g, serial),
        }
    }

    /// The target in words, for messages.
    pub fn describe(&self) -> String {
        match self {
            Target::Product(g) => format!("product {g}"),
            Target::Batch(g, lot) => format!("batch {g} lot {lot}"),
            Target::Item(g, serial) => format!("item {g} serial {serial}"),
        }
    }
}

/// The status a change sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NewStatus {
    Active,
    Recalled,
    Withdrawn,
    /// Items only.
    Void,
}

impl NewStatus {
    pub fn as_str(self) -> &'static str {
        self.as_status().map_or("void", Status::as_str)
    }

    /// The product or batch status this sets, `None` for `void`.
    pub fn as_status(self) -> Option<Status> {
        match self {
            NewStatus::Active => Some(Status::Active),
            NewStatus::Recalled => Some(Status::Recalled),
            NewStatus::Withdrawn => Some(Status::Withdrawn),
            NewStatus::Void => None,
        }
    }
}

/// One change in force.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub target: Target,
    pub status: NewStatus,
    /// The notice consumers see with a recall or withdrawal.
    pub notice: Option<String>,
    /// When it was made, Unix seconds.
    pub at: i64,
}

/// One line of the overlay log.
#[derive(Serialize, Deserialize)]
struct Record {
    op: Op,
    gtin: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lot: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    serial: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<NewStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    notice: Option<String>,
    at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    snapshot: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Op {
    Set,
    Undo,
    /// A newer snapshot carries the change.
    Retire,
}

/// The changes in force at one moment: what a lookup reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    by_key: HashMap<u128, Change, KeyHasher>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Cost: nothing when no change is in force, one hash probe otherwise.
    pub fn product(&self, gtin: Gtin) -> Option<&Change> {
        self.get(KeyKind::Product, gtin, "")
    }

    pub fn batch(&self, gtin: Gtin, lot: &str) -> Option<&Change> {
        self.get(KeyKind::Batch, gtin, lot)
    }

    pub fn item(&self, gtin: Gtin, serial: &str) -> Option<&Change> {
        self.get(KeyKind::Item, gtin, serial)
    }

    fn get(&self, kind: KeyKind, gtin: Gtin, id: &str) -> Option<&Change> {
        if self.by_key.is_empty() {
            return None;
        }
        self.by_key.get(&key(kind, gtin, id))
    }

    /// Every change, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Change> {
        let mut all: Vec<&Change> = self.by_key.values().collect();
        all.sort_by_key(|c| (c.at, c.target.describe()));
        all.into_iter()
    }
}

/// Why a change was refused.
#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    #[error("{0}")]
    Invalid(String),
    #[error("no change is in force for {0}")]
    NoChange(String),
    #[error("the overlay needs a state directory: start serve with --state-dir or --index-dir")]
    NotDurable,
    #[error("writing the overlay log: {0}")]
    Io(#[from] io::Error),
}

/// The overlay: the changes in force and the log that keeps them.
pub struct Overlay {
    current: ArcSwap<Changes>,
    /// `None` when serving without a state directory: the overlay then
    /// refuses changes, since it could not keep them.
    log: Mutex<Option<Journal>>,
    pub changes_total: AtomicU64,
    pub retired_total: AtomicU64,
    /// Changes refused because the log could not take them.
    pub write_errors: AtomicU64,
    /// Since when writes to the log fail, Unix seconds; 0 while they succeed.
    pub failing_since: AtomicU64,
}

impl Overlay {
    /// An overlay that keeps nothing and accepts no change.
    pub fn in_memory() -> Overlay {
        Overlay::with(Changes::default(), None)
    }

    fn with(changes: Changes, log: Option<Journal>) -> Overlay {
        Overlay {
            current: ArcSwap::from_pointee(changes),
            log: Mutex::new(log),
            changes_total: AtomicU64::new(0),
            retired_total: AtomicU64::new(0),
            write_errors: AtomicU64::new(0),
            failing_since: AtomicU64::new(0),
        }
    }

    /// Opens the overlay log at `path` and replays it. A half-written last
    /// line (never acknowledged) is cut off; any other bad line is an error
    /// naming it, since skipping it could silently lift a recall.
    pub fn open(path: &Path) -> io::Result<Overlay> {
        let (mut log, replayed) = Journal::open(path)?;
        if replayed.torn > 0 {
            tracing::warn!(
                "{}: cut off a half-written last line ({} bytes, never acknowledged)",
                path.display(),
                replayed.torn
            );
        }
        let mut changes = Changes::default();
        for (i, line) in replayed.lines.iter().enumerate() {
            let bad = |detail: String| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} line {}: {detail}", path.display(), i + 1),
                )
            };
            let record: Record = serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
            let change = record.to_change().map_err(bad)?;
            match record.op {
                Op::Set => {
                    changes.by_key.insert(change.target.key(), change);
                }
                Op::Undo | Op::Retire => {
                    changes.by_key.remove(&change.target.key());
                }
            }
        }
        // Rewrite a log that is mostly history: one line per change in force.
        if log.lines() > 2 * changes.len() as u64 + 64 {
            log.replace(&changes.as_log())?;
        }
        tracing::info!(
            "{}: {} overlay change(s) in force",
            path.display(),
            changes.len()
        );
        Ok(Overlay::with(changes, Some(log)))
    }

    /// Whether changes are kept in a log (and so accepted).
    pub fn is_durable(&self) -> bool {
        self.log.lock().map_or(true, |l| l.is_some())
    }

    /// The changes in force now. Cost: an atomic load.
    pub fn load(&self) -> arc_swap::Guard<Arc<Changes>> {
        self.current.load()
    }

    /// Puts `change` in force once it is durable; it replaces any change of
    /// the same target. The very change in force already is no change.
    pub fn set(&self, change: Change) -> Result<(), OverlayError> {
        Overlay::check(&change)?;
        self.write(Op::Set, &change, None, |changes| {
            changes.by_key.insert(change.target.key(), change.clone());
        })?;
        self.changes_total.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Refuses a change no lookup could apply: a status its target cannot
    /// have, an overlong notice.
    pub fn check(change: &Change) -> Result<(), OverlayError> {
        match (&change.target, change.status) {
            (Target::Item(..), NewStatus::Active | NewStatus::Void) => {}
            (Target::Item(..), s) => {
                return Err(OverlayError::Invalid(format!(
                    "an item can be set to active or void, not {}",
                    s.as_str()
                )));
            }
            (_, NewStatus::Void) => {
                return Err(OverlayError::Invalid(
                    "only an item can be void; a product or batch is recalled or withdrawn".into(),
                ));
            }
            _ => {}
        }
        if change.notice.as_ref().is_some_and(|n| n.len() > 2000) {
            return Err(OverlayError::Invalid(
                "the notice is longer than 2000 bytes".into(),
            ));
        }
        Ok(())
    }

    /// Lifts the change in force for `target`; returns it.
    pub fn undo(&self, target: &Target) -> Result<Change, OverlayError> {
        let current = self.load();
        let change = current
            .by_key
            .get(&target.key())
            .cloned()
            .ok_or_else(|| OverlayError::NoChange(target.describe()))?;
        self.write(Op::Undo, &change, None, |changes| {
            changes.by_key.remove(&target.key());
        })?;
        self.changes_total.fetch_add(1, Ordering::Relaxed);
        Ok(change)
    }

    /// Brings the changes in force here to `wanted` (a fleet's shared
    /// changes, `crate::fleet`): each wanted change not in force is set,
    /// each change in force that is not wanted is undone, and a wanted change
    /// that `index` carries itself stays retired. Returns how many changes
    /// were made.
    pub fn sync_to<D: AsRef<[u8]>>(
        &self,
        wanted: &Changes,
        index: Option<&Index<D>>,
    ) -> Result<usize, OverlayError> {
        let current = self.load();
        let mut made = 0;
        for change in wanted.iter() {
            let key = change.target.key();
            let in_force = current.by_key.get(&key);
            if let Some(index) = index.filter(|index| carries(index, change)) {
                if in_force.is_some() {
                    let snapshot = index.header().snapshot_id.as_str().to_owned();
                    self.write(Op::Retire, change, Some(&snapshot), |changes| {
                        changes.by_key.remove(&key);
                    })?;
                    self.retired_total.fetch_add(1, Ordering::Relaxed);
                    made += 1;
                }
            } else if in_force != Some(change) {
                self.set(change.clone())?;
                made += 1;
            }
        }
        for change in current.iter() {
            if !wanted.by_key.contains_key(&change.target.key()) {
                self.undo(&change.target)?;
                made += 1;
            }
        }
        Ok(made)
    }

    /// Retires every change that `index`, newly served, carries itself.
    /// Returns how many were retired.
    pub fn retire_carried<D: AsRef<[u8]>>(&self, index: &Index<D>) -> io::Result<usize> {
        let carried: Vec<Change> = self
            .load()
            .by_key
            .values()
            .filter(|c| carries(index, c))
            .cloned()
            .collect();
        let snapshot = index.header().snapshot_id.as_str().to_owned();
        for change in &carried {
            let key = change.target.key();
            let done = self.write(Op::Retire, change, Some(&snapshot), |changes| {
                changes.by_key.remove(&key);
            });
            match done {
                Ok(()) => {}
                Err(OverlayError::Io(e)) => return Err(e),
                // Without a log there is nothing in force to retire.
                Err(_) => return Ok(0),
            }
            tracing::info!(
                "overlay: retired {} {} (snapshot {snapshot} carries it)",
                change.status.as_str(),
                change.target.describe()
            );
            self.retired_total.fetch_add(1, Ordering::Relaxed);
        }
        Ok(carried.len())
    }

    /// Logs and syncs one record, then publishes the changes `apply` makes;
    /// a change the log cannot take is not put in force, and one that
    /// changes nothing (a fleet's change already applied) is not logged.
    /// The log's lock is held throughout, so changes apply in log order.
    fn write(
        &self,
        op: Op,
        change: &Change,
        snapshot: Option<&str>,
        apply: impl FnOnce(&mut Changes),
    ) -> Result<(), OverlayError> {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let log = log.as_mut().ok_or(OverlayError::NotDurable)?;
        let current = self.current.load();
        let mut next = Changes::clone(&current);
        apply(&mut next);
        if next == **current {
            return Ok(());
        }
        let written = if log.in_place() {
            log.append(&Record::of(op, change, snapshot).line())
                .and_then(|()| log.sync())
        } else {
            // The log was removed or replaced under us: an append would go
            // where no restart reads, so the changes in force are written
            // anew (a vanished directory fails here, and nothing changes).
            tracing::warn!(
                "{}: the overlay log was removed or replaced; writing the {} change(s) in force anew",
                log.path().display(),
                next.len()
            );
            log.replace(&next.as_log())
        };
        if let Err(e) = written {
            self.write_errors.fetch_add(1, Ordering::Relaxed);
            let _ = self.failing_since.compare_exchange(
                0,
                unix_now().max(1) as u64,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
            return Err(e.into());
        }
        self.failing_since.store(0, Ordering::Relaxed);
        self.current.store(Arc::new(next));
        Ok(())
    }
}

/// A change as a fleet shares it (`crate::fleet`), written as an overlay
/// log line is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shared {
    Set(Change),
    /// Lifts the change in force for the target.
    Undo(Change),
}

impl Shared {
    /// The change set, or the one lifted.
    pub fn change(self) -> Change {
        match self {
            Shared::Set(change) | Shared::Undo(change) => change,
        }
    }

    pub fn to_json(&self) -> String {
        let record = match self {
            Shared::Set(change) => Record::of(Op::Set, change, None),
            Shared::Undo(change) => Record::of(Op::Undo, change, None),
        };
        serde_json::to_string(&record).expect("a record serialises")
    }

    /// A shared change read back; a change no replica could put in force
    /// (a status its target cannot have, an overlong notice) is refused
    /// here, so that every replica skips it alike instead of stalling on it.
    pub fn parse(text: &str) -> Result<Shared, String> {
        let record: Record = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let change = record.to_change()?;
        match record.op {
            Op::Set => {
                Overlay::check(&change).map_err(|e| e.to_string())?;
                Ok(Shared::Set(change))
            }
            Op::Undo => Ok(Shared::Undo(change)),
            Op::Retire => {
                Err("a retirement is never shared: each replica retires for itself".into())
            }
        }
    }
}

impl Changes {
    /// Applies one shared change, as each replica does in the shared order.
    pub fn apply(&mut self, shared: &Shared) {
        match shared {
            Shared::Set(change) => {
                self.by_key.insert(change.target.key(), change.clone());
            }
            Shared::Undo(change) => {
                self.by_key.remove(&change.target.key());
            }
        }
    }

    /// The log of exactly these changes: one `set` line each.
    fn as_log(&self) -> Vec<u8> {
        let mut text = Vec::new();
        for change in self.iter() {
            text.extend_from_slice(&Record::of(Op::Set, change, None).line());
        }
        text
    }
}

/// Whether `index` carries `change` itself: the same status for its key.
fn carries<D: AsRef<[u8]>>(index: &Index<D>, change: &Change) -> bool {
    let Some(product) = index.product(change.target.parts().0) else {
        return false;
    };
    match &change.target {
        Target::Product(_) => change.status.as_status() == Some(product.status()),
        Target::Batch(_, lot) => index
            .batch(&product, lot)
            .is_some_and(|b| change.status.as_status() == Some(b.status())),
        Target::Item(_, serial) => index
            .item(&product, serial)
            .is_some_and(|i| i.is_void() == (change.status == NewStatus::Void)),
    }
}

impl Record {
    fn of(op: Op, change: &Change, snapshot: Option<&str>) -> Record {
        let (gtin, lot, serial) = change.target.parts();
        let set = op == Op::Set;
        Record {
            op,
            gtin: gtin.to_string(),
            lot: lot.map(str::to_owned),
            serial: serial.map(str::to_owned),
            status: Some(change.status),
            notice: change.notice.clone().filter(|_| set),
            at: rfc3339_utc(if set { change.at } else { unix_now() }),
            snapshot: snapshot.map(str::to_owned),
        }
    }

    fn line(&self) -> Vec<u8> {
        let mut line = serde_json::to_vec(self).expect("a record serialises");
        line.push(b'\n');
        line
    }

    fn to_change(&self) -> Result<Change, String> {
        let gtin = Gtin::parse(&self.gtin).map_err(|e| e.to_string())?;
        let target = Target::of(gtin, self.lot.as_deref(), self.serial.as_deref())
            .ok_or("both a lot and a serial")?;
        Ok(Change {
            target,
            status: self.status.ok_or("no status")?,
            notice: self.notice.clone(),
            at: crate::date::parse_rfc3339_utc(&self.at)
                .ok_or_else(|| format!("bad time {:?}", self.at))?,
        })
    }
}
