//! tracescan as a GS1 Digital Link resolver (SPEC section 6), on the
//! bundled sample: every rule as a request and what it must answer, the
//! linksets and the description file validated against GS1's own schemas.
//!
//! The sample's links: Chè Ô Long Tân Uyên (8930002000154) has a default
//! product page in Vietnamese, the same page in English, a VietGAP
//! certificate and a recipe; its item S021001 has a verification page of
//! its own.
//! The recalled lot L2633 of 8930002001137 links its recall notice. Every
//! other product has a Vietnamese page (not default), and 8930002001410 has
//! no links at all: tracescan's own page is their default.

mod common;

use common::{Response, Server, data};
use serde_json::Value;

const TEA: &str = "/01/08930002000154";
const TEA_ITEM: &str = "/01/08930002000154/10/L2625/21/S021001";
const VI_PAGE: &str = "https://chetanuyen.example.vn/san-pham/o-long";
const EN_PAGE: &str = "https://chetanuyen.example.vn/en/products/oolong";
const CERT: &str = "https://chetanuyen.example.vn/chung-nhan/vietgap-2026.pdf";
const ITEM_CHECK: &str = "https://chetanuyen.example.vn/xac-thuc/S021001";
const RECALL_NOTICE: &str = "https://thuhoi.example.vn/01/08930002001137/10/L2633";
const NO_LINKS: &str = "/01/08930002001410";
const LINKSET_TYPE: (&str, &str) = ("content-type", "application/linkset+json");

/// What a request must get: its status, headers that must hold a value (or
/// contain it, after a `~`), and text the body must contain.
struct Case {
    method: &'static str,
    target: &'static str,
    headers: &'static [(&'static str, &'static str)],
    status: u16,
    expect_headers: &'static [(&'static str, &'static str)],
    body_has: &'static str,
}

fn case(target: &'static str, status: u16) -> Case {
    Case {
        method: "GET",
        target,
        headers: &[],
        status,
        expect_headers: &[],
        body_has: "",
    }
}

fn check(server: &Server, c: &Case) -> Response {
    let r = server.request_with(c.method, c.target, c.headers);
    let what = format!("{} {} {:?}", c.method, c.target, c.headers);
    assert_eq!(r.status, c.status, "{what}: {}", r.text());
    for (name, expected) in c.expect_headers {
        let got = r
            .header(name)
            .unwrap_or_else(|| panic!("{what}: no {name} header"));
        match expected.strip_prefix('~') {
            Some(part) => assert!(got.contains(part), "{what}: {name} {got:?} lacks {part:?}"),
            None => assert_eq!(got, *expected, "{what}: {name}"),
        }
    }
    assert!(
        r.text().contains(c.body_has),
        "{what}: the body lacks {:?}: {}",
        c.body_has,
        r.text()
    );
    r
}

#[test]
fn every_rule_of_section_6_as_request_and_answer() {
    let server = Server::sample(|c, _| c.scan_repeat_window_s = 0);
    let cases = [
        // Rule 1: the linkset, asked for by linkType or by Accept.
        Case {
            target: "/01/08930002000154?linkType=linkset",
            expect_headers: &[LINKSET_TYPE],
            body_has: "\"anchor\":\"http://tracescan.test/01/08930002000154\"",
            ..case("", 200)
        },
        Case {
            target: "/01/08930002000154?linkType=all",
            expect_headers: &[LINKSET_TYPE],
            ..case("", 200)
        },
        Case {
            headers: &[("Accept", "application/linkset+json")],
            expect_headers: &[LINKSET_TYPE],
            body_has: "https://gs1.org/voc/recipeInfo",
            ..case(TEA, 200)
        },
        // Rule 2: a link type, chosen by language and media type.
        Case {
            target: "/01/08930002000154?linkType=gs1:pip",
            expect_headers: &[("location", VI_PAGE)],
            ..case("", 307)
        },
        Case {
            target: "/01/08930002000154?linkType=https%3A%2F%2Fgs1.org%2Fvoc%2Fpip",
            headers: &[("Accept-Language", "en-GB,en;q=0.9")],
            expect_headers: &[("location", EN_PAGE)],
            ..case("", 307)
        },
        Case {
            target: "/01/08930002000154?linkType=gs1:certificationInfo&utm_source=qr",
            expect_headers: &[(
                "location",
                "https://chetanuyen.example.vn/chung-nhan/vietgap-2026.pdf?utm_source=qr",
            )],
            ..case("", 307)
        },
        // The item's own link, and its product's links from the item.
        Case {
            target: "/01/08930002000154/10/L2625/21/S021001?linkType=gs1:verificationService",
            expect_headers: &[("location", ITEM_CHECK), ("cache-control", "no-store")],
            ..case("", 307)
        },
        Case {
            target: "/01/08930002000154?linkType=gs1:verificationService",
            body_has: "link_type_not_found",
            ..case("", 404)
        },
        Case {
            target: "/01/08930002000154/10/L2625/21/S021002?linkType=gs1:certificationInfo",
            expect_headers: &[("location", CERT)],
            ..case("", 307)
        },
        Case {
            target: "/01/08930002001137/10/L2633?linkType=gs1:recallStatus",
            expect_headers: &[("location", RECALL_NOTICE)],
            ..case("", 307)
        },
        // Two pages fit a reader of French equally; the tie goes to the
        // record's default (a 300 without one: see below).
        Case {
            target: "/01/08930002000154?linkType=gs1:pip",
            headers: &[("Accept-Language", "fr")],
            expect_headers: &[("location", VI_PAGE)],
            ..case("", 307)
        },
        Case {
            target: "/01/08930002000154?linkType=gs1:faqs",
            body_has: "link_type_not_found",
            ..case("", 404)
        },
        Case {
            target: "/01/08930002000154?linkType=gs1:nonsense",
            body_has: "not a GS1 link type",
            ..case("", 404)
        },
        // tracescan's own page, asked for by its type: redirected to, as
        // any link of a type asked for is.
        Case {
            target: "/01/08930002000154?linkType=gs1:traceability",
            expect_headers: &[(
                "location",
                "http://tracescan.test/v1/scan?code=http%3A%2F%2Ftracescan.test%2F01%2F08930002000154",
            )],
            ..case("", 307)
        },
        // Rule 3: JSON.
        Case {
            headers: &[("Accept", "application/json")],
            expect_headers: &[("content-type", "application/json; charset=utf-8")],
            body_has: "\"match\":\"product\"",
            ..case(TEA, 200)
        },
        // Rule 4: the default link, in the reader's language.
        Case {
            expect_headers: &[("location", VI_PAGE)],
            ..case(TEA, 307)
        },
        Case {
            target: "/01/08930002000154/?utm_campaign=tet",
            headers: &[("Accept-Language", "en")],
            expect_headers: &[(
                "location",
                "https://chetanuyen.example.vn/en/products/oolong?utm_campaign=tet",
            )],
            ..case("", 307)
        },
        // No default marked: tracescan's own page, a page for a browser and
        // JSON for an app, with no redirect.
        Case {
            headers: &[("Accept", "text/html,*/*;q=0.8")],
            expect_headers: &[("content-type", "text/html; charset=utf-8")],
            ..case(NO_LINKS, 200)
        },
        Case {
            expect_headers: &[("content-type", "application/json; charset=utf-8")],
            body_has: "\"match\":\"batch\"",
            ..case("/01/08930002000017/10/L2611", 200)
        },
        // OPTIONS, CORS, HEAD.
        Case {
            method: "OPTIONS",
            expect_headers: &[
                ("access-control-allow-origin", "*"),
                ("access-control-allow-methods", "GET, HEAD, OPTIONS"),
                ("allow", "GET, HEAD, OPTIONS"),
            ],
            ..case(TEA_ITEM, 204)
        },
        Case {
            method: "HEAD",
            expect_headers: &[("location", VI_PAGE)],
            ..case(TEA, 307)
        },
        Case {
            method: "POST",
            expect_headers: &[("allow", "GET, HEAD, OPTIONS")],
            ..case(TEA, 405)
        },
        // Not Digital Link syntax: 400, never 404 or 200.
        Case {
            body_has: "invalid_code",
            ..case("/01/08930002000155", 400)
        },
        Case {
            body_has: "not a GS1 Digital Link",
            ..case("/01/08930002000154/10", 400)
        },
        Case {
            body_has: "qualifiers 99 do not fit AI 01",
            ..case("/01/08930002000154/99/x", 400)
        },
        Case {
            body_has: "not a GS1 Digital Link",
            ..case("/01/08930002000154/foo", 400)
        },
        Case {
            body_has: "do not fit AI 01",
            ..case("/01/08930002000154/21/S1/10/L1", 400)
        },
        Case {
            body_has: "invalid_code",
            ..case("/01/ABC", 400)
        },
        // A valid Digital Link of a key that is not a GTIN: 404.
        Case {
            body_has: "not_found",
            ..case("/414/9520123456788", 404)
        },
        Case {
            body_has: "not_found",
            ..case("/01/09506000134352", 404)
        },
        // The description file.
        Case {
            target: "/.well-known/gs1resolver",
            body_has: "\"resolverRoot\":\"http://tracescan.test\"",
            ..case("", 200)
        },
    ];
    for c in &cases {
        let r = check(&server, c);
        // Every Digital Link answer of a valid URI says where its linkset is.
        if c.target.starts_with("/01/") && ![400, 405].contains(&r.status) {
            let link = r
                .header("link")
                .unwrap_or_else(|| panic!("{}: no Link header", c.target));
            assert!(
                link.starts_with("<http://tracescan.test/01/")
                    && link.contains("?linkType=linkset>; rel=\"linkset\""),
                "{}: {link}",
                c.target
            );
            assert_eq!(
                r.header("access-control-allow-origin"),
                Some("*"),
                "{}",
                c.target
            );
        }
    }
}

#[test]
fn links_that_fit_equally_are_a_300_with_the_linkset() {
    // The sample's tea with no default link: its two pages, in Vietnamese
    // and English, fit a French reader equally.
    let dir = common::copy_snapshot(&data("sample"));
    let products = dir.path().join("products.jsonl");
    let text = std::fs::read_to_string(&products).unwrap();
    let text = text.replace("\"default\": true", "\"default\": false");
    std::fs::write(&products, text).unwrap();
    let server = Server::start(|c, _| {
        c.snapshot = Some(dir.path().to_owned());
        c.index = None;
    });
    let r = server.get_with(
        "/01/08930002000154?linkType=gs1:pip",
        &[("Accept-Language", "fr")],
    );
    assert_eq!(r.status, 300, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/linkset+json"));
    assert_valid_linkset(&r.json(), "the 300 answer");
    // With no default marked, the product's default is tracescan's own page.
    let r = server.get_with("/01/08930002000154", &[("Accept", "application/json")]);
    assert_eq!(r.status, 200);
    let set = server
        .get_with("/01/08930002000154?linkType=linkset", &[])
        .json();
    let default = &set["linkset"][0]["https://gs1.org/voc/defaultLink"][0]["href"];
    assert!(
        default
            .as_str()
            .unwrap()
            .starts_with("http://tracescan.test/v1/scan?code="),
        "{default}"
    );
}

/// Validates `value` against GS1's linkset schema.
fn assert_valid_linkset(value: &Value, what: &str) {
    assert_valid("gs1-linkset-schema.json", value, what)
}

fn assert_valid(schema: &str, value: &Value, what: &str) {
    let path = data("../tests/fixtures/gs1-resolver").join(schema);
    let schema: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what}: {errors:#?}\n{value}");
}

#[test]
fn linksets_of_every_level_validate_against_gs1s_schema() {
    let server = Server::sample(|_, _| {});
    for target in [
        TEA,
        TEA_ITEM,
        "/01/08930002000154/10/L2625",
        "/01/08930002000154/10/L2625/21/S021002",
        "/01/08930002000154/21/S999999",
        "/01/08930002001137/10/L2633",
        NO_LINKS,
        "/01/08930002000017/10/L2611/21/S001001",
    ] {
        let r = server.get_with(&format!("{target}?linkType=linkset"), &[]);
        assert_eq!(r.status, 200, "{target}: {}", r.text());
        let set = r.json();
        assert_valid_linkset(&set, target);
        let context = &set["linkset"][0];
        assert_eq!(context["anchor"], format!("http://tracescan.test{target}"));
        // tracescan's own page is always a traceability link.
        let own = context["https://gs1.org/voc/traceability"]
            .as_array()
            .unwrap();
        assert!(
            own.iter().any(|l| l["href"]
                .as_str()
                .unwrap()
                .starts_with("http://tracescan.test/v1/scan?code=")),
            "{target}"
        );
    }
    // Levels add up: the item lists its own links and its product's.
    let item = server
        .get_with(&format!("{TEA_ITEM}?linkType=linkset"), &[])
        .json();
    let context = &item["linkset"][0];
    assert_eq!(
        context["https://gs1.org/voc/verificationService"][0]["href"],
        ITEM_CHECK
    );
    assert_eq!(
        context["https://gs1.org/voc/certificationInfo"][0]["href"],
        CERT
    );
    assert_eq!(
        context["https://gs1.org/voc/defaultLink"][0]["href"],
        VI_PAGE
    );
    let recall = server
        .get("/01/08930002001137/10/L2633?linkType=linkset")
        .json();
    assert_eq!(
        recall["linkset"][0]["https://gs1.org/voc/recallStatus"][0]["href"],
        RECALL_NOTICE
    );
    assert!(
        recall["linkset"][0]["https://gs1.org/voc/pip"].is_array(),
        "the product's links are listed too"
    );
}

#[test]
fn the_description_file_validates_against_gs1s_schema() {
    let server = Server::sample(|c, _| c.public_url = Some("https://id.example.vn".into()));
    let r = server.get_with("/.well-known/gs1resolver", &[]);
    assert_eq!(r.status, 200);
    let file = r.json();
    assert_valid(
        "description-file-schema.json",
        &file,
        "the description file",
    );
    assert_eq!(file["resolverRoot"], "https://id.example.vn");
    assert_eq!(file["supportedPrimaryKeys"], serde_json::json!(["01"]));
}

#[test]
fn the_public_url_roots_anchors_and_links() {
    let server = Server::sample(|c, _| c.public_url = Some("https://id.example.vn".into()));
    let r = server.get_with(&format!("{TEA}?linkType=linkset"), &[]);
    assert_eq!(
        r.json()["linkset"][0]["anchor"],
        "https://id.example.vn/01/08930002000154"
    );
    assert_eq!(
        r.header("link"),
        Some(
            "<https://id.example.vn/01/08930002000154?linkType=linkset>; rel=\"linkset\"; type=\"application/linkset+json\", \
             <https://id.example.vn/contexts/linkset.jsonld>; rel=\"http://www.w3.org/ns/json-ld#context\"; type=\"application/ld+json\""
        ),
        "a linkset answer names its JSON-LD context"
    );
    // The context is served, as JSON-LD.
    let r = server.get_with("/contexts/linkset.jsonld", &[]);
    assert_eq!(r.header("content-type"), Some("application/ld+json"));
    assert_eq!(r.json()["@context"]["anchor"], "@id");
    // Other answers name no context.
    let r = server.get_with(TEA, &[]);
    assert!(
        !r.header("link").unwrap().contains("json-ld"),
        "{:?}",
        r.header("link")
    );
    // Without one, a Host that could break out of a link is refused.
    let server = Server::sample(|_, _| {});
    let r = server
        .raw(b"GET /01/08930002000154 HTTP/1.1\r\nHost: evil\"><x\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 400, "{}", r.text());
}

#[test]
fn a_redirect_counts_the_scan_and_a_linkset_or_head_does_not() {
    let server = Server::sample(|c, _| c.scan_repeat_window_s = 0);
    let count = || {
        server.scan("VN-0211-1072").json()["item"]["scans"]["count"]
            .as_u64()
            .unwrap()
    };
    let before = count();
    server.request_with("HEAD", TEA_ITEM, &[]);
    server.get_with(&format!("{TEA_ITEM}?linkType=linkset"), &[]);
    server.request_with("OPTIONS", TEA_ITEM, &[]);
    assert_eq!(count(), before + 1, "only the lookup itself counted");
    let r = server.get_with(TEA_ITEM, &[]);
    assert_eq!(r.status, 307);
    assert_eq!(count(), before + 3, "the redirect counted, and the lookup");
}

#[test]
fn an_items_own_link_goes_before_its_products_of_the_same_type() {
    // The sample's verification page of item S021001 made a certificate.
    let dir = common::copy_snapshot(&data("sample"));
    let items = dir.path().join("items.jsonl");
    let text = std::fs::read_to_string(&items).unwrap();
    std::fs::write(
        &items,
        text.replace("gs1:verificationService", "gs1:certificationInfo"),
    )
    .unwrap();
    let server = Server::start(|c, _| c.snapshot = Some(dir.path().to_owned()));
    let r = server.get_with(&format!("{TEA_ITEM}?linkType=gs1:certificationInfo"), &[]);
    assert_eq!((r.status, r.header("location")), (307, Some(ITEM_CHECK)));
    // Its sibling has none: its product's.
    let sibling = "/01/08930002000154/10/L2625/21/S021002?linkType=gs1:certificationInfo";
    assert_eq!(server.get_with(sibling, &[]).header("location"), Some(CERT));
    // The linkset lists both, the item's first.
    let set = server
        .get_with(&format!("{TEA_ITEM}?linkType=linkset"), &[])
        .json();
    let certs: Vec<&str> = set["linkset"][0]["https://gs1.org/voc/certificationInfo"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["href"].as_str().unwrap())
        .collect();
    assert_eq!(certs, [ITEM_CHECK, CERT]);
    assert_valid_linkset(&set, "the item's linkset");
}

#[test]
fn a_record_with_a_bad_link_is_a_reject_with_its_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let snap = tmp.path().join("snap");
    std::fs::create_dir(&snap).unwrap();
    let product = |gtin: &str, links: &str| {
        format!("{{\"gtin\": \"{gtin}\", \"name\": \"P\", \"links\": {links}}}")
    };
    let products = [
        product(
            "8930002000017",
            r#"[{"type": "gs1:pip", "href": "https://b.vn/p", "title": "Trang"}]"#,
        ),
        product(
            "8930002000086",
            r#"[{"type": "gs1:pip", "href": "https://b.vn/p"}]"#,
        ),
        product(
            "8930002000154",
            r#"[{"type": "gs1:pip", "href": "javascript:alert(1)", "title": "t"}]"#,
        ),
        product(
            "8930002000222",
            r#"[{"type": "gs1:webpage", "href": "https://b.vn", "title": "t"}]"#,
        ),
        product(
            "8930002000291",
            r#"[{"type": "gs1:pip", "href": "https://b.vn/1", "title": "a", "default": true}, {"type": "gs1:faqs", "href": "https://b.vn/2", "title": "b", "default": true}]"#,
        ),
    ];
    std::fs::write(snap.join("products.jsonl"), products.join("\n") + "\n").unwrap();
    std::fs::write(
        snap.join("batches.jsonl"),
        "{\"gtin\": \"8930002000017\", \"lot\": \"L1\", \"links\": [{\"type\": \"gs1:recallStatus\", \"href\": \"https://b.vn/r\", \"title\": \"r\", \"lang\": \"vie\"}]}\n",
    )
    .unwrap();
    std::fs::write(
        snap.join("items.jsonl"),
        "{\"gtin\": \"8930002000017\", \"serial\": \"S1\", \"links\": [{\"href\": \"https://b.vn/s\", \"title\": \"s\"}]}\n\
         {\"gtin\": \"8930002000017\", \"serial\": \"S2\", \"links\": [{\"type\": \"gs1:verificationService\", \"href\": \"https://b.vn/v\", \"title\": \"v\"}]}\n",
    )
    .unwrap();
    let out = tmp.path().join("x.tsidx");
    let options = tracescan::build::Options {
        max_rejects: 10,
        ..Default::default()
    };
    let summary = tracescan::build::build(&snap, &out, &options).unwrap();
    let report = std::fs::read_to_string(summary.rejects_report.unwrap()).unwrap();
    let rejects: Vec<(String, u64, String, String)> = report
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let s = |k: &str| v[k].as_str().unwrap().to_owned();
            (
                s("file"),
                v["line"].as_u64().unwrap(),
                s("reason"),
                s("detail"),
            )
        })
        .collect();
    let expected = [
        (
            "products.jsonl",
            2,
            "missing_field",
            "\"links[0].title\" is required",
        ),
        (
            "products.jsonl",
            3,
            "invalid_field",
            "\"links[0].href\" must be an http(s) URL",
        ),
        (
            "products.jsonl",
            4,
            "invalid_field",
            "\"gs1:webpage\" is not a GS1 link type",
        ),
        (
            "products.jsonl",
            5,
            "invalid_field",
            "are both marked default",
        ),
        (
            "batches.jsonl",
            1,
            "invalid_field",
            "\"links[0].lang\" \"vie\" is not a language tag",
        ),
        (
            "items.jsonl",
            1,
            "missing_field",
            "\"links[0].type\" is required",
        ),
    ];
    assert_eq!(rejects.len(), expected.len(), "{report}");
    for ((file, line, reason, detail), (ef, el, er, ed)) in rejects.iter().zip(expected) {
        assert_eq!(
            (file.as_str(), *line, reason.as_str()),
            (ef, el, er),
            "{report}"
        );
        assert!(detail.contains(ed), "{detail:?} does not say {ed:?}");
    }
    // What passed is served, the item's link with it.
    let index = tracescan::index::Index::open(&out).unwrap();
    let p = index
        .product(tracescan::code::Gtin::parse("8930002000017").unwrap())
        .unwrap();
    assert_eq!(index.product_links(&p).own.len(), 1);
    let item = index.item(&p, "S2").unwrap();
    assert_eq!(
        index.item_links(&item).unwrap().own[0].href.as_str(),
        "https://b.vn/v"
    );
}

#[test]
fn a_compressed_digital_link_resolves_as_its_uncompressed_form() {
    let server = Server::sample(|_, _| {});
    let ais = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, v)| (a.to_string(), v.to_string()))
            .collect()
    };
    let item = ais(&[("01", "08930002000154"), ("10", "L2625"), ("21", "S021001")]);
    let compressed = tracescan::code::compress(&item, &[], false).unwrap();
    let path = format!("/{compressed}");
    // The default link, the linkset anchored at the uncompressed URI, a
    // link type, the JSON answer: as for /01/…/10/…/21/….
    let r = server.get_with(&path, &[]);
    assert_eq!(
        (r.status, r.header("location")),
        (307, Some(VI_PAGE)),
        "{path}"
    );
    assert_eq!(
        r.header("link").unwrap(),
        format!(
            "<http://tracescan.test{TEA_ITEM}?linkType=linkset>; rel=\"linkset\"; type=\"application/linkset+json\", \
             <http://tracescan.test{TEA_ITEM}>; rel=\"owl:sameAs\""
        ),
        "the uncompressed URI is exposed as the same resource"
    );
    let set = server
        .get_with(&format!("{path}?linkType=linkset"), &[])
        .json();
    assert_eq!(
        set["linkset"][0]["anchor"],
        format!("http://tracescan.test{TEA_ITEM}")
    );
    let r = server.get_with(&format!("{path}?linkType=gs1:verificationService"), &[]);
    assert_eq!(r.header("location"), Some(ITEM_CHECK));
    let r = server.get_with(&path, &[("Accept", "application/json")]);
    assert_eq!(r.json()["match"], "item");
    // Behind a resolver prefix, and as a scanned code.
    let r = server.get_with(&format!("/dl{path}"), &[("Accept", "application/json")]);
    assert_eq!(r.json()["match"], "item", "{}", r.text());
    let r = server.scan(&format!("https://id.example.vn/dl{path}"));
    assert_eq!(
        (r.status, r.json()["match"].as_str()),
        (200, Some("item")),
        "{}",
        r.text()
    );
    // A path that is no compressed link is no route, not a 400.
    assert_eq!(server.get_with("/favicon.ico", &[]).status, 404);
}

#[test]
fn a_stamp_url_whose_token_decodes_as_a_compressed_link_still_finds_its_stamp() {
    // The token is GS1's compression of a GTIN no product of the sample has.
    let gtin = [("01".to_string(), "09506000134352".to_string())];
    let token = tracescan::code::compress(&gtin, &[], false).unwrap();
    let dir = common::copy_snapshot(&data("sample"));
    let items = dir.path().join("items.jsonl");
    let mut text = std::fs::read_to_string(&items).unwrap();
    text.push_str(&format!(
        "{{\"gtin\": \"8930002000017\", \"serial\": \"TOKEN1\", \"stamp\": \"{token}\"}}\n"
    ));
    std::fs::write(&items, text).unwrap();
    let manifest = dir.path().join("manifest.json");
    let m = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("\"items\": 85", "\"items\": 86");
    std::fs::write(&manifest, m).unwrap();
    let server = Server::start(|c, _| c.snapshot = Some(dir.path().to_owned()));
    let r = server.scan(&format!("https://tem.example.vn/s/{token}"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["item"]["serial"], "TOKEN1");
    // A compressed link of a product that is here is that product.
    let tea = [("01".to_string(), "08930002000154".to_string())];
    let tea = tracescan::code::compress(&tea, &[], false).unwrap();
    let r = server.scan(&format!("https://id.example.vn/{tea}"));
    assert_eq!(
        r.json()["product"]["gtin"],
        "08930002000154",
        "{}",
        r.text()
    );
}
