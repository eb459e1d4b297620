// A loop of 2 M header maps, empty against made with room for 12, filled with 6, 7 or 9 headers.
// Run: cargo new hm && cd hm && cargo add http@1, put this file as src/main.rs, cargo build --release, taskset -c 1 target/release/hm
use http::header::{self, HeaderMap, HeaderValue};
use std::hint::black_box;
use std::time::Instant;
fn fill(h: &mut HeaderMap, n: usize) {
    let all = [header::CONTENT_TYPE, header::ACCESS_CONTROL_ALLOW_ORIGIN, header::VARY, header::CACHE_CONTROL, header::X_CONTENT_TYPE_OPTIONS, header::ETAG, header::LINK, header::ACCESS_CONTROL_EXPOSE_HEADERS];
    h.insert("x-tracescan-generation", HeaderValue::from(7u64));
    for k in all.iter().take(n - 1) { h.insert(k.clone(), HeaderValue::from_static("abc")); }
}
fn main() {
    for round in 0..3 {
      for n in [6usize, 7, 9] {
        for cap in [0usize, 12] {
            let t = Instant::now();
            for _ in 0..2_000_000 {
                let mut h = if cap == 0 { HeaderMap::new() } else { HeaderMap::with_capacity(cap) };
                fill(&mut h, n);
                black_box(&h);
            }
            println!("round {round} headers {n} cap {cap}: {:.1} ns", t.elapsed().as_nanos() as f64 / 2e6);
        }
      }
    }
}
