use crate::metrics::bounded::Thresholds;
use crate::model::Payload;
use opentelemetry_proto::tonic::common::v1::AnyValue;
use opentelemetry_proto::tonic::common::v1::KeyValueList;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{Status, span};
use prometheus_client::registry::Registry;

use super::*;
use crate::model::Transport;
use crate::testkit::{i, kv, logs, s, scrape, traces, value};

const START: u64 = 1_764_000_000_000_000_000;

fn span(name: &str, kind: SpanKind, ms: u64, attrs: Vec<KeyValue>) -> Span {
    Span {
        trace_id: vec![3; 16],
        span_id: vec![4; 8],
        name: name.to_owned(),
        kind: kind as i32,
        start_time_unix_nano: START,
        end_time_unix_nano: START + ms * 1_000_000,
        attributes: attrs,
        ..Default::default()
    }
}

fn processor(yaml: &str) -> (HealthProcessor, Registry) {
    let cfg: HealthConfig = serde_saphyr::from_str(yaml).unwrap();
    assert!(cfg.check().is_empty(), "{:?}", cfg.check());
    let slot = HealthMetricsSlot::default();
    let thresholds = Thresholds::default();
    let mut registry = Registry::default();
    registry.register_collector(Box::new(slot.clone()));
    registry.register_collector(Box::new(thresholds.clone()));
    let p = cfg
        .build(&slot, &OverflowCounter::default(), &thresholds)
        .unwrap();
    (p, registry)
}

/// One span of each component, a health check and an internal step: the chat-api's.
fn component_spans() -> Vec<Span> {
    vec![
        span(
            "chat gpt-4o",
            SpanKind::Client,
            1500,
            vec![
                kv("gen_ai.operation.name", s("chat")),
                kv("gen_ai.request.model", s("gpt-4o")),
            ],
        ),
        span(
            "SELECT users",
            SpanKind::Client,
            40,
            vec![
                kv("db.system.name", s("postgresql")),
                kv("db.query.text", s("select * from users where email = $1")),
                kv("db.collection.name", s("users")),
            ],
        ),
        span(
            "POST",
            SpanKind::Client,
            700,
            vec![
                kv("http.request.method", s("POST")),
                kv(
                    "url.full",
                    s(
                        "https://googleads.googleapis.com/v17/customers/1234567890/googleAds:search?x=1",
                    ),
                ),
                kv("http.response.status_code", i(200)),
            ],
        ),
        span(
            "GET /api/conversations/{id}",
            SpanKind::Server,
            120,
            vec![
                kv("http.request.method", s("GET")),
                kv("http.route", s("/api/conversations/{id}")),
                kv("http.response.status_code", i(404)),
            ],
        ),
        span("GET /healthz/9f86d081884c7d65", SpanKind::Server, 1, vec![]),
        span("internal step", SpanKind::Internal, 5, vec![]),
    ]
}

/// The series the spans of every component give, with their counts.
const COMPONENT_SERIES: &[(&str, f64)] = &[
    (
        r#"app_operation_duration_seconds_count{service="chat-api",component="ai",operation="chat"}"#,
        1.0,
    ),
    (
        r#"app_operation_duration_seconds_count{service="chat-api",component="database",operation="postgresql SELECT users"}"#,
        1.0,
    ),
    (
        r#"app_operation_duration_seconds_count{service="chat-api",component="platform",operation="POST /v17/customers/{id}/googleAds:search"}"#,
        1.0,
    ),
    (
        r#"app_operation_duration_seconds_count{service="chat-api",component="server",operation="GET /api/conversations/{id}"}"#,
        1.0,
    ),
    (
        r#"app_operation_duration_seconds_count{service="chat-api",component="server",operation="GET /healthz/{id}"}"#,
        1.0,
    ),
    (
        r#"app_operation_duration_seconds_count{service="chat-widget",component="frontend",operation="documentLoad"}"#,
        1.0,
    ),
    (
        r#"integration_requests_total{platform="google_ads",outcome="success"}"#,
        1.0,
    ),
    (
        r#"integration_request_duration_seconds_count{platform="google_ads"}"#,
        1.0,
    ),
    (
        r#"integration_last_sync_timestamp_seconds{platform="google_ads"}"#,
        1_764_000_000.7,
    ),
];

#[test]
fn every_component_is_classified_with_a_bounded_operation() {
    let (p, r) = processor("{}");
    let api = vec![kv("service.name", s("chat-api"))];
    let mut batch = traces(api, component_spans());
    p.process(&mut batch).unwrap();
    let mut web = traces(
        vec![
            kv("service.name", s("chat-widget")),
            kv("telemetry.sdk.language", s("webjs")),
        ],
        vec![span("documentLoad", SpanKind::Internal, 250, vec![])],
    );
    p.process(&mut web).unwrap();
    let text = scrape(&r);
    for &(series, count) in COMPONENT_SERIES {
        assert_eq!(value(&text, series), Some(count), "{series}\n{text}");
    }
    // The internal span is no component; a server 404 is the client's error, not ours.
    assert_eq!(
        text.matches("app_operation_duration_seconds_count{")
            .count(),
        6,
        "{text}"
    );
    assert!(!text.contains("app_errors_total{"), "{text}");
    // Buckets include the thresholds: ai's 2 s and 5 s.
    assert!(
        text.contains(r#"component="ai",operation="chat",le="2.0"}"#)
            || text.contains(r#"component="ai",operation="chat",le="2"}"#),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            r#"llmwatch_latency_threshold_seconds{component="database",level="good"}"#
        ),
        Some(0.5)
    );
    assert_eq!(
        value(
            &text,
            r#"llmwatch_latency_threshold_seconds{component="frontend",level="excellent"}"#
        ),
        Some(0.1)
    );
}

/// The series of the expected outcomes and errors below, with their counts.
const OUTCOME_SERIES: &[(&str, f64)] = &[
    (
        r#"app_expected_outcomes_total{service="api",component="platform",rule="rate_limited"}"#,
        1.0,
    ),
    (
        r#"app_expected_outcomes_total{service="api",component="platform",rule="guest_unauthorized"}"#,
        1.0,
    ),
    (
        r#"app_expected_outcomes_total{service="api",component="server",rule="validation"}"#,
        1.0,
    ),
    (
        r#"app_errors_total{service="api",component="platform",error_type="authentication"}"#,
        1.0,
    ),
    (
        r#"app_errors_total{service="api",component="platform",error_type="server_error"}"#,
        1.0,
    ),
    (
        r#"app_errors_total{service="api",component="database",error_type="ConnectionError"}"#,
        1.0,
    ),
    (
        r#"integration_requests_total{platform="meta_graph",outcome="rate_limited"}"#,
        1.0,
    ),
    (
        r#"integration_requests_total{platform="meta_graph",outcome="error"}"#,
        3.0,
    ),
    (
        r#"integration_rate_limited_total{platform="meta_graph"}"#,
        1.0,
    ),
];

#[test]
fn expected_outcomes_are_counted_apart_from_errors() {
    let (p, r) = processor("{}");
    let graph = |status: i64, guest: bool| {
        let mut attrs = vec![
            kv("http.request.method", s("GET")),
            kv("server.address", s("graph.facebook.com")),
            kv("url.path", s("/v19.0/me/accounts")),
            kv("http.response.status_code", i(status)),
        ];
        if guest {
            attrs.push(kv("user.is_guest", Value::BoolValue(true)));
        }
        span("GET", SpanKind::Client, 90, attrs)
    };
    let mut failed_db = span(
        "INSERT",
        SpanKind::Client,
        5,
        vec![kv("db.system", s("redis"))],
    );
    failed_db.status = Some(Status {
        code: StatusCode::Error as i32,
        message: "boom".to_owned(),
    });
    failed_db.events.push(span::Event {
        name: "exception".to_owned(),
        attributes: vec![kv("exception.type", s("redis.exceptions.ConnectionError"))],
        ..Default::default()
    });
    let mut batch = traces(
        vec![kv("service.name", s("api"))],
        vec![
            graph(429, false),
            graph(401, true),
            graph(401, false),
            graph(503, false),
            failed_db,
            span(
                "POST /chat",
                SpanKind::Server,
                10,
                vec![
                    kv("http.response.status_code", i(422)),
                    kv("error.type", s("pydantic.ValidationError")),
                ],
            ),
        ],
    );
    p.process(&mut batch).unwrap();
    let text = scrape(&r);
    for &(series, n) in OUTCOME_SERIES {
        assert_eq!(value(&text, series), Some(n), "{series}\n{text}");
    }
    assert!(
        !text.contains("integration_last_sync_timestamp_seconds{"),
        "{text}"
    );
}

#[test]
fn log_records_count_by_severity_and_exception_type() {
    let (p, r) = processor("{}");
    let rec = |n: i32, text: &str, exception: Option<&str>| LogRecord {
        severity_number: n,
        severity_text: text.to_owned(),
        attributes: exception
            .map(|e| vec![kv("exception.type", s(e))])
            .unwrap_or_default(),
        ..Default::default()
    };
    let mut batch = logs(
        vec![kv("service.name", s("api"))],
        vec![
            rec(9, "", None),
            rec(9, "", None),
            rec(13, "", None),
            rec(17, "", Some("<class 'httpx.ReadTimeout'>")),
            rec(0, "WARNING", None),
            rec(0, "", None),
            rec(9, "", Some("Ignored")),
        ],
    );
    p.process(&mut batch).unwrap();
    let text = scrape(&r);
    for (series, n) in [
        (
            r#"app_log_records_total{service="api",severity="info"}"#,
            3.0,
        ),
        (
            r#"app_log_records_total{service="api",severity="warn"}"#,
            2.0,
        ),
        (
            r#"app_log_records_total{service="api",severity="error"}"#,
            1.0,
        ),
        (
            r#"app_log_records_total{service="api",severity="unspecified"}"#,
            1.0,
        ),
        (
            r#"app_log_exceptions_total{service="api",exception_type="ReadTimeout"}"#,
            1.0,
        ),
    ] {
        assert_eq!(value(&text, series), Some(n), "{series}\n{text}");
    }
    assert!(!text.contains("Ignored"));
}

/// A `browser.web_vital` event of vital `name` with value `v` and `rating`, as the
/// web-vitals library sends it.
fn web_vital_event(name: &str, v: f64, rating: &str) -> LogRecord {
    let body = AnyValue {
        value: Some(Value::KvlistValue(KeyValueList {
            values: vec![
                kv("name", s(name)),
                kv("value", Value::DoubleValue(v)),
                kv("delta", Value::DoubleValue(v)),
                kv("id", s("v3-1")),
                kv("rating", s(rating)),
            ],
        })),
    };
    LogRecord {
        event_name: "browser.web_vital".to_owned(),
        body: Some(body),
        ..Default::default()
    }
}

/// A metrics batch of `resource` with one gauge of INP, 120 ms rated good.
fn inp_gauge(resource: Vec<KeyValue>) -> Batch {
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::metrics::v1::{
        Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric::Data,
        number_data_point,
    };
    let inp = Metric {
        name: "browser.web_vital.inp".to_owned(),
        unit: "ms".to_owned(),
        data: Some(Data::Gauge(Gauge {
            data_points: vec![NumberDataPoint {
                attributes: vec![kv("rating", s("good"))],
                value: Some(number_data_point::Value::AsDouble(120.0)),
                ..Default::default()
            }],
        })),
        ..Default::default()
    };
    Batch::new(
        Payload::Metrics(ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(Resource {
                    attributes: resource,
                    ..Default::default()
                }),
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![inp],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }),
        Transport::Grpc,
        0,
    )
}

/// The series the web vitals below give, with their values.
const WEB_VITAL_SERIES: &[(&str, f64)] = &[
    (
        r#"web_vitals_lcp_seconds_count{service="widget",rating="good"}"#,
        1.0,
    ),
    (
        r#"web_vitals_lcp_seconds_sum{service="widget",rating="good"}"#,
        2.1,
    ),
    (
        r#"web_vitals_lcp_seconds_count{service="widget",rating="poor"}"#,
        1.0,
    ),
    (
        r#"web_vitals_cls_count{service="widget",rating="good"}"#,
        1.0,
    ),
    (
        r#"web_vitals_inp_seconds_count{service="widget",rating="good"}"#,
        2.0,
    ),
    (
        r#"web_vitals_inp_seconds_sum{service="widget",rating="good"}"#,
        0.3,
    ),
    (
        r#"web_vitals_cls_count{service="widget",rating="poor"}"#,
        1.0,
    ),
    (r#"web_vitals_cls_sum{service="widget",rating="poor"}"#, 0.3),
    (
        r#"web_vitals_ttfb_seconds_count{service="widget",rating="unknown"}"#,
        1.0,
    ),
    (
        r#"web_vitals_fcp_seconds_count{service="widget",rating="needs-improvement"}"#,
        1.0,
    ),
];

#[test]
fn web_vitals_from_log_events_span_events_spans_and_metrics() {
    let (p, r) = processor("{}");
    let event = web_vital_event;
    let widget = || {
        vec![
            kv("service.name", s("widget")),
            kv("telemetry.sdk.language", s("webjs")),
        ]
    };
    p.process(&mut logs(
        widget(),
        vec![
            event("lcp", 2100.0, "good"),
            event("LCP", 4500.0, "poor"),
            event("cls", 0.02, "good"),
            event("inp", 180.0, "good"),
            event("ttfb", 300.0, "bogus"),
        ],
    ))
    .unwrap();
    let mut page = span("documentLoad", SpanKind::Internal, 900, vec![]);
    page.events.push(span::Event {
        name: "browser.web_vital".to_owned(),
        attributes: vec![
            kv("browser.web_vital.name", s("fcp")),
            kv("browser.web_vital.value", Value::DoubleValue(1200.0)),
            kv("browser.web_vital.rating", s("needs-improvement")),
        ],
        ..Default::default()
    });
    let mut cls = span(
        "cls",
        SpanKind::Internal,
        0,
        vec![
            kv("cls.value", Value::DoubleValue(0.3)),
            kv("cls.rating", s("poor")),
        ],
    );
    cls.end_time_unix_nano = cls.start_time_unix_nano;
    p.process(&mut traces(widget(), vec![page, cls])).unwrap();
    // And as metrics: a gauge of INP in ms.
    let mut metrics = inp_gauge(widget());
    p.process(&mut metrics).unwrap();
    let text = scrape(&r);
    for &(series, n) in WEB_VITAL_SERIES {
        assert_eq!(value(&text, series), Some(n), "{series}\n{text}");
    }
}

#[test]
fn operation_names_lose_their_ids() {
    for (raw, want) in [
        ("GET /users/42", "GET /users/{id}"),
        ("GET /users/42/orders?page=2", "GET /users/{id}/orders"),
        (
            "/c/3fa85f64-5717-4562-b3fc-2c963f66afa6/messages",
            "/c/{id}/messages",
        ),
        ("/tokens/ab12cd34ef56", "/tokens/{id}"),
        ("/v1/chat/completions", "/v1/chat/completions"),
        ("/v19.0/me/accounts", "/v19.0/me/accounts"),
        ("documentLoad", "documentLoad"),
        (
            "POST /v1beta/properties/123456:runReport",
            "POST /v1beta/properties/{id}:runReport",
        ),
    ] {
        assert_eq!(normalise_operation(raw), want, "{raw}");
    }
    assert!(normalise_operation(&"x/".repeat(100)).len() <= 64);
}

#[test]
fn bad_settings_are_refused() {
    let cfg: HealthConfig = serde_saphyr::from_str(
        "thresholds: { ai: [5, 2], kitchen: [1, 2] }\nexpected: [{ name: x }]\nplatforms: [{ name: y }]",
    )
    .unwrap();
    let keys: Vec<String> = cfg.check().into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        [
            "thresholds.ai",
            "thresholds.kitchen",
            "expected[0]",
            "platforms[0]"
        ]
    );
}

/// A Meta Graph call of connection `conn` whose token `expires`.
fn token_sync(conn: &str, expires: Value) -> Span {
    span(
        "GET",
        SpanKind::Client,
        10,
        vec![
            kv("url.full", s("https://graph.facebook.com/v19.0/me")),
            kv("integration.connection.id", s(conn)),
            kv("integration.token.expires_at", expires),
        ],
    )
}

/// The series the connection events and token expiries below give, with their values.
const CONNECTION_SERIES: &[(&str, f64)] = &[
    (
        r#"integration_connections_total{platform="google_analytics",outcome="initiated"}"#,
        2.0,
    ),
    (
        r#"integration_connections_total{platform="google_analytics",outcome="connected"}"#,
        1.0,
    ),
    (
        r#"integration_connections_total{platform="google_analytics",outcome="failed"}"#,
        1.0,
    ),
    (
        r#"integration_connection_failures_total{platform="google_analytics",reason="access_denied"}"#,
        1.0,
    ),
    (
        r#"integration_tokens_expiring{platform="google_analytics",within="1d"}"#,
        1.0,
    ),
    (
        r#"integration_tokens_expiring{platform="meta_graph",within="expired"}"#,
        1.0,
    ),
    (
        r#"integration_tokens_expiring{platform="meta_graph",within="7d"}"#,
        1.0,
    ),
    (
        r#"integration_tokens_expiring{platform="meta_graph",within="1d"}"#,
        0.0,
    ),
];

#[test]
fn connections_failures_and_token_expiry() {
    let (p, r) = processor("max_connections: 3");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let event = |name: &str, attrs: Vec<KeyValue>| LogRecord {
        event_name: name.to_owned(),
        attributes: attrs,
        ..Default::default()
    };
    let ga = || kv("integration.platform", s("google_analytics"));
    p.process(&mut logs(
        vec![],
        vec![
            event("platform_connect_initiated", vec![ga()]),
            event("platform_connect_initiated", vec![ga()]),
            event(
                "platform_connected",
                vec![
                    ga(),
                    kv("integration.connection.id", s("conn-1")),
                    kv(
                        "integration.token.expires_at",
                        Value::DoubleValue(now + 3600.0),
                    ),
                ],
            ),
            event(
                "platform_connection_failed",
                vec![ga(), kv("oauth.error", s("access_denied"))],
            ),
        ],
    ))
    .unwrap();
    // Token expiry from spans too: an RFC 3339 time in the past, and one in five days.
    let sync = token_sync;
    p.process(&mut traces(
        vec![],
        vec![
            sync("conn-2", s("2020-01-01T00:00:00Z")),
            sync("conn-3", Value::IntValue(now as i64 + 5 * 86_400)),
            sync("conn-4", Value::IntValue(now as i64 + 86_400)),
        ],
    ))
    .unwrap();
    let text = scrape(&r);
    for &(series, n) in CONNECTION_SERIES {
        assert_eq!(value(&text, series), Some(n), "{series}\n{text}");
    }
    // The fourth connection is past max_connections, and no connection id is exposed.
    assert!(!text.contains("conn-"), "{text}");
}
