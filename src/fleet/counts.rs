//! Scan counts summed over a fleet.
//!
//! Each replica counts its own scans locally (`crate::live::scans`, on the
//! answer path) and sends Redis its own totals in batches, never increments:
//! a script keeps each replica's last total per item and adds only what is
//! new to the fleet's sum, so a batch sent twice (a reply lost, a restart
//! before the log caught up) never counts twice, and a replica that could
//! not reach Redis sends everything it counted meanwhile when it is back.
//! The script answers with the fleet's total and first scan, which the
//! replica shows from then on.
//!
//! A Redis that comes back empty (run without persistence, or its files
//! lost) is told apart by its epoch, a random key the first replica sets: a
//! replica that finds another epoch sends every count it has again.

use std::sync::atomic::Ordering;
use std::time::Duration;

use redis::{Connection, Script};

use super::{Fleet, backoff};
use crate::date::unix_ms;
use crate::live::scans::{Scans, Unpushed};

/// Items sent in one request.
const BATCH: usize = 1000;

/// KEYS: the fleet's sums, this replica's totals, the first scans.
/// ARGV: triples of item, this replica's total, its first scan.
/// Returns pairs of the fleet's total and first scan, in order.
const ADD_TOTALS: &str = r"
local out = {}
for i = 1, #ARGV, 3 do
  local item, mine = ARGV[i], tonumber(ARGV[i + 1])
  local before = tonumber(redis.call('HGET', KEYS[2], item) or '0')
  local total
  if mine > before then
    redis.call('HSET', KEYS[2], item, mine)
    total = redis.call('HINCRBY', KEYS[1], item, mine - before)
  else
    total = tonumber(redis.call('HGET', KEYS[1], item) or '0')
  end
  redis.call('HSETNX', KEYS[3], item, ARGV[i + 2])
  out[#out + 1] = total
  out[#out + 1] = tonumber(redis.call('HGET', KEYS[3], item))
end
return out
";

/// Pushes the counts every `interval` until the fleet closes (a thread of
/// its own). After a failure, waits out a backoff first.
pub fn push_every(fleet: &Fleet, scans: &Scans, interval: Duration) {
    let mut con: Option<Connection> = None;
    let mut failures = 0;
    while !fleet.closed() {
        std::thread::sleep(interval);
        let result = (|| {
            if con.is_none() {
                con = Some(fleet.connect(fleet.timeout)?);
            }
            let con = con.as_mut().expect("connected above");
            // Asked every round, even with nothing to send: a Redis that
            // came back empty is refilled at once.
            if fleet.lost_data(con)? {
                tracing::warn!(
                    "Redis {} no longer holds what this replica sent (it restarted empty): sending every scan count again",
                    fleet.url
                );
                scans.resend_all();
            }
            push(fleet, con, scans)
        })();
        match result {
            Ok(_) => {
                fleet.stats.up.store(true, Ordering::Relaxed);
                if failures > 0 {
                    tracing::info!("Redis {} is back: scan counts sent", fleet.url);
                }
                failures = 0;
            }
            Err(e) => {
                con = None;
                if failures == 0 {
                    tracing::warn!(
                        "Redis {}: {e}; scan counts are kept here until it is back",
                        fleet.url
                    );
                }
                failures += 1;
                backoff(fleet, failures);
            }
        }
    }
}

/// Sends every count ahead of what Redis has; returns how many items were
/// sent. Counts a failed request leaves unsent are kept for the next push.
pub fn push(
    fleet: &Fleet,
    con: &mut Connection,
    scans: &Scans,
) -> Result<usize, super::FleetError> {
    let script = Script::new(ADD_TOTALS);
    let mut sent = 0;
    loop {
        let batch = scans.take_unpushed(BATCH);
        if batch.is_empty() {
            break;
        }
        match add_totals(fleet, con, &script, &batch) {
            Ok(answers) => {
                for (item, (total, first_at)) in batch.iter().zip(answers) {
                    scans.pushed(item, total, first_at);
                }
                sent += batch.len();
                fleet
                    .stats
                    .counts_pushed
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
            Err(e) => {
                scans.push_failed(batch);
                fleet.failed(1);
                return Err(e.into());
            }
        }
    }
    if sent > 0 {
        fleet.stats.up.store(true, Ordering::Relaxed);
    }
    fleet
        .stats
        .counts_pushed_ms
        .store(unix_ms(), Ordering::Relaxed);
    Ok(sent)
}

fn add_totals(
    fleet: &Fleet,
    con: &mut Connection,
    script: &Script,
    batch: &[Unpushed],
) -> redis::RedisResult<Vec<(u64, i64)>> {
    let mut call = script.key(&fleet.keys.scans);
    call.key(&fleet.keys.mine).key(&fleet.keys.first);
    for item in batch {
        call.arg(format!("01/{}/21/{}", item.gtin, item.serial))
            .arg(item.count)
            .arg(item.first_at);
    }
    let flat: Vec<i64> = call.invoke(con)?;
    if flat.len() != 2 * batch.len() {
        return Err(redis::RedisError::from((
            redis::ErrorKind::UnexpectedReturnType,
            "the count script answered for another number of items",
        )));
    }
    Ok(flat
        .chunks_exact(2)
        .map(|pair| (pair[0].max(0) as u64, pair[1]))
        .collect())
}
