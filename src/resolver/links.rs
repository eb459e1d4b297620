//! The `links` of a record (SPEC section 6): read and validated when a
//! snapshot is read, and pre-rendered into the linkset fragment each level
//! of the index serves.

use serde_json::{Map, Value};

use super::vocab::{self, VOC};

/// One validated link of a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// The GS1 link type's name (`pip`), as the vocabulary spells it.
    pub kind: &'static str,
    /// An http(s) URL of printable ASCII: it goes into a `Location` header.
    pub href: String,
    pub title: String,
    /// Language tags (`vi`, `en-GB`), none for a link in no particular language.
    pub langs: Vec<String>,
    /// The media type of the target (`text/html`), if the record gave one.
    pub media: Option<String>,
    /// The record's default link.
    pub default: bool,
}

/// Why a record's `links` are refused: the field is missing, or wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkError {
    Missing(String),
    Invalid(String),
}

/// The fields a link may have.
const FIELDS: [&str; 6] = ["type", "href", "title", "lang", "media", "default"];
/// The longest href, title or language list a link may carry: a link is
/// served in headers and linksets, so each is bounded.
const MAX_HREF: usize = 2048;
const MAX_TITLE: usize = 512;
const MAX_LANGS: usize = 16;
/// The most links one record may carry.
pub const MAX_LINKS: usize = 64;

/// Reads the `links` array of a record (`None` or `null`: no links). Each
/// link needs `type` (a GS1 link type), `href` (an http(s) URL) and `title`;
/// at most one link is the record's default.
pub fn parse(value: Option<&Value>) -> Result<Vec<Link>, LinkError> {
    let invalid = |detail: String| Err(LinkError::Invalid(detail));
    let list = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(_) => return invalid("\"links\" must be an array of links".into()),
    };
    if list.len() > MAX_LINKS {
        return invalid(format!(
            "\"links\" holds {} links, at most {MAX_LINKS} are allowed",
            list.len()
        ));
    }
    let mut links = Vec::with_capacity(list.len());
    for (i, link) in list.iter().enumerate() {
        let at = format!("links[{i}]");
        let Some(obj) = link.as_object() else {
            return invalid(format!("\"{at}\" must be an object"));
        };
        links.push(one(obj, &at)?);
    }
    let defaults: Vec<usize> = (0..links.len()).filter(|&i| links[i].default).collect();
    if let [first, second, ..] = defaults[..] {
        return invalid(format!(
            "\"links[{first}]\" and \"links[{second}]\" are both marked default; a record has one default link"
        ));
    }
    Ok(links)
}

fn one(obj: &Map<String, Value>, at: &str) -> Result<Link, LinkError> {
    let invalid = |detail: String| LinkError::Invalid(detail);
    if let Some(unknown) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(invalid(format!(
            "\"{at}\" has an unknown field \"{unknown}\"; a link has {}",
            FIELDS.join(", ")
        )));
    }
    let text = |field: &str, required: bool| -> Result<Option<&str>, LinkError> {
        match obj.get(field) {
            None | Some(Value::Null) if required => {
                Err(LinkError::Missing(format!("\"{at}.{field}\" is required")))
            }
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(invalid(format!("\"{at}.{field}\" must be a string"))),
        }
    };
    let written = text("type", true)?.unwrap_or_default();
    let kind = vocab::name(written).ok_or_else(|| {
        invalid(format!(
            "\"{at}.type\" {written:?} is not a GS1 link type (gs1:pip, https://gs1.org/voc/pip, …)"
        ))
    })?;
    let href = text("href", true)?.unwrap_or_default();
    check_href(href).map_err(|e| invalid(format!("\"{at}.href\" {e}")))?;
    let title = text("title", true)?.unwrap_or_default();
    if title.trim().is_empty() || title.len() > MAX_TITLE {
        return Err(invalid(format!(
            "\"{at}.title\" must be 1 to {MAX_TITLE} bytes of text"
        )));
    }
    let langs = match obj.get("lang") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(tag)) => vec![tag.clone()],
        Some(Value::Array(tags)) if tags.len() <= MAX_LANGS => tags
            .iter()
            .map(|t| t.as_str().map(str::to_owned))
            .collect::<Option<Vec<String>>>()
            .ok_or_else(|| invalid(format!("\"{at}.lang\" must hold strings")))?,
        Some(_) => {
            return Err(invalid(format!(
                "\"{at}.lang\" must be a language tag or an array of at most {MAX_LANGS}"
            )));
        }
    };
    if let Some(tag) = langs.iter().find(|t| !is_lang_tag(t)) {
        return Err(invalid(format!(
            "\"{at}.lang\" {tag:?} is not a language tag of the form \"vi\" or \"en-GB\""
        )));
    }
    let media = text("media", false)?;
    if let Some(m) = media.filter(|m| !is_media_type(m)) {
        return Err(invalid(format!(
            "\"{at}.media\" {m:?} is not a media type such as \"text/html\""
        )));
    }
    let default = match obj.get("default") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(invalid(format!("\"{at}.default\" must be true or false"))),
    };
    Ok(Link {
        kind,
        href: href.to_owned(),
        title: title.to_owned(),
        langs,
        media: media.map(str::to_owned),
        default,
    })
}

/// An http(s) URL with a host, in printable ASCII (non-ASCII text must be
/// percent-encoded: the URL becomes a `Location` header).
fn check_href(href: &str) -> Result<(), String> {
    let rest = href
        .strip_prefix("https://")
        .or_else(|| href.strip_prefix("http://"));
    let host_ok = rest.is_some_and(|r| {
        r.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'[')
    });
    if !host_ok {
        return Err(format!("must be an http(s) URL, found {href:?}"));
    }
    if href.len() > MAX_HREF {
        return Err(format!("is {} bytes, at most {MAX_HREF}", href.len()));
    }
    if let Some(c) = href.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(format!(
            "has the character {c:?}: a URL is printable ASCII, other text percent-encoded"
        ));
    }
    Ok(())
}

/// A language tag as GS1's linkset schema admits it: two letters, or two
/// letters, a hyphen and two letters or digits (`vi`, `en-GB`).
fn is_lang_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    let two = |s: &[u8]| s.len() == 2 && s.iter().all(u8::is_ascii_alphanumeric);
    match b.len() {
        2 => b.iter().all(u8::is_ascii_alphabetic),
        5 => b[..2].iter().all(u8::is_ascii_alphabetic) && b[2] == b'-' && two(&b[3..]),
        _ => false,
    }
}

/// `type/subtype`, as GS1's linkset schema admits it.
fn is_media_type(m: &str) -> bool {
    let word = |s: &str, extra: &[u8]| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || extra.contains(&b))
    };
    m.len() <= 128
        && m.split_once('/')
            .is_some_and(|(t, s)| word(t, b"") && word(s, b"-+._"))
}

/// The link object a linkset lists for `link` (RFC 9264): `href`, `title`,
/// `hreflang` when it has languages, `type` when it has a media type.
pub fn object(link: &Link) -> Value {
    let mut obj = Map::new();
    obj.insert("href".into(), link.href.clone().into());
    obj.insert("title".into(), link.title.clone().into());
    if !link.langs.is_empty() {
        obj.insert("hreflang".into(), link.langs.clone().into());
    }
    if let Some(m) = &link.media {
        obj.insert("type".into(), m.clone().into());
    }
    Value::Object(obj)
}

/// A level's linkset, pre-rendered: the members of its link context object
/// except the anchor and tracescan's own link, which depend on the request.
///
/// `text[..split]` is `"itemDescription":…` followed by the default link and
/// every link type but traceability, each as `,"https://gs1.org/voc/T":[…]`;
/// `text[split..]` is the record links of type traceability, each followed by
/// a comma, to which the server adds its own page. See
/// [`super::linkset`] for how an answer is put together.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fragment {
    pub text: String,
    pub split: usize,
    /// Whether a record of the level or above marks a default link.
    pub has_default: bool,
}

/// The fragment of a level whose own links and those of every level above
/// it are `levels`, most specific first; `description` is the product's name.
///
/// Cost: one serialisation of the links; run once per record at build time.
pub fn fragment(description: &str, levels: &[&[Link]]) -> Fragment {
    let mut text = String::from("\"itemDescription\":");
    text.push_str(&Value::from(description).to_string());
    let default = levels.iter().flat_map(|l| l.iter()).find(|l| l.default);
    if let Some(d) = default {
        push_type(&mut text, vocab::DEFAULT_LINK, std::iter::once(d));
    }
    let mut kinds: Vec<&str> = levels
        .iter()
        .flat_map(|l| l.iter().map(|l| l.kind))
        .filter(|&k| k != vocab::TRACEABILITY)
        .collect();
    kinds.sort_unstable();
    kinds.dedup();
    for kind in kinds {
        let of_kind = levels
            .iter()
            .flat_map(|l| l.iter())
            .filter(|l| l.kind == kind);
        push_type(&mut text, kind, of_kind);
    }
    let split = text.len();
    for link in levels
        .iter()
        .flat_map(|l| l.iter())
        .filter(|l| l.kind == vocab::TRACEABILITY)
    {
        text.push_str(&object(link).to_string());
        text.push(',');
    }
    Fragment {
        text,
        split,
        has_default: default.is_some(),
    }
}

fn push_type<'a>(text: &mut String, kind: &str, links: impl Iterator<Item = &'a Link>) {
    text.push_str(",\"");
    text.push_str(VOC);
    text.push_str(kind);
    text.push_str("\":[");
    for (i, link) in links.enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&object(link).to_string());
    }
    text.push(']');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(links: Value, expected: Result<usize, &str>) {
        let got = parse(Some(&links));
        match (got, expected) {
            (Ok(l), Ok(n)) => assert_eq!(l.len(), n, "{links}"),
            (Err(LinkError::Invalid(d) | LinkError::Missing(d)), Err(part)) => {
                assert!(d.contains(part), "{links}: {d:?} does not say {part:?}")
            }
            (got, expected) => panic!("{links}: got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn links_are_checked_field_by_field() {
        let pip =
            json!({"type": "gs1:pip", "href": "https://brand.vn/p", "title": "Trang sản phẩm"});
        check(json!([pip]), Ok(1));
        check(json!([]), Ok(0));
        check(
            json!([{"type": "https://gs1.org/voc/recipeInfo", "href": "http://x.vn/r?a=1", "title": "Công thức",
                   "lang": ["vi", "en-GB"], "media": "text/html", "default": true}]),
            Ok(1),
        );
        check(json!({"type": "gs1:pip"}), Err("must be an array"));
        check(
            json!(["https://x.vn"]),
            Err("\"links[0]\" must be an object"),
        );
        check(
            json!([{"href": "https://x.vn", "title": "t"}]),
            Err("\"links[0].type\" is required"),
        );
        check(
            json!([{"type": "gs1:pip", "title": "t"}]),
            Err("\"links[0].href\" is required"),
        );
        check(
            json!([{"type": "gs1:pip", "href": "https://x.vn"}]),
            Err("\"links[0].title\" is required"),
        );
        check(
            json!([{"type": "gs1:pipe", "href": "https://x.vn", "title": "t"}]),
            Err("is not a GS1 link type"),
        );
        check(
            json!([{"type": "pip", "href": "https://x.vn", "title": "t"}]),
            Err("is not a GS1 link type"),
        );
        for href in [
            "javascript:alert(1)",
            "ftp://x.vn",
            "https://",
            "//x.vn",
            "https://x.vn/a b",
            "https://x.vn/ảnh",
        ] {
            check(
                json!([{"type": "gs1:pip", "href": href, "title": "t"}]),
                Err("\"links[0].href\""),
            );
        }
        check(
            json!([{"type": "gs1:pip", "href": "https://x.vn", "title": " "}]),
            Err("\"links[0].title\""),
        );
        for lang in [
            json!("vie"),
            json!("vi_VN"),
            json!(["vi", 3]),
            json!(7),
            json!(""),
        ] {
            check(
                json!([{"type": "gs1:pip", "href": "https://x.vn", "title": "t", "lang": lang}]),
                Err("\"links[0].lang\""),
            );
        }
        check(
            json!([{"type": "gs1:pip", "href": "https://x.vn", "title": "t", "media": "html"}]),
            Err("\"links[0].media\""),
        );
        check(
            json!([{"type": "gs1:pip", "href": "https://x.vn", "title": "t", "default": "yes"}]),
            Err("\"links[0].default\""),
        );
        check(
            json!([{"type": "gs1:pip", "href": "https://x.vn", "title": "t", "deafult": true}]),
            Err("unknown field \"deafult\""),
        );
        check(
            json!([{"type": "gs1:pip", "href": "https://x.vn", "title": "t", "default": true},
                   {"type": "gs1:faqs", "href": "https://x.vn/f", "title": "f"},
                   {"type": "gs1:recipeInfo", "href": "https://x.vn/r", "title": "r", "default": true}]),
            Err("\"links[0]\" and \"links[2]\" are both marked default"),
        );
        let many: Vec<Value> = (0..=MAX_LINKS).map(|_| pip.clone()).collect();
        check(Value::Array(many), Err("at most 64"));
    }

    #[test]
    fn a_fragment_groups_links_by_type_most_specific_first() {
        let link = |kind, href: &str, default| Link {
            kind,
            href: href.into(),
            title: "t".into(),
            langs: vec![],
            media: None,
            default,
        };
        let batch = [
            link("recallStatus", "https://b/recall", false),
            link("pip", "https://b/pip", false),
        ];
        let product = [
            link("pip", "https://p/pip", true),
            link("traceability", "https://p/trace", false),
        ];
        let f = fragment("Trà \"Shan\"", &[&batch, &product]);
        assert!(f.has_default);
        assert_eq!(
            &f.text[..f.split],
            concat!(
                r#""itemDescription":"Trà \"Shan\"","#,
                r#""https://gs1.org/voc/defaultLink":[{"href":"https://p/pip","title":"t"}],"#,
                r#""https://gs1.org/voc/pip":[{"href":"https://b/pip","title":"t"},{"href":"https://p/pip","title":"t"}],"#,
                r#""https://gs1.org/voc/recallStatus":[{"href":"https://b/recall","title":"t"}]"#
            )
        );
        assert_eq!(
            &f.text[f.split..],
            r#"{"href":"https://p/trace","title":"t"},"#
        );
        let none = fragment("x", &[]);
        assert_eq!(
            (none.text.as_str(), none.split, none.has_default),
            (r#""itemDescription":"x""#, 21, false)
        );
    }
}
