//! Parsing each scan-code form. The plain GTIN is the baseline the other forms
//! are read against.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use tracescan::code;

fn forms(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    let cases = [
        ("gtin13", "8930002000017".to_owned()),
        (
            "element_human",
            "(01)08930002000017(17)281231(10)L2611(21)S001001".to_owned(),
        ),
        (
            "element_raw_gs",
            concat!(
                "]d2",
                "0108930002000017",
                "17281231",
                "10L2611",
                "\u{1d}",
                "21S001001"
            )
            .to_owned(),
        ),
        (
            "digital_link",
            "https://id.example.vn/01/08930002000017/10/L2611/21/S001001?17=281231".to_owned(),
        ),
        ("stamp", "VN-0011-1010".to_owned()),
        (
            "stamp_url",
            "https://check.example.vn/s/VN-0011-1010".to_owned(),
        ),
        (
            "invalid_check_digit",
            "(01)08930002000018(10)L2611".to_owned(),
        ),
    ];
    for (name, text) in &cases {
        assert!(
            name.starts_with("invalid") != code::parse(text).is_ok(),
            "{name}: {:?}",
            code::parse(text)
        );
        g.bench_function(*name, |b| b.iter(|| code::parse(black_box(text))));
    }
    g.finish();
}

criterion_group!(benches, forms);
criterion_main!(benches);
