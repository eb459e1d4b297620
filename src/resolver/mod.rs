//! tracescan as a GS1 Digital Link resolver (SPEC section 6): the links of
//! records and the linksets that list them. Pure: no I/O, no HTTP.
//!
//! - [`vocab`]: GS1's link types.
//! - [`links`]: a record's `links` validated when the snapshot is read, and
//!   each level's linkset pre-rendered at build time ([`links::Fragment`]).
//! - [`choose`]: which link a request goes to.
//!
//! This module also writes the resolver description file
//! ([`description`]), a code's canonical Digital Link path
//! ([`canonical_path`], the anchor's path) and where tracescan's own page
//! of a code is ([`own_href`]). A linkset answer is put together from a
//! level's fragment by [`crate::render::linkset`].

pub mod choose;
pub mod links;
pub mod vocab;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::code::Gs1Code;

/// The media type of a linkset (RFC 9264).
pub const LINKSET_MEDIA: &str = "application/linkset+json";

/// The JSON-LD context of our linksets: it reads them as linked data
/// (anchors and hrefs as resource identifiers, link types as the
/// properties they already are as full URIs, titles, languages and media
/// types in Dublin Core terms). Served at [`LINKSET_CONTEXT_PATH`], which
/// every linkset answer names in its `Link` header.
pub const LINKSET_CONTEXT: &str = include_str!("linkset-context.jsonld");
pub const LINKSET_CONTEXT_PATH: &str = "/contexts/linkset.jsonld";

/// What is wrong with a request path of ours that is not a Digital Link.
pub const NOT_A_DIGITAL_LINK: &str = "the path is not a GS1 Digital Link: it must be a primary key and its value, then qualifiers, each as /AI/value (for example /01/09506000134352/10/LOT/21/SERIAL)";

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
}
