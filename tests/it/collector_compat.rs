//! A Collector user's `otlp` exporter config works unchanged: a bare `host:port` endpoint
//! with `tls: { insecure: true }` forwards in plain text.

use std::time::Duration;

use super::forward::{destination, free_port, post, spans, wait_for_all};
use super::support::Llmwatch;

#[test]
fn a_collector_style_otlp_exporter_forwards() {
    let (grpc_port, http_port) = (free_port(), free_port());
    let dest = destination(grpc_port, http_port);
    let up = Llmwatch::start(&format!(
        r#"
receivers:
  otlp:
    protocols:
      http: {{ endpoint: "127.0.0.1:0" }}
exporters:
  prometheus: {{ endpoint: "127.0.0.1:0" }}
  otlp:
    endpoint: 127.0.0.1:{grpc_port}
    tls:
      insecure: true
service:
  pipelines:
    traces: {{ receivers: [otlp], exporters: [otlp, prometheus] }}
"#
    ));
    let names: Vec<String> = (0..20).map(|i| format!("collector-{i}")).collect();
    assert_eq!(post(up.http(), &spans(&names)), 200);
    wait_for_all(&dest.dir.path("in.jsonl"), &names, Duration::from_secs(30));
}
