//! tracescan as a GS1 Digital Link resolver (SPEC section 6): the links of
//! records and the linksets that list them. Pure: no I/O, no HTTP.
//!
//! - [`vocab`]: GS1's link types.
//! - [`links`]: a record's `links` validated when the snapshot is read, and
//!   each level's linkset pre-rendered at build time ([`links::Fragment`]).
//! - [`choose`]: which link a request goes to.
//!
//! This module puts a linkset answer together from a level's fragment
//! ([`linkset`]): a copy with the anchor and tracescan's own page added,
//! which depend on the request. It also writes the resolver description
//! file ([`description`]) and a code's canonical Digital Link path
//! ([`canonical_path`]), the anchor's path.

pub mod choose;
pub mod links;
pub mod vocab;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::code::Gs1Code;

/// The media type of a linkset (RFC 9264).
pub const LINKSET_MEDIA: &str = "application/linkset+json";

/// What is wrong with a request path of ours that is not a Digital Link.
pub const NOT_A_DIGITAL_LINK: &str = "the path is not a GS1 Digital Link: it must be a primary key and its value, then qualifiers, each as /AI/value (for example /01/09506000134352/10/LOT/21/SERIAL)";

/// The title of tracescan's own page in a linkset.
const OWN_TITLE: &str = "Truy xuất nguồn gốc · Traceability";

/// Characters a Digital Link path value keeps as they are: RFC 3986's
/// unreserved set. Everything else is percent-encoded.
const PATH_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The Digital Link path of `code`: its primary key and the qualifiers it
/// carries, in the order GS1 defines, values percent-encoded; data
/// attributes (the query string's AIs) left out. `/01/09506000134352/10/L1`.
pub fn canonical_path(code: &Gs1Code) -> String {
    let mut path = String::with_capacity(64);
    let mut push = |ai: &str, value: &str| {
        path.push('/');
        path.push_str(ai);
        path.push('/');
        path.extend(utf8_percent_encode(value, PATH_VALUE));
    };
    let Some((key, key_value)) = code.ais.first() else {
        return path;
    };
    push(key, key_value);
    // A code's qualifiers fit one of the key's alternatives (checked when
    // it was parsed), so walking every alternative in order meets each once.
    let alternatives = crate::code::lookup_ai(key).and_then(|d| d.dl_qualifiers.as_ref());
    let mut done: Vec<&str> = Vec::new();
    for q in alternatives.into_iter().flatten().flatten() {
        if let Some(value) = code.get(q).filter(|_| !done.contains(&q.as_str())) {
            push(q, value);
            done.push(q);
        }
    }
    path
}

/// Where tracescan's own page of the code whose canonical URI is `uri`
/// is: the scan route, which answers a browser with the page and an app
/// with JSON.
pub fn own_href(root: &str, uri: &str) -> String {
    let mut href = String::with_capacity(root.len() + uri.len() + 32);
    href.push_str(root);
    href.push_str("/v1/scan?code=");
    href.extend(utf8_percent_encode(uri, PATH_VALUE));
    href
}

/// Writes the linkset answer of a level into `out`: one link context
/// object whose anchor is `anchor`, with the level's pre-rendered
/// `fragment` (split at `split`, see [`links::Fragment`]) and tracescan's
/// own page at `own_href` as a traceability link, and as the default link
/// unless a record marks one (`has_default`).
///
/// Cost: a copy of the fragment and a few short writes.
pub fn linkset(
    out: &mut Vec<u8>,
    anchor: &str,
    fragment: &[u8],
    split: usize,
    has_default: bool,
    own_href: &str,
) {
    let (main, traceability) = fragment.split_at(split.min(fragment.len()));
    out.extend_from_slice(b"{\"linkset\":[{\"anchor\":");
    json_string(out, anchor);
    out.push(b',');
    out.extend_from_slice(main);
    let own = || {
        let mut own = Vec::with_capacity(own_href.len() + 96);
        own.extend_from_slice(b"{\"href\":");
        json_string(&mut own, own_href);
        own.extend_from_slice(b",\"title\":");
        json_string(&mut own, OWN_TITLE);
        own.extend_from_slice(b",\"hreflang\":[\"vi\",\"en\"],\"type\":\"text/html\"}");
        own
    };
    let own = own();
    if !has_default {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(vocab::VOC.as_bytes());
        out.extend_from_slice(vocab::DEFAULT_LINK.as_bytes());
        out.extend_from_slice(b"\":[");
        out.extend_from_slice(&own);
        out.push(b']');
    }
    out.extend_from_slice(b",\"");
    out.extend_from_slice(vocab::VOC.as_bytes());
    out.extend_from_slice(vocab::TRACEABILITY.as_bytes());
    out.extend_from_slice(b"\":[");
    out.extend_from_slice(traceability);
    out.extend_from_slice(&own);
    out.extend_from_slice(b"]}]}");
}

fn json_string(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
}

/// The resolver description file (`/.well-known/gs1resolver`) of a
/// resolver at `root`.
pub fn description(root: &str) -> Vec<u8> {
    let file = serde_json::json!({
        "name": "tracescan",
        "resolverRoot": root,
        "supportedPrimaryKeys": ["01"],
        "supportedLinkType": [{"namespace": vocab::VOC, "prefix": vocab::PREFIX}],
        "linkTypeDefaultCanBeLinkset": false,
    });
    file.to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::code::{Scan, parse};

    fn gs1(code: &str) -> Gs1Code {
        match parse(code).unwrap() {
            Scan::Gs1(c) => c,
            other => panic!("{code}: {other:?}"),
        }
    }

    #[test]
    fn the_canonical_path_keeps_key_and_qualifiers_in_order() {
        for (code, path) in [
            ("09506000134352", "/01/09506000134352"),
            (
                "https://x.vn/p/01/9506000134352/10/A%2FB/21/s%21?17=271231",
                "/01/09506000134352/10/A%2FB/21/s%21",
            ),
            (
                "(01)09506000134352(21)S1(10)L1",
                "/01/09506000134352/10/L1/21/S1",
            ),
            (
                "(01)09506000134352(22)V2(10)L1(21)S1",
                "/01/09506000134352/22/V2/10/L1/21/S1",
            ),
        ] {
            assert_eq!(canonical_path(&gs1(code)), path, "{code}");
        }
    }

    #[test]
    fn a_linkset_adds_anchor_and_our_page() {
        let f = links::fragment("Tea", &[]);
        let mut out = Vec::new();
        linkset(
            &mut out,
            "https://id.vn/01/1",
            f.text.as_bytes(),
            f.split,
            f.has_default,
            "https://id.vn/v1/scan?code=x",
        );
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let set = &v["linkset"][0];
        assert_eq!(set["anchor"], "https://id.vn/01/1");
        assert_eq!(set["itemDescription"], "Tea");
        assert_eq!(
            set["https://gs1.org/voc/defaultLink"][0]["href"],
            "https://id.vn/v1/scan?code=x"
        );
        assert_eq!(
            set["https://gs1.org/voc/traceability"][0]["href"],
            "https://id.vn/v1/scan?code=x"
        );
    }
}
