//! Connections and bodies are bounded (issue 16, break 5), through the real binary: a
//! slow request head is cut off, idle sockets past `max_connections` are closed at once
//! without taking the other listeners down, and slow uploads hold at most the receive
//! budget. Each test states its bound.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::support::{Llmwatch, TRACES_PATH, block_on, grpc_raw, metric_value};

const CONFIG: &str = r#"
receivers:
  otlp:
    protocols:
      grpc: { endpoint: "127.0.0.1:0", max_connections: 40 }
      http:
        endpoint: "127.0.0.1:0"
        max_connections: MAX
        idle_timeout: 2s
        read_header_timeout: 1s
        body_idle_timeout: 1s
        body_read_timeout: 5s
    receive_budget: 8MiB
exporters:
  prometheus: { endpoint: "127.0.0.1:0" }
  nop: {}
service:
  pipelines:
    traces: { receivers: [otlp], exporters: [nop, prometheus] }
"#;

fn refused_connections(lw: &Llmwatch, protocol: &str, reason: &str) -> f64 {
    lw.metric(
        "llmwatch_receiver_refused_connections_total",
        &[("protocol", protocol), ("reason", reason)],
    )
}

/// `llmwatch_receiver_refused_requests_total{reason}` in a scrape.
fn refused_requests(metrics: &str, reason: &str) -> f64 {
    metric_value(
        metrics,
        "llmwatch_receiver_refused_requests_total",
        &[("reason", reason)],
    )
}

/// Reads until the server closes the socket (or `limit` passes); true if it closed.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

fn grpc_works(addr: SocketAddr) {
    use prost::Message;
    let body = llmwatch::bench::reference_traces(5, 1).encode_to_vec();
    block_on(grpc_raw(addr, TRACES_PATH, body, false, None)).expect("gRPC export");
}

/// Bound: a request head sent one byte a second is cut off after `read_header_timeout`
/// (1 s) and counted; on `main` it was held as long as the client kept sending.
#[test]
fn a_slowloris_head_is_cut_off_and_counted() {
    let lw = Llmwatch::start(&CONFIG.replace("MAX", "40"));
    let mut s = TcpStream::connect(lw.http()).unwrap();
    s.write_all(b"POST /v1/traces HTTP/1.1\r\nhost: x\r\n")
        .unwrap();
    let started = Instant::now();
    let mut closed = false;
    for b in b"x-slow: aaaaaaaaaaaaaaaaaaaa" {
        if s.write_all(&[*b]).is_err() {
            closed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
        if started.elapsed() > Duration::from_secs(8) {
            break;
        }
    }
    closed = closed || closed_within(&mut s, Duration::from_secs(5));
    assert!(
        closed,
        "the slow head was still open after {:?}",
        started.elapsed()
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    lw.metrics_when(Duration::from_secs(5), |m| {
        metric_value(
            m,
            "llmwatch_receiver_refused_connections_total",
            &[("protocol", "http"), ("reason", "header_timeout")],
        ) >= 1.0
    });
}

/// Bound: 300 idle sockets against `max_connections: 40` leave at most 40 open; the rest
/// are closed at once and counted, and the gRPC listener and the admin port keep serving.
/// On `main`, about 1,000 idle sockets under a 1024 fd limit took every port down.
#[test]
fn idle_sockets_past_max_connections_are_closed_and_other_ports_serve() {
    let lw = Llmwatch::start(&CONFIG.replace("MAX", "40"));
    let mut sockets: Vec<TcpStream> = (0..300)
        .filter_map(|_| TcpStream::connect(lw.http()).ok())
        .collect();
    let m = lw.metrics_when(Duration::from_secs(10), |m| {
        metric_value(
            m,
            "llmwatch_receiver_refused_connections_total",
            &[("protocol", "http"), ("reason", "max_connections")],
        ) >= 260.0
    });
    let open = metric_value(&m, "llmwatch_receiver_connections", &[("protocol", "http")]);
    assert!(open <= 40.0, "{open} connections open");
    grpc_works(lw.grpc());
    // The admitted ones sent nothing: `idle_timeout` (2 s) closes them, counted.
    let closed = sockets
        .iter_mut()
        .map(|s| closed_within(s, Duration::from_secs(5)))
        .filter(|closed| *closed)
        .count();
    assert_eq!(closed, 300);
    assert!(refused_connections(&lw, "http", "max_connections") >= 260.0);
    assert!(refused_connections(&lw, "http", "idle_timeout") >= 1.0);
}

/// Bound: 60 uploads that each send 8 MiB of a 16 MiB body and stall hold at most the
/// 8 MiB receive budget: each is refused with 503 (budget) or 408 (idle timeout), and
/// peak RSS stays under 160 MiB. On `main`, sixty slow uploads pinned 1.1 GB.
#[test]
fn slow_uploads_hold_at_most_the_receive_budget() {
    let lw = Llmwatch::start(&CONFIG.replace("MAX", "100"));
    let addr = lw.http();
    let uploads: Vec<_> = (0..60)
        .map(|_| {
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
                let head = "POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\ncontent-length: 16777216\r\n\r\n";
                let _ = s.write_all(head.as_bytes());
                let chunk = vec![0x0au8; 64 << 10];
                for _ in 0..128 {
                    if s.write_all(&chunk).is_err() {
                        break;
                    }
                }
                // Stall; read the answer.
                s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                let mut raw = Vec::new();
                let _ = s.read_to_end(&mut raw);
                let text = String::from_utf8_lossy(&raw).into_owned();
                text.split(' ').nth(1).and_then(|c| c.parse::<u16>().ok())
            })
        })
        .collect();
    let statuses: Vec<Option<u16>> = uploads.into_iter().map(|t| t.join().unwrap()).collect();
    let m = lw.metrics_text();
    let refused = |reason| refused_requests(&m, reason);
    let (budget, timeout) = (refused("receive_budget_full"), refused("body_timeout"));
    println!("statuses {statuses:?}; receive_budget_full {budget}, body_timeout {timeout}");
    assert_eq!(
        budget + timeout,
        60.0,
        "every upload refused and counted once"
    );
    assert!(budget > 0.0 && timeout > 0.0);
    for s in statuses.iter().flatten() {
        assert!(matches!(s, 503 | 408), "{statuses:?}");
    }
    let rss = lw.peak_rss();
    println!("peak RSS {} MiB", rss >> 20);
    assert!(rss < 160 << 20, "peak RSS {} MiB", rss >> 20);
}

/// The gRPC token is checked before the message is read: a 4 MiB message with a wrong
/// token against a 1 MiB receive budget is refused as unauthenticated, never as over the
/// budget, and none of its bytes are counted as received.
#[test]
fn grpc_checks_the_token_before_reading_the_body() {
    let lw = Llmwatch::start_with(
        r#"
receivers:
  otlp:
    protocols:
      grpc: { endpoint: "127.0.0.1:0" }
    receive_budget: 1MiB
    auth: { bearer_tokens: [{ name: app, token_env: LLMWATCH_IT_TOKEN }] }
exporters:
  prometheus: { endpoint: "127.0.0.1:0" }
service:
  pipelines:
    traces: { receivers: [otlp], exporters: [prometheus] }
"#,
        &[("LLMWATCH_IT_TOKEN", "a-token-of-twenty-chars")],
        "info",
    );
    let body = vec![0x0au8; 4 << 20];
    let status = block_on(grpc_raw(
        lw.grpc(),
        TRACES_PATH,
        body,
        false,
        Some("wrong-token-of-twenty-chars"),
    ))
    .expect_err("refused");
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    let m = lw.metrics_text();
    let refused = |reason| refused_requests(&m, reason);
    assert_eq!(refused("invalid_token"), 1.0);
    assert_eq!(refused("receive_budget_full"), 0.0);
    assert_eq!(
        metric_value(&m, "llmwatch_receiver_received_bytes_total", &[]),
        0.0
    );
}
