//! Status changes shared through a Redis stream.
//!
//! The stream is the fleet's order of changes: a replica reads it whole when
//! it connects (at start, and after every loss of Redis, so that nothing set
//! meanwhile is missed), then waits on it for what comes next, and brings its
//! own overlay to what the stream says
//! ([`crate::live::overlay::Overlay::sync_to`]). In a fleet, changes set
//! anywhere reach a replica's overlay only this way, so every replica applies
//! them in the same order: a change set through the admin API is added to the
//! stream, and its answer waits until this thread has applied it here
//! ([`super::Fleet::wait_applied`]). Retirement stays each replica's own: a
//! replica whose index carries a change retires it, one still serving an
//! older index keeps it in force.
//!
//! When the stream does not exist yet, the first replica to connect seeds it
//! with the changes in force in its own log: turning `--redis` on for a
//! running service lifts no recall.

use std::sync::atomic::Ordering;

use redis::Connection;

use super::{BLOCK_MS, Fleet, backoff};
use crate::date::unix_ms;
use crate::live::overlay::{Changes, Shared};
use crate::service::Service;

/// Entries read from the stream at a time.
const PAGE: usize = 1000;

/// One entry of the stream: its id and its fields, name then value.
type Entry = (String, Vec<String>);

/// Follows the stream until the fleet closes (a thread of its own).
pub fn follow(fleet: &Fleet, service: &Service) {
    let mut failures = 0;
    while !fleet.closed() {
        match follow_once(fleet, service, &mut failures) {
            Ok(()) => return,
            Err(e) => {
                fleet.failed(0);
                if failures == 0 {
                    tracing::warn!(
                        "Redis {}: {e}; serving the {} status change(s) last known until it is back",
                        fleet.url,
                        service.overlay.load().len()
                    );
                }
                failures += 1;
                backoff(fleet, failures);
            }
        }
    }
}

/// One connection's worth: reads the stream whole, then what is added,
/// until the fleet closes (`Ok`) or Redis fails.
fn follow_once(fleet: &Fleet, service: &Service, failures: &mut u32) -> redis::RedisResult<()> {
    let wait = std::time::Duration::from_millis(BLOCK_MS) + fleet.timeout;
    let mut con = fleet.connect(wait)?;
    let (mut wanted, mut last) = read_all(fleet, &mut con)?;
    if last.is_none() {
        last = seed(fleet, service, &mut con, &mut wanted)?;
    }
    if *failures > 0 {
        tracing::info!(
            "Redis {} is back: reading the status changes again",
            fleet.url
        );
    }
    *failures = 0;
    let mut last = last.unwrap_or_else(|| "0-0".to_owned());
    let mut in_step = apply(fleet, service, &wanted, &last);
    read_up_to_end(fleet);
    while !fleet.closed() {
        let read: Option<Vec<(String, Vec<Entry>)>> = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(PAGE)
            .arg("BLOCK")
            .arg(BLOCK_MS)
            .arg("STREAMS")
            .arg(&fleet.keys.changes)
            .arg(&last)
            .query(&mut con)?;
        let entries: Vec<Entry> = read.into_iter().flatten().flat_map(|(_, e)| e).collect();
        let news = !entries.is_empty();
        if let Some((id, _)) = entries.last() {
            last = id.clone();
        }
        take(fleet, &mut wanted, entries);
        // A change the local log refused is tried again with the next read.
        if news || !in_step {
            in_step = apply(fleet, service, &wanted, &last);
        }
        read_up_to_end(fleet);
    }
    Ok(())
}

/// The stream read whole: the changes it puts in force, and the id of its
/// last entry (`None` when it is empty or does not exist).
fn read_all(fleet: &Fleet, con: &mut Connection) -> redis::RedisResult<(Changes, Option<String>)> {
    let mut wanted = Changes::default();
    let mut last: Option<String> = None;
    loop {
        // `(id` starts after an id (Redis 6.2 and later).
        let from = last
            .as_ref()
            .map_or_else(|| "-".to_owned(), |id| format!("({id}"));
        let page: Vec<Entry> = redis::cmd("XRANGE")
            .arg(&fleet.keys.changes)
            .arg(from)
            .arg("+")
            .arg("COUNT")
            .arg(PAGE)
            .query(con)?;
        let full = page.len() == PAGE;
        if let Some((id, _)) = page.last() {
            last = Some(id.clone());
        }
        take(fleet, &mut wanted, page);
        if !full {
            return Ok((wanted, last));
        }
    }
}

/// Applies stream entries to `wanted`, in order. An entry that is not a
/// change (written by something else) is reported and skipped: it cannot
/// be applied, and skipping it is what every replica does alike.
fn take(fleet: &Fleet, wanted: &mut Changes, entries: Vec<Entry>) {
    for (id, fields) in entries {
        fleet.stats.changes_read.fetch_add(1, Ordering::Relaxed);
        let text = fields
            .chunks_exact(2)
            .find(|pair| pair[0] == "change")
            .map(|pair| pair[1].as_str());
        match text
            .ok_or_else(|| "no field `change`".to_owned())
            .and_then(Shared::parse)
        {
            Ok(shared) => wanted.apply(&shared),
            Err(e) => {
                fleet.stats.bad_changes.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    "Redis {} entry {id} of {}: not a status change, skipped: {e}",
                    fleet.url,
                    fleet.keys.changes
                );
            }
        }
    }
}

/// Seeds an empty stream with the changes in force here; returns the id of
/// the last entry added.
fn seed(
    fleet: &Fleet,
    service: &Service,
    con: &mut Connection,
    wanted: &mut Changes,
) -> redis::RedisResult<Option<String>> {
    let local = service.overlay.load();
    let mut last = None;
    for change in local.iter() {
        let shared = Shared::Set(change.clone());
        let id = fleet.add_change(con, &shared)?;
        wanted.apply(&shared);
        last = Some(id);
    }
    if last.is_some() {
        tracing::info!(
            "Redis {}: {} held no status change; seeded it with the {} in force here",
            fleet.url,
            fleet.keys.changes,
            local.len()
        );
    }
    Ok(last)
}

/// Brings the overlay here to `wanted`, the stream up to entry `last`;
/// whether it now is.
fn apply(fleet: &Fleet, service: &Service, wanted: &Changes, last: &str) -> bool {
    let current = service.current();
    let index = current.as_ref().map(|generation| &generation.index);
    match service.overlay.sync_to(wanted, index) {
        Ok(made) => {
            if made > 0 {
                tracing::info!("overlay: {made} change(s) taken from the fleet");
            }
            fleet.applied_up_to(last);
            fleet.stats.synced.store(true, Ordering::Relaxed);
            true
        }
        Err(e) => {
            tracing::error!("overlay: the fleet's changes could not be applied here: {e}");
            false
        }
    }
}

/// The stream was just read to its end.
fn read_up_to_end(fleet: &Fleet) {
    fleet.stats.up.store(true, Ordering::Relaxed);
    fleet
        .stats
        .changes_read_ms
        .store(unix_ms(), Ordering::Relaxed);
}
