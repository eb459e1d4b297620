//! Synthetic snapshots: realistic, deterministic, at any scale, with optional
//! defects whose every line is recorded.
//!
//! Used by `gen-snapshot`, the tests, the benches and the load tests. The same
//! configuration always writes the same bytes: randomness comes from a
//! SplitMix64 stream of our own (a library generator may change its algorithm
//! between versions, which would silently change every generated snapshot),
//! and keys come from bijective scrambles of record numbers, so they are unique
//! without any bookkeeping and can be recomputed by anyone who knows the
//! configuration ([`gtin`], [`lot`], [`serial`], [`stamp`]).

pub mod vocab;

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::code::{Gtin, gs1_check_digit};
use crate::date::Date;
use vocab::*;

/// What to generate.
#[derive(Clone, Debug)]
pub struct Config {
    pub products: u64,
    pub batches_per_product: u32,
    pub items_per_batch: u32,
    pub seed: u64,
    /// The probability of a defect line after each genuine line (0 for none).
    pub defect_rate: f64,
    /// Write a manifest whose item count is off by one.
    pub bad_manifest: bool,
    pub compression: Compression,
    /// The export date: production and expiry dates are set around it.
    pub as_of: Date,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            products: 1000,
            batches_per_product: 3,
            items_per_batch: 10,
            seed: 1,
            defect_rate: 0.0,
            bad_manifest: false,
            compression: Compression::Zstd,
            as_of: Date {
                year: 2026,
                month: 11,
                day: 21,
            },
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    fn extension(self) -> &'static str {
        match self {
            Compression::None => "",
            Compression::Gzip => ".gz",
            Compression::Zstd => ".zst",
        }
    }
}

/// One injected defect: where it is and the reject reason the build must give.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Injected {
    pub file: &'static str,
    pub line: u64,
    pub kind: &'static str,
    pub reason: &'static str,
}

/// What was written.
#[derive(Clone, Debug)]
pub struct Report {
    /// Lines written to products, batches and items.
    pub lines: [u64; 3],
    pub injected: Vec<Injected>,
    pub elapsed: Duration,
}

// ---- Keys, recomputable from the configuration ------------------------------

/// The GTIN of product `n`: an 893 (Vietnam) prefix and nine digits scrambled
/// bijectively (3^18 is coprime with 10^9), so products do not sit in order.
pub fn gtin(seed: u64, n: u64) -> Gtin {
    let body = (n
        .wrapping_mul(387_420_489)
        .wrapping_add(seed.wrapping_mul(7_919)))
        % 1_000_000_000;
    let digits = format!("893{body:09}");
    let check = gs1_check_digit(digits.as_bytes());
    Gtin::parse(&format!("{digits}{check}")).expect("a valid GTIN by construction")
}

/// The lot of batch `b` of product `n`.
pub fn lot(n: u64, b: u32) -> String {
    format!("L{:02}{b:03}", n % 97)
}

/// Crockford's base-32 alphabet: no I, L, O or U, so injected keys that use
/// those letters can never collide with generated ones.
const BASE32: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

fn base32(mut x: u64, len: usize) -> String {
    let mut out = vec![b'0'; len];
    for c in out.iter_mut().rev() {
        *c = BASE32[(x & 31) as usize];
        x >>= 5;
    }
    String::from_utf8(out).expect("ASCII")
}

/// The global number of item `i` of batch `b` of product `n`.
pub fn item_number(cfg: &Config, n: u64, b: u32, i: u32) -> u64 {
    (n * u64::from(cfg.batches_per_product) + u64::from(b)) * u64::from(cfg.items_per_batch)
        + u64::from(i)
}

/// The serial of item number `g`: 8 base-32 characters, a bijection of `g` on
/// 40 bits (an odd multiplier is invertible modulo a power of two).
pub fn serial(seed: u64, g: u64) -> String {
    const MASK: u64 = (1 << 40) - 1;
    base32(
        (g.wrapping_mul(0x9E37_79B9_7F4A_7C15 | 1).wrapping_add(seed)) & MASK,
        8,
    )
}

/// The stamp code of item number `g`: "VN" and 10 base-32 characters, unique
/// over all items (a bijection on 50 bits).
pub fn stamp(seed: u64, g: u64) -> String {
    const MASK: u64 = (1 << 50) - 1;
    format!(
        "VN{}",
        base32(
            (g.wrapping_mul(0xD6E8_FEB8_6659_FD93 | 1)
                .wrapping_add(seed.rotate_left(17)))
                & MASK,
            10
        )
    )
}

// ---- Randomness ---------------------------------------------------------------

/// SplitMix64: small, fast, and fixed forever.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64) -> Rng {
        Rng(seed ^ stream.wrapping_mul(0xA076_1D64_78BD_642F))
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }
    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
}

// ---- Writing --------------------------------------------------------------------

/// One output file: a line buffer reused for every record.
struct Out {
    w: Box<dyn Write + Send>,
    line: u64,
    buf: String,
}

impl Out {
    fn create(dir: &Path, name: &str, compression: Compression) -> io::Result<Out> {
        let file = BufWriter::with_capacity(
            1 << 20,
            File::create(dir.join(format!("{name}{}", compression.extension())))?,
        );
        let w: Box<dyn Write + Send> = match compression {
            Compression::None => Box::new(file),
            Compression::Gzip => Box::new(flate2::write::GzEncoder::new(
                file,
                flate2::Compression::fast(),
            )),
            Compression::Zstd => Box::new(zstd::Encoder::new(file, 1)?.auto_finish()),
        };
        Ok(Out {
            w,
            line: 0,
            buf: String::with_capacity(4096),
        })
    }

    /// Writes the record in `buf` as one line.
    fn emit(&mut self) -> io::Result<u64> {
        self.buf.push('\n');
        self.w.write_all(self.buf.as_bytes())?;
        self.buf.clear();
        self.line += 1;
        Ok(self.line)
    }

    fn finish(mut self) -> io::Result<u64> {
        self.w.flush()?;
        drop(self.w);
        Ok(self.line)
    }
}

/// Appends `s` as a JSON string.
fn js(buf: &mut String, s: &str) {
    buf.push('"');
    for c in s.chars() {
        match c {
            '"' => buf.push_str("\\\""),
            '\\' => buf.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(buf, "\\u{:04x}", c as u32);
            }
            c => buf.push(c),
        }
    }
    buf.push('"');
}

fn gln(seed: u64, n: u64) -> String {
    let body = (n
        .wrapping_mul(1_162_261_467)
        .wrapping_add(seed.wrapping_mul(104_729))
        .wrapping_add(500_000_000))
        % 1_000_000_000;
    let digits = format!("893{body:09}");
    format!("{digits}{}", gs1_check_digit(digits.as_bytes()))
}

fn place_name(r: &mut Rng) -> String {
    format!("{} {}", r.pick(NAME_PARTS), r.pick(NAME_PARTS))
}

/// Writes a snapshot into `dir` (created if needed): the three files, a
/// manifest, and `injected-defects.jsonl` when defects were asked for.
///
/// Cost: linear in the number of records; products and batches are written on
/// one thread and items on another.
pub fn generate(cfg: &Config, dir: &Path) -> io::Result<Report> {
    let started = Instant::now();
    std::fs::create_dir_all(dir)?;
    let items_cfg = cfg.clone();
    let items_dir = dir.to_owned();
    let items = std::thread::spawn(move || write_items(&items_cfg, &items_dir));
    let (products, batches, mut injected) = write_products_and_batches(cfg, dir)?;
    let (items, item_defects) = items
        .join()
        .map_err(|_| io::Error::other("the item writer panicked"))??;
    injected.extend(item_defects);

    let counted_items = items + u64::from(cfg.bad_manifest);
    let manifest = serde_json::json!({
        "snapshot_id": format!("synthetic-{}-{}x{}x{}-s{}", cfg.as_of, cfg.products, cfg.batches_per_product, cfg.items_per_batch, cfg.seed),
        "exported_at": format!("{}T23:30:00+07:00", cfg.as_of),
        "counts": {"products": products, "batches": batches, "items": counted_items},
    });
    std::fs::write(dir.join("manifest.json"), format!("{manifest}\n"))?;
    if cfg.defect_rate > 0.0 {
        let mut list = String::new();
        for d in &injected {
            let _ = writeln!(
                list,
                "{}",
                serde_json::json!({"file": d.file, "line": d.line, "kind": d.kind, "reason": d.reason})
            );
        }
        std::fs::write(dir.join("injected-defects.jsonl"), list)?;
    }
    Ok(Report {
        lines: [products, batches, items],
        injected,
        elapsed: started.elapsed(),
    })
}

fn write_products_and_batches(cfg: &Config, dir: &Path) -> io::Result<(u64, u64, Vec<Injected>)> {
    let mut r = Rng::new(cfg.seed, 1);
    let mut defects_rng = Rng::new(cfg.seed, 2);
    let mut injected = Vec::new();
    let mut out = Out::create(dir, "products.jsonl", cfg.compression)?;
    for n in 0..cfg.products {
        product(cfg, n, &mut r, &mut out.buf);
        out.emit()?;
        if defects_rng.chance(cfg.defect_rate) {
            let previous = gtin(cfg.seed, n).to_string();
            let (kind, reason) = match defects_rng.below(3) {
                0 => {
                    let bad = bump_check_digit(&previous[1..]);
                    let _ = write!(out.buf, r#"{{"gtin":"{bad}","name":"Sai số kiểm tra"}}"#);
                    ("bad_check_digit", "invalid_field")
                }
                1 => {
                    let _ = write!(
                        out.buf,
                        r#"{{"gtin":"{previous}","name":"Trùng mã (dạng 14 chữ số)"}}"#
                    );
                    ("duplicate_gtin_14_digits", "duplicate_key")
                }
                _ => {
                    let _ = write!(out.buf, r#"{{"gtin":"{previous}","name":"Dòng bị cắt"#);
                    ("malformed_json", "invalid_json")
                }
            };
            injected.push(Injected {
                file: "products.jsonl",
                line: out.emit()?,
                kind,
                reason,
            });
        }
    }
    let products = out.finish()?;

    let mut out = Out::create(dir, "batches.jsonl", cfg.compression)?;
    for n in 0..cfg.products {
        for b in 0..cfg.batches_per_product {
            batch(cfg, n, b, &mut r, &mut out.buf);
            out.emit()?;
            if defects_rng.chance(cfg.defect_rate) {
                let g = gtin(cfg.seed, n);
                let (kind, reason) = match defects_rng.below(4) {
                    0 => {
                        let _ = write!(out.buf, r#"{{"gtin":"{g}","lot":"{}"}}"#, lot(n, b));
                        ("duplicate_batch", "duplicate_key")
                    }
                    1 => {
                        let _ = write!(out.buf, r#"{{"gtin":"{}","lot":"L1"}}"#, foreign_gtin(n));
                        ("dangling_gtin", "unknown_product")
                    }
                    2 => {
                        let _ = write!(out.buf, r#"{{"gtin":"{g}","lot":"L ô{b}"}}"#);
                        ("bad_lot_character", "invalid_field")
                    }
                    _ => {
                        let _ = write!(out.buf, r#"{{"gtin":"{g}","lot":"#);
                        ("malformed_json", "invalid_json")
                    }
                };
                injected.push(Injected {
                    file: "batches.jsonl",
                    line: out.emit()?,
                    kind,
                    reason,
                });
            }
        }
    }
    let batches = out.finish()?;
    Ok((products, batches, injected))
}

fn write_items(cfg: &Config, dir: &Path) -> io::Result<(u64, Vec<Injected>)> {
    let mut r = Rng::new(cfg.seed, 3);
    let mut defects_rng = Rng::new(cfg.seed, 4);
    let mut injected = Vec::new();
    let mut out = Out::create(dir, "items.jsonl", cfg.compression)?;
    let mut extra = 0u64;
    for n in 0..cfg.products {
        let g = gtin(cfg.seed, n);
        for b in 0..cfg.batches_per_product {
            let lot = lot(n, b);
            for i in 0..cfg.items_per_batch {
                let num = item_number(cfg, n, b, i);
                let (serial, stamp) = (serial(cfg.seed, num), stamp(cfg.seed, num));
                let _ = write!(
                    out.buf,
                    r#"{{"gtin":"{g}","serial":"{serial}","lot":"{lot}","stamp":"{stamp}""#
                );
                if r.chance(0.001) {
                    out.buf.push_str(r#","status":"void""#);
                }
                out.buf.push('}');
                out.emit()?;
                if !defects_rng.chance(cfg.defect_rate) {
                    continue;
                }
                // Injected keys carry a U, which generated keys never do.
                extra += 1;
                let (kind, reason) = match defects_rng.below(7) {
                    0 => {
                        let _ = write!(out.buf, r#"{{"gtin":"{g}","serial":"{serial}"}}"#);
                        ("duplicate_serial", "duplicate_key")
                    }
                    1 => {
                        let _ = write!(
                            out.buf,
                            r#"{{"gtin":"{g}","serial":"U{extra}","stamp":"{stamp}"}}"#
                        );
                        ("duplicate_stamp", "duplicate_key")
                    }
                    2 => {
                        let _ = write!(
                            out.buf,
                            r#"{{"gtin":"{g}","serial":"U{extra}","lot":"LUU"}}"#
                        );
                        ("dangling_lot", "unknown_lot")
                    }
                    3 => {
                        let _ = write!(
                            out.buf,
                            r#"{{"gtin":"{}","serial":"U{extra}"}}"#,
                            foreign_gtin(n)
                        );
                        ("dangling_gtin", "unknown_product")
                    }
                    4 => {
                        let _ = write!(
                            out.buf,
                            r#"{{"gtin":"{g}","serial":"U{extra}","colour":"đỏ"}}"#
                        );
                        ("unknown_field", "unknown_field")
                    }
                    5 => {
                        let _ = write!(out.buf, r#"{{"gtin":"{g}","serial":"U {extra}"}}"#);
                        ("bad_serial_character", "invalid_field")
                    }
                    _ => {
                        let _ = write!(out.buf, r#"{{"gtin":"{g}","serial":"U{extra}""#);
                        ("malformed_json", "invalid_json")
                    }
                };
                injected.push(Injected {
                    file: "items.jsonl",
                    line: out.emit()?,
                    kind,
                    reason,
                });
            }
        }
    }
    Ok((out.finish()?, injected))
}

/// A valid GTIN of another country's prefix: never a generated product.
fn foreign_gtin(n: u64) -> String {
    let digits = format!("894{:09}", n % 1_000_000_000);
    format!("{digits}{}", gs1_check_digit(digits.as_bytes()))
}

fn bump_check_digit(gtin: &str) -> String {
    let (body, check) = gtin.split_at(gtin.len() - 1);
    format!("{body}{}", (check.as_bytes()[0] - b'0' + 1) % 10)
}

fn product(cfg: &Config, n: u64, r: &mut Rng, buf: &mut String) {
    let g = gtin(cfg.seed, n);
    // Four products to a producer, all of one province.
    let producer = n / 4;
    let mut pr = Rng::new(cfg.seed ^ 0x5EED, producer);
    let (province, specialities) = PROVINCES[pr.below(PROVINCES.len() as u64) as usize];
    let (speciality, category, package) = *r.pick(specialities);
    let variant = r.pick(VARIANTS);
    let kind = pr.pick(PRODUCER_KINDS);
    let (brand, district, commune) = (
        place_name(&mut pr),
        place_name(&mut pr),
        place_name(&mut pr),
    );
    let name = format!("{speciality}{variant}");
    buf.push_str("{\"gtin\":\"");
    // A third of the exporters write GTIN-13s in their 14-digit form.
    if n.is_multiple_of(3) {
        let _ = write!(buf, "{g}");
    } else {
        let _ = write!(buf, "{}", &g.to_string()[1..]);
    }
    buf.push_str("\",\"name\":");
    js(buf, &name);
    buf.push_str(",\"brand\":");
    js(buf, &brand);
    let _ = write!(buf, ",\"category\":\"{category}\",\"description\":");
    js(
        buf,
        &format!("{name}, đặc sản {province}, sản xuất theo quy trình truyền thống."),
    );
    let _ = write!(
        buf,
        ",\"net_content\":\"{package}\",\"image\":\"https://img.example.vn/p/{g}.jpg\""
    );
    let _ = write!(
        buf,
        ",\"producer\":{{\"gln\":\"{}\",\"name\":",
        gln(cfg.seed, producer)
    );
    js(buf, &format!("{kind} {brand}"));
    buf.push_str(",\"address\":");
    js(buf, &format!("Xã {commune}, huyện {district}"));
    let _ = write!(
        buf,
        ",\"province\":\"{province}\"}},\"origin\":{{\"province\":\"{province}\",\"district\":"
    );
    js(buf, &district);
    buf.push_str(",\"country\":\"VN\"}");
    if r.below(10) < 7 {
        let _ = write!(buf, ",\"ocop_stars\":{}", 3 + r.below(3));
    }
    buf.push_str(",\"certifications\":[");
    let certs = r.below(3);
    let first = r.below(CERTIFICATIONS.len() as u64) as usize;
    for k in 0..certs as usize {
        if k > 0 {
            buf.push(',');
        }
        let _ = write!(
            buf,
            "\"{}\"",
            CERTIFICATIONS[(first + k) % CERTIFICATIONS.len()]
        );
    }
    let _ = write!(
        buf,
        "],\"links\":[{{\"type\":\"gs1:pip\",\"href\":\"https://id.example.vn/01/{g}\",\"title\":\"Thông tin sản phẩm\",\"lang\":\"vi\"}}]"
    );
    let roll = r.below(1000);
    if roll < 5 {
        buf.push_str(",\"status\":\"recalled\",\"recall_notice\":\"Thu hồi theo quyết định của cơ quan quản lý an toàn thực phẩm.\"");
    } else if roll < 8 {
        buf.push_str(",\"status\":\"withdrawn\",\"recall_notice\":\"Ngừng kinh doanh.\"");
    } else {
        buf.push_str(",\"status\":\"active\"");
    }
    let _ = write!(
        buf,
        ",\"updated_at\":\"{}T08:00:00+07:00\"}}",
        Date::from_days(cfg.as_of.to_days() - 1 - r.below(60) as i64)
    );
}

fn batch(cfg: &Config, n: u64, b: u32, r: &mut Rng, buf: &mut String) {
    let g = gtin(cfg.seed, n);
    let today = cfg.as_of.to_days();
    let produced = today - 10 - r.below(700) as i64;
    // About 2 % of batches are past their expiry date on the export day.
    let expiry = if r.chance(0.02) {
        today - 1 - r.below(30) as i64
    } else {
        produced.max(today - 100) + 180 + r.below(720) as i64
    };
    let _ = write!(
        buf,
        "{{\"gtin\":\"{g}\",\"lot\":\"{}\",\"production_date\":\"{}\",\"expiry_date\":\"{}\",\"quantity\":{},\"events\":[",
        lot(n, b),
        Date::from_days(produced),
        Date::from_days(expiry),
        100 + r.below(5000)
    );
    let mut pr = Rng::new(cfg.seed ^ 0x5EED, n / 4);
    let (province, _) = PROVINCES[pr.below(PROVINCES.len() as u64) as usize];
    let producer_gln = gln(cfg.seed, n / 4);
    // 3 to 7 stages, in their natural order.
    let count = 3 + r.below(5) as usize;
    let mut steps: Vec<usize> = (0..STEPS.len()).collect();
    while steps.len() > count {
        let drop = 1 + r.below(steps.len() as u64 - 2) as usize;
        steps.remove(drop);
    }
    let mut hour = 6 + r.below(4);
    for (k, &s) in steps.iter().enumerate() {
        if k > 0 {
            buf.push(',');
        }
        let day = Date::from_days(produced + (hour / 24) as i64);
        let (place, place_province, actor, actor_gln) = match STEPS[s] {
            "shipping" | "receiving" => {
                let (hub, p) = *r.pick(HUBS);
                (
                    hub.to_owned(),
                    p,
                    "Công ty Vận tải Bắc Nam".to_owned(),
                    gln(cfg.seed, 900_000 + s as u64),
                )
            }
            "retail" => {
                let (shop, p) = *r.pick(RETAILERS);
                (
                    shop.to_owned(),
                    p,
                    shop.to_owned(),
                    gln(cfg.seed, 950_000 + s as u64),
                )
            }
            _ => (
                format!("Cơ sở sản xuất {province}"),
                province,
                format!("Nhà sản xuất {province}"),
                producer_gln.clone(),
            ),
        };
        let _ = write!(
            buf,
            "{{\"step\":\"{}\",\"time\":\"{day}T{:02}:{:02}:00+07:00\",\"place\":{{\"name\":",
            STEPS[s],
            hour % 24,
            r.below(60)
        );
        js(buf, &place);
        let _ = write!(
            buf,
            ",\"province\":\"{place_province}\"}},\"actor\":{{\"gln\":\"{actor_gln}\",\"name\":"
        );
        js(buf, &actor);
        buf.push_str("}}");
        hour += 2 + r.below(30);
    }
    buf.push(']');
    if r.chance(0.002) {
        buf.push_str(",\"status\":\"recalled\",\"recall_notice\":\"Lô hàng bị thu hồi do bao bì không đạt.\"");
    }
    buf.push('}');
}
