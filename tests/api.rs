//! The API for integrators: batch lookups (`POST /v1/scan`).

mod common;

use common::Server;

fn batch(server: &Server, body: &str) -> common::Response {
    server.request("POST", "/v1/scan", None, body)
}

#[test]
fn a_batch_answers_each_code_in_order_with_its_own_status() {
    let server = Server::sample(|c, _| c.scan_repeat_window_s = 0);
    let codes = serde_json::json!([
        "(01)08930002000017(10)L2611(21)S001001",
        "8930002000018",
        "08934567890120",
        42,
        "VN-0011-1010",
        "(01)08930002000369",
    ]);
    let r = batch(&server, &codes.to_string());
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let answers = r.json();
    let answers = answers.as_array().unwrap();
    let statuses: Vec<u64> = answers
        .iter()
        .map(|a| a["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [200, 400, 404, 400, 200, 200]);
    assert_eq!(answers[0]["answer"]["match"], "item");
    assert_eq!(answers[0]["answer"]["code"], codes[0]);
    assert_eq!(answers[1]["answer"]["error"], "invalid_code");
    assert_eq!(answers[2]["answer"]["error"], "not_found");
    assert!(
        answers[3]["answer"]["detail"]
            .as_str()
            .unwrap()
            .contains("entry 3 of the batch is not a string")
    );
    assert_eq!(answers[5]["answer"]["warnings"][0]["code"], "recalled");
    // Each answer is the single lookup's, but for the scan count.
    for (i, code) in [(5, "(01)08930002000369"), (1, "8930002000018")] {
        assert_eq!(answers[i]["answer"], server.scan(code).json(), "{code}");
    }
    // The item was scanned twice in the batch (code and stamp), once here.
    let count = server.scan("VN-0011-1010").json()["item"]["scans"]["count"].clone();
    assert_eq!(count, 3);
}

#[test]
fn a_batch_over_its_limits_or_malformed_is_refused_with_the_reason() {
    let server = Server::sample(|_, _| {});
    let many = serde_json::Value::from(vec!["8930002000017"; 1001]).to_string();
    let r = batch(&server, &many);
    assert_eq!(r.status, 413);
    assert!(
        r.json()["detail"]
            .as_str()
            .unwrap()
            .contains("at most 1000 codes, this one 1001")
    );
    let exactly = serde_json::Value::from(vec!["8930002000017"; 1000]).to_string();
    assert_eq!(
        batch(&server, &exactly).json().as_array().unwrap().len(),
        1000
    );
    let huge = format!("[\"{}\"]", "x".repeat(2 << 20));
    let r = batch(&server, &huge);
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(r.json()["error"], "body_too_large");
    for (body, says) in [
        ("[\"8930002000017\"", "EOF while parsing"),
        (
            "{\"code\": \"8930002000017\"}",
            "invalid type: map, expected a sequence",
        ),
        ("", "EOF while parsing"),
    ] {
        let r = batch(&server, body);
        assert_eq!(r.status, 400, "{body}");
        assert_eq!(r.json()["error"], "bad_body");
        let detail = r.json()["detail"].as_str().unwrap().to_owned();
        assert!(
            detail.contains("must be a JSON array of codes") && detail.contains(says),
            "{detail}"
        );
    }
    assert_eq!(batch(&server, "[]").text(), "[]");
    let r = server.request("PUT", "/v1/scan", None, "[]");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD, POST"));
}

/// The committed OpenAPI document, as a JSON value.
fn openapi() -> serde_json::Value {
    serde_json::from_str(include_str!("../docs/openapi.json")).unwrap()
}

/// A validator of `components/schemas/{name}` of the OpenAPI document.
fn schema(name: &str) -> jsonschema::Validator {
    let mut doc = openapi();
    doc["$ref"] = format!("#/components/schemas/{name}").into();
    jsonschema::validator_for(&doc).unwrap()
}

fn assert_valid(validator: &jsonschema::Validator, what: &str, value: &serde_json::Value) {
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    let shown: String = value.to_string().chars().take(2000).collect();
    assert!(errors.is_empty(), "{what}: {errors:#?}\n{shown}");
}

#[test]
fn the_openapi_document_is_served_and_is_openapi_3_1() {
    let server = Server::sample(|_, _| {});
    let r = server.get("/openapi.json");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(r.json(), openapi());
    let meta: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/openapi-3.1.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&meta).unwrap();
    assert_valid(&validator, "the document", &openapi());
    // Every path it names is served.
    for path in openapi()["paths"].as_object().unwrap().keys() {
        let target = path
            .replace("{gtin}", "08930002000017")
            .replace("{lot}", "L2611")
            .replace("{serial}", "S001001")
            .replace("{stamp}", "VN-0011-1010");
        let target = if target == "/v1/scan" {
            "/v1/scan?code=8930002000017".to_owned()
        } else {
            target
        };
        assert_eq!(server.get(&target).status, 200, "{target}");
    }
}

/// Every answer of the sample's table of lookups (each warning, each error
/// status) and of the other routes validates against the document.
#[test]
fn real_answers_validate_against_the_openapi_schemas() {
    let (answer, not_found, error) = (schema("Answer"), schema("NotFound"), schema("Error"));
    let server = Server::start(|_, _| {});
    let r = server.scan("8930002000017");
    assert_eq!(r.status, 503);
    assert_valid(&error, "503", &r.json());
    server.load_sample();
    let codes = [
        "8930002000017",
        "(01)08930002000017(10)L2611(21)S001001",
        "(01)08930002000017(10)L2611",
        "VN-0001-1003",
        "https://check.example.vn/s/VN-0010-1007",
        "(01)08930002000017(17)250101",
        "(01)08930002000369",
        "(01)08930002000789(10)L2688",
        "(01)08930002001137(10)L2633",
        "(01)08930002000017(21)FAKE1",
        "(01)08930002000017(10)L9999",
        "(01)08930002000017(10)L2611(21)S000001",
        "(01)08930002000574(21)S081002",
        "https://id.example.vn/01/8930002000017/10/L2611/21/S001001?17=281231",
        "8930002000018",
        "08934567890120",
        "NO-SUCH-STAMP",
        "(01)0893000200001",
    ];
    let mut seen = std::collections::BTreeSet::new();
    for code in codes {
        let r = server.scan(code);
        let body = r.json();
        let validator = match r.status {
            200 => &answer,
            404 => &not_found,
            400 => &error,
            s => panic!("{code}: status {s}"),
        };
        assert_valid(validator, code, &body);
        seen.insert(r.status);
        for w in body["warnings"].as_array().into_iter().flatten() {
            seen.insert(match w["code"].as_str().unwrap() {
                "recalled" => 1,
                "withdrawn" => 2,
                "void_item" => 3,
                "expired" => 4,
                "serial_not_registered" => 5,
                "lot_not_registered" => 6,
                "lot_mismatch" => 7,
                _ => 8,
            });
        }
    }
    assert_eq!(
        seen.len(),
        10,
        "every status and every warning but scanned_many_times: {seen:?}"
    );
    let head = server.request("HEAD", "/v1/scan?code=VN-0001-1003", None, "");
    assert_eq!(head.status, 200);
    assert_valid(
        &schema("IndexInfo"),
        "/v1/index",
        &server.get("/v1/index").json(),
    );
    assert_valid(
        &schema("Status"),
        "/healthz",
        &server.get("/healthz").json(),
    );
    assert_valid(&schema("Status"), "/readyz", &server.get("/readyz").json());
    let batch_body = serde_json::Value::from(codes.to_vec()).to_string();
    assert_valid(
        &schema("BatchAnswers"),
        "batch",
        &batch(&server, &batch_body).json(),
    );
    for (method, target, body) in [
        ("POST", "/v1/scan", "{}"),
        ("PUT", "/v1/scan", ""),
        ("GET", "/nothing", ""),
    ] {
        assert_valid(
            &error,
            target,
            &server.request(method, target, None, body).json(),
        );
    }
}
