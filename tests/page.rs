//! The consumer page (SPEC section 5) over HTTP: negotiation, the same
//! lookup and status as the JSON answer, the words a consumer reads, the
//! headers that keep it safe and cached right, and the hostile fixture
//! rendered harmlessly. What a browser makes of the pages is in
//! tests/browser.rs.

mod common;

use common::{Response, Server, data};
use tracescan::build::{self, Options};

/// What Chromium sends when a phone opens a scanned URL.
const BROWSER: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8";

fn page(server: &Server, target: &str) -> Response {
    server.get_with(target, &[("Accept", BROWSER)])
}

fn page_en(server: &Server, target: &str) -> Response {
    server.get_with(
        target,
        &[("Accept", BROWSER), ("Accept-Language", "en-US,en;q=0.9")],
    )
}

fn scan_target(code: &str) -> String {
    let q = percent_encoding::utf8_percent_encode(code, percent_encoding::NON_ALPHANUMERIC);
    format!("/v1/scan?code={q}")
}

fn assert_page(r: &Response) {
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let csp = r
        .header("content-security-policy")
        .expect("a page carries a CSP");
    assert!(csp.starts_with("default-src 'none';"), "{csp}");
    assert!(!csp.contains("script-src"), "{csp}");
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("vary"), Some("Accept, Accept-Language"));
    assert!(r.text().starts_with("<!doctype html>"));
}

#[test]
fn a_browser_gets_a_page_with_the_status_and_warnings_of_the_json_answer() {
    let server = Server::sample(|_, _| {});
    // (target, status, what the Vietnamese page must say)
    let cases: &[(&str, u16, &[&str])] = &[
        (
            "/01/08930002000017/10/L2611/21/S001001",
            200,
            &[
                "Nước mắm cốt cá cơm Cát Hải 40 độ đạm",
                "Mã này đã được đăng ký",
                "S001001",
                "VN-0011-1010",
                "Số lần quét",
            ],
        ),
        (
            "/s/VN-0011-1010",
            200,
            &["S001001", "Hành trình sản phẩm", "Thu hoạch"],
        ),
        (
            &scan_target("(01)08930002000369"),
            200,
            &[
                "Sản phẩm bị thu hồi",
                "Sản phẩm này đã bị thu hồi.",
                "Đừng mua hoặc sử dụng",
            ],
        ),
        (
            &scan_target("(01)08930002001137(10)L2633"),
            200,
            &[
                "Lô hàng bị thu hồi",
                "Lô L2633 của sản phẩm này đã bị thu hồi.",
            ],
        ),
        (
            "/01/08930002000017/21/FAKE1",
            200,
            &[
                "Số sê-ri chưa được đăng ký",
                "Số sê-ri FAKE1 không có trong hệ thống của nhà sản xuất: sản phẩm có thể là hàng giả.",
            ],
        ),
        ("/s/VN-0812-1261", 200, &["Tem đã bị hủy", "Tem đã bị hủy"]),
        (
            "/01/08930002000017/10/L2510",
            200,
            &[
                "Đã hết hạn sử dụng",
                "Hạn sử dụng của lô L2510 là 01/03/2026.",
            ],
        ),
        (
            "/01/08930002000789/10/L2688",
            200,
            &["Sản phẩm đã ngừng lưu hành"],
        ),
        (
            "/01/08930002000024",
            404,
            &[
                "Không tìm thấy sản phẩm",
                "Mã sản phẩm 08930002000024 chưa được đăng ký",
                "Hãy kiểm tra lại mã",
            ],
        ),
        (
            "/s/NO-SUCH-STAMP",
            404,
            &["Không có sản phẩm nào mang mã tem NO-SUCH-STAMP."],
        ),
        (
            "/01/08930002000018",
            400,
            &["Mã không hợp lệ", "check digit", "Hãy quét lại"],
        ),
        (
            "/v1/scan",
            400,
            &["Mã không hợp lệ", "the code parameter is missing"],
        ),
    ];
    for (target, status, says) in cases {
        let r = page(&server, target);
        assert_eq!(r.status, *status, "{target}: {}", r.text());
        assert_page(&r);
        let text = r.text();
        assert!(text.contains("<html lang=\"vi\">"), "{target}");
        for s in *says {
            assert!(text.contains(s), "{target} should say {s:?}:\n{text}");
        }
        // The JSON answer of the same request has the same status.
        let json = server.get_with(target, &[("Accept", "application/json")]);
        assert_eq!(json.status, *status, "{target}");
        assert_eq!(
            json.header("content-type"),
            Some("application/json; charset=utf-8")
        );
        assert_eq!(json.header("vary"), Some("Accept, Accept-Language"));
        assert_eq!(json.header("content-security-policy"), None);
    }
}

#[test]
fn warnings_come_first_and_a_grave_one_most_prominently() {
    let server = Server::sample(|_, _| {});
    let text = page(&server, &scan_target("(01)08930002000369")).text();
    let warning = text
        .find("class=\"grave\"")
        .expect("a recall is a grave warning");
    let product = text.find("Mè xửng gừng Huế, đặc sản").unwrap();
    assert!(warning < product, "the warning comes before the product");
    let text = page(&server, "/01/08930002000017/10/L2510").text();
    assert!(
        text.contains("class=\"caution\""),
        "expiry is a caution: {text}"
    );
    assert!(!text.contains("class=\"grave\""));
    assert!(
        !text.contains("Đừng mua"),
        "no advice against buying for an expiry"
    );
}

#[test]
fn english_by_accept_language_or_query() {
    let server = Server::sample(|_, _| {});
    let r = page_en(&server, "/01/08930002000017/21/FAKE1");
    assert_page(&r);
    let text = r.text();
    assert!(text.contains("<html lang=\"en\">"));
    assert!(
        text.contains(
            "Serial number FAKE1 is not registered by the producer: the product may be counterfeit."
        ),
        "{text}"
    );
    let text = page(&server, "/01/08930002000017/10/L2510?lang=en").text();
    assert!(text.contains("Lot L2510 expired on 01/03/2026."), "{text}");
    assert!(text.contains("Supply chain") && text.contains("Harvesting"));
    // The link to the other language keeps the code.
    assert!(
        text.contains("href=\"/01/08930002000017/10/L2510?lang=vi\""),
        "{text}"
    );
    let text = page(
        &server,
        &format!("{}&lang=en", scan_target("8930002000086")),
    )
    .text();
    assert!(text.contains("Product code (GTIN)"), "{text}");
    let text = page_en(&server, "/01/08930002000017?lang=vi").text();
    assert!(
        text.contains("<html lang=\"vi\">"),
        "?lang wins over Accept-Language"
    );
}

#[test]
fn times_and_dates_are_written_the_vietnamese_way_at_the_services_offset() {
    let server = Server::sample(|_, _| {});
    let text = page(&server, "/01/08930002000017/10/L2510").text();
    // 2025-01-01T08:13:00+07:00 in the sample.
    assert!(text.contains("01/01/2025 08:13"), "{text}");
    assert!(text.contains("<dd>01/01/2025</dd>") && text.contains("<dd>01/03/2026</dd>"));
    let west = Server::sample(|c, _| c.utc_offset = -5 * 3600);
    let text = page(&west, "/01/08930002000017/10/L2510").text();
    assert!(text.contains("31/12/2024 20:13"), "{text}");
}

#[test]
fn without_a_browsers_accept_the_answer_is_json() {
    let server = Server::sample(|_, _| {});
    for accept in [
        None,
        Some("*/*"),
        Some("application/json"),
        Some("text/html;q=0.5, application/json"),
    ] {
        let headers: Vec<(&str, &str)> = accept.map(|a| ("Accept", a)).into_iter().collect();
        let r = server.get_with("/s/VN-0011-1010", &headers);
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("content-type"),
            Some("application/json; charset=utf-8"),
            "{accept:?}"
        );
        assert_eq!(r.json()["item"]["stamp"], "VN-0011-1010");
        assert_eq!(r.json()["code"], "/s/VN-0011-1010");
    }
}

#[test]
fn a_page_counts_the_scan_as_json_does_and_a_head_counts_none() {
    let server = Server::sample(|c, _| c.scan_repeat_window_s = 0);
    let count = |server: &Server| {
        server.get("/s/VN-0011-1010").json()["item"]["scans"]["count"]
            .as_u64()
            .unwrap()
    };
    let before = count(&server);
    assert!(
        page(&server, "/s/VN-0011-1010")
            .text()
            .contains(&format!("{} lần", before + 1))
    );
    let head = server.request_with("HEAD", "/s/VN-0011-1010", &[("Accept", BROWSER)]);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(
        count(&server),
        before + 2,
        "the page counted, the HEAD did not"
    );
}

#[test]
fn a_stamp_scanned_many_times_says_so_on_its_page() {
    let server = Server::sample(|c, _| {
        c.scan_repeat_window_s = 0;
        c.scan_warn_above = 3;
    });
    for _ in 0..4 {
        page(&server, "/s/VN-0011-1010");
    }
    let text = page(&server, "/s/VN-0011-1010").text();
    assert!(text.contains("Tem bị quét quá nhiều lần"), "{text}");
    assert!(text.contains("Tem này đã được quét 5 lần kể từ"), "{text}");
    assert!(text.contains("class=\"grave\""));
}

#[test]
fn item_answers_are_never_stored_and_others_revalidate_by_etag() {
    let server = Server::sample(|_, _| {});
    for r in [
        page(&server, "/s/VN-0011-1010"),
        server.get("/s/VN-0011-1010"),
    ] {
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert_eq!(r.header("etag"), None);
    }
    for target in [
        "/01/08930002000017",
        "/01/08930002000017/10/L2611",
        "/01/08930002000024",
    ] {
        let r = page(&server, target);
        assert_eq!(
            r.header("cache-control"),
            Some("public, max-age=60"),
            "{target}"
        );
        let etag = r.header("etag").expect("an ETag").to_owned();
        let again = server.get_with(target, &[("Accept", BROWSER), ("If-None-Match", &etag)]);
        assert_eq!(again.status, 304, "{target}");
        assert!(again.body.is_empty());
        assert_eq!(again.header("etag"), Some(etag.as_str()));
        // The JSON answer and the English page are other representations:
        // the page's tag does not match them.
        let json = server.get_with(target, &[("If-None-Match", &etag)]);
        assert_ne!(json.status, 304);
        let en = server.get_with(
            target,
            &[
                ("Accept", BROWSER),
                ("Accept-Language", "en"),
                ("If-None-Match", &etag),
            ],
        );
        assert_ne!(en.status, 304);
    }
}

#[test]
fn a_recall_changes_the_etag_so_no_cache_keeps_the_old_page() {
    let server = Server::sample(|config, dir| {
        common::with_token(config, dir);
        config.state_dir = Some(dir.join("state"));
    });
    let target = "/01/08930002000017";
    let etag = page(&server, target).header("etag").unwrap().to_owned();
    let r = server.request(
        "POST",
        "/admin/overlay",
        Some(common::TOKEN),
        r#"{"gtin": "08930002000017", "status": "recalled", "notice": "Nhiễm khuẩn"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = server.get_with(target, &[("Accept", BROWSER), ("If-None-Match", &etag)]);
    assert_eq!(r.status, 200);
    assert!(r.text().contains("Sản phẩm bị thu hồi") && r.text().contains("Nhiễm khuẩn"));
}

#[test]
fn before_an_index_is_loaded_a_browser_gets_a_503_page() {
    let server = Server::start(|_, _| {});
    let r = page(&server, "/01/08930002000017");
    assert_eq!(r.status, 503);
    assert_page(&r);
    assert!(r.text().contains("Dịch vụ đang khởi động"));
    assert_eq!(
        server.get("/01/08930002000017").json()["error"],
        "not_ready"
    );
}

/// The hostile fixture: markup, quotes, a `javascript:` notice link, an
/// image URL that tries to break out of its attribute, 23 000 characters
/// without a space, right-to-left overrides, fields of the wrong type in
/// free-form places. Every one must arrive as text.
#[test]
fn hostile_records_render_harmlessly() {
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("hostile.tsidx");
    build::build(&data("fixtures/hostile"), &index, &Options::default()).unwrap();
    let server = Server::start(|c, _| c.index = Some(index));
    let stamp = "/s/%3Cscript%3Ex%3C%2Fscript%3E";
    for target in [
        stamp,
        "/01/08930009000010",
        "/01/08930009000010?lang=en",
        "/01/08930009000027",
    ] {
        let r = page(&server, target);
        assert_eq!(r.status, 200, "{target}: {}", r.text());
        assert_page(&r);
        let text = r.text();
        for forbidden in [
            "<script",
            "<img src=x",
            "<iframe",
            "<svg",
            "<h1>fake",
            "<b>bold",
            "<a href=\"javascript",
            "\"onerror=\"",
            "</dd></dl>",
            "<style>body",
        ] {
            assert!(!text.contains(forbidden), "{target} contains {forbidden:?}");
        }
        assert_eq!(text.matches("<h1>").count(), 1, "{target}");
        assert_eq!(
            text.matches("<a ").count(),
            1,
            "only the language link: {target}"
        );
        assert!(
            !text.contains("javascript:alert(6)"),
            "unknown fields are not shown"
        );
    }
    let text = page(&server, stamp).text();
    assert!(
        text.contains("&lt;script&gt;alert(&quot;name&quot;)&lt;/script&gt;"),
        "{text}"
    );
    assert!(text.contains("&lt;a href=&quot;javascript:alert(5)&quot;&gt;click here&lt;/a&gt; {{ template }} {% raw %}"));
    assert!(text.contains(&"A".repeat(20_000)));
    assert!(
        text.contains("\u{202e}gnp.exe"),
        "right-to-left text kept, isolated"
    );
    assert!(text.contains("<bdi>\u{202e}RTL override address</bdi>"));
    // The image's URL stays inside its attribute.
    assert!(
        text.contains("src=\"https://img.example.vn/a.png&quot;onerror=&quot;alert(1)\""),
        "{text}"
    );
    // A stage whose actor's name is a number shows the stage without it.
    assert!(text.contains("&lt;img src=x onerror=alert(2)&gt;"));
    assert!(
        text.contains("&lt;s&gt;&quot;&amp;&#039;"),
        "the serial, escaped"
    );
}

/// Sections of product and batch pages are kept per index generation: the
/// next night's index shows its own records at once, never the kept ones.
#[test]
fn a_swapped_in_index_shows_its_own_records_on_pages() {
    let server = Server::start(|config, dir| {
        common::with_token(config, dir);
        config.poll_ms = 3_600_000;
    });
    let indexes = server.dir.path().join("indexes");
    let reload = || {
        let r = server.request("POST", "/admin/reload", Some(common::TOKEN), "");
        assert_eq!(r.status, 200, "{}", r.text());
    };
    common::publish(&indexes, "a.tsidx");
    reload();
    let target = "/01/08930002000017/10/L2611";
    let before = page(&server, target).text();
    assert!(before.contains("Nước mắm cốt cá cơm Cát Hải 40 độ đạm"));
    assert!(before.contains("Thu hoạch"));

    let snapshot = common::copy_snapshot(&data("sample"));
    for (file, from, to) in [
        (
            "products.jsonl",
            "Nước mắm cốt cá cơm Cát Hải 40 độ đạm",
            "Nước mắm Cát Hải, nhãn mới",
        ),
        (
            "batches.jsonl",
            "\"step\": \"harvesting\"",
            "\"step\": \"fishing\"",
        ),
    ] {
        let path = snapshot.path().join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from));
        std::fs::write(&path, text.replace(from, to)).unwrap();
    }
    build::build(
        snapshot.path(),
        &indexes.join("b.tsidx"),
        &Options::default(),
    )
    .unwrap();
    reload();
    let after = page(&server, target).text();
    assert!(after.contains("Nước mắm Cát Hải, nhãn mới"), "{after}");
    assert!(
        after.contains("Đánh bắt") && !after.contains("Thu hoạch"),
        "{after}"
    );
}
