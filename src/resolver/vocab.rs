//! GS1's link type vocabulary (`https://gs1.org/voc/`), read from GS1's own
//! list of link types (`linktypes.json`, as published with the GS1-Conformant
//! Resolver standard).

use std::collections::HashMap;
use std::sync::LazyLock;

/// The namespace of GS1 link types.
pub const VOC: &str = "https://gs1.org/voc/";
/// The prefix that stands for [`VOC`] in a compact URI (`gs1:pip`).
pub const PREFIX: &str = "gs1:";

/// The link type of tracescan's own page, which every product has.
pub const TRACEABILITY: &str = "traceability";
/// The link type under which a linkset lists the default link.
pub const DEFAULT_LINK: &str = "defaultLink";

/// GS1's list, name → title.
static TYPES: LazyLock<HashMap<String, String>> = LazyLock::new(|| {
    #[derive(serde::Deserialize)]
    struct Entry {
        title: String,
    }
    let list: HashMap<String, Entry> =
        serde_json::from_str(include_str!("linktypes.json")).expect("GS1's link type list");
    list.into_iter().map(|(name, e)| (name, e.title)).collect()
});

/// The name of the GS1 link type `written` (`gs1:pip` or
/// `https://gs1.org/voc/pip`, the prefix in any case), as the vocabulary
/// spells it; `None` for anything else.
pub fn name(written: &str) -> Option<&'static str> {
    let rest = strip_prefix_ignore_case(written, PREFIX)
        .or_else(|| strip_prefix_ignore_case(written, VOC))
        .or_else(|| strip_prefix_ignore_case(written, "http://gs1.org/voc/"))?;
    TYPES.get_key_value(rest).map(|(name, _)| name.as_str())
}

/// GS1's title of the link type `name`.
pub fn title(name: &str) -> Option<&'static str> {
    TYPES.get(name).map(String::as_str)
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_read_in_both_written_forms() {
        assert_eq!(name("gs1:pip"), Some("pip"));
        assert_eq!(name("GS1:pip"), Some("pip"));
        assert_eq!(
            name("https://gs1.org/voc/certificationInfo"),
            Some("certificationInfo")
        );
        assert_eq!(name("http://gs1.org/voc/traceability"), Some(TRACEABILITY));
        assert!(name(DEFAULT_LINK).is_none(), "a bare name is not a type");
        assert_eq!(name("gs1:nosuchtype"), None);
        assert_eq!(name("gs1:PIP"), None, "names are case-sensitive");
        assert_eq!(name("gs1:"), None);
        assert_eq!(title("pip"), Some("Product Information Page"));
    }
}
