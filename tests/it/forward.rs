//! The `otlp` exporter against a second llmwatch as its destination: redacted data only,
//! nothing lost through an outage or a SIGKILL with the persistent queue, non-retryable
//! answers dropped and counted once, and push-back with bounded memory when the
//! destination is slow. Every item carries a unique span name, so the destination's file
//! output shows what arrived, what is missing and what came twice.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::time::{Duration, Instant};

use super::support::{Llmwatch, TempDir, http_request, lines};

/// A port that was free a moment ago, for a destination that starts later.
pub(super) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A destination: an llmwatch that writes what it receives to `{dir}/in.jsonl`.
pub(super) fn destination(grpc_port: u16, http_port: u16) -> Llmwatch {
    destination_with(grpc_port, http_port, Dest::default())
}

#[derive(Default)]
struct Dest {
    /// Require this bearer token.
    token: Option<&'static str>,
    /// One worker, a 64 KiB queue and 50 ms per batch: it answers retryable under load.
    slow: bool,
}

fn destination_with(grpc_port: u16, http_port: u16, dest: Dest) -> Llmwatch {
    let auth = match dest.token {
        Some(_) => {
            "    auth: { bearer_tokens: [{ name: upstream, token_env: LLMWATCH_IT_DEST_TOKEN }] }"
        }
        None => "",
    };
    let (slow_exporter, slow_service, slow_id) = if dest.slow {
        (
            "  nop/slow: { latency: 50ms }",
            "  workers: 1\n  queue: { max_bytes: 64KiB, retry_after: 1s }",
            "nop/slow, ",
        )
    } else {
        ("", "", "")
    };
    Llmwatch::start_with(
        &format!(
            r#"
receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: "127.0.0.1:{grpc_port}" }}
      http: {{ endpoint: "127.0.0.1:{http_port}" }}
{auth}
exporters:
  prometheus: {{ endpoint: "127.0.0.1:0" }}
  file: {{ path: "{{dir}}/in.jsonl" }}
{slow_exporter}
service:
{slow_service}
  pipelines:
    traces: {{ receivers: [otlp], exporters: [{slow_id}file, prometheus] }}
"#
        ),
        &[("LLMWATCH_IT_DEST_TOKEN", dest.token.unwrap_or(""))],
        "info",
    )
}

/// An OTLP/JSON traces request with one span per name, each with an e-mail address in an
/// attribute.
pub(super) fn spans(names: &[String]) -> Vec<u8> {
    let spans: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            serde_json::json!({
                "traceId": format!("{:032x}", 0xabc0_0000u64 + i as u64),
                "spanId": format!("{:016x}", 0x1000 + i as u64),
                "name": name,
                "kind": 1,
                "startTimeUnixNano": "1700000000000000000",
                "endTimeUnixNano": "1700000000100000000",
                "attributes": [{"key": "user.email", "value": {"stringValue": format!("person{i}@example.com")}}]
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "forward-it"}}]},
            "scopeSpans": [{"scope": {"name": "it"}, "spans": spans}]
        }]
    }))
    .expect("json")
}

pub(super) fn post(addr: SocketAddr, body: &[u8]) -> u16 {
    http_request(
        addr,
        "POST",
        "/v1/traces",
        &[("content-type", "application/json")],
        body,
    )
    .status
}

/// Sends `batches` requests of `per` uniquely named spans; returns the names accepted.
fn send_unique(addr: SocketAddr, tag: &str, batches: usize, per: usize) -> Vec<String> {
    let mut accepted = Vec::new();
    for b in 0..batches {
        let names: Vec<String> = (0..per).map(|i| format!("{tag}-{b}-{i}")).collect();
        // A refusal is retryable: retry like an SDK would, within a bound.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match post(addr, &spans(&names)) {
                200 => break,
                503 | 429 => {
                    assert!(Instant::now() < deadline, "refused for a minute");
                    std::thread::sleep(Duration::from_millis(50));
                }
                other => panic!("unexpected status {other}"),
            }
        }
        accepted.extend(names);
    }
    accepted
}

/// Span names in an OTLP/JSON lines file, with how often each occurs.
pub(super) fn names_in(path: &Path) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    let all = lines(path);
    for (i, line) in all.iter().enumerate() {
        let v: serde_json::Value = match serde_json::from_str(line) {
            Ok(v) => v,
            // The destination is still writing its last line: read it at the next poll.
            Err(_) if i + 1 == all.len() => break,
            Err(e) => panic!("json line {i}: {e}"),
        };
        for rs in v["resourceSpans"].as_array().into_iter().flatten() {
            for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                for s in ss["spans"].as_array().into_iter().flatten() {
                    *seen
                        .entry(s["name"].as_str().unwrap_or("").to_owned())
                        .or_insert(0) += 1;
                }
            }
        }
    }
    seen
}

/// Waits (at most `timeout`) until every name in `want` arrived; returns what arrived.
pub(super) fn wait_for_all(
    path: &Path,
    want: &[String],
    timeout: Duration,
) -> BTreeMap<String, usize> {
    let deadline = Instant::now() + timeout;
    loop {
        let seen = names_in(path);
        let missing = want.iter().filter(|n| !seen.contains_key(*n)).count();
        if missing == 0 {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} of {} items never arrived",
            want.len()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub(super) fn duplicates(seen: &BTreeMap<String, usize>) -> usize {
    seen.values().map(|n| n - 1).sum()
}

/// The spans named `prefix…` in a file of OTLP/JSON requests, in name order.
fn json_spans(path: &std::path::Path, prefix: &str) -> Vec<serde_json::Value> {
    let mut all: Vec<serde_json::Value> = lines(path)
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json"))
        .flat_map(|r| r["resourceSpans"].as_array().cloned().unwrap_or_default())
        .flat_map(|rs| rs["scopeSpans"].as_array().cloned().unwrap_or_default())
        .flat_map(|ss| ss["spans"].as_array().cloned().unwrap_or_default())
        .filter(|s| s["name"].as_str().is_some_and(|n| n.starts_with(prefix)))
        .collect();
    all.sort_by_key(|s| s["name"].as_str().unwrap_or("").to_owned());
    all
}

#[test]
fn only_redacted_data_leaves_over_grpc_and_http() {
    let dest = destination(0, 0);
    for protocol in ["grpc", "http_protobuf"] {
        let endpoint = match protocol {
            "grpc" => format!("http://{}", dest.grpc()),
            _ => format!("http://{}", dest.http()),
        };
        let up = Llmwatch::start_with(
            &format!(
                r#"
receivers:
  otlp:
    protocols:
      http: {{ endpoint: "127.0.0.1:0" }}
processors:
  redaction: {{ hash_key_env: LLMWATCH_IT_KEY }}
exporters:
  prometheus: {{ endpoint: "127.0.0.1:0" }}
  file: {{ path: "{{dir}}/out.jsonl" }}
  otlp: {{ endpoint: "{endpoint}", protocol: {protocol}, compression: zstd, batch: {{ timeout: 10ms }} }}
service:
  pipelines:
    traces: {{ receivers: [otlp], processors: [redaction], exporters: [otlp, file, prometheus] }}
"#
            ),
            &[("LLMWATCH_IT_KEY", "it-secret-key-0123456789")],
            "debug",
        );
        let names = send_unique(up.http(), protocol, 5, 40);
        wait_for_all(&dest.dir.path("in.jsonl"), &names, Duration::from_secs(30));
        assert_eq!(
            json_spans(&dest.dir.path("in.jsonl"), protocol),
            json_spans(&up.dir.path("out.jsonl"), protocol),
            "the destination gets exactly what the file exporter wrote"
        );
        let raw = lines(&dest.dir.path("in.jsonl")).join("\n");
        assert!(
            !raw.contains("@example.com"),
            "an e-mail address left llmwatch"
        );
        assert!(raw.contains("user.email"), "the attribute itself is kept");
        let m = up.metrics_text();
        assert_eq!(
            super::support::metric_value(
                &m,
                "llmwatch_exporter_sent_items_total",
                &[("exporter", "otlp"), ("signal", "traces")]
            ),
            200.0
        );
    }
}

pub(super) fn upstream(endpoint: &str, extra: &str) -> Llmwatch {
    upstream_with(endpoint, extra, &[])
}

fn upstream_with(endpoint: &str, extra: &str, env: &[(&str, &str)]) -> Llmwatch {
    Llmwatch::start_with(
        &format!(
            r#"
receivers:
  otlp:
    protocols:
      http: {{ endpoint: "127.0.0.1:0" }}
exporters:
  prometheus: {{ endpoint: "127.0.0.1:0" }}
  otlp:
    endpoint: "{endpoint}"
    compression: gzip
    batch: {{ timeout: 20ms, max_items: 500, max_bytes: 64KiB }}
    retry: {{ initial_interval: 50ms, max_interval: 400ms, max_elapsed_time: 0s }}
{extra}
service:
  workers: 2
  pipelines:
    traces: {{ receivers: [otlp], exporters: [otlp, prometheus] }}
"#
        ),
        env,
        "debug",
    )
}

#[test]
fn an_outage_loses_nothing_accepted_and_delivery_resumes_when_the_destination_returns() {
    let (grpc_port, http_port) = (free_port(), free_port());
    let up = upstream(&format!("http://127.0.0.1:{grpc_port}"), "");
    let names = send_unique(up.http(), "outage", 40, 50);
    // Retried at least once while the destination was down.
    up.metrics_when(Duration::from_secs(10), |m| {
        super::support::metric_value(m, "llmwatch_exporter_retried_items_total", &[]) > 0.0
    });
    let dest = destination(grpc_port, http_port);
    let back = Instant::now();
    let seen = wait_for_all(&dest.dir.path("in.jsonl"), &names, Duration::from_secs(60));
    let recovery = back.elapsed();
    let dups = duplicates(&seen);
    println!(
        "outage: {} items delivered after the destination returned, {dups} duplicates, recovery {recovery:?} after the destination was ready",
        names.len()
    );
    assert_eq!(dups, 0, "nothing was delivered twice");
    let m = up.metrics_text();
    assert_eq!(
        super::support::metric_value(&m, "llmwatch_exporter_dropped_items_total", &[]),
        0.0
    );
}

#[test]
fn a_sigkill_with_the_persistent_queue_loses_nothing_queued() {
    let (grpc_port, http_port) = (free_port(), free_port());
    let queue = TempDir::new("queue");
    let extra = format!(
        "    queue: {{ directory: \"{}\", max_bytes: 64MiB }}",
        queue.0.display()
    );
    let endpoint = format!("http://127.0.0.1:{grpc_port}");
    let mut up = upstream(&endpoint, &extra);
    let names = send_unique(up.http(), "crash", 30, 50);
    up.metrics_when(Duration::from_secs(10), |m| {
        super::support::metric_value(m, "llmwatch_exporter_enqueued_items_total", &[])
            >= names.len() as f64
    });
    let status = std::process::Command::new("kill")
        .args(["-KILL", &up.pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    up.reap();
    // Cut the log mid-record, as a crash during an append would.
    let segment = std::fs::read_dir(&queue.0)
        .expect("queue dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .max()
        .expect("a segment");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&segment)
        .expect("open");
    std::io::Write::write_all(&mut file, b"LWQ1\x10\x00\x00\x00partial").expect("append");
    drop(file);

    let dest = destination(grpc_port, http_port);
    let up = upstream(&endpoint, &extra);
    assert!(
        up.logs().contains("recovered the persistent send queue"),
        "{}",
        up.logs()
    );
    let seen = wait_for_all(&dest.dir.path("in.jsonl"), &names, Duration::from_secs(60));
    println!(
        "crash: {} items delivered after SIGKILL and restart, {} duplicates",
        names.len(),
        duplicates(&seen)
    );
    assert_eq!(duplicates(&seen), 0);
}

#[test]
fn a_non_retryable_answer_drops_the_batch_once_and_counts_it() {
    let dest = destination_with(
        0,
        0,
        Dest {
            token: Some("right-token-0123456789"),
            ..Dest::default()
        },
    );
    let endpoint = format!("http://{}", dest.grpc());
    let headers = r#"    headers: { authorization: "Bearer ${env:LLMWATCH_IT_UP_TOKEN}" }"#;

    // A wrong token: UNAUTHENTICATED is permanent, so each batch is tried once.
    let wrong = upstream_with(
        &endpoint,
        headers,
        &[("LLMWATCH_IT_UP_TOKEN", "wrong-token-0123456789")],
    );
    let names = send_unique(wrong.http(), "refused", 3, 20);
    let m = wrong.metrics_when(Duration::from_secs(20), |m| {
        super::support::metric_value(
            m,
            "llmwatch_exporter_dropped_items_total",
            &[("reason", "non_retryable")],
        ) >= names.len() as f64
    });
    let value = |m: &str, name: &str| super::support::metric_value(m, name, &[]);
    assert_eq!(
        value(&m, "llmwatch_exporter_dropped_items_total"),
        60.0,
        "each item dropped once"
    );
    assert_eq!(value(&m, "llmwatch_exporter_retried_items_total"), 0.0);
    assert_eq!(value(&m, "llmwatch_exporter_failed_items_total"), 60.0);
    assert_eq!(
        value(&m, "llmwatch_exporter_queue_bytes"),
        0.0,
        "nothing left to loop on"
    );
    let attempts = value(&m, "llmwatch_exporter_send_duration_seconds_count");
    let refused = super::support::metric_value(
        &dest.metrics_text(),
        "llmwatch_receiver_refused_requests_total",
        &[("reason", "invalid_token")],
    );
    assert!((1.0..=3.0).contains(&attempts), "{attempts} attempts");
    assert_eq!(refused, attempts, "the destination saw each attempt once");
    assert!(
        !wrong.logs().contains("wrong-token-0123456789") && !dest.logs().contains("wrong-token"),
        "a credential reached a log"
    );

    // The right token, from the environment, gets through.
    let right = upstream_with(
        &endpoint,
        headers,
        &[("LLMWATCH_IT_UP_TOKEN", "right-token-0123456789")],
    );
    let names = send_unique(right.http(), "allowed", 2, 20);
    wait_for_all(&dest.dir.path("in.jsonl"), &names, Duration::from_secs(20));
}

/// Scrapes `admin` every 20 ms until `stop`; yields the send queue's peak in bytes.
fn queue_peak_watcher(
    admin: SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<f64> {
    std::thread::spawn(move || {
        let mut peak = 0f64;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let text = http_request(admin, "GET", "/metrics", &[], b"").text();
            peak = peak.max(super::support::metric_value(
                &text,
                "llmwatch_exporter_queue_bytes",
                &[],
            ));
            std::thread::sleep(Duration::from_millis(20));
        }
        peak
    })
}

#[test]
fn a_slow_destination_makes_llmwatch_push_back_with_memory_bounded() {
    let dest = destination_with(
        0,
        0,
        Dest {
            slow: true,
            ..Dest::default()
        },
    );
    let capacity = 256 * 1024;
    let extra = format!(
        "    protocol: http_protobuf\n    queue: {{ max_bytes: {capacity}, when_full: block }}"
    );
    let up = upstream(&format!("http://{}", dest.http()), &extra);
    let admin = up.admin;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = queue_peak_watcher(admin, std::sync::Arc::clone(&stop));
    let http = up.http();
    let senders: Vec<_> = (0..6)
        .map(|t| std::thread::spawn(move || send_unique(http, &format!("slow{t}"), 25, 50)))
        .collect();
    let names: Vec<String> = senders
        .into_iter()
        .flat_map(|s| s.join().expect("sender"))
        .collect();
    let seen = wait_for_all(&dest.dir.path("in.jsonl"), &names, Duration::from_secs(120));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let peak = watcher.join().expect("watcher");
    let m = up.metrics_text();
    let pushed_back = super::support::metric_value(
        &m,
        "llmwatch_receiver_refused_requests_total",
        &[("reason", "exporter_queue_full")],
    );
    // Past the bound by at most one request per worker (two workers, under 16 KiB each).
    let bound = (capacity + 2 * 16 * 1024) as f64;
    println!(
        "slow destination: {} items delivered, {pushed_back} requests pushed back, send queue peak {peak} bytes (bound {bound}), peak RSS {} MiB, {} duplicates",
        names.len(),
        up.peak_rss() >> 20,
        duplicates(&seen)
    );
    assert!(pushed_back > 0.0, "the receivers never pushed back");
    assert!(
        peak > 0.0 && peak <= bound,
        "send queue peaked at {peak} bytes"
    );
    assert_eq!(
        super::support::metric_value(&m, "llmwatch_exporter_dropped_items_total", &[]),
        0.0
    );
    assert!(
        up.peak_rss() < 200 << 20,
        "peak RSS {} MiB",
        up.peak_rss() >> 20
    );
}

/// Makes a CA, a server certificate for localhost and 127.0.0.1, and a client certificate,
/// with the openssl CLI.
pub(super) fn certificates(dir: &TempDir) {
    let run = |args: &[&str]| openssl(dir, args);
    // Extensions make version-3 certificates, which rustls requires.
    std::fs::write(
        dir.path("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    std::fs::write(dir.path("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=llmwatch test CA",
    ]);
    for (name, ext) in [("server", "server.ext"), ("client", "client.ext")] {
        signed_certificate(dir, name, ext);
    }
}

/// Runs the openssl CLI in `dir`.
fn openssl(dir: &TempDir, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(&dir.0)
        .output()
        .expect("openssl (scripts/check installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A key and a certificate `name`.pem signed by the CA, with the extensions of `ext`.
fn signed_certificate(dir: &TempDir, name: &str, ext: &str) {
    let run = |args: &[&str]| openssl(dir, args);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        &format!("{name}.key"),
        "-out",
        &format!("{name}.csr"),
        "-subj",
        &format!("/CN={name}"),
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        &format!("{name}.csr"),
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        &format!("{name}.pem"),
        "-days",
        "2",
        "-extfile",
        ext,
    ]);
}

/// The spans in an OTLP/HTTP protobuf body.
fn spans_in(gzip: bool, body: &[u8]) -> u64 {
    use prost::Message;
    let encoding = if gzip {
        llmwatch::decode::Encoding::Gzip
    } else {
        llmwatch::decode::Encoding::Identity
    };
    let plain = llmwatch::decode::decompress(body, encoding, 64 << 20).unwrap();
    let request =
        opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest::decode(
            &plain[..],
        )
        .unwrap();
    request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len() as u64)
        .sum()
}

/// An OTLP/HTTP sink over mutual TLS that counts the spans it receives.
struct TlsSink {
    addr: SocketAddr,
    spans: std::sync::Arc<std::sync::atomic::AtomicU64>,
    handshakes_refused: std::sync::Arc<std::sync::atomic::AtomicU64>,
    _runtime: tokio::runtime::Runtime,
}

/// The sink's TLS config: its certificate, and client certificates of the test CA required.
fn sink_tls_config(dir: &TempDir) -> rustls::ServerConfig {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use std::sync::Arc;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(dir.path("ca.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::clone(&provider),
    )
    .build()
    .unwrap();
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.path("server.pem"))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(dir.path("server.key")).unwrap();
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .unwrap()
}

/// Answers an export with an empty success, adding its spans to `count`.
async fn count_spans(
    req: http::Request<hyper::body::Incoming>,
    count: std::sync::Arc<std::sync::atomic::AtomicU64>,
) -> Result<http::Response<http_body_util::Full<bytes::Bytes>>, hyper::Error> {
    use http_body_util::BodyExt;
    let gzip = req
        .headers()
        .get("content-encoding")
        .is_some_and(|v| v == "gzip");
    let body = req.into_body().collect().await?.to_bytes();
    count.fetch_add(spans_in(gzip, &body), std::sync::atomic::Ordering::Relaxed);
    Ok(http::Response::builder()
        .header("content-type", "application/x-protobuf")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap())
}

fn tls_sink(dir: &TempDir) -> TlsSink {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(sink_tls_config(dir)));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let spans = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let (count, refused_count) = (Arc::clone(&spans), Arc::clone(&refused));
    runtime.spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, count, refused) = (
                acceptor.clone(),
                Arc::clone(&count),
                Arc::clone(&refused_count),
            );
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    refused.fetch_add(1, Ordering::Relaxed);
                    return;
                };
                let service =
                    hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        count_spans(req, Arc::clone(&count))
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    TlsSink {
        addr,
        spans,
        handshakes_refused: refused,
        _runtime: runtime,
    }
}

#[test]
fn forwarding_over_mutual_tls_trusts_the_custom_ca_and_presents_the_client_certificate() {
    use std::sync::atomic::Ordering;
    let dir = TempDir::new("tls");
    certificates(&dir);
    let sink = tls_sink(&dir);
    let endpoint = format!("https://localhost:{}", sink.addr.port());
    let ca = dir.path("ca.pem").display().to_string();
    let with_client = format!(
        "    protocol: http_protobuf\n    tls: {{ ca_file: \"{ca}\", cert_file: \"{}\", key_file: \"{}\" }}",
        dir.path("client.pem").display(),
        dir.path("client.key").display()
    );
    let up = upstream(&endpoint, &with_client);
    let names = send_unique(up.http(), "tls", 4, 25);
    let deadline = Instant::now() + Duration::from_secs(20);
    while sink.spans.load(Ordering::Relaxed) < names.len() as u64 {
        assert!(
            Instant::now() < deadline,
            "spans did not arrive over TLS: {}",
            up.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(sink.spans.load(Ordering::Relaxed), 100);
    drop(up);

    // Without the client certificate the server refuses the handshake: retried, never sent.
    let up = upstream(
        &endpoint,
        &format!("    protocol: http_protobuf\n    tls: {{ ca_file: \"{ca}\" }}"),
    );
    send_unique(up.http(), "no-client-cert", 1, 10);
    up.metrics_when(Duration::from_secs(20), |m| {
        super::support::metric_value(m, "llmwatch_exporter_retried_items_total", &[]) >= 10.0
    });
    assert!(sink.handshakes_refused.load(Ordering::Relaxed) >= 1);
    assert_eq!(
        sink.spans.load(Ordering::Relaxed),
        100,
        "nothing more arrived"
    );
}

/// Counts the spans an OTLP/gRPC service receives.
struct CountingTraceService(std::sync::Arc<std::sync::atomic::AtomicU64>);

#[tonic::async_trait]
impl opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceService
    for CountingTraceService
{
    async fn export(
        &self,
        request: tonic::Request<
            opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest,
        >,
    ) -> Result<
        tonic::Response<
            opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse,
        >,
        tonic::Status,
    > {
        let n: usize = request
            .get_ref()
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        self.0
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(tonic::Response::new(Default::default()))
    }
}

#[test]
fn forwarding_over_grpc_with_mutual_tls() {
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceServiceServer;
    use std::sync::atomic::Ordering;
    use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
    let dir = TempDir::new("grpc-tls");
    certificates(&dir);
    let read = |name: &str| std::fs::read(dir.path(name)).unwrap();
    let tls = ServerTlsConfig::new()
        .identity(Identity::from_pem(read("server.pem"), read("server.key")))
        .client_ca_root(Certificate::from_pem(read("ca.pem")));
    let spans = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let port = free_port();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let service = TraceServiceServer::new(CountingTraceService(std::sync::Arc::clone(&spans)))
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip);
    let server = Server::builder()
        .tls_config(tls)
        .unwrap()
        .add_service(service)
        .serve(format!("127.0.0.1:{port}").parse().unwrap());
    runtime.spawn(server);
    let extra = format!(
        "    tls: {{ ca_file: \"{}\", cert_file: \"{}\", key_file: \"{}\", server_name: localhost }}",
        dir.path("ca.pem").display(),
        dir.path("client.pem").display(),
        dir.path("client.key").display()
    );
    let up = upstream(&format!("https://127.0.0.1:{port}"), &extra);
    let names = send_unique(up.http(), "grpc-tls", 4, 25);
    let deadline = Instant::now() + Duration::from_secs(30);
    while spans.load(Ordering::Relaxed) < names.len() as u64 {
        assert!(
            Instant::now() < deadline,
            "spans did not arrive over gRPC with TLS: {}",
            up.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(spans.load(Ordering::Relaxed), 100);
}
