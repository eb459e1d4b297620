//! The JSON answers of SPEC section 4, assembled from pre-rendered records,
//! and the one writer of error bodies.
//!
//! Products are copied into the answer as they were rendered at build time,
//! batches decoded from their coded form (`index::coded`); only the small
//! parts (parsed code, item, warnings) are written per request. Text is written as UTF-8, never `\u`-escaped.

use crate::code::{Form, Scan};
use crate::date::{Date, write_rfc3339_utc};
use crate::lookup::Found;
use crate::snapshot::record::Status;

/// An error body: `{"error": code, "detail": detail}`. Every error answer of
/// the service, a malformed code's included, is written here.
pub fn error(code: &str, detail: &str) -> Vec<u8> {
    let mut body = Vec::with_capacity(48 + detail.len());
    body.extend_from_slice(b"{\"error\":");
    json_str(&mut body, code);
    body.extend_from_slice(b",\"detail\":");
    json_str(&mut body, detail);
    body.push(b'}');
    body
}

/// The answer of a lookup that found nothing: what was looked for, and what
/// was read from the code.
pub fn not_found(out: &mut Vec<u8>, parsed: &Scan, today: Date) {
    out.extend_from_slice(b"{\"error\":\"not_found\",\"message\":");
    let message = match parsed {
        Scan::Gs1(c) => match c.gtin() {
            Some(g) => format!("No product is registered under GTIN {g}."),
            None => "The code carries no GTIN (AI 01) to look up.".to_owned(),
        },
        Scan::Stamp(_) => "No item carries this stamp code.".to_owned(),
    };
    json_str(out, &message);
    out.extend_from_slice(b",\"parsed\":");
    write_parsed(out, parsed, None, today);
    out.push(b'}');
}

/// The answer of a lookup that found at least the product; `shown` is the
/// code as the answer echoes it.
pub fn found(
    out: &mut Vec<u8>,
    shown: &str,
    parsed: &Scan,
    found: &Found<'_>,
    snapshot: &str,
    today: Date,
) {
    out.extend_from_slice(b"{\"code\":");
    json_str(out, shown);
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
        (Some(b), None, _) => b.write_json(out),
        (Some(b), Some(_), Some(status)) => with_status(out, b.json().as_bytes(), status),
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
            if let Some(seen) = found.seen {
                out.extend_from_slice(b",\"scans\":{\"count\":");
                out.extend_from_slice(itoa::Buffer::new().format(seen.count).as_bytes());
                out.extend_from_slice(b",\"first_at\":\"");
                write_rfc3339_utc(out, seen.first_at);
                out.extend_from_slice(b"\"}");
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
        out.extend_from_slice(w.code().as_bytes());
        out.extend_from_slice(b"\",\"message\":");
        json_str(out, &w.message());
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
                out.push(b'"');
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b"\":");
                json_str(out, value);
            };
            if let Some(g) = c.gtin() {
                let digits = g.digits();
                field(
                    out,
                    "gtin",
                    std::str::from_utf8(&digits).expect("ASCII digits"),
                );
            }
            if let Some(lot) = c.lot() {
                field(out, "lot", lot);
            }
            if let Some(serial) = c.serial() {
                field(out, "serial", serial);
            }
            if let Some(e) = c.expiry() {
                let (y, m, d) = e.resolve(today.year);
                let mut date = Vec::with_capacity(10);
                Date {
                    year: y,
                    month: m,
                    day: d,
                }
                .write_to(&mut date);
                field(
                    out,
                    "expiry",
                    std::str::from_utf8(&date).expect("ASCII digits"),
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
pub(super) fn json_str(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
}
