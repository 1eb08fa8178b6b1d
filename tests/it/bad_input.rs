//! A table of bad requests over HTTP and gRPC. Each must get the OTLP-specified status, a
//! message that says what was wrong, exactly one count under its reason, and no effect on
//! the good requests sent at the same time or on the process.

use std::io::Write;
use std::time::{Duration, Instant};

use llmwatch::model::rpc;
use prost::Message;
use tonic::Code;

use super::support::{
    LOGS_PATH, Llmwatch, TRACES_PATH, block_on, grpc_raw, http_request, metric_value,
};

const CONFIG: &str = r#"
receivers:
  otlp:
    protocols:
      grpc: { endpoint: "127.0.0.1:0", max_recv_msg_size: 1MiB }
      http: { endpoint: "127.0.0.1:0", max_request_body_size: 1MiB }
    max_decompressed_size: 4MiB
exporters:
  prometheus: { endpoint: "127.0.0.1:0" }
  file: { path: "{dir}/out.jsonl" }
service:
  pipelines:
    traces: { receivers: [otlp], exporters: [file, prometheus] }
    metrics: { receivers: [otlp], exporters: [file, prometheus] }
"#;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn valid_traces(spans: usize) -> Vec<u8> {
    llmwatch::bench::reference_traces(spans, 5).encode_to_vec()
}

fn invalid_utf8_traces() -> Vec<u8> {
    let mut req = llmwatch::bench::reference_traces(1, 5);
    req.resource_spans[0].scope_spans[0].spans[0].name = "MARKERMARKER".into();
    let mut body = req.encode_to_vec();
    let pos = body.windows(12).position(|w| w == b"MARKERMARKER").unwrap();
    body[pos..pos + 2].copy_from_slice(&[0xc3, 0x28]);
    body
}

struct HttpCase {
    name: &'static str,
    path: &'static str,
    content_type: &'static str,
    encoding: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    message: &'static str,
    reason: &'static str,
    transport: &'static str,
    signal: &'static str,
}

fn http_cases() -> Vec<HttpCase> {
    let proto = "application/x-protobuf";
    let json = "application/json";
    let traces = valid_traces(20);
    let case =
        |name, path, content_type, encoding, body, status, message, reason, transport, signal| {
            HttpCase {
                name,
                path,
                content_type,
                encoding,
                body,
                status,
                message,
                reason,
                transport,
                signal,
            }
        };
    let mut corrupt_gzip = gzip(&traces);
    let mid = corrupt_gzip.len() / 2;
    corrupt_gzip[mid..].iter_mut().for_each(|b| *b ^= 0x33);
    vec![
        case("garbage protobuf", "/v1/traces", proto, None, b"\xff\xff\xff\xffgarbage".to_vec(), 400, "invalid protobuf ExportTraceServiceRequest", "malformed", "http_protobuf", "traces"),
        case("truncated protobuf", "/v1/traces", proto, None, traces[..traces.len() / 2].to_vec(), 400, "invalid protobuf ExportTraceServiceRequest", "malformed", "http_protobuf", "traces"),
        case("wrong content type", "/v1/traces", "text/plain", None, traces.clone(), 415, "unsupported content type \"text/plain\"", "unsupported_content_type", "http", "traces"),
        case("gzip bomb", "/v1/traces", proto, Some("gzip"), gzip(&vec![0u8; 8 << 20]), 413, "decompressed request body exceeds the limit of 4194304 bytes", "decompressed_too_large", "http_protobuf", "traces"),
        case("oversized body", "/v1/traces", proto, None, vec![7u8; 2 << 20], 413, "request body exceeds the limit of 1048576 bytes", "body_too_large", "http_protobuf", "traces"),
        case("invalid json", "/v1/traces", json, None, b"{\"resourceSpans\":[".to_vec(), 400, "invalid OTLP/JSON", "malformed", "http_json", "traces"),
        case(
            "json metric temporality by name",
            "/v1/metrics",
            json,
            None,
            br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","sum":{"aggregationTemporality":"AGGREGATION_TEMPORALITY_DELTA","dataPoints":[{"asInt":"1"}]}}]}]}]}"#.to_vec(),
            400,
            "resourceMetrics[0].scopeMetrics[0].metrics[0].sum",
            "malformed",
            "http_json",
            "metrics",
        ),
        case("invalid utf-8 in a protobuf string", "/v1/traces", proto, None, invalid_utf8_traces(), 400, "UTF-8", "malformed", "http_protobuf", "traces"),
        case("invalid utf-8 in json", "/v1/traces", json, None, b"{\"resourceSpans\":[],\"x\":\"\xc3\x28\"}".to_vec(), 400, "not valid UTF-8", "malformed", "http_json", "traces"),
        case("unsupported encoding", "/v1/traces", proto, Some("br"), traces.clone(), 415, "unsupported content encoding \"br\"", "unsupported_encoding", "http_protobuf", "traces"),
        case("corrupt gzip", "/v1/traces", proto, Some("gzip"), corrupt_gzip, 400, "invalid gzip body", "invalid_compression", "http_protobuf", "traces"),
        case("signal without a pipeline", "/v1/logs", proto, None, Vec::new(), 404, "no logs pipeline is configured", "signal_not_configured", "http_protobuf", "logs"),
    ]
}

struct GrpcCase {
    name: &'static str,
    path: &'static str,
    body: Vec<u8>,
    gzip: bool,
    code: Code,
    message: &'static str,
    reason: &'static str,
    signal: &'static str,
}

fn grpc_cases() -> Vec<GrpcCase> {
    vec![
        GrpcCase {
            name: "garbage",
            path: TRACES_PATH,
            body: b"\xff\xff\xff\xffgarbage".to_vec(),
            gzip: false,
            code: Code::InvalidArgument,
            message: "invalid protobuf",
            reason: "malformed",
            signal: "traces",
        },
        GrpcCase {
            name: "oversized",
            path: TRACES_PATH,
            body: vec![7u8; 2 << 20],
            gzip: false,
            code: Code::InvalidArgument,
            message: "too large",
            reason: "body_too_large",
            signal: "traces",
        },
        GrpcCase {
            name: "gzip bomb",
            path: TRACES_PATH,
            body: vec![0u8; 8 << 20],
            gzip: true,
            code: Code::InvalidArgument,
            message: "size limit",
            reason: "decompressed_too_large",
            signal: "traces",
        },
        GrpcCase {
            name: "invalid utf-8",
            path: TRACES_PATH,
            body: invalid_utf8_traces(),
            gzip: false,
            code: Code::InvalidArgument,
            message: "UTF-8",
            reason: "malformed",
            signal: "traces",
        },
        GrpcCase {
            name: "signal without a pipeline",
            path: LOGS_PATH,
            body: Vec::new(),
            gzip: false,
            code: Code::Unimplemented,
            message: "no logs pipeline",
            reason: "signal_not_configured",
            signal: "logs",
        },
    ]
}

/// Good requests and spans in each of them, on each transport.
const GOOD: usize = 60;
const SPANS: usize = 10;

/// Refusals expected per (signal, transport, reason).
type Refusals = std::collections::BTreeMap<(String, String, String), f64>;

/// Sends good traces over OTLP/HTTP the whole run; yields their statuses.
fn good_http_traffic(http: std::net::SocketAddr) -> std::thread::JoinHandle<Vec<u16>> {
    std::thread::spawn(move || {
        let body = valid_traces(SPANS);
        (0..GOOD)
            .map(|_| {
                http_request(
                    http,
                    "POST",
                    "/v1/traces",
                    &[("content-type", "application/x-protobuf")],
                    &body,
                )
                .status
            })
            .collect::<Vec<_>>()
    })
}

/// Sends good traces over OTLP/gRPC the whole run; yields their outcomes.
fn good_grpc_traffic(grpc: std::net::SocketAddr) -> std::thread::JoinHandle<Vec<Result<(), Code>>> {
    std::thread::spawn(move || {
        block_on(async move {
            let mut codes = Vec::new();
            for _ in 0..GOOD {
                codes.push(
                    grpc_raw(grpc, TRACES_PATH, valid_traces(SPANS), true, None)
                        .await
                        .map(|_| ())
                        .map_err(|s| s.code()),
                );
            }
            codes
        })
    })
}

/// Sends every bad OTLP/HTTP request: each is refused with its status, in the request's
/// format, with a clear message; counts what each refusal must count.
fn refuse_http_cases(http: std::net::SocketAddr, expected: &mut Refusals) {
    for c in http_cases() {
        let mut headers = vec![("content-type", c.content_type)];
        if let Some(e) = c.encoding {
            headers.push(("content-encoding", e));
        }
        let r = http_request(http, "POST", c.path, &headers, &c.body);
        assert_eq!(r.status, c.status, "{}: {}", c.name, r.text());
        let ct = r.header("content-type").unwrap_or("");
        let status = if ct == "application/x-protobuf" {
            assert_eq!(
                c.content_type, "application/x-protobuf",
                "{}: response type matches request",
                c.name
            );
            rpc::Status::decode(&r.body[..]).unwrap()
        } else {
            assert_eq!(ct, "application/json", "{}", c.name);
            let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            rpc::Status {
                code: v["code"].as_i64().unwrap() as i32,
                message: v["message"].as_str().unwrap().to_owned(),
                details: Vec::new(),
            }
        };
        assert!(
            status.message.contains(c.message),
            "{}: message {:?} lacks {:?}",
            c.name,
            status.message,
            c.message
        );
        assert!(status.code != 0, "{}", c.name);
        *expected
            .entry((c.signal.into(), c.transport.into(), c.reason.into()))
            .or_default() += 1.0;
    }
}

/// Sends every bad OTLP/gRPC request: each is refused with its code and a clear message;
/// counts what each refusal must count.
fn refuse_grpc_cases(grpc: std::net::SocketAddr, expected: &mut Refusals) {
    for c in grpc_cases() {
        let err = block_on(grpc_raw(grpc, c.path, c.body, c.gzip, None)).expect_err(c.name);
        assert_eq!(err.code(), c.code, "{}: {}", c.name, err.message());
        assert!(
            err.message().contains(c.message),
            "{}: message {:?} lacks {:?}",
            c.name,
            err.message(),
            c.message
        );
        *expected
            .entry((c.signal.into(), "grpc".into(), c.reason.into()))
            .or_default() += 1.0;
    }
}

#[test]
fn bad_requests_are_refused_clearly_and_counted_while_good_ones_pass() {
    let lw = Llmwatch::start(CONFIG);
    let (http, grpc) = (lw.http(), lw.grpc());
    // Good traffic on both transports for the whole run.
    let good_http = good_http_traffic(http);
    let good_grpc = good_grpc_traffic(grpc);
    let mut expected = Refusals::new();
    refuse_http_cases(http, &mut expected);
    refuse_grpc_cases(grpc, &mut expected);

    let http_statuses = good_http.join().unwrap();
    assert!(http_statuses.iter().all(|s| *s == 200), "{http_statuses:?}");
    let grpc_codes = good_grpc.join().unwrap();
    assert!(grpc_codes.iter().all(Result::is_ok), "{grpc_codes:?}");

    let text = lw.metrics_text();
    for ((signal, transport, reason), n) in &expected {
        let got = metric_value(
            &text,
            "llmwatch_receiver_refused_requests_total",
            &[
                ("signal", signal),
                ("transport", transport),
                ("reason", reason),
            ],
        );
        assert_eq!(got, *n, "refusals {signal}/{transport}/{reason}");
    }
    let all_refusals = metric_value(&text, "llmwatch_receiver_refused_requests_total", &[]);
    assert_eq!(
        all_refusals,
        expected.values().sum::<f64>(),
        "no other refusals were counted"
    );
    let good_spans = (2 * GOOD * SPANS) as f64;
    assert_eq!(
        metric_value(
            &text,
            "llmwatch_receiver_accepted_items_total",
            &[("signal", "traces")]
        ),
        good_spans
    );

    // Everything good reached the exporter, and the process is healthy.
    let deadline = Instant::now() + Duration::from_secs(20);
    while lw.metric(
        "llmwatch_exporter_sent_items_total",
        &[("exporter", "file")],
    ) < good_spans
    {
        assert!(
            Instant::now() < deadline,
            "good spans did not all reach the exporter"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        http_request(lw.admin, "GET", "/healthz", &[], b"").status,
        200
    );
    assert_eq!(
        http_request(lw.admin, "GET", "/readyz", &[], b"").status,
        200
    );
}

#[test]
fn a_body_cut_short_is_counted_as_incomplete_not_malformed() {
    use std::io::Write as _;
    let lw = Llmwatch::start(CONFIG);
    let mut stream = std::net::TcpStream::connect(lw.http()).unwrap();
    let head = "POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\ncontent-length: 5000\r\n\r\n";
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&valid_traces(1)[..100]).unwrap();
    stream.shutdown(std::net::Shutdown::Both).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let labels = [
        ("signal", "traces"),
        ("transport", "http_protobuf"),
        ("reason", "incomplete_body"),
    ];
    while lw.metric("llmwatch_receiver_refused_requests_total", &labels) < 1.0 {
        assert!(
            Instant::now() < deadline,
            "the cut-off request was not counted:\n{}",
            lw.metrics_text()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        lw.metric("llmwatch_receiver_refused_requests_total", &[]),
        1.0,
        "counted once, under incomplete_body only"
    );
}
