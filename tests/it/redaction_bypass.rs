//! Every bypass of issue 13, through the real binary: OTLP/JSON over HTTP in, the file
//! exporter's output read back. Sentence ends, national phone formats, fields the redactor
//! once skipped, escaped and percent-encoded values, numbers in JSON content, user ids of
//! newer emitters and of any type, opaque API keys, and JSON content rewritten byte for
//! byte except the masked value.

use std::time::{Duration, Instant};

use super::support::{Llmwatch, http_request, lines};

const CONFIG: &str = r#"
receivers:
  otlp:
    protocols:
      http: { endpoint: "127.0.0.1:0" }
processors:
  redaction: { hash_key_env: LLMWATCH_IT_REDACTION_KEY }
exporters:
  prometheus: { endpoint: "127.0.0.1:0" }
  file: { path: "{dir}/out.jsonl" }
service:
  pipelines:
    traces: { receivers: [otlp], processors: [redaction], exporters: [file] }
    logs: { receivers: [otlp], processors: [redaction], exporters: [file] }
    metrics: { receivers: [otlp], processors: [redaction], exporters: [file, prometheus] }
"#;

/// Values that must not leave, each as the client wrote it.
const LEAKS: &[&str] = &[
    "4111 1111 1111 1111",
    "415-555-0142",
    "512-34-6789",
    "+55 51 99986 7625",
    "02.14.72.05.80",
    "0170/8434260",
    "4155550142",
    "98765 43210",
    "0651 2345678",
    "jane",
    "example.com",
    "4111111111111111",
    "u-7781",
    "u-7782",
    "9001",
    "sess-42-secret",
    "opaque-key-1234",
    "ops@corp.test",
];

fn s(v: &str) -> serde_json::Value {
    serde_json::json!({ "stringValue": v })
}

fn kv(k: &str, v: serde_json::Value) -> serde_json::Value {
    serde_json::json!({ "key": k, "value": v })
}

fn traces() -> serde_json::Value {
    let content = r#"[{"role":"user","z":1,"z":2,"big":12345678901234567890123,"parts":[{"type":"text","content":"mail jane\u0040example.com"}],"card":4111111111111111}]"#;
    serde_json::json!({ "resourceSpans": [{
        "resource": { "attributes": [kv("service.name", s("chat"))] },
        "scopeSpans": [{
            "scope": { "name": "lib-owner ops@corp.test", "version": "1.0" },
            "spans": [{
                "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
                "traceState": "vendor=ops@corp.test",
                "name": "chat", "kind": 1,
                "startTimeUnixNano": "1764150000000000000", "endTimeUnixNano": "1764150001000000000",
                "attributes": [
                    kv("app.note1", s("My card is 4111 1111 1111 1111.")),
                    kv("app.note2", s("Call me at 415-555-0142. Bye")),
                    kv("app.note3", s("ssn 512-34-6789.")),
                    kv("app.note4", s("Tel. +55 51 99986 7625, 02.14.72.05.80 oder 0170/8434260")),
                    kv("app.note5", s("Phone: 4155550142")),
                    kv("app.note6", s("India: +91 98765 43210; Österreich: 0651 2345678!")),
                    kv("app.customer.user_id", serde_json::json!({ "intValue": "9001" })),
                    kv("app.url", s("/signup?email=jane%40example.com")),
                    kv("app.raw", serde_json::json!({ "bytesValue": "bWFpbCBqYW5lQGV4YW1wbGUuY29t" })),
                    kv("gen_ai.input.messages", s(content)),
                    kv("ai.settings.context.userId", s("u-7781")),
                    kv("ai.settings.context.sessionId", s("sess-42-secret")),
                    kv("ai.telemetry.metadata.user_id", s("u-7782")),
                    kv("user.id", serde_json::json!({ "arrayValue": { "values": [s("u-7781"), { "intValue": "9001" }] } })),
                    kv("enduser.id", serde_json::json!({ "kvlistValue": { "values": [kv("id", s("u-7782"))] } })),
                    kv("ai.request.headers.x-api-key", s("opaque-key-1234")),
                    kv("date", s("Due 26.11.2026, v1.2.3, order 2026-11-26, $1,234.56, ref 000-12-3456 and 666-12-3456")),
                ],
                "events": [{ "timeUnixNano": "1764150000500000000", "name": "sent to jane@example.com" }],
            }],
        }],
    }]})
}

fn logs() -> serde_json::Value {
    serde_json::json!({ "resourceLogs": [{
        "scopeLogs": [{ "logRecords": [{
            "timeUnixNano": "1764150000000000000",
            "severityText": "INFO ops@corp.test",
            "eventName": "login jane@example.com",
            "body": s("Call me at 415-555-0142. Bye"),
        }]}],
    }]})
}

fn metrics() -> serde_json::Value {
    let sum = |name: &str, description: &str| {
        serde_json::json!({
            "name": name, "description": description, "unit": "1",
            "sum": { "aggregationTemporality": 2, "isMonotonic": true,
                     "dataPoints": [{ "asInt": "1", "timeUnixNano": "1764150000000000000",
                                  "attributes": [kv("owner", s("ops@corp.test"))] }] },
        })
    };
    serde_json::json!({ "resourceMetrics": [{ "scopeMetrics": [{ "metrics": [
        sum("signups_jane@example.com", "per user"),
        sum("signups", "owner ops@corp.test"),
        serde_json::json!({ "name": "logins", "unit": "{jane@example.com}",
            "gauge": { "dataPoints": [{ "asInt": "1", "timeUnixNano": "1764150000000000000" }] } }),
    ]}]}]})
}

/// JSON content: only the masked strings change; duplicate keys, order and the big
/// integer stay as they were sent; the session id is pseudonymised.
fn check_json_content_kept(out: &std::path::Path) {
    let spans = lines(out)
        .into_iter()
        .find(|l| l.contains("resourceSpans"))
        .unwrap();
    let spans: serde_json::Value = serde_json::from_str(&spans).unwrap();
    let attrs = spans["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"]
        .as_array()
        .unwrap();
    let content = attrs
        .iter()
        .find(|a| a["key"] == "gen_ai.input.messages")
        .unwrap()["value"]["stringValue"]
        .as_str()
        .unwrap();
    assert_eq!(
        content,
        r#"[{"role":"user","z":1,"z":2,"big":12345678901234567890123,"parts":[{"type":"text","content":"mail [EMAIL]"}],"card":"[CARD]"}]"#
    );
    let session = attrs
        .iter()
        .find(|a| a["key"] == "ai.settings.context.sessionId");
    assert!(
        session.is_some_and(|a| a["value"]["stringValue"]
            .as_str()
            .is_some_and(|v| v.len() == 16)),
        "{session:?}"
    );
}

#[test]
fn every_bypass_of_issue_13_is_closed() {
    let lw = Llmwatch::start_with(
        CONFIG,
        &[("LLMWATCH_IT_REDACTION_KEY", "it-secret-key-0123456789")],
        "info",
    );
    for (path, body) in [
        ("/v1/traces", traces()),
        ("/v1/logs", logs()),
        ("/v1/metrics", metrics()),
    ] {
        let r = http_request(
            lw.http(),
            "POST",
            path,
            &[("content-type", "application/json")],
            body.to_string().as_bytes(),
        );
        assert_eq!(r.status, 200, "{path}: {}", r.text());
    }
    let out = lw.dir.path("out.jsonl");
    let deadline = Instant::now() + Duration::from_secs(30);
    while lines(&out).len() < 3 {
        assert!(
            Instant::now() < deadline,
            "only {} batches written",
            lines(&out).len()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let written = lines(&out).join("\n");
    for leak in LEAKS {
        assert!(
            !written.contains(leak),
            "{leak:?} left llmwatch:\n{written}"
        );
    }
    // Dates, versions and prices stay; the metric named after a user is dropped, the
    // other one stays with its description masked.
    assert!(
        written.contains("Due 26.11.2026, v1.2.3, order 2026-11-26, $1,234.56"),
        "{written}"
    );
    assert!(written.contains("\"name\":\"signups\""), "{written}");
    assert!(written.contains("owner [EMAIL]"), "{written}");
    // Nor on /metrics: the description is served as HELP, attributes as labels.
    let exposition = lw.metrics_when(Duration::from_secs(20), |t| t.contains("signups"));
    for leak in LEAKS {
        assert!(
            !exposition.contains(leak),
            "{leak:?} on /metrics:\n{exposition}"
        );
    }
    assert!(exposition.contains("owner [EMAIL]"), "{exposition}");
    check_json_content_kept(&out);
}

const KEYLESS: &str = r#"
receivers:
  otlp:
    protocols:
      http: { endpoint: "127.0.0.1:0" }
processors:
  redaction: { hash_key_env: LLMWATCH_IT_UNSET_KEY }
exporters:
  prometheus: { endpoint: "127.0.0.1:0" }
  file: { path: "{dir}/out.jsonl" }
service:
  pipelines:
    traces: { receivers: [otlp], processors: [redaction], exporters: [file] }
"#;

/// Sends one span with `user.id` and returns its pseudonym as written.
fn pseudonym_of(lw: &Llmwatch, user: &str) -> String {
    let body = serde_json::json!({ "resourceSpans": [{ "scopeSpans": [{ "spans": [{
        "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
        "name": "chat", "kind": 1,
        "startTimeUnixNano": "1764150000000000000", "endTimeUnixNano": "1764150001000000000",
        "attributes": [kv("user.id", s(user))],
    }]}]}]});
    let r = http_request(
        lw.http(),
        "POST",
        "/v1/traces",
        &[("content-type", "application/json")],
        body.to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let out = lw.dir.path("out.jsonl");
    let deadline = Instant::now() + Duration::from_secs(30);
    while lines(&out).is_empty() {
        assert!(Instant::now() < deadline, "nothing written");
        std::thread::sleep(Duration::from_millis(50));
    }
    let v: serde_json::Value = serde_json::from_str(&lines(&out)[0]).unwrap();
    let value = &v["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"][0]["value"]["stringValue"];
    value.as_str().unwrap().to_owned()
}

#[test]
fn a_key_generated_at_first_start_is_secret_logged_and_reused_on_restart() {
    use std::os::unix::fs::PermissionsExt as _;
    let state = super::support::TempDir::new("state");
    let state_dir = state.path("");
    let env = [("LLMWATCH_STATE_DIR", state_dir.to_str().unwrap())];
    let mut first = Llmwatch::start_with(KEYLESS, &env, "info");
    let a = pseudonym_of(&first, "customer-42");
    let key = state.path("redaction.key");
    assert!(
        first.logs().contains(&key.display().to_string()),
        "the key's path is logged"
    );
    assert!(first.logs().contains("redaction key generated"));
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::read_to_string(&key).unwrap().len(),
        64,
        "32 bytes, hex"
    );
    first.terminate(Duration::from_secs(10));
    let second = Llmwatch::start_with(KEYLESS, &env, "info");
    assert!(second.logs().contains("redaction key loaded"));
    assert_eq!(
        pseudonym_of(&second, "customer-42"),
        a,
        "pseudonyms survive a restart"
    );
    assert_ne!(a, "customer-42");
    // The public development key is never used without the explicit opt-in: its pseudonym
    // of the same id differs.
    let public = blake3::keyed_hash(
        &blake3::derive_key(
            "llmwatch redaction 2026-11 pseudonyms",
            b"llmwatch insecure development key",
        ),
        b"customer-42",
    );
    assert!(!public.to_hex().starts_with(&a));
}

const GUARDED: &str = r#"
receivers:
  otlp:
    protocols:
      http: { endpoint: "127.0.0.1:0" }
processors:
  redaction: { hash_key_env: LLMWATCH_IT_REDACTION_KEY }
exporters:
  prometheus:
    endpoint: "127.0.0.1:0"
    auth: { bearer_tokens: [{ name: prometheus, token_env: LLMWATCH_IT_SCRAPE_TOKEN }] }
service:
  pipelines:
    traces: { receivers: [otlp], processors: [redaction], exporters: [prometheus] }
"#;

#[test]
fn metrics_can_require_a_bearer_token_and_refusals_are_counted() {
    let token = "scrape-token-0123456789";
    let lw = Llmwatch::start_with(
        GUARDED,
        &[
            ("LLMWATCH_IT_REDACTION_KEY", "it-secret-key-0123456789"),
            ("LLMWATCH_IT_SCRAPE_TOKEN", token),
        ],
        "info",
    );
    let bearer = format!("Bearer {token}");
    for headers in [
        vec![],
        vec![("authorization", "Bearer wrong-token-0123456789")],
    ] {
        let r = http_request(lw.admin, "GET", "/metrics", &headers, b"");
        assert_eq!(r.status, 401, "{}", r.text());
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    }
    assert_eq!(
        http_request(lw.admin, "GET", "/healthz", &[], b"").status,
        200
    );
    assert_eq!(
        http_request(lw.admin, "GET", "/readyz", &[], b"").status,
        200
    );
    let r = http_request(
        lw.admin,
        "GET",
        "/metrics",
        &[("authorization", &bearer)],
        b"",
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        super::support::metric_value(&r.text(), "llmwatch_admin_refused_requests_total", &[]),
        2.0
    );
}

const FORGETFUL: &str = r#"
receivers:
  otlp:
    protocols:
      http: { endpoint: "127.0.0.1:0" }
processors:
  redaction: { hash_key_env: LLMWATCH_IT_REDACTION_KEY }
  genai: {}
  chat_analytics: {}
exporters:
  prometheus:
    endpoint: "127.0.0.1:0"
    auth: { bearer_tokens: [{ name: ops, token_env: LLMWATCH_IT_SCRAPE_TOKEN }] }
service:
  pipelines:
    traces: { receivers: [otlp], processors: [redaction, genai, chat_analytics], exporters: [prometheus] }
"#;

/// An LLM call of user customer-42, as OTLP/JSON.
fn call_of_customer_42() -> serde_json::Value {
    let int = |n: &str| serde_json::json!({ "intValue": n });
    serde_json::json!({ "resourceSpans": [{
        "resource": { "attributes": [kv("service.name", s("chat"))] },
        "scopeSpans": [{ "spans": [{
            "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
            "name": "chat gpt-4o", "kind": 3,
            "startTimeUnixNano": "1764150000000000000", "endTimeUnixNano": "1764150001000000000",
            "attributes": [
                kv("gen_ai.operation.name", s("chat")),
                kv("gen_ai.provider.name", s("openai")),
                kv("gen_ai.request.model", s("gpt-4o")),
                kv("gen_ai.response.model", s("gpt-4o")),
                kv("gen_ai.usage.input_tokens", int("1000")),
                kv("gen_ai.usage.output_tokens", int("500")),
                kv("user.id", s("customer-42")),
            ],
        }]}],
    }]})
}

/// `/metrics` with the scrape token.
fn scrape_with(admin: std::net::SocketAddr, bearer: &str) -> String {
    let r = http_request(admin, "GET", "/metrics", &[("authorization", bearer)], b"");
    assert_eq!(r.status, 200);
    r.text()
}

#[test]
fn forgetting_a_user_removes_its_pseudonym_from_the_top_users() {
    let token = "admin-token-0123456789";
    let lw = Llmwatch::start_with(
        FORGETFUL,
        &[
            ("LLMWATCH_IT_REDACTION_KEY", "it-secret-key-0123456789"),
            ("LLMWATCH_IT_SCRAPE_TOKEN", token),
        ],
        "info",
    );
    let bearer = format!("Bearer {token}");
    let body = call_of_customer_42();
    let r = http_request(
        lw.http(),
        "POST",
        "/v1/traces",
        &[("content-type", "application/json")],
        body.to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let scrape = || scrape_with(lw.admin, &bearer);
    let deadline = Instant::now() + Duration::from_secs(20);
    let before = loop {
        let text = scrape();
        if text.contains("chat_top_user_cost_usd{") {
            break text;
        }
        assert!(Instant::now() < deadline, "no top user:\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let r = http_request(lw.admin, "POST", "/admin/forget", &[], b"customer-42");
    assert_eq!(r.status, 401, "forgetting needs the token");
    let r = http_request(
        lw.admin,
        "POST",
        "/admin/forget",
        &[("authorization", &bearer)],
        b"customer-42",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let answer: serde_json::Value = serde_json::from_str(&r.text()).unwrap();
    let pseudonym = answer["pseudonym"].as_str().unwrap().to_owned();
    assert!(answer["removed"].as_u64().unwrap() >= 1, "{answer}");
    assert!(
        before.contains(&format!("user=\"{pseudonym}\"")),
        "{before}"
    );
    let text = scrape();
    assert!(
        !text.contains(&pseudonym),
        "{pseudonym} still on /metrics:\n{text}"
    );
    assert!(!text.contains("customer-42"));
    assert_eq!(
        super::support::metric_value(&text, "llmwatch_forgotten_users_total", &[]),
        1.0
    );
    assert!(
        !lw.logs().contains("customer-42"),
        "the raw id is never logged"
    );
}
