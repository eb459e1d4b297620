//! The linkset answer of a GS1 Digital Link (SPEC section 6, RFC 9264): a
//! level's linkset as pre-rendered at build time
//! ([`crate::resolver::links::Fragment`]), with what depends on the request
//! added: the anchor, and tracescan's own page.

use super::json::json_str;
use crate::resolver::vocab;

/// The title of tracescan's own page in a linkset.
const OWN_TITLE: &str = "Truy xuất nguồn gốc · Traceability";

/// Writes into `out` one link context object anchored at `anchor`, with the
/// level's pre-rendered `fragment` (split at `split`) and tracescan's own
/// page at `own_href` as a traceability link, and as the default link
/// unless a record marks one (`has_default`).
///
/// Cost: a copy of the fragment and a few short writes.
pub fn write(
    out: &mut Vec<u8>,
    anchor: &str,
    fragment: &[u8],
    split: usize,
    has_default: bool,
    own_href: &str,
) {
    let (main, traceability) = fragment.split_at(split.min(fragment.len()));
    out.extend_from_slice(b"{\"linkset\":[{\"anchor\":");
    json_str(out, anchor);
    out.push(b',');
    out.extend_from_slice(main);
    if !has_default {
        open_type(out, vocab::DEFAULT_LINK);
        own_link(out, own_href);
        out.push(b']');
    }
    open_type(out, vocab::TRACEABILITY);
    out.extend_from_slice(traceability);
    own_link(out, own_href);
    out.extend_from_slice(b"]}]}");
}

/// `,"https://gs1.org/voc/KIND":[`
fn open_type(out: &mut Vec<u8>, kind: &str) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(vocab::VOC.as_bytes());
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\":[");
}

fn own_link(out: &mut Vec<u8>, href: &str) {
    out.extend_from_slice(b"{\"href\":");
    json_str(out, href);
    out.extend_from_slice(b",\"title\":");
    json_str(out, OWN_TITLE);
    out.extend_from_slice(b",\"hreflang\":[\"vi\",\"en\"],\"type\":\"text/html\"}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolver::links;

    #[test]
    fn a_linkset_adds_anchor_and_our_page() {
        let f = links::fragment("Tea", &[]);
        let mut out = Vec::new();
        write(
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
