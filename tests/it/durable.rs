//! "Accepted" means durable (issue 16, break 6): with a persistent send queue, a request is
//! answered only once its batch is appended (and fsynced when configured), and a queue
//! directory that cannot take it is refused with the OTLP retryable status.

use std::process::Command;
use std::time::{Duration, Instant};

use super::forward::{destination, duplicates, free_port, post, spans, upstream, wait_for_all};
use super::support::{
    Llmwatch, TRACES_PATH, TempDir, block_on, grpc_raw, http_request, metric_value,
};

/// An llmwatch with both receivers forwarding traces to `endpoint` with `queue`.
fn forwarder(endpoint: &str, queue: &str) -> Llmwatch {
    Llmwatch::start(&format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc: {{ endpoint: "127.0.0.1:0" }}
      http: {{ endpoint: "127.0.0.1:0" }}
exporters:
  prometheus: {{ endpoint: "127.0.0.1:0" }}
  otlp:
    endpoint: "{endpoint}"
    retry: {{ initial_interval: 50ms, max_interval: 400ms, max_elapsed_time: 0s }}
    queue: {queue}
service:
  pipelines:
    traces: {{ receivers: [otlp], exporters: [otlp, prometheus] }}
"#
    ))
}

/// Bound: a 20,000-span request answered 200 is all delivered after a SIGKILL sent the
/// moment the answer arrived and a restart. On `main` the answer came before the processors
/// and the write-ahead log, and such a kill lost the whole request.
#[test]
fn a_sigkill_right_after_the_answer_loses_nothing() {
    let (grpc_port, http_port) = (free_port(), free_port());
    let queue = TempDir::new("durable");
    let extra = format!(
        "    queue: {{ directory: \"{}\", max_bytes: 256MiB, fsync: true }}",
        queue.0.display()
    );
    let endpoint = format!("http://127.0.0.1:{grpc_port}");
    let mut up = upstream(&endpoint, &extra);
    let names: Vec<String> = (0..20_000).map(|i| format!("durable-{i}")).collect();
    let status = post(up.http(), &spans(&names));
    let kill = Command::new("kill")
        .args(["-KILL", &up.pid().to_string()])
        .status()
        .expect("kill");
    assert_eq!(status, 200);
    assert!(kill.success());
    up.reap();
    let dest = destination(grpc_port, http_port);
    let _up = upstream(&endpoint, &extra);
    let seen = wait_for_all(&dest.dir.path("in.jsonl"), &names, Duration::from_secs(60));
    println!(
        "durable: {} spans delivered after SIGKILL at the answer, {} duplicates",
        names.len(),
        duplicates(&seen)
    );
}

/// Unmounts a tmpfs on drop.
struct Tmpfs(TempDir);

impl Tmpfs {
    /// A tmpfs of `size` (as `mount -o size=` takes it). Needs root, as `scripts/check` runs.
    fn mount(size: &str) -> Tmpfs {
        let dir = TempDir::new("tmpfs");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir.0)
            .output()
            .expect("mount");
        assert!(
            out.status.success(),
            "mounting a {size} tmpfs (to fill a disk) needs root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(dir)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0.0).status();
    }
}

/// Bound: once a 512 KiB file system under the queue directory is full, every request is
/// refused with 503 + `Retry-After` (HTTP) or UNAVAILABLE (gRPC), counted as
/// `exporter_unavailable`; what was answered 200 is all on disk and delivered later.
#[test]
fn a_full_disk_under_the_queue_refuses_with_the_retryable_status() {
    // Held (never answering) while the disk fills, so no other test takes the port.
    let hold = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let grpc_port = hold.local_addr().unwrap().port();
    let disk = Tmpfs::mount("512k");
    let queue = format!(
        "{{ directory: \"{}\", max_bytes: 64MiB, fsync: true }}",
        disk.0.0.display()
    );
    let up = forwarder(&format!("http://127.0.0.1:{grpc_port}"), &queue);
    let mut accepted = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let refused = loop {
        let names: Vec<String> = (0..100)
            .map(|i| format!("disk-{}-{i}", accepted.len()))
            .collect();
        let r = http_request(
            up.http(),
            "POST",
            "/v1/traces",
            &[("content-type", "application/json")],
            &spans(&names),
        );
        if r.status == 200 {
            accepted.extend(names);
        } else {
            break r;
        }
        assert!(Instant::now() < deadline, "never refused");
    };
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert!(refused.header("retry-after").is_some());
    assert!(
        refused.text().contains("could not store the batch"),
        "{}",
        refused.text()
    );
    let body = {
        use prost::Message;
        llmwatch::bench::reference_traces(10, 1).encode_to_vec()
    };
    let status = block_on(grpc_raw(up.grpc(), TRACES_PATH, body, false, None));
    let status = status.expect_err("refused");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    let m = up.metrics_text();
    let count = metric_value(
        &m,
        "llmwatch_receiver_refused_requests_total",
        &[("reason", "exporter_unavailable")],
    );
    assert!(count >= 2.0, "{count}");
    assert!(!accepted.is_empty(), "the disk took nothing at all");
    drop(hold);
    let dest = destination(grpc_port, free_port());
    let seen = wait_for_all(
        &dest.dir.path("in.jsonl"),
        &accepted,
        Duration::from_secs(60),
    );
    assert!(seen.len() >= accepted.len());
}
