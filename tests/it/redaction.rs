//! The real Python SDK sends PII in every location (resource, span and event attributes,
//! span names, log bodies and attributes, metric attributes) over every transport. What
//! leaves llmwatch (the file exporter's output and /metrics) holds none of it, and the
//! non-PII content is untouched.

use std::time::{Duration, Instant};

use super::python_clients::send;
use super::support::{Llmwatch, lines};

const CONFIG: &str = r#"
receivers:
  otlp:
    protocols:
      grpc: { endpoint: "127.0.0.1:0" }
      http: { endpoint: "127.0.0.1:0" }
processors:
  redaction: { hash_key_env: LLMWATCH_IT_REDACTION_KEY }
exporters:
  prometheus: { endpoint: "127.0.0.1:0" }
  file: { path: "{dir}/out.jsonl" }
service:
  pipelines:
    traces: { receivers: [otlp], processors: [redaction], exporters: [file, prometheus] }
    logs: { receivers: [otlp], processors: [redaction], exporters: [file, prometheus] }
    metrics: { receivers: [otlp], processors: [redaction], exporters: [file, prometheus] }
"#;

const PII: [&str; 9] = [
    "@example.com",
    "@example.org",
    "@example.net",
    "4111 1111 1111 1111",
    "+1 415 555",
    "sk-proj-",
    "DE89 3704",
    "customer-",
    "ops-lead",
];

/// What redaction keeps: non-ASCII text, model and service names, and the placeholders.
const KEPT: &[&str] = &[
    "naïve café ✓ 日本語",
    "gpt-4o-mini",
    "e2e-chatbot",
    "[EMAIL]",
    "[CARD]",
    "[PHONE]",
    "[OPENAI_KEY]",
    "[IBAN]",
];

/// Where the Python SDK's PII is, each of which must count a redaction.
const LOCATIONS: &[&str] = &[
    "span",
    "span_event",
    "log_body",
    "log",
    "metric",
    "resource",
];

/// Sends 60 items with PII of each signal over each protocol; returns the requests the
/// client recorded.
fn send_pii_everywhere(lw: &Llmwatch) -> u64 {
    let mut sent = 0u64;
    for signal in ["traces", "logs", "metrics"] {
        for protocol in ["grpc", "http/protobuf", "http/json"] {
            let record = lw
                .dir
                .path(&format!("sent-{signal}-{}.hex", protocol.replace('/', "-")));
            send(
                lw,
                &[
                    "--signal",
                    signal,
                    "--protocol",
                    protocol,
                    "--pii",
                    "--count",
                    "60",
                    "--run-id",
                    "pii",
                ],
                &record,
            );
            let raw = lines(&record).join("\n");
            assert!(!raw.is_empty());
            sent += lines(&record).len() as u64;
        }
    }
    sent
}

#[test]
fn pii_sent_by_the_python_sdk_never_leaves() {
    let lw = Llmwatch::start_with(
        CONFIG,
        &[("LLMWATCH_IT_REDACTION_KEY", "it-secret-key-0123456789")],
        "debug",
    );
    let sent = send_pii_everywhere(&lw);
    // Wait (bounded) until every request reached the file exporter.
    let deadline = Instant::now() + Duration::from_secs(30);
    while (lines(&lw.dir.path("out.jsonl")).len() as u64) < sent {
        assert!(
            Instant::now() < deadline,
            "only {} of {sent} requests written",
            lines(&lw.dir.path("out.jsonl")).len()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let written = std::fs::read_to_string(lw.dir.path("out.jsonl")).unwrap();
    let metrics = lw.metrics_text();
    let logs = lw.logs();
    for pii in PII {
        assert!(
            !written.contains(pii),
            "{pii:?} left llmwatch in the exported telemetry"
        );
        assert!(!metrics.contains(pii), "{pii:?} reached /metrics");
        assert!(!logs.contains(pii), "{pii:?} reached llmwatch's own logs");
    }
    for kept in KEPT {
        assert!(written.contains(kept), "{kept:?} should be in the output");
    }
    for location in LOCATIONS {
        assert!(
            lw.metric("llmwatch_redactions_total", &[("location", location)]) > 0.0,
            "no redaction counted at {location}:\n{metrics}"
        );
    }
}
