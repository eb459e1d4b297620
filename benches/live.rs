//! Live state on the answer path: the repeat check every counted scan makes
//! (`live::repeats`), measured as the worker sees it: the mean of a call
//! while windows fill and roll over, the mean of a repeat, and the longest
//! single call of a window's life, which is a stall of every answer queued
//! behind it. And the count map (`live::scans`): a fresh server's first
//! counted scans, with the map and the windows as made and as
//! `Scans::touch` leaves them; the worst stretch of a map growing to 8
//! million items, with and without room for them.
//!
//! `taskset -c 1 cargo bench --bench live`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use tracescan::code::Gtin;
use tracescan::live::repeats::{MAX_PAIRS, Repeats};
use tracescan::live::scans::{DEFAULT_ROOM, Scans};

/// A stream of distinct (client, item) pairs, as a national service's
/// traffic is: many clients, few repeats.
struct Pairs(u64);

impl Pairs {
    fn next(&mut self) -> (u64, u128) {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        (self.0, u128::from(self.0.rotate_left(17)))
    }
}

fn repeats(c: &mut Criterion) {
    let mut g = c.benchmark_group("repeats");
    let now = 1_800_000_000;

    // The mean call, windows closing early as they fill (every MAX_PAIRS
    // calls): what growing a window costs is spread over its calls.
    let live = Repeats::new(3600);
    let mut pairs = Pairs(1);
    g.bench_function("call_while_windows_fill", |b| {
        b.iter(|| {
            let (client, item) = pairs.next();
            black_box(live.seen_before(client, item, now))
        })
    });

    // One client scanning the same 200,000 items over and over (what
    // `loadtest/national.sh` sends): after the first round every call is a
    // repeat, found among the pairs held.
    let live = Repeats::new(3600);
    let items: Vec<u128> = (0..200_000u64)
        .map(|n| u128::from(n.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
        .collect();
    for &item in &items {
        live.seen_before(7, item, now);
    }
    let mut n = 0;
    g.bench_function("call_one_client_repeating", |b| {
        b.iter(|| {
            n = (n + 1) % items.len();
            black_box(live.seen_before(7, items[n], now))
        })
    });

    // The longest call among a whole window's: a window that has already
    // rolled over once (as in a server that has run a while) filled again
    // to MAX_PAIRS, then the call that closes it. Reported per window.
    g.sampling_mode(SamplingMode::Flat).sample_size(10);
    g.bench_function("longest_call_of_a_window", |b| {
        b.iter_custom(|windows| {
            let mut longest = Duration::ZERO;
            for _ in 0..windows {
                let live = Repeats::new(3600);
                let mut pairs = Pairs(7);
                for _ in 0..MAX_PAIRS {
                    let (client, item) = pairs.next();
                    live.seen_before(client, item, now);
                }
                for _ in 0..=MAX_PAIRS {
                    let (client, item) = pairs.next();
                    let started = Instant::now();
                    black_box(live.seen_before(client, item, now));
                    longest = longest.max(started.elapsed());
                }
            }
            longest * u32::try_from(windows).unwrap_or(u32::MAX)
        })
    });
    g.finish();
}

/// The first 200,000 distinct items a fresh server counts, from one client
/// (what `loadtest/national.sh` sends): on a map and windows as made (their
/// room reserved, its pages left for the scans to fault in), and on ones
/// written by `Scans::touch` before the first scan. Reported per item
/// (the mean call) and per fresh server (its longest call).
fn first_counts(c: &mut Criterion) {
    let mut g = c.benchmark_group("scans");
    g.sampling_mode(SamplingMode::Flat).sample_size(10);
    let gtin = Gtin::parse("08930002000017").unwrap();
    let serials: Vec<String> = (0..200_000).map(|n| format!("S{n:08}")).collect();
    // A fresh server's first counts: (all of them, the longest one).
    let first = |touched: bool| {
        let scans = Scans::in_memory().with_repeat_window(3600);
        if touched {
            scans.touch();
        }
        let (mut all, mut longest) = (Duration::ZERO, Duration::ZERO);
        for serial in &serials {
            let started = Instant::now();
            black_box(scans.count(gtin, serial, 1_800_000_000, Some(7)));
            let took = started.elapsed();
            all += took;
            longest = longest.max(took);
        }
        (all, longest)
    };
    for (map, touched) in [("as_made", false), ("touched", true)] {
        g.bench_function(format!("mean_call_of_first_200k_items_{map}"), |b| {
            b.iter_custom(|calls| {
                let servers = calls.div_ceil(serials.len() as u64);
                let all: Duration = (0..servers).map(|_| first(touched).0).sum();
                all.mul_f64(calls as f64 / (servers * serials.len() as u64) as f64)
            })
        });
        g.bench_function(format!("longest_call_of_first_200k_items_{map}"), |b| {
            b.iter_custom(|servers| (0..servers).map(|_| first(touched).1).sum())
        });
    }
    g.finish();
}

/// A map growing to 8 million distinct items from a fresh server's: the
/// worst run of 65,536 consecutive new items, per fresh server. With the
/// default room every shard doubles at about the same count (the keys
/// spread evenly), and the runs that hold a round of doublings are the
/// worst; with room for all 8 million the map never grows. Slow: each
/// sample is a fresh server counting 8 million items (about 4 minutes for
/// both).
fn growth(c: &mut Criterion) {
    const ITEMS: usize = 8_000_000;
    const RUN: usize = 1 << 16;
    let mut g = c.benchmark_group("scans_growth");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .measurement_time(Duration::from_secs(90));
    let gtin = Gtin::parse("08930002000017").unwrap();
    for (name, room) in [
        ("worst_65536_new_items_of_8M_default_room", DEFAULT_ROOM),
        ("worst_65536_new_items_of_8M_room_for_8M", ITEMS),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|servers| {
                let mut total = Duration::ZERO;
                for _ in 0..servers {
                    let scans = Scans::in_memory().with_room(room);
                    scans.touch();
                    let (mut worst, mut run) = (Duration::ZERO, Duration::ZERO);
                    let mut serial = String::new();
                    for n in 0..ITEMS {
                        serial.clear();
                        serial.push_str(itoa::Buffer::new().format(n));
                        let started = Instant::now();
                        black_box(scans.count(gtin, &serial, 1_800_000_000, None));
                        run += started.elapsed();
                        if (n + 1) % RUN == 0 {
                            worst = worst.max(std::mem::take(&mut run));
                        }
                    }
                    total += worst;
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(benches, repeats, first_counts, growth);
criterion_main!(benches);
