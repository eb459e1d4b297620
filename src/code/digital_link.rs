//! GS1 Digital Link URIs: `https://any.host/any/prefix/01/{gtin}/10/{lot}/21/{serial}?17=271231`.
//!
//! The primary key may be any Digital Link key AI (GTIN, SSCC, GLN …); its
//! qualifiers must follow in the order GS1 defines. Values are percent-decoded
//! and validated like element string values. As a leniency that resolvers and
//! parsers commonly share, a GTIN in the path may be written with 8, 12 or 13
//! digits; it is padded to 14. A trailing slash is tolerated; the fragment and
//! query parameters that are not AIs (`linkType`, `utm_…`) are ignored.

use percent_encoding::percent_decode_str;

use super::ai::{self, AiDef};
use super::{CodeError, push_ai};

/// The path and query of an http(s) URL; the fragment is dropped.
pub(super) struct Url<'a> {
    pub(super) path: &'a str,
    pub(super) query: Option<&'a str>,
}

pub(super) fn split_url(code: &str) -> Option<Url<'_>> {
    let scheme_len = ["https://", "http://"]
        .iter()
        .find(|p| {
            code.len() >= p.len() && code.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes())
        })?
        .len();
    let rest = &code[scheme_len..];
    let rest = rest.split('#').next().unwrap_or(rest);
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let path = rest.find('/').map_or("", |i| &rest[i..]);
    Some(Url { path, query })
}

/// Whether `code` is an http(s) URL.
pub fn is_url(code: &str) -> bool {
    split_url(code).is_some()
}

/// The segments of `path` after its leading `/`; a trailing slash is tolerated.
pub(super) fn segments(path: &str) -> Vec<&str> {
    let mut segs: Vec<&str> = path.split('/').skip(1).collect();
    if segs.last() == Some(&"") {
        segs.pop();
    }
    segs
}

/// Parses `code` as a Digital Link when it is an http(s) URL whose path holds a
/// primary key AI followed by value and qualifier pairs; `Ok(None)` otherwise.
pub fn parse(code: &str) -> Result<Option<Vec<(String, String)>>, CodeError> {
    let Some(url) = split_url(code) else {
        return Ok(None);
    };
    let segs = segments(url.path);
    // The first place where a primary key starts an even run of segments to the
    // end of the path; what stands before it is the resolver's own prefix.
    let Some(start) = (0..segs.len()).find(|&i| {
        (segs.len() - i).is_multiple_of(2)
            && ai::lookup(segs[i]).is_some_and(|d| d.dl_qualifiers.is_some())
    }) else {
        return Ok(None);
    };
    let key = ai::lookup(segs[start]).expect("checked above");
    let pairs: Vec<(&str, &str)> = segs[start..].chunks(2).map(|p| (p[0], p[1])).collect();
    check_qualifiers(key, &pairs[1..])?;

    let mut ais = Vec::new();
    for (i, (ai_code, raw_value)) in pairs.iter().enumerate() {
        let def = ai::lookup(ai_code).expect("checked by check_qualifiers");
        let mut value = decode(raw_value, ai_code)?;
        if i == 0 {
            value = pad_short_gtin(def, value);
        }
        def.validate(&value)?;
        push_ai(&mut ais, ai_code, value)?;
    }
    merge_query(&mut ais, url.query)?;
    Ok(Some(ais))
}

/// A GTIN written in the path with 8, 12 or 13 digits, in its 14-digit form;
/// any other value as it is.
pub(super) fn pad_short_gtin(key: &AiDef, value: String) -> String {
    if key.code == "01"
        && value.bytes().all(|b| b.is_ascii_digit())
        && matches!(value.len(), 8 | 12 | 13)
    {
        format!("{value:0>14}")
    } else {
        value
    }
}

/// Adds the data attributes of a Digital Link's query string to `ais`; keys
/// that are not AIs (`linkType`, `utm_…`) are ignored.
pub(super) fn merge_query(
    ais: &mut Vec<(String, String)>,
    query: Option<&str>,
) -> Result<(), CodeError> {
    for param in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = param.split_once('=').unwrap_or((param, ""));
        let k = decode(k, "query")?;
        if !k.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Some(def) = ai::lookup(&k) else { continue };
        if !def.dl_attribute {
            return Err(CodeError::DigitalLink(format!(
                "AI {k} ({}) is not allowed in the query string; it belongs in the path or not in a Digital Link",
                def.title
            )));
        }
        let value = decode(v, &k)?;
        def.validate(&value)?;
        push_ai(ais, &k, value)?;
    }
    Ok(())
}

/// Qualifiers must be AIs the key accepts, in one alternative's order.
pub(super) fn check_qualifiers(key: &AiDef, pairs: &[(&str, &str)]) -> Result<(), CodeError> {
    let alternatives = key.dl_qualifiers.as_deref().unwrap_or(&[]);
    let fits = |alt: &Vec<String>| {
        let mut next = 0;
        pairs
            .iter()
            .all(|(q, _)| match alt[next..].iter().position(|a| a == q) {
                Some(i) => {
                    next += i + 1;
                    true
                }
                None => false,
            })
    };
    if pairs.is_empty() || alternatives.iter().any(fits) {
        return Ok(());
    }
    let allowed: Vec<String> = alternatives
        .iter()
        .filter(|a| !a.is_empty())
        .map(|a| a.join(", "))
        .collect();
    let found: Vec<&str> = pairs.iter().map(|(q, _)| *q).collect();
    Err(CodeError::DigitalLink(if allowed.is_empty() {
        format!(
            "AI {} ({}) takes no qualifiers, found {}",
            key.code,
            key.title,
            found.join(", ")
        )
    } else {
        format!(
            "qualifiers {} do not fit AI {} ({}), which takes, in this order: {}",
            found.join(", "),
            key.code,
            key.title,
            allowed.join(" or ")
        )
    }))
}

/// Percent-decodes `raw`, the value of AI `what` (for messages).
pub(super) fn decode(raw: &str, what: &str) -> Result<String, CodeError> {
    let bytes = raw.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'%'
            && !bytes
                .get(i + 1..i + 3)
                .is_some_and(|e| e.iter().all(u8::is_ascii_hexdigit))
        {
            return Err(CodeError::DigitalLink(format!(
                "'{raw}' (AI {what}) has a '%' that does not start a %XX escape"
            )));
        }
    }
    percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| {
            CodeError::DigitalLink(format!("'{raw}' (AI {what}) does not decode to UTF-8 text"))
        })
}

/// The last non-empty path segment of an http(s) URL, percent-decoded, for a
/// stamp code printed as a link to a stamp system's own page.
pub fn last_path_segment(code: &str) -> Option<String> {
    let url = split_url(code)?;
    let last = segments(url.path)
        .into_iter()
        .rev()
        .find(|s| !s.is_empty())?;
    percent_decode_str(last)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}
