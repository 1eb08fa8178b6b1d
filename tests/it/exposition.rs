//! `/metrics` as Prometheus text passes `promtool check metrics`, and OpenMetrics is served
//! to scrapers that ask for it.

use super::support::{
    Llmwatch, TRACES_PATH, assert_promtool_accepts, block_on, grpc_raw, http_request,
};

const CONFIG: &str = r#"
receivers:
  otlp:
    protocols:
      grpc: { endpoint: "127.0.0.1:0" }
      http: { endpoint: "127.0.0.1:0" }
processors:
  genai: { budgets: { daily_usd: 10 }, latency_thresholds: { warning: 5 } }
  health: {}
exporters:
  prometheus: { endpoint: "127.0.0.1:0" }
  nop: {}
  debug: { verbosity: detailed }
service:
  pipelines:
    traces: { receivers: [otlp], processors: [genai, health], exporters: [prometheus, nop, debug] }
    logs: { receivers: [otlp], exporters: [nop] }
"#;

/// Families that must have samples after the traffic below.
const FAMILIES: &[&str] = &[
    "llmwatch_receiver_received_items_total",
    "llmwatch_receiver_received_bytes_total",
    "llmwatch_receiver_accepted_items_total",
    "llmwatch_receiver_refused_requests_total",
    "llmwatch_queue_requests",
    "llmwatch_queue_capacity_bytes",
    "llmwatch_pipeline_batch_duration_seconds_bucket",
    "llmwatch_exporter_sent_items_total",
    "llmwatch_exporter_discarded_items_total",
    "llmwatch_build_info",
    "llm_requests_total",
    "llm_tokens_total",
    "llm_cost_usd_total",
    "llm_request_duration_seconds_bucket",
    "llm_finish_reasons_total",
    "llm_budget_usd",
    "llmwatch_latency_threshold_seconds",
    "app_operation_duration_seconds_bucket",
];

/// Ten LLM spans over each of OTLP/HTTP and OTLP/gRPC, and two refused requests.
fn send_traffic_and_refusals(lw: &Llmwatch) {
    use prost::Message;
    let body = llmwatch::bench::reference_traces(10, 1).encode_to_vec();
    assert_eq!(
        http_request(
            lw.http(),
            "POST",
            "/v1/traces",
            &[("content-type", "application/x-protobuf")],
            &body
        )
        .status,
        200
    );
    block_on(grpc_raw(lw.grpc(), TRACES_PATH, body, true, None)).unwrap();
    // Refusals too, so their families have samples.
    assert_eq!(
        http_request(
            lw.http(),
            "POST",
            "/v1/traces",
            &[("content-type", "text/plain")],
            b"x"
        )
        .status,
        415
    );
    assert_eq!(
        http_request(
            lw.http(),
            "POST",
            "/v1/metrics",
            &[("content-type", "application/json")],
            b"{}"
        )
        .status,
        404
    );
}

#[test]
fn prometheus_text_passes_promtool_and_openmetrics_is_negotiated() {
    let lw = Llmwatch::start(CONFIG);
    send_traffic_and_refusals(&lw);
    // Both requests have been answered; wait (bounded) until the workers processed them.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while lw.metric(
        "llmwatch_exporter_sent_items_total",
        &[("exporter", "debug")],
    ) < 20.0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            lw.metrics_text()
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let r = http_request(lw.admin, "GET", "/metrics", &[], b"");
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = r.text();
    for family in FAMILIES {
        assert!(
            text.lines().any(|l| l.starts_with(family)),
            "{family} missing from:\n{text}"
        );
    }

    assert_promtool_accepts(&text);

    let prometheus_accept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let r = http_request(
        lw.admin,
        "GET",
        "/metrics",
        &[("accept", prometheus_accept)],
        b"",
    );
    assert_eq!(
        r.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    assert!(r.text().ends_with("# EOF\n"));
    assert!(
        r.text()
            .contains("# TYPE llmwatch_receiver_accepted_items counter")
    );
    assert_eq!(http_request(lw.admin, "GET", "/nope", &[], b"").status, 404);
}
