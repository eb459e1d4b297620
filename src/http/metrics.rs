//! `/metrics`: counters of the swaps, the overlay, the scan counts and, with
//! `--follow`, of following an object store, and with `--redis`, of the
//! fleet's shared state, in the Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;
use hyper::header::{self, HeaderValue};

use crate::date::unix_ms;
use crate::fleet::{ERROR_KINDS, Fleet};
use crate::service::{FOLLOW_ERROR_REASONS, FollowStats, Service};

/// Counters of the swaps, the overlay and the scan counts, in the Prometheus
/// text format.
pub fn render(service: &Service) -> Response<Full<Bytes>> {
    let generation = service.current().as_ref().map_or(0, |g| g.number);
    let overlay = &service.overlay;
    let scans = &service.scans.stats;
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let rows = [
        (
            "tracescan_generation",
            "gauge",
            "The index generation being served (0: none yet).",
            generation,
        ),
        (
            "tracescan_live_generations",
            "gauge",
            "Index generations still mapped.",
            service.mapped_generations(),
        ),
        (
            "tracescan_index_locked_bytes",
            "gauge",
            "Bytes of the served index locked in memory (0: left to the page cache).",
            service
                .current()
                .as_ref()
                .filter(|g| g.locked)
                .map_or(0, |g| g.index.file_len()),
        ),
        (
            "tracescan_swaps_total",
            "counter",
            "Indexes swapped in.",
            load(&service.swaps),
        ),
        (
            "tracescan_refused_total",
            "counter",
            "Indexes refused because they failed verification.",
            load(&service.refused),
        ),
        (
            "tracescan_retention_errors_total",
            "counter",
            "Published index files that retention could not remove.",
            load(&service.retention_errors),
        ),
        (
            "tracescan_overlay_entries",
            "gauge",
            "Status changes in force.",
            overlay.load().len() as u64,
        ),
        (
            "tracescan_overlay_changes_total",
            "counter",
            "Status changes set or undone through the admin API.",
            load(&overlay.changes_total),
        ),
        (
            "tracescan_overlay_retired_total",
            "counter",
            "Status changes retired because a newer index carries them.",
            load(&overlay.retired_total),
        ),
        (
            "tracescan_overlay_write_errors_total",
            "counter",
            "Status changes refused because the overlay log could not take them.",
            load(&overlay.write_errors),
        ),
        (
            "tracescan_overlay_log_failing_since_timestamp_seconds",
            "gauge",
            "Since when writing the overlay log fails, Unix seconds; 0 while it works (changes are refused meanwhile).",
            load(&overlay.failing_since),
        ),
        (
            "tracescan_scans_total",
            "counter",
            "Item scans counted.",
            load(&scans.scans),
        ),
        (
            "tracescan_scan_repeats_total",
            "counter",
            "Item scans not counted: the same client scanned the same item within the repeat window.",
            load(&scans.repeats),
        ),
        (
            "tracescan_scanned_items",
            "gauge",
            "Items with a scan count.",
            service.scans.items() as u64,
        ),
        (
            "tracescan_scan_count_room_items",
            "gauge",
            "Items the scan-count map was sized for (--scan-count-room); past it, the map grows, rehashing on the worker.",
            service.scans.room() as u64,
        ),
        (
            "tracescan_scan_flushes_total",
            "counter",
            "Scan-count flushes written and synced.",
            load(&scans.flushes),
        ),
        (
            "tracescan_scan_flush_errors_total",
            "counter",
            "Scan-count flushes that failed.",
            load(&scans.flush_errors),
        ),
        (
            "tracescan_scan_unflushed_items",
            "gauge",
            "Items whose scan count is ahead of the scan log (lost if the process died now).",
            service.scans.unflushed() as u64,
        ),
        (
            "tracescan_scan_last_flush_timestamp_seconds",
            "gauge",
            "When the scan log last took every count (or the server started), Unix seconds.",
            load(&scans.last_flush_ms) / 1000,
        ),
        (
            "tracescan_scan_log_failing_since_timestamp_seconds",
            "gauge",
            "Since when writing the scan log fails, Unix seconds; 0 while it works (counts are kept in memory meanwhile).",
            load(&scans.failing_since_ms) / 1000,
        ),
        (
            "tracescan_scan_compactions_total",
            "counter",
            "Scan-log compactions.",
            load(&scans.compactions),
        ),
        (
            "tracescan_scan_log_bytes",
            "gauge",
            "Bytes in the scan log.",
            load(&scans.log_bytes),
        ),
        (
            "tracescan_overlay_durable",
            "gauge",
            "1 when status changes are kept in a log, 0 when refused.",
            u64::from(overlay.is_durable()),
        ),
    ];
    let mut text = String::with_capacity(4096);
    write_rows(&mut text, &rows);
    if service.follow.enabled.load(Ordering::Relaxed) {
        follow_rows(&mut text, &service.follow);
    }
    if let Some(fleet) = service.fleet.get() {
        fleet_rows(&mut text, fleet, service.scans.unpushed() as u64);
    }
    let mut resp = Response::new(Full::new(Bytes::from(text)));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

/// The counters of following an object store: polls, downloads, failures
/// by reason, and the times of the last success and of the pointer.
fn follow_rows(text: &mut String, follow: &FollowStats) {
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let rows = [
        (
            "tracescan_follow_polls_total",
            "counter",
            "Polls of the object store's pointer.",
            load(&follow.polls),
        ),
        (
            "tracescan_follow_downloads_total",
            "counter",
            "Indexes downloaded from the object store, checked and published into the index directory.",
            load(&follow.downloads),
        ),
        (
            "tracescan_follow_downloaded_bytes_total",
            "counter",
            "Bytes of the indexes downloaded.",
            load(&follow.downloaded_bytes),
        ),
        (
            "tracescan_follow_last_success_timestamp_seconds",
            "gauge",
            "When a poll last succeeded (pointer read, its index in the directory), Unix seconds; 0 before the first.",
            load(&follow.last_success),
        ),
        (
            "tracescan_follow_pointer_published_timestamp_seconds",
            "gauge",
            "When the index the pointer names was published (the pointer's published_at), Unix seconds.",
            load(&follow.pointer_published),
        ),
    ];
    write_rows(text, &rows);
    write_labelled(
        text,
        "tracescan_follow_errors_total",
        "Polls and downloads refused, by reason; each is retried later.",
        "reason",
        FOLLOW_ERROR_REASONS.iter().zip(&follow.errors),
    );
}

/// The fleet's shared state: whether Redis answers, how far behind this
/// replica may be, and what failed.
fn fleet_rows(text: &mut String, fleet: &Fleet, unpushed: u64) {
    let stats = &fleet.stats;
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let now = unix_ms();
    let age = |since: u64| match since {
        0 => -1.0,
        since => now.saturating_sub(since) as f64 / 1000.0,
    };
    // With nothing unsent, the shared counts are as current as this replica.
    let counts_lag = if unpushed == 0 {
        0.0
    } else {
        age(load(&stats.counts_pushed_ms))
    };
    let rows = [
        (
            "tracescan_fleet_redis_up",
            "gauge",
            "1 when the last request to the fleet's Redis succeeded.",
            f64::from(u8::from(stats.up.load(Ordering::Relaxed))),
        ),
        (
            "tracescan_fleet_changes_lag_seconds",
            "gauge",
            "Since the fleet's status changes were last read up to the newest (at most about a second while Redis answers); -1 before the first read.",
            age(load(&stats.changes_read_ms)),
        ),
        (
            "tracescan_fleet_changes_read_total",
            "counter",
            "Shared status changes read from Redis.",
            load(&stats.changes_read) as f64,
        ),
        (
            "tracescan_fleet_bad_changes_total",
            "counter",
            "Entries of the shared change stream that were not status changes (logged, skipped).",
            load(&stats.bad_changes) as f64,
        ),
        (
            "tracescan_fleet_unsent_items",
            "gauge",
            "Items whose scan count here is ahead of what the fleet's Redis was sent.",
            unpushed as f64,
        ),
        (
            "tracescan_fleet_counts_lag_seconds",
            "gauge",
            "Since scan counts were last sent in full (0 when nothing is unsent; -1 before the first send).",
            counts_lag,
        ),
        (
            "tracescan_fleet_counts_sent_total",
            "counter",
            "Item counts sent to the fleet's Redis.",
            load(&stats.counts_pushed) as f64,
        ),
    ];
    write_rows(text, &rows);
    write_labelled(
        text,
        "tracescan_fleet_errors_total",
        "Failed requests to the fleet's Redis, by what they were for; each is retried.",
        "for",
        ERROR_KINDS.iter().zip(&stats.errors),
    );
}

/// Writes one metric per row: its help, its type and its value.
fn write_rows<V: std::fmt::Display>(text: &mut String, rows: &[(&str, &str, &str, V)]) {
    for (name, kind, help, value) in rows {
        let _ = write!(
            text,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        );
    }
}

/// Writes a counter with one value per `label`.
fn write_labelled<'a>(
    text: &mut String,
    name: &str,
    help: &str,
    label: &str,
    values: impl Iterator<Item = (&'a &'a str, &'a AtomicU64)>,
) {
    let _ = write!(text, "# HELP {name} {help}\n# TYPE {name} counter\n");
    for (value, count) in values {
        let count = count.load(Ordering::Relaxed);
        let _ = writeln!(text, "{name}{{{label}=\"{value}\"}} {count}");
    }
}
