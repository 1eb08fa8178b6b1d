//! The Python OpenTelemetry SDK's own exporters send traces, logs and metrics over gRPC,
//! HTTP/protobuf and HTTP/JSON, each with and without gzip. With no processors configured,
//! the file exporter must hold exactly what the SDK sent, and the self-metrics must count
//! every item.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use llmwatch::model::{Payload, Signal};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message;

use super::support::{Llmwatch, lines};

const PROTOCOLS: [(&str, &str); 3] = [
    ("grpc", "grpc"),
    ("http/protobuf", "http_protobuf"),
    ("http/json", "http_json"),
];
const COMPRESSIONS: [&str; 2] = ["none", "gzip"];

/// The interpreter of a venv that scripts/check builds in the repository: `$var`, else
/// `venv/bin/python`.
pub(super) fn venv_python(venv: &str, var: &str) -> PathBuf {
    if let Ok(p) = std::env::var(var) {
        return PathBuf::from(p);
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(venv)
        .join("bin/python");
    assert!(
        p.is_file(),
        "{} is missing: run scripts/check, which creates the Python venvs, or set {var}",
        p.display()
    );
    p
}

/// The interpreter of the OpenTelemetry SDK venv (`json`: the one pinned for OTLP/JSON).
pub(super) fn python(json: bool) -> PathBuf {
    if json {
        venv_python(".venv-json", "LLMWATCH_PYTHON_JSON")
    } else {
        venv_python(".venv", "LLMWATCH_PYTHON")
    }
}

/// Runs `tests/python/<name>` with the SDK venv and `args`; fails the test, with the
/// script's stderr, when it fails.
pub(super) fn run_script(name: &str, args: &[String]) {
    let out = Command::new(python(false))
        .arg(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/python")
                .join(name),
        )
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs tests/python/send_otlp.py against `lw` with `args`, recording what was sent to
/// `record`; fails the test when the client or any of its exports fails.
pub(super) fn send(lw: &Llmwatch, args: &[&str], record: &Path) {
    let json = args.windows(2).any(|w| w == ["--protocol", "http/json"]);
    let out = Command::new(python(json))
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/send_otlp.py"))
        .args(args)
        .args([
            "--grpc-endpoint",
            &lw.grpc().to_string(),
            "--http-endpoint",
            &format!("http://{}", lw.http()),
        ])
        .arg("--record")
        .arg(record)
        .output()
        .expect("run python client");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stderr.contains("export failed"),
        "python client {args:?} failed:\n{stderr}"
    );
}

const CONFIG: &str = r#"
receivers:
  otlp:
    protocols:
      grpc: { endpoint: "127.0.0.1:0" }
      http: { endpoint: "127.0.0.1:0" }
exporters:
  prometheus: { endpoint: "127.0.0.1:0" }
  file: { path: "{dir}/out.jsonl" }
service:
  pipelines:
    traces: { receivers: [otlp], exporters: [file, prometheus] }
    logs: { receivers: [otlp], exporters: [file, prometheus] }
    metrics: { receivers: [otlp], exporters: [file, prometheus] }
"#;

fn decode_line(signal: Signal, line: &str) -> Payload {
    match signal {
        Signal::Traces => Payload::Traces(serde_json::from_str(line).expect("trace line")),
        Signal::Logs => Payload::Logs(serde_json::from_str(line).expect("log line")),
        Signal::Metrics => Payload::Metrics(serde_json::from_str(line).expect("metric line")),
    }
}

fn decode_recorded(signal: Signal, hex: &str) -> Payload {
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect();
    llmwatch::decode::decode_protobuf(signal, &bytes).expect("recorded protobuf")
}

fn encode(p: &Payload) -> Vec<u8> {
    match p {
        Payload::Traces(r) => r.encode_to_vec(),
        Payload::Logs(r) => r.encode_to_vec(),
        Payload::Metrics(r) => r.encode_to_vec(),
    }
}

fn resource_attrs(p: &Payload) -> Vec<KeyValue> {
    let attrs = match p {
        Payload::Traces(r) => r
            .resource_spans
            .first()
            .and_then(|x| x.resource.as_ref())
            .map(|r| r.attributes.clone()),
        Payload::Logs(r) => r
            .resource_logs
            .first()
            .and_then(|x| x.resource.as_ref())
            .map(|r| r.attributes.clone()),
        Payload::Metrics(r) => r
            .resource_metrics
            .first()
            .and_then(|x| x.resource.as_ref())
            .map(|r| r.attributes.clone()),
    };
    attrs.unwrap_or_default()
}

fn run_id(p: &Payload) -> String {
    resource_attrs(p)
        .into_iter()
        .find(|kv| kv.key == "run.id")
        .and_then(|kv| kv.value)
        .and_then(|v| match v.value {
            Some(AnyValue::StringValue(s)) => Some(s),
            _ => None,
        })
        .unwrap_or_default()
}

/// What each run of the client sent, by tag, and the items per transport.
type Sent = (
    Vec<(String, Vec<Payload>)>,
    std::collections::BTreeMap<&'static str, u64>,
);

fn sends_exactly_what_the_sdk_sent(signal: Signal, count: u32) {
    let lw = Llmwatch::start(CONFIG);
    let (cases, expected_by_transport) = send_every_combination(&lw, signal, count);
    // Every item accepted must reach the file exporter; wait for the workers (bounded).
    let total: u64 = expected_by_transport.values().sum();
    let deadline = Instant::now() + Duration::from_secs(30);
    while lw.metric(
        "llmwatch_exporter_sent_items_total",
        &[("exporter", "file"), ("signal", signal.as_str())],
    ) < total as f64
    {
        assert!(
            Instant::now() < deadline,
            "file exporter did not receive {total} items:\n{}",
            lw.metrics_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    check_receiver_counts(&lw, signal, &expected_by_transport, total);
    check_written_equals_sent(&lw, signal, cases);
}

/// Sends `count` items of `signal` with the Python SDK over every protocol and compression,
/// each run tagged; returns what the client recorded sending.
fn send_every_combination(lw: &Llmwatch, signal: Signal, count: u32) -> Sent {
    let mut expected_by_transport = std::collections::BTreeMap::<&str, u64>::new();
    let mut cases = Vec::new();
    for (protocol, transport) in PROTOCOLS {
        for compression in COMPRESSIONS {
            let tag = format!("{transport}-{compression}");
            let record = lw.dir.path(&format!("sent-{tag}.hex"));
            send(
                lw,
                &[
                    "--signal",
                    signal.as_str(),
                    "--protocol",
                    protocol,
                    "--compression",
                    compression,
                    "--count",
                    &count.to_string(),
                    "--run-id",
                    &tag,
                ],
                &record,
            );
            let sent: Vec<Payload> = lines(&record)
                .iter()
                .map(|l| decode_recorded(signal, l))
                .collect();
            assert!(!sent.is_empty(), "{tag}: the client recorded nothing");
            let items: u64 = sent.iter().map(Payload::item_count).sum();
            assert!(items > 0, "{tag}: no items sent");
            *expected_by_transport.entry(transport).or_default() += items;
            cases.push((tag, sent));
        }
    }

    (cases, expected_by_transport)
}

/// Every item was received and accepted on its transport, none refused, all sent on.
fn check_receiver_counts(
    lw: &Llmwatch,
    signal: Signal,
    expected_by_transport: &std::collections::BTreeMap<&'static str, u64>,
    total: u64,
) {
    let text = lw.metrics_text();
    for (transport, items) in expected_by_transport {
        let labels = [("signal", signal.as_str()), ("transport", *transport)];
        let m = |name| super::support::metric_value(&text, name, &labels);
        assert_eq!(
            m("llmwatch_receiver_received_items_total"),
            *items as f64,
            "received {transport}"
        );
        assert_eq!(
            m("llmwatch_receiver_accepted_items_total"),
            *items as f64,
            "accepted {transport}"
        );
        assert_eq!(
            m("llmwatch_receiver_refused_requests_total"),
            0.0,
            "refused {transport}"
        );
    }
    assert_eq!(
        super::support::metric_value(
            &text,
            "llmwatch_exporter_sent_items_total",
            &[("exporter", "file"), ("signal", signal.as_str())]
        ),
        total as f64
    );
}

/// The file exporter wrote exactly the requests each run sent, byte for byte.
fn check_written_equals_sent(lw: &Llmwatch, signal: Signal, cases: Vec<(String, Vec<Payload>)>) {
    let written: Vec<Payload> = lines(&lw.dir.path("out.jsonl"))
        .iter()
        .map(|l| decode_line(signal, l))
        .collect();
    for (tag, sent) in cases {
        let mut got: Vec<Vec<u8>> = written
            .iter()
            .filter(|p| run_id(p) == tag)
            .map(encode)
            .collect();
        let mut want: Vec<Vec<u8>> = sent.iter().map(encode).collect();
        got.sort();
        want.sort();
        assert_eq!(got.len(), want.len(), "{tag}: requests written vs sent");
        for (g, w) in got.iter().zip(&want) {
            if g != w {
                let g = llmwatch::decode::decode_protobuf(signal, g).unwrap();
                let w = llmwatch::decode::decode_protobuf(signal, w).unwrap();
                panic!(
                    "{tag}: written request differs from the sent one\nwritten: {g:?}\nsent:    {w:?}"
                );
            }
        }
    }
}

#[test]
fn python_sdk_traces_arrive_exactly() {
    sends_exactly_what_the_sdk_sent(Signal::Traces, 120);
}

#[test]
fn python_sdk_logs_arrive_exactly() {
    sends_exactly_what_the_sdk_sent(Signal::Logs, 120);
}

#[test]
fn python_sdk_metrics_arrive_exactly() {
    sends_exactly_what_the_sdk_sent(Signal::Metrics, 120);
}
