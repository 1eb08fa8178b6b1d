//! The real `openai` Python client under each real GenAI instrumentation, against a fake
//! OpenAI-compatible server on 127.0.0.1, exporting to llmwatch over OTLP/HTTP: the
//! token counts and costs on `/metrics` must be exactly what the fake server reported,
//! priced from the embedded table.
//!
//! The fake reports, per chat: prompt 52 (32 cached), completion 47 (10 reasoning); per
//! embedding: 8. It answers as `<model>-2024-08-06`. gpt-4o costs 2.50 / 10.00 / 1.25
//! (input / output / cache read, USD per 1M), text-embedding-3-small 0.02.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::emitter_verify::FakeOpenAi;
use super::python_clients::venv_python;
use super::support::{Llmwatch, TempDir, lines, metric_value};

const CONFIG: &str = r#"
receivers:
  otlp:
    protocols:
      grpc: { endpoint: "127.0.0.1:0" }
      http: { endpoint: "127.0.0.1:0" }
processors:
  redaction: { insecure_dev_key: true }
  genai: {}
exporters:
  prometheus: { endpoint: "127.0.0.1:0" }
  file: { path: "{dir}/out.jsonl" }
service:
  pipelines:
    traces: { receivers: [otlp], processors: [redaction, genai], exporters: [prometheus, file] }
    logs: { receivers: [otlp], processors: [redaction, genai], exporters: [prometheus, file] }
"#;

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(name)
}

/// What one instrumentation must produce for the driver's four calls.
struct Expect {
    input: f64,
    cache_read: f64,
    output: f64,
    reasoning: f64,
    cost: f64,
    ttft_samples: f64,
    /// `stop` finish reasons: openai-v2 records none for the streamed chat.
    stops: f64,
}

/// The metrics once every accepted item has been through the pipeline (both exporters
/// sent it) and the driver's four calls arrived.
fn drained_metrics(lw: &Llmwatch) -> String {
    // Every accepted item has been through the pipeline once both exporters sent it.
    lw.metrics_when(Duration::from_secs(30), |text| {
        let drained = ["traces", "logs"].iter().all(|signal| {
            let accepted = metric_value(
                text,
                "llmwatch_receiver_accepted_items_total",
                &[("signal", signal)],
            );
            let sent = metric_value(
                text,
                "llmwatch_exporter_sent_items_total",
                &[("signal", signal), ("exporter", "file")],
            );
            accepted == sent
        });
        drained
            && metric_value(
                text,
                "llmwatch_receiver_accepted_items_total",
                &[("signal", "traces")],
            ) >= 4.0
    })
}

/// The two chat calls: requests, tokens by type, cost, finish reasons, durations and
/// times to first token, as `want` says.
fn check_chat_calls(text: &str, service: &str, want: &Expect, report: &str) {
    let s = ("service", service);
    let chat = [s, ("model", "gpt-4o-2024-08-06")];
    let get = |name: &str, extra: &[(&str, &str)]| {
        let labels: Vec<(&str, &str)> = chat.iter().chain(extra).copied().collect();
        metric_value(text, name, &labels)
    };
    assert_eq!(
        get(
            "llm_requests_total",
            &[("operation", "chat"), ("outcome", "success")]
        ),
        2.0,
        "{report}"
    );
    assert_eq!(
        get("llm_tokens_total", &[("type", "input")]),
        want.input,
        "{report}"
    );
    assert_eq!(
        get("llm_tokens_total", &[("type", "cache_read")]),
        want.cache_read,
        "{report}"
    );
    assert_eq!(
        get("llm_tokens_total", &[("type", "output")]),
        want.output,
        "{report}"
    );
    assert_eq!(
        get("llm_tokens_total", &[("type", "reasoning")]),
        want.reasoning,
        "{report}"
    );
    let cost = get("llm_cost_usd_total", &[("cost_source", "computed")]);
    assert!(
        (cost - want.cost).abs() < 1e-12,
        "cost {cost} != {}: {report}",
        want.cost
    );
    assert_eq!(
        get("llm_finish_reasons_total", &[("reason", "stop")]),
        want.stops,
        "{report}"
    );
    assert_eq!(
        get(
            "llm_request_duration_seconds_count",
            &[("operation", "chat")]
        ),
        2.0,
        "{report}"
    );
    assert_eq!(
        get("llm_time_to_first_token_seconds_count", &[]),
        want.ttft_samples,
        "{report}"
    );
}

/// The embedding call and its cost, the 429 counted once as its class, nothing unpriced.
fn check_embedding_and_errors(text: &str, service: &str, report: &str) {
    let s = ("service", service);
    let embedding = [
        s,
        ("model", "text-embedding-3-small-2024-08-06"),
        ("operation", "embeddings"),
    ];
    assert_eq!(
        metric_value(text, "llm_requests_total", &embedding),
        1.0,
        "{report}"
    );
    let embedding_cost = metric_value(
        text,
        "llm_cost_usd_total",
        &[s, ("model", "text-embedding-3-small-2024-08-06")],
    );
    assert!(
        (embedding_cost - 8.0 * 0.02 / 1e6).abs() < 1e-15,
        "{report}"
    );
    // The 429, counted once, as its exception class.
    assert_eq!(
        metric_value(
            text,
            "llm_errors_total",
            &[s, ("model", "fail-429"), ("error_type", "RateLimitError")]
        ),
        1.0,
        "{report}"
    );
    assert_eq!(
        metric_value(text, "llm_requests_total", &[s, ("outcome", "error")]),
        1.0,
        "{report}"
    );
    assert_eq!(
        metric_value(text, "llm_unpriced_tokens_total", &[s]),
        0.0,
        "{report}"
    );
}

fn run(mode: &str, venv: &str, var: &str, env: &[(&str, &str)], want: Expect) {
    let python = venv_python(venv, var);
    let served = TempDir::new("served");
    let fake = FakeOpenAi::start(&served.path("served.jsonl"));
    let lw = Llmwatch::start(CONFIG);
    let service = format!("it-{}", venv.trim_start_matches(".venv-genai-"));
    let out = Command::new(&python)
        .arg(script("drive_openai.py"))
        .args([
            mode,
            &service,
            &format!("http://{}", lw.http.unwrap()),
            &format!("http://127.0.0.1:{}/v1", fake.port),
        ])
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "driver failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = drained_metrics(&lw);
    let report = format!("{mode} ({venv}):\n{text}");
    check_chat_calls(&text, &service, &want, &report);
    check_embedding_and_errors(&text, &service, &report);
    if mode == "v2" {
        // The GenAI log events arrived and went through the same processor.
        let events = metric_value(
            &text,
            "llmwatch_receiver_accepted_items_total",
            &[("signal", "logs")],
        );
        assert!(events >= 3.0, "{report}");
    }
    // The prompt's e-mail address reached neither the metrics nor the forwarded telemetry.
    assert!(!text.contains("jane.doe"), "{report}");
    let forwarded = lines(&lw.dir.path("out.jsonl")).join("\n");
    assert!(!forwarded.is_empty());
    assert!(!forwarded.contains("jane.doe@example.com"), "{forwarded}");
}

/// opentelemetry-instrumentation-openai-v2 in its default (legacy) mode: usage without
/// cache or reasoning details, content in per-message log events.
#[test]
fn openai_v2_legacy_mode() {
    run(
        "v2",
        ".venv-genai-v2-legacy",
        "LLMWATCH_PYTHON_GENAI_V2_LEGACY",
        &[("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")],
        Expect {
            input: 104.0,
            cache_read: 0.0,
            output: 94.0,
            reasoning: 0.0,
            // 2 × (52 × 2.50 + 47 × 10.00) per 1M
            cost: 0.0012,
            ttft_samples: 0.0,
            stops: 1.0,
        },
    );
}

/// The same instrumentation in `gen_ai_latest_experimental` mode, where every call is
/// also logged as a `gen_ai.client.inference.operation.details` event: each call must
/// still count once.
#[test]
fn openai_v2_latest_experimental_mode() {
    run(
        "v2",
        ".venv-genai-v2-latest",
        "LLMWATCH_PYTHON_GENAI_V2_LATEST",
        &[
            (
                "OTEL_SEMCONV_STABILITY_OPT_IN",
                "gen_ai_latest_experimental",
            ),
            (
                "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
                "span_and_event",
            ),
            ("OTEL_INSTRUMENTATION_GENAI_EMIT_EVENT", "true"),
        ],
        Expect {
            input: 104.0,
            cache_read: 0.0,
            output: 94.0,
            reasoning: 0.0,
            cost: 0.0012,
            ttft_samples: 0.0,
            stops: 1.0,
        },
    );
}

/// Traceloop's opentelemetry-instrumentation-openai: cache reads on both chats, reasoning
/// on the non-streamed one, a chunk event per streamed chunk.
#[test]
fn traceloop_openai() {
    run(
        "traceloop",
        ".venv-genai-vendor",
        "LLMWATCH_PYTHON_GENAI_VENDOR",
        &[("TRACELOOP_TRACE_CONTENT", "true")],
        Expect {
            input: 40.0,
            cache_read: 64.0,
            output: 84.0,
            reasoning: 10.0,
            // 40 × 2.50 + 64 × 1.25 + 84 × 10 + 10 × 10 per 1M
            cost: 0.00112,
            ttft_samples: 1.0,
            stops: 2.0,
        },
    );
}

/// openinference-instrumentation-openai: `llm.token_count.*` with cache and reasoning
/// details on both chats, and a first-token event on the streamed one.
#[test]
fn openinference_openai() {
    run(
        "openinference",
        ".venv-genai-vendor",
        "LLMWATCH_PYTHON_GENAI_VENDOR",
        &[],
        Expect {
            input: 40.0,
            cache_read: 64.0,
            output: 74.0,
            reasoning: 20.0,
            // 40 × 2.50 + 64 × 1.25 + 74 × 10 + 20 × 10 per 1M
            cost: 0.00112,
            ttft_samples: 1.0,
            stops: 2.0,
        },
    );
}

/// One chat span of `trace`, answered with `response_id`, as OTLP/JSON.
fn chat_span(trace: u64, span: u64, response_id: &str) -> serde_json::Value {
    serde_json::json!({
        "traceId": format!("{trace:032x}"),
        "spanId": format!("{span:016x}"),
        "name": "chat gpt-4o",
        "kind": 3,
        "startTimeUnixNano": "1764000000000000000",
        "endTimeUnixNano": "1764000001000000000",
        "attributes": [
            {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
            {"key": "gen_ai.provider.name", "value": {"stringValue": "openai"}},
            {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
            {"key": "gen_ai.response.id", "value": {"stringValue": response_id}},
            {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "100"}},
            {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "10"}}
        ]
    })
}

/// Posts `spans` under `service` and returns the HTTP status.
fn post_spans(lw: &Llmwatch, service: &str, spans: Vec<serde_json::Value>) -> u16 {
    let body = serde_json::to_vec(&serde_json::json!({
        "resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
            "scopeSpans": [{"scope": {"name": "it"}, "spans": spans}]
        }]
    }))
    .unwrap();
    super::support::http_request(
        lw.http.unwrap(),
        "POST",
        "/v1/traces",
        &[("content-type", "application/json")],
        &body,
    )
    .status
}

/// Issue 14: a response id repeated by a mock server or a caching gateway merges two
/// descriptions only within one trace. Two calls in two traces that share a response id
/// are two calls; a second span of the same trace with that id is the same call, and the
/// merge is counted.
#[test]
fn calls_in_two_traces_sharing_a_response_id_count_twice() {
    let lw = Llmwatch::start(CONFIG);
    assert_eq!(
        post_spans(&lw, "svc-a", vec![chat_span(0xa1, 1, "chatcmpl-1")]),
        200
    );
    assert_eq!(
        post_spans(&lw, "svc-b", vec![chat_span(0xb2, 1, "chatcmpl-1")]),
        200
    );
    // The same call described again in trace b (another instrumentation's span).
    assert_eq!(
        post_spans(&lw, "svc-b", vec![chat_span(0xb2, 2, "chatcmpl-1")]),
        200
    );
    // Every span went through the processors once the file exporter sent it.
    let text = lw.metrics_when(Duration::from_secs(30), |text| {
        metric_value(
            text,
            "llmwatch_exporter_sent_items_total",
            &[("signal", "traces"), ("exporter", "file")],
        ) >= 3.0
    });
    let requests = |service: &str| {
        metric_value(
            &text,
            "llm_requests_total",
            &[("service", service), ("outcome", "success")],
        )
    };
    assert_eq!(requests("svc-a") + requests("svc-b"), 2.0, "{text}");
    assert_eq!(requests("svc-a"), 1.0, "{text}");
    assert_eq!(requests("svc-b"), 1.0, "{text}");
    assert_eq!(
        metric_value(
            &text,
            "llmwatch_genai_deduplicated_total",
            &[("rule", "response_id")]
        ),
        1.0,
        "{text}"
    );
}
