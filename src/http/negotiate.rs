//! Content negotiation of the lookup routes (SPEC section 5): a page for a
//! browser, JSON for everyone else, in the language the reader prefers.

use hyper::header::{self, HeaderMap};

use crate::render::Lang;

/// What a lookup answers to a request with these headers and query: a page
/// in the reader's language when `Accept` prefers `text/html` to
/// `application/json` (a browser's does); `None`, JSON, otherwise, `*/*`
/// alone and no `Accept` included.
pub fn page(headers: &HeaderMap, query: &str) -> Option<Lang> {
    let accept = header_str(headers, header::ACCEPT);
    (quality(accept, "text", "html") > quality(accept, "application", "json"))
        .then(|| lang(headers, query))
}

/// The page's language: `?lang=en` or `?lang=vi` first, then whichever of
/// the two `Accept-Language` ranks higher; Vietnamese when neither is named
/// or on a tie.
pub fn lang(headers: &HeaderMap, query: &str) -> Lang {
    for pair in query.split('&') {
        match pair {
            "lang=en" => return Lang::En,
            "lang=vi" => return Lang::Vi,
            _ => {}
        }
    }
    let ranges = header_str(headers, header::ACCEPT_LANGUAGE);
    let q = |tag: &str| {
        best(ranges, |range| {
            let primary = range.split('-').next().unwrap_or(range);
            if primary.eq_ignore_ascii_case(tag) {
                Some(if range.len() == tag.len() { 2 } else { 1 })
            } else if range == "*" {
                Some(0)
            } else {
                None
            }
        })
    };
    if q("en") > q("vi") {
        Lang::En
    } else {
        Lang::Vi
    }
}

/// A header's value as text; empty when absent or not text.
pub(super) fn header_str(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The quality `accept` gives to `kind/sub` by naming it, alone or as
/// `kind/*`: a wildcard `*/*` does not count (0 when nothing names it).
pub fn named_quality(accept: &str, kind: &str, sub: &str) -> f32 {
    best(accept, |range| {
        media_rank(range, kind, sub).filter(|&r| r > 0)
    })
}

/// The quality `accept` gives to `kind/sub`: that of the most specific range
/// that matches it (RFC 9110, 12.5.1); 0 when none does.
pub fn quality(accept: &str, kind: &str, sub: &str) -> f32 {
    best(accept, |range| media_rank(range, kind, sub))
}

/// How specifically the media range `range` matches `kind/sub`: 2 naming
/// it, 1 as `kind/*`, 0 as `*/*`; `None` when it does not.
fn media_rank(range: &str, kind: &str, sub: &str) -> Option<u8> {
    let (k, s) = range.split_once('/')?;
    match (k.trim(), s.trim()) {
        (k, s) if k.eq_ignore_ascii_case(kind) && s.eq_ignore_ascii_case(sub) => Some(2),
        (k, "*") if k.eq_ignore_ascii_case(kind) => Some(1),
        ("*", "*") => Some(0),
        _ => None,
    }
}

/// Over the comma-separated ranges of a header, the `q` of the range that
/// `specificity` ranks highest (the first of equals); 0 when none matches.
/// A `q` that does not parse counts as 1, as a range without one.
fn best(ranges: &str, specificity: impl Fn(&str) -> Option<u8>) -> f32 {
    let mut found: Option<(u8, f32)> = None;
    for part in ranges.split(',') {
        let mut params = part.split(';');
        let range = params.next().unwrap_or("").trim();
        let Some(rank) = specificity(range) else {
            continue;
        };
        let q = params
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|v| v.trim().parse::<f32>().ok())
            .map_or(1.0, |q| q.clamp(0.0, 1.0));
        if found.is_none_or(|(r, _)| rank > r) {
            found = Some((rank, q));
        }
    }
    found.map_or(0.0, |(_, q)| q)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(accept: &str, language: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        if !accept.is_empty() {
            h.insert(header::ACCEPT, HeaderValue::from_str(accept).unwrap());
        }
        if !language.is_empty() {
            h.insert(
                header::ACCEPT_LANGUAGE,
                HeaderValue::from_str(language).unwrap(),
            );
        }
        h
    }

    #[test]
    fn a_browser_gets_a_page_and_everyone_else_json() {
        let chromium = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7";
        let safari = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        for accept in [
            chromium,
            safari,
            "text/*",
            "text/html;q=0.5, application/json;q=0.4",
        ] {
            assert_eq!(page(&headers(accept, ""), ""), Some(Lang::Vi), "{accept}");
        }
        for accept in [
            "",
            "*/*",
            "application/json",
            "application/json, text/html",
            "text/html;q=0.5, application/*",
            "text/html;q=0",
            "image/png",
        ] {
            assert_eq!(page(&headers(accept, ""), ""), None, "{accept}");
        }
    }

    #[test]
    fn the_reader_chooses_the_language() {
        let lang_of =
            |language: &str, query: &str| page(&headers("text/html", language), query).unwrap();
        assert_eq!(lang_of("", ""), Lang::Vi);
        assert_eq!(lang_of("en-US,en;q=0.9", ""), Lang::En);
        assert_eq!(lang_of("en-US,en;q=0.9,vi;q=0.95", ""), Lang::Vi);
        assert_eq!(lang_of("vi-VN,vi;q=0.9,en-US;q=0.8,en;q=0.7", ""), Lang::Vi);
        assert_eq!(lang_of("fr, en;q=0.5", ""), Lang::En);
        assert_eq!(lang_of("fr", ""), Lang::Vi);
        assert_eq!(lang_of("*", ""), Lang::Vi);
        assert_eq!(lang_of("vi", "code=x&lang=en"), Lang::En);
        assert_eq!(lang_of("en", "lang=vi"), Lang::Vi);
    }
}
