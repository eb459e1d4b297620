//! Scan-code parsing, as SPEC section 3 states it. Every case goes through one
//! `check(input, expected)` helper; `expected` is a compact rendering:
//! `01=… 10=…` for the AIs read (with the form in front), `stamp: a | b` for a
//! stamp code, and `! message` for an error whose message must contain `message`.

mod values;

use proptest::prelude::*;
use tracescan::code::{self, CodeError, Form, Scan};
use values::{generatable, mod10, valid_value};

const GS: char = '\u{1d}';

fn render(result: &Result<Scan, CodeError>) -> String {
    match result {
        Ok(Scan::Gs1(c)) => {
            let form = match c.form {
                Form::Gtin => "gtin",
                Form::ElementString => "es",
                Form::DigitalLink => "dl",
                Form::CompressedDigitalLink => "cdl",
            };
            let ais: Vec<String> = c.ais.iter().map(|(a, v)| format!("{a}={v}")).collect();
            format!("{form}: {}", ais.join(" "))
        }
        Ok(Scan::Stamp(s)) => format!("stamp: {}", s.candidates.join(" | ")),
        Err(e) => format!("! {e}"),
    }
}

#[track_caller]
fn check(input: &str, expected: &str) {
    let got = render(&code::parse(input));
    let ok = match expected.strip_prefix("! ") {
        Some(msg) => got.starts_with("! ") && got.contains(msg),
        None => got == expected,
    };
    assert!(
        ok,
        "\ninput:    {input:?}\nexpected: {expected}\ngot:      {got}\n"
    );
}

#[test]
fn gtin_forms() {
    check("96385074", "gtin: 01=00000096385074");
    check("036000291452", "gtin: 01=00036000291452");
    check("4006381333931", "gtin: 01=04006381333931");
    check("8934567890120", "gtin: 01=08934567890120");
    check("08934567890120", "gtin: 01=08934567890120");
    check("10012345000017", "gtin: 01=10012345000017");
    check("95012345678903", "gtin: 01=95012345678903");
    check(" 8934567890120\r\n", "gtin: 01=08934567890120");
    check("8934567890121", "! GTIN: check digit should be 0, found 1");
    check("96385075", "! GTIN: check digit should be 4, found 5");
    check("036000291453", "! GTIN: check digit should be 2, found 3");
    check("10012345000018", "! GTIN: check digit should be 7, found 8");
    // Other digit counts are not GTINs: they are stamp codes.
    check("1234567", "stamp: 1234567");
    check("123456789", "stamp: 123456789");
    check("12345678901", "stamp: 12345678901");
    check("123456789012345", "stamp: 123456789012345");
}

#[test]
fn element_strings_human_readable() {
    check(
        "(01)08934567890120(10)L42(21)X7",
        "es: 01=08934567890120 10=L42 21=X7",
    );
    check(
        "(01)08934567890120(17)271231(10)L42",
        "es: 01=08934567890120 17=271231 10=L42",
    );
    check(
        "(01)08934567890120(17)271200",
        "es: 01=08934567890120 17=271200",
    );
    check(
        "(01)08934567890120(3103)000500",
        "es: 01=08934567890120 3103=000500",
    );
    check(
        "(00)106141411234567891",
        "! AI 00 (SSCC): check digit should be 7, found 1",
    );
    check("(00)106141411234567897", "es: 00=106141411234567897");
    check(
        "(01)08934567890120(10)A(1)B",
        "es: 01=08934567890120 10=A(1)B",
    );
    check(
        "(01)08934567890121",
        "! AI 01 (GTIN): check digit should be 0, found 1",
    );
    check(
        "(01)0893456789012",
        "! AI 01 (GTIN): value is 13 digits long, exactly 14 digits required",
    );
    check(
        "(01)08934567890120(05)X",
        "! unknown Application Identifier (05) at position 20",
    );
    check(
        "(01)08934567890120(17)271331",
        "! AI 17 (USE BY or EXPIRY): month 13 is not a month",
    );
    check(
        "(01)08934567890120(17)270230",
        "! AI 17 (USE BY or EXPIRY): day 30 is not a day of month 02",
    );
    check(
        "(01)08934567890120(11)240229",
        "es: 01=08934567890120 11=240229",
    );
    check(
        "(01)08934567890120(11)250229",
        "! AI 11 (PROD DATE): day 29 is not a day of month 02",
    );
    check(
        "(01)08934567890120(10)",
        "! AI 10 (BATCH/LOT): value is empty",
    );
    check(
        "(01)08934567890120(10)ABCDEFGHIJKLMNOPQRSTU",
        "! AI 10 (BATCH/LOT): value is 21 characters long, 1 to 20 characters allowed",
    );
    check(
        "(01)08934567890120(10)L 42",
        "! AI 10 (BATCH/LOT): character ' ' at position 2 is not in the GS1 82-character set",
    );
    check(
        "(01)08934567890120(10)Lô42",
        "! AI 10 (BATCH/LOT): character 'ô' at position 2 is not in the GS1 82-character set",
    );
    check(
        "(01)08934567890120(10)L42(10)L43",
        "! AI 10 appears twice with different values, 'L42' and 'L43'",
    );
    check(
        "(01)08934567890120(10)L42(10)L42",
        "es: 01=08934567890120 10=L42",
    );
    check(
        "(0108934567890120",
        "! expected an Application Identifier at position 1",
    );
    check(
        "(ab)123",
        "! expected an Application Identifier at position 1",
    );
}

#[test]
fn element_strings_raw() {
    let raw = format!("0108934567890120{}10L42{GS}21X7", "");
    check(&raw, "es: 01=08934567890120 10=L42 21=X7");
    check("0108934567890120", "es: 01=08934567890120");
    check(
        "010893456789012017271231",
        "es: 01=08934567890120 17=271231",
    );
    check(
        "01089345678901201727123110L42",
        "es: 01=08934567890120 17=271231 10=L42",
    );
    check(
        &format!("]d20108934567890120{GS}10L42"),
        "es: 01=08934567890120 10=L42",
    );
    check(&format!("]d2{GS}0108934567890120"), "es: 01=08934567890120");
    for id in ["]C1", "]d2", "]Q3", "]e0", "]J1"] {
        check(
            &format!("{id}010893456789012010L42{GS}21X7"),
            "es: 01=08934567890120 10=L42 21=X7",
        );
    }
    check(&format!("10L42{GS}21X7"), "es: 10=L42 21=X7");
    check(
        "0108934567890120211234567890123456789012",
        "! AI 21 (SERIAL): value is 22 characters long, 1 to 20 characters allowed",
    );
    check(
        &format!("0108934567890120{GS}{GS}21X7"),
        "es: 01=08934567890120 21=X7",
    );
    check(
        &format!("0108934567890120{GS}4220704"),
        "! AI 422 (ORIGIN) has a fixed length and must be followed by a separator (FNC1) at position 24",
    );
    check(
        &format!("0108934567890120{GS}422704{GS}10A"),
        "es: 01=08934567890120 422=704 10=A",
    );
    check(
        &format!("0108934567890120{GS}422704"),
        "es: 01=08934567890120 422=704",
    );
    check(
        "010893456789012005X",
        "! unknown Application Identifier (05) at position 17",
    );
    check(
        "01089345678901203196000500",
        "! unknown Application Identifier (319) at position 17",
    );
    check(
        &format!("0108934567890120{GS}31"),
        "! incomplete Application Identifier '31' at position 18",
    );
    check(
        &format!("0108934567890120{GS}X"),
        "! expected an Application Identifier at position 18, found 'X'",
    );
    check(
        "01089345678901211",
        "! AI 01 (GTIN): check digit should be 0, found 1",
    );
    check(&format!("]Q3{GS}"), "es: ");
    check(&format!("{GS}"), "es: ");
    check(
        "]Q3010893456789012010Lô",
        "! AI 10 (BATCH/LOT): character 'ô' at position 2",
    );
}

#[test]
fn every_ai_family() {
    // One hand-picked valid value per family, from the shapes the GS1 General
    // Specifications give; the generated test below covers every single AI.
    let cases = [
        ("02", "08934567890120"),
        ("03", "08934567890120"),
        ("11", "240100"),
        ("12", "251231"),
        ("13", "250615"),
        ("15", "260101"),
        ("16", "260102"),
        ("20", "07"),
        ("22", "CPV-1"),
        ("235", "TPX123"),
        ("240", "ADD"),
        ("241", "PART"),
        ("242", "123456"),
        ("243", "PCN"),
        ("250", "SEC"),
        ("251", "SRC"),
        ("253", "8934567000017ABC"),
        ("254", "EXT"),
        ("255", "8934567000017123"),
        ("30", "12345678"),
        ("3103", "000500"),
        ("3922", "1995"),
        ("3932", "7041995"),
        ("3940", "1234"),
        ("3955", "123456"),
        ("400", "PO-1"),
        ("401", "8934567GINC1"),
        ("402", "89345670000000017"),
        ("403", "ROUTE"),
        ("410", "8934567000017"),
        ("414", "8934567000017"),
        ("421", "704700000"),
        ("423", "704840"),
        ("427", "HN"),
        ("4300", "Company%20A"),
        ("4307", "VN"),
        ("4309", "10000000002000000000"),
        ("4321", "1"),
        ("4324", "2512312359"),
        ("4326", "251231"),
        ("4330", "000100-"),
        ("4331", "000100"),
        ("7001", "1234567890123"),
        ("7003", "2512312359"),
        ("7007", "250101250131"),
        ("7011", "2501011200"),
        ("7030", "704PROC"),
        ("7040", "1ABC"),
        ("710", "PZN"),
        ("717", "SRN-1"),
        ("7230", "ABCERT"),
        ("7241", "01"),
        ("7250", "20000229"),
        ("7251", "200002291230"),
        ("7258", "1/3"),
        ("8001", "12341234512310"),
        ("8003", "08934567000017SER"),
        ("8004", "8934567GIAI-1"),
        ("8006", "089345678901200102"),
        ("8007", "GB82WEST12345698765432"),
        ("8008", "25123112"),
        ("8008", "2512311259"),
        ("8008", "251231125959"),
        ("8010", "8934567CPID-1/#"),
        ("8011", "123"),
        ("8013", "1987654Ad4X4bL5ttr2310c2K"),
        ("8014", "1987654Ad4X4bL5ttr2310c2K"),
        ("8017", "089345670000000017"),
        ("8020", "REF"),
        ("8030", "YWJj-_=="),
        ("8040", "490154203237518"),
        ("8041", "490154203237526"),
        ("8042", "89049032000001000000000000000001"),
        ("8043", "893456700000000017"),
        ("8043", "89345670000000001701"),
        ("8111", "0100"),
        ("8200", "http://example.vn/p"),
        ("90", "INTERNAL"),
        ("99", "COMPANY-INTERNAL"),
    ];
    for (ai, value) in cases {
        check(&format!("({ai}){value}"), &format!("es: {ai}={value}"));
    }
}

#[test]
fn value_checks_say_what_is_wrong() {
    check(
        "(8013)1987654Ad4X4bL5ttr2310cXK",
        "! AI 8013 (GMN): check characters should be 2K, found XK",
    );
    check(
        "(8014)109999822",
        "! AI 8014 (MUDI): value must contain at least one character that is not a digit",
    );
    check(
        "(8007)GB82WEST12345698765431",
        "! AI 8007 (IBAN): IBAN 'GB82WEST12345698765431' fails its mod-97 check",
    );
    check("(8007)gb82", "! AI 8007 (IBAN)");
    check(
        "(4324)2512312460",
        "! AI 4324 (NOT BEF DEL DT): hour 24 is not a valid hour (at most 23)",
    );
    check(
        "(4324)2512312360",
        "! AI 4324 (NOT BEF DEL DT): minute 60 is not a valid minute (at most 59)",
    );
    check(
        "(8008)251231125960",
        "! AI 8008 (PROD TIME): second 60 is not a valid second",
    );
    check(
        "(4330)000100+",
        "! AI 4330 (MAX TEMP F.): expected '-', found '+'",
    );
    check(
        "(4321)2",
        "! AI 4321 (DANGEROUS GOODS): expected 0 or 1, found 2",
    );
    check(
        "(8003)18934567000017",
        "! AI 8003 (GRAI): expected 0, found 1",
    );
    check(
        "(8001)00001234512310",
        "! AI 8001 (DIMENSIONS): 0000 must not be zero",
    );
    check(
        "(8001)12341234512350",
        "! AI 8001 (DIMENSIONS): winding direction must be 0, 1 or 9, found 5",
    );
    check(
        "(8006)089345678901200302",
        "! AI 8006 (ITIP): piece 3 of total 2 is not a valid piece number",
    );
    check(
        "(8004)GIAI-1",
        "! AI 8004 (GIAI): character 'G' at position 1 is not a digit of a GS1 Company Prefix",
    );
    check(
        "(401)893",
        "! AI 401 (GINC): too short to hold a GS1 Company Prefix",
    );
    check(
        "(7040)1AB!",
        "! AI 7040 (UIC+EXT): importer index '!' must be a letter, a digit, '-' or '_'",
    );
    check(
        "(8011)0123",
        "! AI 8011 (CPID SERIAL): 0123 must not start with 0",
    );
    check(
        "(4300)100%2",
        "! AI 4300 (SHIP TO COMP): '%' at position 4 does not start a %XX escape",
    );
    check(
        "(4309)18000000012000000000",
        "! AI 4309 (SHIP TO GEO): latitude 1800000001 is beyond",
    );
    check(
        "(4309)10000000003600000001",
        "! AI 4309 (SHIP TO GEO): longitude 3600000001 is beyond",
    );
    check(
        "(7258)3/2",
        "! AI 7258 (BIRTH SEQUENCE): expected a position in a sequence",
    );
    check(
        "(7250)20010229",
        "! AI 7250 (DOB): day 29 is not a day of month 02",
    );
    check(
        "(8030)ab=c",
        "! AI 8030 (DIGSIG): character '=' at position 3 is not in the base64url character set",
    );
    check(
        "(8010)abc",
        "! AI 8010 (CPID): character 'a' at position 1 is not in the GS1 39-character set",
    );
    check(
        "(3103)00050",
        "! AI 3103 (NET WEIGHT (kg)): value is 5 digits long, exactly 6 digits required",
    );
    check(
        "(3103)00050A",
        "! AI 3103 (NET WEIGHT (kg)): character 'A' at position 6 is not a digit",
    );
    check(
        "(253)8934567000018",
        "! AI 253 (GDTI): check digit should be 7, found 8",
    );
    check(
        "(402)89345670000000018",
        "! AI 402 (GSIN): check digit should be 7, found 8",
    );
    check(
        "(17)2512",
        "! AI 17 (USE BY or EXPIRY): value is 4 digits long",
    );
    check(
        "(7006)251200",
        "! AI 7006 (FIRST FREEZE DATE): day 00 is not a day of month 12",
    );
}

#[test]
fn characters_outside_ascii_are_refused_in_every_component() {
    // AIs whose components mix character sets were once cut by byte counts
    // inside a multibyte character, and the parser panicked.
    check(
        "(421)12é",
        "! AI 421 (SHIP TO POST): character 'é' at position 3 is not a digit",
    );
    check(
        "(421)704é",
        "! AI 421 (SHIP TO POST): character 'é' at position 4 is not in the GS1 82-character set",
    );
    check(
        "https://id.example.vn/01/08930002000017?4330=12345%C3%A9",
        "! AI 4330 (MAX TEMP F.): character 'é' at position 6 is not a digit",
    );
    check(
        "(253)893000200001ô",
        "! AI 253 (GDTI): character 'ô' at position 13 is not a digit",
    );
    check(
        "(7030)704Hải Phòng",
        "! AI 7030 (PROCESSOR # 0): character 'ả' at position 5",
    );
    check("(8003)0893000200001ô", "! AI 8003 (GRAI): character 'ô'");
    check(
        "(4330)123456é",
        "! AI 4330 (MAX TEMP F.): character 'é' at position 7 is not in the GS1 82-character set",
    );
}

#[test]
fn digital_link() {
    check(
        "https://id.example.vn/01/08934567890120/10/L42/21/X7?17=271231",
        "dl: 01=08934567890120 10=L42 21=X7 17=271231",
    );
    check(
        "https://id.example.vn/01/8934567890120",
        "dl: 01=08934567890120",
    );
    check(
        "https://id.example.vn/01/036000291452",
        "dl: 01=00036000291452",
    );
    check("https://id.example.vn/01/96385074", "dl: 01=00000096385074");
    check(
        "HTTPS://ID.EXAMPLE.VN/01/08934567890120/",
        "dl: 01=08934567890120",
    );
    check(
        "http://localhost:8080/01/08934567890120/21/X7",
        "dl: 01=08934567890120 21=X7",
    );
    check(
        "https://resolver.example.vn/a/b/c/01/08934567890120/10/L42",
        "dl: 01=08934567890120 10=L42",
    );
    check(
        "https://id.example.vn/01/08934567890120/22/V1/10/L42/21/X7",
        "dl: 01=08934567890120 22=V1 10=L42 21=X7",
    );
    check(
        "https://id.example.vn/01/08934567890120/235/TPX1",
        "dl: 01=08934567890120 235=TPX1",
    );
    check(
        "https://id.example.vn/01/08934567890120/10/A%2FB%25C",
        "dl: 01=08934567890120 10=A/B%C",
    );
    // '#' is outside the 82-character set, even percent-encoded.
    check(
        "https://id.example.vn/01/08934567890120/10/A%23",
        "! AI 10 (BATCH/LOT): character '#' at position 2",
    );
    check(
        "https://id.example.vn/01/08934567890120/21/X%37",
        "dl: 01=08934567890120 21=X7",
    );
    check(
        "https://id.example.vn/01/08934567890120?3103=000500&linkType=gs1:pip",
        "dl: 01=08934567890120 3103=000500",
    );
    check(
        "https://id.example.vn/01/08934567890120?17=271200#frag",
        "dl: 01=08934567890120 17=271200",
    );
    check(
        "https://id.example.vn/01/08934567890120/10/L42?10=L42",
        "dl: 01=08934567890120 10=L42",
    );
    check(
        "https://id.example.vn/00/106141411234567897",
        "dl: 00=106141411234567897",
    );
    check(
        "https://id.example.vn/414/8934567000017/254/EXT1",
        "dl: 414=8934567000017 254=EXT1",
    );
    check(
        "https://id.example.vn/8004/8934567GIAI-1",
        "dl: 8004=8934567GIAI-1",
    );
    check(
        "https://id.example.vn/01/08934567890121",
        "! AI 01 (GTIN): check digit should be 0, found 1",
    );
    check(
        "https://id.example.vn/01/0893456789012",
        "! AI 01 (GTIN): check digit should be 4, found 2",
    );
    check(
        "https://id.example.vn/01/ABC/10/L1",
        "! AI 01 (GTIN): character 'A' at position 1 is not a digit",
    );
    check(
        "https://id.example.vn/01/08934567890120/21/X7/10/L42",
        "! Digital Link: qualifiers 21, 10 do not fit AI 01 (GTIN), which takes, in this order: 22, 10, 21 or 235",
    );
    check(
        "https://id.example.vn/01/08934567890120/10/L42/235/T",
        "! Digital Link: qualifiers 10, 235 do not fit",
    );
    check(
        "https://id.example.vn/00/106141411234567897/10/L",
        "! Digital Link: AI 00 (SSCC) takes no qualifiers, found 10",
    );
    check(
        "https://id.example.vn/01/08934567890120/10/L%4",
        "! Digital Link: 'L%4' (AI 10) has a '%' that does not start a %XX escape",
    );
    check(
        "https://id.example.vn/01/08934567890120/10/L%FF",
        "! Digital Link: 'L%FF' (AI 10) does not decode to UTF-8 text",
    );
    check(
        "https://id.example.vn/01/08934567890120?17=271331",
        "! AI 17 (USE BY or EXPIRY): month 13 is not a month",
    );
    check(
        "https://id.example.vn/01/08934567890120?21=X7",
        "! Digital Link: AI 21 (SERIAL) is not allowed in the query string",
    );
    check(
        "https://id.example.vn/01/08934567890120/10/L42?10=L43",
        "! AI 10 appears twice with different values, 'L42' and 'L43'",
    );
    check(
        "https://id.example.vn/01/08934567890120/10/ABCDEFGHIJKLMNOPQRSTU",
        "! AI 10 (BATCH/LOT): value is 21 characters long",
    );
    // The compressed form (tests/compress.rs has the rest).
    check(
        "https://id.example.vn/AQnYUc1gmiCNV4JG?17=290331",
        "cdl: 01=05412345000013 10=ABC123 17=290331",
    );
    check(
        "https://id.example.vn/01/05412345000013/EEarwSM",
        "cdl: 01=05412345000013 10=ABC123",
    );
}

#[test]
fn stamps() {
    check("VNC-7F3K-92QX", "stamp: VNC-7F3K-92QX");
    check(
        "https://check.example.vn/s/VNC-7F3K-92QX",
        "stamp: VNC-7F3K-92QX | https://check.example.vn/s/VNC-7F3K-92QX",
    );
    check(
        "https://check.example.vn/s/VNC-7F3K-92QX/",
        "stamp: VNC-7F3K-92QX | https://check.example.vn/s/VNC-7F3K-92QX/",
    );
    check(
        "https://check.example.vn/?id=42",
        "stamp: https://check.example.vn/?id=42",
    );
    // An odd number of segments after a key is not a Digital Link.
    check(
        "https://check.example.vn/01/08934567890120/10",
        "stamp: 10 | https://check.example.vn/01/08934567890120/10",
    );
    check(
        "https://check.example.vn/v/a%20b",
        "stamp: a b | https://check.example.vn/v/a%20b",
    );
    check(
        "ftp://x/01/08934567890120",
        "stamp: ftp://x/01/08934567890120",
    );
    check("Tem-Chống-Giả-01", "stamp: Tem-Chống-Giả-01");
    check("", "! the code is empty");
    check("  \r\n", "! the code is empty");
    check(
        &"A".repeat(513),
        "! the code is 513 bytes long, at most 512 are accepted",
    );
    check(&"A".repeat(512), &format!("stamp: {}", "A".repeat(512)));
}

#[test]
fn expiry_century_rule_and_day_zero() {
    let scan = code::parse("(01)08934567890120(17)271200").unwrap();
    let Scan::Gs1(c) = scan else {
        panic!("not GS1")
    };
    let expiry = c.expiry().unwrap();
    assert_eq!(expiry.resolve(2026), (2027, 12, 31));
    let feb = code::parse("(17)280200").unwrap();
    let Scan::Gs1(c) = feb else { panic!() };
    assert_eq!(c.expiry().unwrap().resolve(2026), (2028, 2, 29));
    // More than 50 years ahead is the previous century; 50 or more behind, the next.
    let far = code::parse("(17)990101").unwrap();
    let Scan::Gs1(c) = far else { panic!() };
    assert_eq!(c.expiry().unwrap().resolve(2026), (1999, 1, 1));
    assert_eq!(c.expiry().unwrap().resolve(2048), (1999, 1, 1));
    assert_eq!(c.expiry().unwrap().resolve(2049), (2099, 1, 1));
    let near = code::parse("(17)000101").unwrap();
    let Scan::Gs1(c) = near else { panic!() };
    assert_eq!(c.expiry().unwrap().resolve(2060), (2100, 1, 1));
    assert_eq!(c.expiry().unwrap().resolve(2026), (2000, 1, 1));
}

// ---- Generated cases: every AI of the table --------------------------------

#[test]
fn every_ai_accepts_a_valid_value_and_refuses_a_bad_one() {
    let mut seed = 7;
    let mut defs: Vec<_> = code::all_ais().filter(|d| generatable(d)).collect();
    defs.sort_by(|a, b| a.code.cmp(&b.code));
    assert!(
        defs.len() > 450,
        "the table should hold every AI, found {}",
        defs.len()
    );
    for def in defs {
        let value = valid_value(def, &mut seed, "(");
        check(
            &format!("({}){value}", def.code),
            &format!("es: {}={value}", def.code),
        );
        // One character too many is always a length error.
        let too_long = format!("{value}{}", "1".repeat(def.max_len() + 1 - value.len()));
        check(
            &format!("({}){too_long}", def.code),
            &format!("! AI {} ({}): value is", def.code, def.title),
        );
        // A space is in no GS1 character set.
        check(
            &format!("({}) {}", def.code, &value[1.min(value.len())..]),
            &format!("! AI {} ({})", def.code, def.title),
        );
    }
}

// ---- Round trips: format, then parse, in three forms ------------------------

fn element_string_strategy() -> impl Strategy<Value = Vec<(String, String)>> {
    let mut defs: Vec<_> = code::all_ais().filter(|d| generatable(d)).collect();
    defs.sort_by(|a, b| a.code.cmp(&b.code));
    (proptest::collection::vec(0..defs.len(), 1..6), any::<u64>()).prop_map(
        move |(picks, mut seed)| {
            let mut seen = std::collections::HashSet::new();
            picks
                .into_iter()
                .filter(|&i| seen.insert(defs[i].code.clone()))
                .map(|i| (defs[i].code.clone(), valid_value(defs[i], &mut seed, "(")))
                .collect()
        },
    )
}

fn raw_form(ais: &[(String, String)]) -> String {
    let mut out = String::from("]d2");
    for (i, (ai, value)) in ais.iter().enumerate() {
        out.push_str(ai);
        out.push_str(value);
        let predefined = code::lookup_ai(ai).unwrap().predefined;
        if !predefined && i + 1 < ais.len() {
            out.push(GS);
        }
    }
    out
}

fn encode(v: &str) -> String {
    percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn raw_and_human_readable_round_trip(ais in element_string_strategy()) {
        let human: String = ais.iter().map(|(a, v)| format!("({a}){v}")).collect();
        for text in [raw_form(&ais), human] {
            match code::parse(&text) {
                Ok(Scan::Gs1(c)) => prop_assert_eq!(&c.ais, &ais, "{:?}", text),
                other => prop_assert!(false, "{:?} gave {:?}", text, other),
            }
        }
    }

    #[test]
    fn digital_link_round_trip(lot in "[!-~&&[^%#?/]]{1,20}", serial in "[0-9A-Za-z_.-]{1,20}", body in "[0-9]{12}", ais in element_string_strategy()) {
        let gtin = format!("0{body}{}", mod10(&format!("0{body}")));
        let attrs: Vec<_> = ais.into_iter().filter(|(a, _)| code::lookup_ai(a).unwrap().dl_attribute && !["01", "10", "21"].contains(&a.as_str())).collect();
        let query: Vec<String> = attrs.iter().map(|(a, v)| format!("{a}={}", encode(v))).collect();
        let lot_value: String = lot.chars().filter(|c| code::is_cset82(*c as u8)).collect();
        prop_assume!(!lot_value.is_empty());
        let uri = format!("https://id.example.vn/p/01/{gtin}/10/{}/21/{}?{}", encode(&lot_value), encode(&serial), query.join("&"));
        let mut expected = vec![("01".to_string(), gtin), ("10".into(), lot_value), ("21".into(), serial)];
        expected.extend(attrs);
        match code::parse(&uri) {
            Ok(Scan::Gs1(c)) => prop_assert_eq!(c.ais, expected, "{}", uri),
            other => prop_assert!(false, "{} gave {:?}", uri, other),
        }
    }

    #[test]
    fn reads_as_stamp_agrees_with_parse(s in "(\\]d2|\\(|https?://h/|01|[0-9]{8,14}| )?[ -~\u{1d}]{0,30}") {
        let parsed_as_itself = matches!(code::parse(&s), Ok(Scan::Stamp(st)) if st.candidates[0] == s);
        prop_assert_eq!(code::reads_as_stamp(&s), parsed_as_itself, "{:?}", s);
    }

    #[test]
    fn any_utf8_value_in_any_ai_is_judged_without_panic(pick in any::<prop::sample::Index>(), value in "\\PC{0,40}") {
        let mut defs: Vec<_> = code::all_ais().collect();
        defs.sort_by(|a, b| a.code.cmp(&b.code));
        let def = pick.get(&defs);
        let ai = &def.code;
        let encoded = encode(&value);
        for text in [
            format!("({ai}){value}"),
            format!("]d2{ai}{value}"),
            format!("https://id.example.vn/01/08930002000017?{ai}={encoded}"),
            format!("https://id.example.vn/01/08930002000017/{ai}/{encoded}"),
        ] {
            if let Ok(Scan::Gs1(c)) = code::parse(&text) {
                for (_, v) in &c.ais {
                    prop_assert!(v.is_ascii(), "{:?} gave a non-ASCII value {:?}", text, v);
                }
            }
        }
    }

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,600}") {
        let _ = code::parse(&s);
    }

    #[test]
    fn shaped_noise_never_panics(s in "(\\]d2|\\(|https://h/01/|01)[0-9()\u{1d}A-Za-z%/?=&ôé]{0,80}") {
        let _ = code::parse(&s);
    }
}

#[test]
fn random_bytes_never_panic() {
    // A plain LCG over many inputs, valid UTF-8 by construction of lossy decode.
    let mut seed = 42u64;
    for _ in 0..200_000 {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        let len = (seed >> 56) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|i| {
                let x =
                    seed.rotate_left(i as u32 * 7) ^ (i as u64).wrapping_mul(0x9e3779b97f4a7c15);
                {
                    const ALPHABET: &[u8] = b"0123456789()]dQCeJ\x1d%/:?=&AZaz\xc3\xb4-";
                    ALPHABET[(x % ALPHABET.len() as u64) as usize]
                }
            })
            .collect();
        let _ = code::parse(&String::from_utf8_lossy(&bytes));
    }
}
