//! Which link a request goes to: the link type asked for (or the default),
//! then the reader's languages, then the media types they accept, as the
//! GS1-Conformant Resolver standard describes. Pure: text in, a choice out.

use super::vocab;

/// A link as the choice sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate<'a> {
    /// The link type's name (`pip`).
    pub kind: &'a str,
    /// The target; empty for tracescan's own page (`own`), whose URL the
    /// caller writes only when it links to it.
    pub href: &'a str,
    /// Language tags separated by commas; empty for none (`und`).
    pub langs: &'a str,
    /// The target's media type; empty when the record gave none.
    pub media: &'a str,
    /// The record's default link.
    pub default: bool,
    /// tracescan's own page, answered without a redirect.
    pub own: bool,
}

/// What a request for a link comes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice<'a> {
    /// One link fits best.
    One(Candidate<'a>),
    /// Several fit equally: the reader chooses from the linkset.
    Several,
    /// No link of the type asked for.
    NoneOfType,
}

/// The link a request for link type `kind` goes to (`None`: the default
/// link). `levels` hold each level's links, most specific first (item,
/// batch, product); tracescan's own page is among the product's.
///
/// The most specific level with a link of the type decides: an item's own
/// certificate goes before its product's. Among that level's links of the
/// type, the first `Accept-Language` range any of them fits keeps those that
/// fit it (an exact tag before a wider one), links in no language when none
/// fits; then the first `Accept` range any of them fits keeps those. A tie
/// goes to the record's default link, when it is among the tied; otherwise
/// the reader chooses (300).
///
/// For the default link, the type is that of the most specific default, and
/// its level's links of that type are chosen from the same way: a default
/// page in Vietnamese gives way to the same page in English for a reader who
/// asks for English.
pub fn choose<'a>(
    levels: &[Vec<Candidate<'a>>],
    kind: Option<&str>,
    accept_language: &str,
    accept: &str,
) -> Choice<'a> {
    let kind = match kind {
        Some(k) if k != vocab::DEFAULT_LINK && k != "defaultLinkMulti" => k,
        _ => match levels.iter().flatten().find(|c| c.default) {
            Some(d) => d.kind,
            None => return Choice::NoneOfType,
        },
    };
    let Some(level) = levels.iter().find(|l| l.iter().any(|c| c.kind == kind)) else {
        return Choice::NoneOfType;
    };
    let of_kind: Vec<Candidate<'a>> = level.iter().copied().filter(|c| c.kind == kind).collect();
    let fitting = by_media(by_language(of_kind, accept_language), accept);
    match fitting[..] {
        [one] => Choice::One(one),
        _ => match fitting.iter().filter(|c| c.default).collect::<Vec<_>>()[..] {
            [default] => Choice::One(*default),
            _ => Choice::Several,
        },
    }
}

/// The ranges of an `Accept` or `Accept-Language` header with their `q`,
/// best first (a stable sort keeps the header's order among equals); a range
/// with `q=0` is refused, not wanted, and left out.
fn ranges(header: &str) -> Vec<&str> {
    let mut ranges: Vec<(&str, f32)> = header
        .split(',')
        .filter_map(|part| {
            let mut params = part.split(';');
            let range = params.next()?.trim();
            let q = params
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|v| v.trim().parse::<f32>().ok())
                .map_or(1.0, |q| q.clamp(0.0, 1.0));
            (!range.is_empty() && q > 0.0).then_some((range, q))
        })
        .collect();
    ranges.sort_by(|a, b| b.1.total_cmp(&a.1));
    ranges.into_iter().map(|(r, _)| r).collect()
}

fn by_language<'a>(candidates: Vec<Candidate<'a>>, header: &str) -> Vec<Candidate<'a>> {
    fn tags<'c>(c: &Candidate<'c>) -> impl Iterator<Item = &'c str> {
        c.langs.split(',').filter(|t| !t.is_empty())
    }
    let primary = |tag: &str| tag.split('-').next().unwrap_or(tag).to_owned();
    let ranges = ranges(header);
    if ranges.is_empty() || ranges[0] == "*" {
        return candidates;
    }
    for range in ranges {
        if range == "*" {
            break;
        }
        let exact = keep(&candidates, |c| {
            tags(c).any(|t| t.eq_ignore_ascii_case(range))
        });
        if !exact.is_empty() {
            return exact;
        }
        // `en` fits `en-GB` and `en-GB` fits `en`: the language is the same.
        let wider = keep(&candidates, |c| {
            tags(c).any(|t| primary(t).eq_ignore_ascii_case(&primary(range)))
        });
        if !wider.is_empty() {
            return wider;
        }
    }
    let undetermined = keep(&candidates, |c| c.langs.is_empty());
    if undetermined.is_empty() {
        candidates
    } else {
        undetermined
    }
}

/// The candidates that `fits`, in order.
fn keep<'a>(
    candidates: &[Candidate<'a>],
    fits: impl Fn(&Candidate<'a>) -> bool,
) -> Vec<Candidate<'a>> {
    candidates.iter().copied().filter(|c| fits(c)).collect()
}

fn by_media<'a>(candidates: Vec<Candidate<'a>>, header: &str) -> Vec<Candidate<'a>> {
    for range in ranges(header) {
        let Some((kind, sub)) = range.split_once('/') else {
            continue;
        };
        let (kind, sub) = (kind.trim(), sub.trim());
        if kind == "*" {
            break;
        }
        let fits = keep(&candidates, |c| {
            c.media.split_once('/').is_some_and(|(k, s)| {
                k.eq_ignore_ascii_case(kind) && (sub == "*" || s.eq_ignore_ascii_case(sub))
            })
        });
        if !fits.is_empty() {
            return fits;
        }
    }
    candidates
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(kind: &'static str, href: &'static str, langs: &'static str) -> Candidate<'static> {
        Candidate {
            kind,
            href,
            langs,
            media: "",
            default: false,
            own: false,
        }
    }

    /// `choose` over `levels` gives the link at `expected` (`"300"` for a
    /// tie, `"404"` for none).
    fn check(
        levels: &[Vec<Candidate<'static>>],
        kind: Option<&str>,
        lang: &str,
        accept: &str,
        expected: &str,
    ) {
        let got = match choose(levels, kind, lang, accept) {
            Choice::One(c) => c.href,
            Choice::Several => "300",
            Choice::NoneOfType => "404",
        };
        assert_eq!(
            got, expected,
            "type {kind:?}, Accept-Language {lang:?}, Accept {accept:?}"
        );
    }

    #[test]
    fn the_most_specific_level_with_the_type_decides() {
        let item = vec![link("certificationInfo", "item-cert", "")];
        let product = vec![
            link("certificationInfo", "product-cert", ""),
            link("pip", "pip", ""),
        ];
        let levels = [item, vec![], product];
        check(&levels, Some("certificationInfo"), "", "", "item-cert");
        check(&levels, Some("pip"), "", "", "pip");
        check(&levels, Some("recipeInfo"), "", "", "404");
        check(&levels, None, "", "", "404");
    }

    #[test]
    fn language_then_media_then_the_default() {
        let mut vi = link("pip", "vi", "vi");
        vi.default = true;
        let en = link("pip", "en-gb", "en-GB");
        let en_pdf = Candidate {
            media: "application/pdf",
            ..link("pip", "en-pdf", "en")
        };
        let und = link("pip", "und", "");
        let levels = [vec![vi, en, en_pdf, und]];
        check(&levels, Some("pip"), "vi-VN,vi;q=0.9,en;q=0.8", "", "vi");
        check(&levels, Some("pip"), "en-GB", "", "en-gb");
        check(&levels, Some("pip"), "en-US", "", "300");
        check(&levels, Some("pip"), "en-US", "application/pdf", "en-pdf");
        check(&levels, Some("pip"), "en", "text/html,*/*;q=0.8", "en-pdf");
        check(&levels, Some("pip"), "en-AU", "text/html,*/*;q=0.8", "300");
        check(&levels, Some("pip"), "fr", "", "und");
        check(&levels, Some("pip"), "fr, en;q=0", "", "und");
        check(&levels, Some("pip"), "", "", "vi");
        check(&levels, None, "en-GB,en;q=0.9", "", "en-gb");
        check(&levels, None, "", "", "vi");
        check(&[vec![en, en_pdf]], Some("pip"), "", "", "300");
        check(&[vec![en, en_pdf]], Some("pip"), "de", "", "300");
    }

    #[test]
    fn the_default_link_type_asks_for_the_default() {
        let mut recipe = link("recipeInfo", "recipe", "");
        recipe.default = true;
        let levels = [vec![], vec![link("pip", "pip", ""), recipe]];
        check(&levels, Some("defaultLink"), "", "", "recipe");
        check(&levels, None, "", "", "recipe");
    }
}
