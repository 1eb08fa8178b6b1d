//! The health processor end to end: the Python SDK sends one span per component and
//! platform, log records and a web vital over OTLP/HTTP, and `/metrics` holds exactly the
//! expected series.

use std::time::Duration;

use super::python_clients::run_script;
use super::support::{Llmwatch, metric_value};

const CONFIG: &str = r#"
receivers:
  otlp:
    protocols:
      http: { endpoint: "127.0.0.1:0" }
processors:
  redaction: { insecure_dev_key: true }
  genai: {}
  health: {}
exporters:
  prometheus: { endpoint: "127.0.0.1:0" }
  debug: {}
service:
  pipelines:
    traces: { receivers: [otlp], processors: [redaction, genai, health], exporters: [prometheus, debug] }
    logs: { receivers: [otlp], processors: [redaction, genai, health], exporters: [prometheus, debug] }
"#;

/// A series: metric name, labels, value.
type Series = (&'static str, &'static [(&'static str, &'static str)], f64);

/// The series the Python SDK's spans, logs and web vital give, apart from the operations.
const HEALTH_SERIES: &[Series] = &[
    (
        "app_operation_duration_seconds_count",
        &[
            ("service", "widget"),
            ("component", "frontend"),
            ("operation", "documentLoad"),
        ],
        1.0,
    ),
    (
        "app_errors_total",
        &[
            ("service", "health-api"),
            ("component", "server"),
            ("error_type", "server_error"),
        ],
        1.0,
    ),
    ("app_errors_total", &[], 1.0),
    (
        "app_expected_outcomes_total",
        &[
            ("service", "health-api"),
            ("component", "platform"),
            ("rule", "rate_limited"),
        ],
        1.0,
    ),
    (
        "integration_requests_total",
        &[("platform", "google_analytics"), ("outcome", "success")],
        1.0,
    ),
    (
        "integration_requests_total",
        &[("platform", "meta_graph"), ("outcome", "rate_limited")],
        1.0,
    ),
    (
        "integration_rate_limited_total",
        &[("platform", "meta_graph")],
        1.0,
    ),
    (
        "integration_last_sync_timestamp_seconds",
        &[("platform", "google_analytics")],
        1_764_000_000.7,
    ),
    (
        "app_log_records_total",
        &[("service", "health-api"), ("severity", "info")],
        2.0,
    ),
    (
        "app_log_records_total",
        &[("service", "health-api"), ("severity", "warn")],
        1.0,
    ),
    (
        "app_log_records_total",
        &[("service", "health-api"), ("severity", "error")],
        1.0,
    ),
    (
        "app_log_exceptions_total",
        &[("service", "health-api"), ("exception_type", "ReadTimeout")],
        1.0,
    ),
    (
        "web_vitals_lcp_seconds_count",
        &[("service", "widget"), ("rating", "good")],
        1.0,
    ),
    ("web_vitals_lcp_seconds_sum", &[("service", "widget")], 1.8),
];

#[test]
fn python_sdk_spans_logs_and_web_vitals_give_exact_series() {
    let lw = Llmwatch::start(CONFIG);
    run_script("emit_health.py", &[format!("http://{}", lw.http.unwrap())]);
    // 6 spans and 5 log records, each through the pipeline once the debug exporter saw it.
    let text = lw.metrics_when(Duration::from_secs(20), |text| {
        metric_value(
            text,
            "llmwatch_exporter_sent_items_total",
            &[("exporter", "debug")],
        ) >= 11.0
    });
    let api = ("service", "health-api");
    let count = |component: &str, operation: &str| {
        metric_value(
            &text,
            "app_operation_duration_seconds_count",
            &[api, ("component", component), ("operation", operation)],
        )
    };
    assert_eq!(count("ai", "chat"), 1.0, "{text}");
    assert_eq!(count("database", "postgresql SELECT users"), 1.0, "{text}");
    assert_eq!(
        count("platform", "POST /v1beta/properties/{id}:runReport"),
        1.0,
        "{text}"
    );
    assert_eq!(count("platform", "GET /v19.0/me/accounts"), 1.0, "{text}");
    assert_eq!(count("server", "GET /api/chat/{id}"), 1.0, "{text}");
    let sum = metric_value(
        &text,
        "app_operation_duration_seconds_sum",
        &[api, ("component", "server")],
    );
    assert!((sum - 2.5).abs() < 1e-9, "{text}");
    for &(name, labels, want) in HEALTH_SERIES {
        assert_eq!(
            metric_value(&text, name, labels),
            want,
            "{name} {labels:?}\n{text}"
        );
    }
    // The LLM call was also counted by genai, once.
    assert_eq!(
        metric_value(&text, "llm_requests_total", &[api]),
        1.0,
        "{text}"
    );
}
