//! The command line takes durations as the config does.

use std::process::Command;
use std::time::{Duration, Instant};

use super::support::{Llmwatch, binary};

/// `llmwatch demo --duration 1s` runs for that long against a real llmwatch and exits 0;
/// a duration it cannot read is refused with the syntax it takes.
#[test]
fn demo_takes_durations_like_the_config() {
    let lw = Llmwatch::start(
        r#"
receivers:
  otlp:
    protocols:
      grpc: { endpoint: "127.0.0.1:0" }
exporters:
  prometheus: { endpoint: "127.0.0.1:0" }
service:
  pipelines:
    traces: { receivers: [otlp], exporters: [prometheus] }
    metrics: { receivers: [otlp], exporters: [prometheus] }
    logs: { receivers: [otlp], exporters: [prometheus] }
"#,
    );
    let started = Instant::now();
    let out = Command::new(binary())
        .args(["demo", "--quiet", "--duration", "1s", "--endpoint"])
        .arg(format!("http://{}", lw.grpc()))
        .output()
        .expect("run demo");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    let out = Command::new(binary())
        .args(["demo", "--duration", "twenty"])
        .output()
        .expect("run demo");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("such as 250ms, 10s, 5m or 2h"), "{err}");
}
