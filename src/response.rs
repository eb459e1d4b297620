//! The JSON answers of SPEC section 4, assembled from pre-rendered records.
//!
//! Products and batches are copied into the answer as they were rendered at
//! build time; only the small parts (parsed code, item, warnings) are written
//! per request. Text is written as UTF-8, never `\u`-escaped.

use std::io::Write;

use crate::code::{self, Form, Scan};
use crate::date::{Date, rfc3339_utc, unix_now};
use crate::index::Index;
use crate::live::Context;
use crate::live::overlay::Changes;
use crate::live::scans::Seen;
use crate::lookup::{self, Found, Warning};
use crate::snapshot::record::Status;

/// An HTTP-shaped answer: a status and a JSON body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Looks up `raw` in the index alone (no status changes, no scan counting)
/// and renders the answer. `today` decides expiry.
pub fn scan<D: AsRef<[u8]>>(index: &Index<D>, raw: &str, today: Date) -> Answer {
    let changes = Changes::default();
    let live = Context {
        changes: &changes,
        scans: None,
        warn_above: u64::MAX,
        now: unix_now(),
        today,
    };
    scan_as(index, raw, raw, &live)
}

/// Looks up `raw` under the changes in force, counts an item scan, and
/// renders the answer. `shown` is what the answer echoes as `code`: it
/// differs from `raw` for a code rewritten before parsing (a Digital Link path
/// served by us).
pub fn scan_as<D: AsRef<[u8]>>(
    index: &Index<D>,
    shown: &str,
    raw: &str,
    live: &Context<'_>,
) -> Answer {
    let today = live.today;
    let parsed = match code::parse(raw) {
        Ok(p) => p,
        Err(e) => return invalid_code(&e.to_string()),
    };
    // Room for the usual item answer (2–3 KB) without growing the buffer.
    let mut body = Vec::with_capacity(4096);
    match lookup::resolve(index, &parsed, today, live.changes) {
        Some(mut found) => {
            let seen = match (live.scans, &found.item) {
                (Some(scans), Some(item)) => {
                    Some(scans.record(found.product.gtin(), item.serial(), live.now))
                }
                _ => None,
            };
            if let Some(seen) = seen.filter(|s| s.count > live.warn_above) {
                found.warnings.push(Warning {
                    code: "scanned_many_times",
                    message: format!(
                        "This stamp has been scanned {} times since {}: a genuine item is rarely scanned this often, the code may have been copied.",
                        seen.count,
                        rfc3339_utc(seen.first_at)
                    ),
                });
            }
            write_found(
                &mut body,
                shown,
                &parsed,
                &found,
                seen,
                index.header().snapshot_id.as_str(),
                today,
            );
            Answer { status: 200, body }
        }
        None => {
            body.extend_from_slice(b"{\"error\":\"not_found\",\"message\":");
            let message = match &parsed {
                Scan::Gs1(c) => match c.gtin() {
                    Some(g) => format!("No product is registered under GTIN {g}."),
                    None => "The code carries no GTIN (AI 01) to look up.".to_owned(),
                },
                Scan::Stamp(_) => "No item carries this stamp code.".to_owned(),
            };
            json_str(&mut body, &message);
            body.extend_from_slice(b",\"parsed\":");
            write_parsed(&mut body, &parsed, None, today);
            body.push(b'}');
            Answer { status: 404, body }
        }
    }
}

/// The 400 answer for a malformed code.
pub fn invalid_code(detail: &str) -> Answer {
    let mut body = b"{\"error\":\"invalid_code\",\"detail\":".to_vec();
    json_str(&mut body, detail);
    body.push(b'}');
    Answer { status: 400, body }
}

fn write_found(
    out: &mut Vec<u8>,
    raw: &str,
    parsed: &Scan,
    found: &Found<'_>,
    seen: Option<Seen>,
    snapshot: &str,
    today: Date,
) {
    out.extend_from_slice(b"{\"code\":");
    json_str(out, raw);
    out.extend_from_slice(b",\"parsed\":");
    write_parsed(out, parsed, found.stamp, today);
    out.extend_from_slice(b",\"match\":\"");
    out.extend_from_slice(found.level.as_str().as_bytes());
    out.extend_from_slice(b"\",\"product\":");
    match found.product_change {
        None => out.extend_from_slice(found.product.json_bytes()),
        Some(_) => with_status(out, found.product.json_bytes(), found.product_status()),
    }
    out.extend_from_slice(b",\"batch\":");
    match (&found.batch, found.batch_change, found.batch_status()) {
        (Some(b), None, _) => out.extend_from_slice(b.json_bytes()),
        (Some(b), Some(_), Some(status)) => with_status(out, b.json_bytes(), status),
        _ => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"item\":");
    match &found.item {
        Some(item) => {
            out.extend_from_slice(b"{\"serial\":");
            json_str(out, item.serial());
            out.extend_from_slice(if found.item_void() {
                b",\"status\":\"void\""
            } else {
                b",\"status\":\"active\""
            });
            if let Some(stamp) = item.stamp() {
                out.extend_from_slice(b",\"stamp\":");
                json_str(out, stamp);
            }
            if let Some(lot) = found.batch.filter(|_| item.has_batch()) {
                out.extend_from_slice(b",\"lot\":");
                json_str(out, lot.lot());
            }
            if let Some(seen) = seen {
                let _ = write!(
                    out,
                    ",\"scans\":{{\"count\":{},\"first_at\":\"{}\"}}",
                    seen.count,
                    rfc3339_utc(seen.first_at)
                );
            }
            out.push(b'}');
        }
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"warnings\":[");
    for (i, w) in found.warnings.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"code\":\"");
        out.extend_from_slice(w.code.as_bytes());
        out.extend_from_slice(b"\",\"message\":");
        json_str(out, &w.message);
        out.push(b'}');
    }
    out.extend_from_slice(b"],\"snapshot\":");
    json_str(out, snapshot);
    out.push(b'}');
}

/// `parsed`: the key parts read from the code, and every AI for AI forms.
fn write_parsed(out: &mut Vec<u8>, parsed: &Scan, matched_stamp: Option<&str>, today: Date) {
    match parsed {
        Scan::Stamp(s) => {
            out.extend_from_slice(b"{\"stamp\":");
            json_str(out, matched_stamp.unwrap_or(&s.candidates[0]));
            out.push(b'}');
        }
        Scan::Gs1(c) => {
            out.push(b'{');
            let mut first = true;
            let mut field = |out: &mut Vec<u8>, name: &str, value: &str| {
                if !std::mem::take(&mut first) {
                    out.push(b',');
                }
                let _ = write!(out, "\"{name}\":");
                json_str(out, value);
            };
            if let Some(g) = c.gtin() {
                field(out, "gtin", &g.to_string());
            }
            if let Some(lot) = c.lot() {
                field(out, "lot", lot);
            }
            if let Some(serial) = c.serial() {
                field(out, "serial", serial);
            }
            if let Some(e) = c.expiry() {
                let (y, m, d) = e.resolve(today.year);
                field(
                    out,
                    "expiry",
                    &Date {
                        year: y,
                        month: m,
                        day: d,
                    }
                    .to_string(),
                );
            }
            if c.form != Form::Gtin {
                if !first {
                    out.push(b',');
                }
                out.extend_from_slice(b"\"ais\":{");
                for (i, (ai, value)) in c.ais.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    json_str(out, ai);
                    out.push(b':');
                    json_str(out, value);
                }
                out.push(b'}');
            }
            out.push(b'}');
        }
    }
}

/// A pre-rendered record with the status and notice of a change in force
/// written over its own, exactly where the snapshot would have them.
fn with_status(out: &mut Vec<u8>, record: &[u8], (status, notice): (Status, Option<&str>)) {
    let Ok(mut obj) = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(record)
    else {
        // Build writes every record as a JSON object; should one not parse,
        // it is served as stored and the warning still tells the status.
        out.extend_from_slice(record);
        return;
    };
    obj.insert("status".into(), status.as_str().into());
    match notice {
        Some(n) => obj.insert("recall_notice".into(), n.into()),
        None => obj.remove("recall_notice"),
    };
    serde_json::to_writer(&mut *out, &obj).expect("writing to a Vec cannot fail");
}

/// Writes `s` as a JSON string: escapes only what JSON requires.
fn json_str(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
}
