//! The consumer pages of the bundled sample as a real browser gets them:
//! headless Chromium (Debian's `chromium`, which `.ci/run` installs) opens
//! each page as a phone's camera app would, and the tests read what it
//! made of it: the text it shows, the elements it built, and whatever it
//! logged about the Content-Security-Policy.
//!
//! Without Chromium the tests say so and pass, except under CI, where a
//! missing browser is a failure.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Server, data};
use tracescan::build::{self, Options};

/// How long one page may take to load and render.
const DEADLINE: Duration = Duration::from_secs(60);

/// What Chromium made of a page.
struct Rendered {
    /// The document as Chromium serialises it after parsing.
    dom: String,
    /// The text between `<body>` and `</body>`, tags dropped, entities read.
    text: String,
    /// What Chromium logged: console messages, CSP violations among them.
    log: String,
}

/// Opens `url` in headless Chromium with a phone's width and `lang` as its
/// language; `None` when there is no Chromium here and this is not CI.
fn open(url: &str, lang: &str) -> Option<Rendered> {
    let child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=390,1200",
            &format!("--lang={lang}"),
            &format!("--accept-lang={lang}"),
            "--dump-dom",
            url,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("skipped: chromium did not start ({e}); apt-get install chromium");
            return None;
        }
        Err(e) => panic!("chromium did not start ({e}): CI must install it"),
    };
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!("chromium took over {DEADLINE:?} on {url}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let dom = String::from_utf8(out.stdout).unwrap();
    assert!(dom.contains("<html"), "chromium rendered nothing for {url}");
    let text = visible_text(&dom);
    Some(Rendered {
        dom,
        text,
        log: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// The body's text: tags dropped, the entities Chromium writes read back,
/// runs of white space made one space.
fn visible_text(dom: &str) -> String {
    let body = dom.split_once("<body>").map_or(dom, |(_, b)| b);
    let mut text = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Checks what every page must be in a browser: no script element, no CSP
/// violation (our style sheet is the one the policy's hash allows), the
/// page's language set.
fn assert_clean(page: &Rendered, url: &str, lang: &str) {
    assert!(!page.dom.contains("<script"), "{url}: a script element");
    assert!(
        !page.log.contains("Content Security Policy"),
        "{url}: a CSP violation:\n{}",
        page.log
    );
    assert!(
        page.dom.contains(&format!("<html lang=\"{lang}\">")),
        "{url}"
    );
}

#[test]
fn the_sample_pages_read_right_in_chromium() {
    let server = Server::sample(|c, _| {
        c.scan_repeat_window_s = 0;
        c.scan_warn_above = 3;
    });
    let base = format!("http://{}", server.addr);
    // A stamp scanned past the threshold: four scans before the page's.
    for _ in 0..4 {
        server.get("/s/VN-0012-1013");
    }
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "/01/08930002000017/10/L2611/21/S001001",
            "vi",
            &[
                "Nước mắm cốt cá cơm Cát Hải 40 độ đạm",
                "Mã này đã được đăng ký trong hệ thống truy xuất nguồn gốc.",
                "OCOP 4 sao",
                "Nhà sản xuất Tên Hợp tác xã Nước mắm Cát Hải",
                "Mã địa điểm (GLN) 8930001000018",
                "Số lô L2611",
                "Thu hoạch 02/02/2026 07:00",
                "Số sê-ri S001001 Mã tem VN-0011-1010 Trạng thái Đang lưu hành Số lần quét 1 lần, lần đầu lúc",
            ],
        ),
        (
            "/01/08930002000369",
            "vi",
            &[
                "Sản phẩm bị thu hồi Sản phẩm này đã bị thu hồi.",
                "Đừng mua hoặc sử dụng sản phẩm này.",
            ],
        ),
        (
            "/01/08930002000017/21/FAKE1",
            "en",
            &[
                "Serial number not registered",
                "Serial number FAKE1 is not registered by the producer: the product may be counterfeit.",
            ],
        ),
        (
            "/s/VN-0012-1013",
            "vi",
            &[
                "Tem bị quét quá nhiều lần",
                "Tem này đã được quét 5 lần kể từ",
            ],
        ),
        (
            "/s/VN-0812-1261",
            "vi",
            &["Tem đã bị hủy", "Trạng thái Tem đã bị hủy"],
        ),
        (
            "/01/08930002000024",
            "vi",
            &[
                "Không tìm thấy sản phẩm",
                "Mã sản phẩm 08930002000024 chưa được đăng ký",
                "Hãy kiểm tra lại mã.",
            ],
        ),
        (
            "/01/08930002000018",
            "en",
            &[
                "Invalid code",
                "check digit",
                "Scan it again, or check the code printed on the product.",
            ],
        ),
    ];
    for (path, lang, says) in cases {
        let url = format!("{base}{path}");
        let Some(page) = open(&url, lang) else { return };
        assert_clean(&page, &url, lang);
        for s in *says {
            assert!(
                page.text.contains(s),
                "{url} should show {s:?}; it shows:\n{}",
                page.text
            );
        }
    }
}

#[test]
fn the_hostile_fixture_is_only_text_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("hostile.tsidx");
    build::build(&data("fixtures/hostile"), &index, &Options::default()).unwrap();
    let server = Server::start(|c, _| c.index = Some(index));
    let url = format!("http://{}/s/%3Cscript%3Ex%3C%2Fscript%3E", server.addr);
    let Some(page) = open(&url, "vi") else { return };
    assert_clean(&page, &url, "vi");
    // The markup in the records is shown, not built.
    for shown in [
        "<script>alert(\"name\")</script> Nước mắm",
        "\"'><img src=x onerror=alert(1)>",
        "<a href=\"javascript:alert(5)\">click here</a>",
        "<iframe src=//evil.example></iframe>",
        "<img src=x onerror=alert(2)>",
    ] {
        assert!(
            page.text.contains(shown),
            "{shown:?} should be text:\n{}",
            page.text
        );
    }
    for element in ["<iframe", "<svg", "<a href=\"javascript", "<h1>fake"] {
        assert!(
            !page.dom.contains(element),
            "an element was built: {element}"
        );
    }
    assert_eq!(
        page.dom.matches("<img ").count(),
        1,
        "only the product image"
    );
    assert_eq!(page.dom.matches("<h1>").count(), 1);
}
