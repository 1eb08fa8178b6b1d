//! Overload: a tiny queue in front of a slow exporter. Clients get the OTLP retryable
//! answers (HTTP 503 with Retry-After, gRPC RESOURCE_EXHAUSTED with RetryInfo), memory stays
//! bounded, and every item that was accepted is delivered.

use std::time::Duration;

use llmwatch::model::rpc;
use prost::Message;

use super::support::{
    HttpResponse, Llmwatch, TRACES_PATH, block_on, grpc_raw, http_request, lines, metric_value,
};

const CONFIG: &str = r#"
receivers:
  otlp:
    protocols:
      grpc: { endpoint: "127.0.0.1:0" }
      http: { endpoint: "127.0.0.1:0" }
exporters:
  prometheus: { endpoint: "127.0.0.1:0" }
  nop/slow: { latency: 40ms }
  file: { path: "{dir}/out.jsonl" }
service:
  workers: 1
  queue: { max_bytes: 64KiB, retry_after: 2s }
  shutdown_timeout: 60s
  pipelines:
    traces: { receivers: [otlp], exporters: [nop/slow, file, prometheus] }
"#;

const SPANS: usize = 20;

#[test]
fn a_full_queue_answers_retryable_and_loses_nothing_accepted() {
    let mut lw = Llmwatch::start(CONFIG);
    let (http, grpc) = (lw.http(), lw.grpc());
    let body = llmwatch::bench::reference_traces(SPANS, 11).encode_to_vec();
    let body_len = body.len() as f64;

    let senders = http_senders(http, &body);
    let grpc_results = grpc_burst(grpc, body);

    let mut accepted = 0u64;
    let mut refused = 0u64;
    for s in senders {
        for r in s.join().unwrap() {
            if http_accepted(&r) {
                accepted += 1;
            } else {
                refused += 1;
            }
        }
    }
    for r in grpc_results.join().unwrap() {
        if grpc_accepted(&r) {
            accepted += 1;
        } else {
            refused += 1;
        }
    }
    assert!(
        refused > 0,
        "the queue never filled: the test proves nothing"
    );
    assert!(accepted > 0);

    let text = lw.metrics_text();
    assert_eq!(
        metric_value(
            &text,
            "llmwatch_receiver_refused_requests_total",
            &[("reason", "queue_full")]
        ),
        refused as f64
    );
    // Refused before decoding, so their items are not countable; their bytes are.
    assert_eq!(
        metric_value(&text, "llmwatch_receiver_received_bytes_total", &[]),
        (accepted + refused) as f64 * body_len
    );
    assert_eq!(
        metric_value(&text, "llmwatch_receiver_accepted_items_total", &[]),
        (accepted * SPANS as u64) as f64
    );
    assert!(metric_value(&text, "llmwatch_queue_bytes", &[]) <= 65536.0);
    let rss = lw.peak_rss();
    assert!(rss < 96 << 20, "peak RSS {rss} bytes under overload");

    // Drain on SIGTERM: every accepted span is written, none twice.
    let status = lw.terminate(Duration::from_secs(60));
    assert!(status.success(), "{status:?}\n{}", lw.logs());
    let written = spans_written(&lw.dir.path("out.jsonl"));
    assert_eq!(written as u64, accepted * SPANS as u64);
    println!(
        "overload: accepted {accepted} requests, refused {refused}, peak RSS {} KiB",
        rss >> 10
    );
}

/// Spans in the file exporter's output.
fn spans_written(path: &std::path::Path) -> usize {
    lines(path)
        .iter()
        .map(|l| {
            let r: opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest =
                serde_json::from_str(l).unwrap();
            r.resource_spans
                .iter()
                .flat_map(|x| &x.scope_spans)
                .map(|s| s.spans.len())
                .sum::<usize>()
        })
        .sum()
}

/// Six threads sending 15 OTLP/HTTP requests of `body` each; yield their answers.
fn http_senders(
    http: std::net::SocketAddr,
    body: &[u8],
) -> Vec<std::thread::JoinHandle<Vec<HttpResponse>>> {
    (0..6)
        .map(|_| {
            let body = body.to_vec();
            std::thread::spawn(move || {
                (0..15)
                    .map(|_| {
                        http_request(
                            http,
                            "POST",
                            "/v1/traces",
                            &[("content-type", "application/x-protobuf")],
                            &body,
                        )
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect()
}

/// 30 concurrent OTLP/gRPC exports of `body`; yields their outcomes.
fn grpc_burst(
    grpc: std::net::SocketAddr,
    body: Vec<u8>,
) -> std::thread::JoinHandle<Vec<Result<bytes::Bytes, tonic::Status>>> {
    std::thread::spawn(move || {
        block_on(async move {
            let mut set = tokio::task::JoinSet::new();
            for _ in 0..30 {
                let body = body.clone();
                set.spawn(async move { grpc_raw(grpc, TRACES_PATH, body, false, None).await });
            }
            let mut out = Vec::new();
            while let Some(r) = set.join_next().await {
                out.push(r.unwrap());
            }
            out
        })
    })
}

/// Whether an OTLP/HTTP answer accepted the request; a refusal must be a retryable 503
/// with Retry-After and a protobuf google.rpc.Status.
fn http_accepted(r: &HttpResponse) -> bool {
    match r.status {
        200 => true,
        503 => {
            assert_eq!(r.header("retry-after"), Some("2"));
            // The request was protobuf, so the google.rpc.Status is protobuf.
            assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
            let status = rpc::Status::decode(&r.body[..]).unwrap();
            assert_eq!(status.code, tonic::Code::ResourceExhausted as i32);
            assert!(
                status.message.contains("over its queue capacity"),
                "{}",
                status.message
            );
            false
        }
        other => panic!("unexpected status {other}: {}", r.text()),
    }
}

/// Whether an OTLP/gRPC export was accepted; a refusal must be RESOURCE_EXHAUSTED with a
/// RetryInfo of 2 s.
fn grpc_accepted(r: &Result<bytes::Bytes, tonic::Status>) -> bool {
    let Err(status) = r else {
        return true;
    };
    assert_eq!(
        status.code(),
        tonic::Code::ResourceExhausted,
        "{}",
        status.message()
    );
    let details = rpc::Status::decode(status.details()).expect("google.rpc.Status details");
    let retry = details
        .details
        .iter()
        .find(|a| a.type_url == rpc::RETRY_INFO_TYPE)
        .expect("RetryInfo");
    let info = rpc::RetryInfo::decode(&retry.value[..]).unwrap();
    assert_eq!(info.retry_delay.map(|d| d.seconds), Some(2));
    false
}
