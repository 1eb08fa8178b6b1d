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
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A destination: an llmwatch that writes what it receives to `{dir}/in.jsonl`.
fn destination(grpc_port: u16, http_port: u16) -> Llmwatch {
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
fn spans(names: &[String]) -> Vec<u8> {
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

fn post(addr: SocketAddr, body: &[u8]) -> u16 {
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
fn names_in(path: &Path) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for line in lines(path) {
        let v: serde_json::Value = serde_json::from_str(&line).expect("json line");
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
fn wait_for_all(path: &Path, want: &[String], timeout: Duration) -> BTreeMap<String, usize> {
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

fn duplicates(seen: &BTreeMap<String, usize>) -> usize {
    seen.values().map(|n| n - 1).sum()
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
        let sent: Vec<serde_json::Value> = lines(&up.dir.path("out.jsonl"))
            .iter()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        let spans_of = |v: &[serde_json::Value]| {
            let mut all: Vec<serde_json::Value> = v
                .iter()
                .flat_map(|r| r["resourceSpans"].as_array().cloned().unwrap_or_default())
                .flat_map(|rs| rs["scopeSpans"].as_array().cloned().unwrap_or_default())
                .flat_map(|ss| ss["spans"].as_array().cloned().unwrap_or_default())
                .filter(|s| s["name"].as_str().is_some_and(|n| n.starts_with(protocol)))
                .collect();
            all.sort_by_key(|s| s["name"].as_str().unwrap_or("").to_owned());
            all
        };
        let arrived: Vec<serde_json::Value> = lines(&dest.dir.path("in.jsonl"))
            .iter()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        assert_eq!(
            spans_of(&arrived),
            spans_of(&sent),
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

fn upstream(endpoint: &str, extra: &str) -> Llmwatch {
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
    batch: {{ timeout: 20ms, max_items: 500 }}
    retry: {{ initial_interval: 50ms, max_interval: 400ms, max_elapsed_time: 0s }}
{extra}
service:
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
    let extra =
        format!("    queue: {{ max_bytes: {capacity}, when_full: block }}\n    compression: none");
    let up = Llmwatch::start(&format!(
        r#"
receivers:
  otlp:
    protocols:
      http: {{ endpoint: "127.0.0.1:0" }}
exporters:
  prometheus: {{ endpoint: "127.0.0.1:0" }}
  otlp:
    endpoint: "http://{}"
    protocol: http_protobuf
    batch: {{ timeout: 20ms, max_items: 500, max_bytes: 64KiB }}
    retry: {{ initial_interval: 50ms, max_interval: 400ms, max_elapsed_time: 0s }}
{extra}
service:
  workers: 2
  pipelines:
    traces: {{ receivers: [otlp], exporters: [otlp, prometheus] }}
"#,
        dest.http()
    ));
    let admin = up.admin;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let stop = std::sync::Arc::clone(&stop);
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
    };
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
