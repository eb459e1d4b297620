//! The requests a run sends: scan codes drawn from a snapshot, in the forms a
//! scanner app produces, with Zipf popularity, and what each must answer.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use anyhow::{Context, Result, bail};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Zipf};
use tracescan::code::{Gtin, gs1_check_digit};
use tracescan::snapshot::{LineReader, find};

/// The forms a code is sent in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Form {
    /// A plain GTIN-14 (a linear barcode): answers the product.
    Gtin,
    /// `(01)…(10)…(21)…` as printed under a DataMatrix.
    Element,
    /// The raw DataMatrix read: `]d2`, AIs, and GS separators.
    Raw,
    /// A GS1 Digital Link path on our own host: `/01/…/10/…/21/…`.
    DigitalLink,
    /// The same path asking the resolver for the product page
    /// (`?linkType=gs1:pip`): a 307 to it.
    Redirect,
    /// The same path asking for every link (`?linkType=linkset`).
    Linkset,
    /// A stamp code from a traceability stamp's QR.
    Stamp,
    /// A valid GTIN no product has: 404.
    Unknown,
    /// A GTIN with a wrong check digit: 400.
    Malformed,
}

const FORMS: [(&str, Form); 9] = [
    ("gtin", Form::Gtin),
    ("element", Form::Element),
    ("raw", Form::Raw),
    ("dl", Form::DigitalLink),
    ("redirect", Form::Redirect),
    ("linkset", Form::Linkset),
    ("stamp", Form::Stamp),
    ("unknown", Form::Unknown),
    ("malformed", Form::Malformed),
];

/// How often each form is sent, e.g. `gtin=10,element=15,raw=10,dl=25,stamp=30,unknown=5,malformed=5`.
pub fn parse_mix(s: &str) -> Result<Vec<(Form, u32)>> {
    let mut mix = Vec::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        let (name, weight) = part
            .split_once('=')
            .with_context(|| format!("mix entry {part:?}: expected form=weight"))?;
        let form = FORMS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| *f)
            .with_context(|| {
                let names: Vec<_> = FORMS.iter().map(|(n, _)| *n).collect();
                format!("mix entry {part:?}: unknown form, expected one of {names:?}")
            })?;
        let weight: u32 = weight
            .parse()
            .with_context(|| format!("mix entry {part:?}: the weight is not a number"))?;
        mix.push((form, weight));
    }
    if mix.iter().map(|(_, w)| w).sum::<u32>() == 0 {
        bail!("the mix {s:?} sends nothing");
    }
    Ok(mix)
}

/// One item of the snapshot.
#[derive(Clone, Debug)]
pub struct Item {
    pub gtin: String,
    pub lot: Option<String>,
    pub serial: String,
    pub stamp: Option<String>,
    /// The item, its batch or its product marks a default link: its
    /// Digital Link path, asked with no link type, is a redirect.
    pub default_link: bool,
}

/// Whether a record's `links` mark a default.
fn has_default_link(record: &serde_json::Value) -> bool {
    record["links"]
        .as_array()
        .is_some_and(|links| links.iter().any(|l| l["default"] == true))
}

/// Reads at most `max` items of the snapshot in `dir`, and the GTINs of its
/// products (so that an "unknown" GTIN is surely unknown).
pub fn read_snapshot(dir: &Path, max: usize) -> Result<(Vec<Item>, HashSet<String>)> {
    let mut gtins = HashSet::new();
    // Products and batches that mark a default link (SPEC section 6): a
    // Digital Link path of theirs, asked with no link type, is a redirect.
    let mut defaults: HashSet<String> = HashSet::new();
    let products = find(dir, "products.jsonl")?
        .with_context(|| format!("{}: no products.jsonl", dir.display()))?;
    let mut reader = LineReader::open(&products)?;
    while let Some(line) = reader.next_line()? {
        let v: serde_json::Value = serde_json::from_slice(line.bytes)
            .with_context(|| format!("{} line {}", products.display(), line.number))?;
        if let Some(g) = v["gtin"].as_str().and_then(|g| Gtin::parse(g).ok()) {
            if has_default_link(&v) {
                defaults.insert(g.to_string());
            }
            gtins.insert(g.to_string());
        }
    }
    if let Some(path) = find(dir, "batches.jsonl")? {
        let mut reader = LineReader::open(&path)?;
        while let Some(line) = reader.next_line()? {
            // Most batches have no links: only those that may are parsed.
            if memchr::memmem::find(line.bytes, b"\"default\"").is_none() {
                continue;
            }
            let v: serde_json::Value = serde_json::from_slice(line.bytes)
                .with_context(|| format!("{} line {}", path.display(), line.number))?;
            let gtin = v["gtin"].as_str().and_then(|g| Gtin::parse(g).ok());
            if let (Some(g), Some(lot)) = (gtin, v["lot"].as_str())
                && has_default_link(&v)
            {
                defaults.insert(format!("{g}/{lot}"));
            }
        }
    }
    let mut items = Vec::new();
    if let Some(path) = find(dir, "items.jsonl")? {
        let mut reader = LineReader::open(&path)?;
        while items.len() < max {
            let Some(line) = reader.next_line()? else {
                break;
            };
            let v: serde_json::Value = serde_json::from_slice(line.bytes)
                .with_context(|| format!("{} line {}", path.display(), line.number))?;
            let text = |k: &str| v[k].as_str().map(str::to_owned);
            let (Some(gtin), Some(serial)) = (text("gtin"), text("serial")) else {
                continue;
            };
            let Ok(gtin) = Gtin::parse(&gtin) else {
                continue;
            };
            if v["status"] == "void" || !gtins.contains(&gtin.to_string()) {
                // Void items still answer 200, but keep the check simple:
                // only items the snapshot surely indexed.
                continue;
            }
            let lot = text("lot");
            let default_link = has_default_link(&v)
                || defaults.contains(&gtin.to_string())
                || lot
                    .as_ref()
                    .is_some_and(|l| defaults.contains(&format!("{gtin}/{l}")));
            items.push(Item {
                gtin: gtin.to_string(),
                lot,
                serial,
                stamp: text("stamp"),
                default_link,
            });
        }
    }
    if items.is_empty() {
        bail!("{}: no items to scan", dir.display());
    }
    Ok((items, gtins))
}

/// What an answer must be.
#[derive(Clone, Debug)]
pub struct Expect {
    pub status: u16,
    /// Byte strings the body must contain.
    pub needles: Vec<Vec<u8>>,
}

/// One distinct request.
pub struct Case {
    /// The request target, as sent.
    pub target: String,
    /// The code itself, as a batch lookup carries it.
    pub code: String,
    pub form: Form,
    /// What a GET of `target` answers.
    pub expect: Expect,
    /// What a lookup of `code` answers, as a batch member: the same, but
    /// for a Digital Link path, whose GET may be the resolver's redirect.
    pub looked_up: Expect,
}

impl Case {
    /// What the answer must be, alone or as a batch member.
    pub fn expected(&self, batch: bool) -> &Expect {
        if batch { &self.looked_up } else { &self.expect }
    }
}

/// The distinct requests of a run and the order they are sent in.
pub struct Workload {
    pub cases: Vec<Case>,
    /// Indexes into `cases`; each connection walks it from its own offset.
    pub sequence: Vec<u32>,
    /// Pages are asked for, not JSON.
    pub page: bool,
}

/// Draws `len` requests: forms by `mix`, items by a Zipf law of exponent
/// `zipf` over a random ranking of the items.
pub fn draw(
    items: &[Item],
    gtins: &HashSet<String>,
    mix: &[(Form, u32)],
    zipf: f64,
    len: usize,
    seed: u64,
    page: bool,
) -> Result<Workload> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut ranking: Vec<u32> = (0..items.len() as u32).collect();
    ranking.shuffle(&mut rng);
    let popularity = Zipf::new(items.len() as f64, zipf).context("the Zipf exponent")?;
    let total: u32 = mix.iter().map(|(_, w)| w).sum();
    let mut cases = Vec::new();
    let mut known: HashMap<(Form, u32), u32> = HashMap::new();
    let mut sequence = Vec::with_capacity(len);
    for _ in 0..len {
        let mut pick = rng.random_range(0..total);
        let form = mix
            .iter()
            .find(|(_, w)| {
                let hit = pick < *w;
                pick = pick.saturating_sub(*w);
                hit
            })
            .map_or(mix[0].0, |(f, _)| *f);
        let rank = popularity.sample(&mut rng) as usize - 1;
        let mut item = ranking[rank.min(items.len() - 1)];
        // A stamp form needs an item with a stamp; fall back to the element string.
        let form = match form {
            Form::Stamp if items[item as usize].stamp.is_none() => Form::Element,
            f => f,
        };
        if matches!(form, Form::Unknown | Form::Malformed) {
            // Errors are not popular: each is its own case.
            item = rng.random();
        }
        let next = cases.len() as u32;
        let id = *known.entry((form, item)).or_insert(next);
        if id == next {
            cases.push(case(items, gtins, form, item, page));
        }
        sequence.push(id);
    }
    Ok(Workload {
        cases,
        sequence,
        page,
    })
}

fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

fn scan(code: &str) -> String {
    format!("/v1/scan?code={}", enc(code))
}

/// A found answer at `level`: for a page, the GTIN and (for an item) the
/// serial in the page's lists; in JSON, the match level and the GTIN.
fn found(level: &str, gtin: &str, serial: &str, page: bool) -> Expect {
    let needles = match (page, level) {
        (true, "item") => vec![format!("<dd>{gtin}</dd>"), format!("<dd>{serial}</dd>")],
        (true, _) => vec![format!("<dd>{gtin}</dd>")],
        (false, _) => vec![
            format!("\"match\":\"{level}\""),
            format!("\"gtin\":\"{gtin}\""),
        ],
    };
    Expect {
        status: 200,
        needles: needles.into_iter().map(String::into_bytes).collect(),
    }
}

/// A resolver's redirect: a 307 to an http(s) URL, saying where the
/// linkset is. (Needles are looked for in the whole answer, head included.)
fn redirected() -> Expect {
    Expect {
        status: 307,
        needles: vec![b"\r\nlocation: http".to_vec(), b"rel=\"linkset\"".to_vec()],
    }
}

/// A linkset of the Digital Link `path`: anchored at it, listing
/// tracescan's own page among the links.
fn linkset(path: &str) -> Expect {
    Expect {
        status: 200,
        needles: vec![
            b"content-type: application/linkset+json".to_vec(),
            format!("{path}\",").into_bytes(),
            b"\"https://gs1.org/voc/traceability\":[".to_vec(),
        ],
    }
}

/// An error answer: its JSON error code, or its page's heading.
fn error(status: u16, code: &str, heading: &str, page: bool) -> Expect {
    let needle = if page {
        format!("<h1>{heading}</h1>")
    } else {
        format!("\"error\":\"{code}\"")
    };
    Expect {
        status,
        needles: vec![needle.into_bytes()],
    }
}

fn case(items: &[Item], gtins: &HashSet<String>, form: Form, n: u32, page: bool) -> Case {
    let (target, expect) = match form {
        Form::Unknown | Form::Malformed => {
            // 0999… is outside the generator's 893 prefix and the sample's.
            let mut digits = format!("0999{:09}", n % 1_000_000_000);
            let check = gs1_check_digit(digits.as_bytes());
            if form == Form::Malformed {
                digits.push(char::from(b'0' + (check + 1) % 10));
                let expect = error(400, "invalid_code", "Mã không hợp lệ", page);
                (scan(&digits), expect)
            } else {
                digits.push(char::from(b'0' + check));
                assert!(!gtins.contains(&digits), "{digits} is a known GTIN");
                let expect = error(404, "not_found", "Không tìm thấy sản phẩm", page);
                (scan(&digits), expect)
            }
        }
        _ => {
            let item = &items[n as usize];
            let g = &item.gtin;
            let found = |level| found(level, g, &item.serial, page);
            match form {
                Form::Gtin => (scan(g), found("product")),
                Form::Element => {
                    let lot = item
                        .lot
                        .as_ref()
                        .map(|l| format!("(10){l}"))
                        .unwrap_or_default();
                    (
                        scan(&format!("(01){g}{lot}(21){}", item.serial)),
                        found("item"),
                    )
                }
                Form::Raw => {
                    let lot = item
                        .lot
                        .as_ref()
                        .map(|l| format!("\u{1d}10{l}"))
                        .unwrap_or_default();
                    (
                        scan(&format!("]d201{g}21{}{lot}", item.serial)),
                        found("item"),
                    )
                }
                Form::DigitalLink | Form::Redirect | Form::Linkset => {
                    let lot = item
                        .lot
                        .as_ref()
                        .map(|l| format!("/10/{}", enc(l)))
                        .unwrap_or_default();
                    let path = format!("/01/{g}{lot}/21/{}", enc(&item.serial));
                    match form {
                        Form::Redirect => (format!("{path}?linkType=gs1:pip"), redirected()),
                        Form::Linkset => (format!("{path}?linkType=linkset"), linkset(&path)),
                        // The default link, when a record marks one; else
                        // tracescan's own answer.
                        _ if item.default_link => (path, redirected()),
                        _ => (path, found("item")),
                    }
                }
                Form::Stamp => {
                    let stamp = item.stamp.as_deref().expect("chosen with a stamp");
                    (scan(stamp), found("item"))
                }
                Form::Unknown | Form::Malformed => unreachable!("handled above"),
            }
        }
    };
    let looked_up = match form {
        Form::DigitalLink | Form::Redirect | Form::Linkset => found(
            "item",
            &items[n as usize].gtin,
            &items[n as usize].serial,
            false,
        ),
        _ => expect.clone(),
    };
    Case {
        code: code_of(&target),
        target,
        form,
        expect,
        looked_up,
    }
}

/// The code a request target looks up: the `code` parameter of a scan, or
/// a Digital Link path on a host of its own (a batch lookup answers JSON
/// for it, whatever the path's `linkType` asks).
fn code_of(target: &str) -> String {
    match target.strip_prefix("/v1/scan?code=") {
        Some(encoded) => percent_encoding::percent_decode_str(encoded)
            .decode_utf8_lossy()
            .into_owned(),
        None => format!("https://id.example.vn{target}"),
    }
}
