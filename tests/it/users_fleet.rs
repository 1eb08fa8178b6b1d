//! Fleet-wide unique users: two llmwatch instances see overlapping user sets, a real
//! Prometheus scrapes both and evaluates the shipped recording rules, and the estimate of
//! the union is within the HyperLogLog error bound.

use std::path::Path;
use std::time::{Duration, Instant};

use super::python_clients::run_script;
use super::support::{Llmwatch, Prometheus, TempDir, metric_value};

const CONFIG: &str = r#"
receivers:
  otlp:
    protocols:
      http: { endpoint: "127.0.0.1:0" }
processors:
  redaction: { insecure_dev_key: true }
  chat_analytics: {}
exporters:
  prometheus: { endpoint: "127.0.0.1:0" }
service:
  pipelines:
    logs: { receivers: [otlp], processors: [redaction, chat_analytics], exporters: [prometheus] }
"#;

fn emit(lw: &Llmwatch, from: u32, to: u32) {
    run_script(
        "emit_users.py",
        &[
            format!("http://{}", lw.http.unwrap()),
            from.to_string(),
            to.to_string(),
        ],
    );
}

#[test]
fn prometheus_merges_two_sidecars_into_the_union_within_the_hll_bound() {
    let (a, b) = (Llmwatch::start(CONFIG), Llmwatch::start(CONFIG));
    // 0..6000 on one, 4000..10000 on the other: 10,000 users, 2,000 seen by both.
    emit(&a, 0, 6000);
    emit(&b, 4000, 10_000);
    for (lw, n) in [(&a, 6000.0), (&b, 6000.0)] {
        lw.metrics_when(Duration::from_secs(30), |text| {
            metric_value(text, "chat_events_total", &[("event", "message_sent")]) >= n
        });
    }
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("prometheus/rules/llmwatch-users.yaml");
    let prometheus = Prometheus::start(&[a.admin, b.admin], &[rules]);
    // One instant query: (evaluation time, value) of its first sample.
    let query = |promql: &str| -> Option<(f64, f64)> {
        let result = prometheus.query(promql)?;
        let sample = &result.first()?["value"];
        Some((sample[0].as_f64()?, sample[1].as_str()?.parse().ok()?))
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let wait = |what: &str, ok: &dyn Fn() -> Option<f64>| loop {
        if let Some(v) = ok() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus: no {what} within 60 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    // Both sidecars scraped at Prometheus time `both`; then a rule evaluation after it.
    let both = wait("scrape of both sidecars", &|| {
        query("count(chat_users_hll_registers)")
            .filter(|(_, n)| *n == 2.0)
            .map(|(t, _)| t)
    });
    let series = r#"window_segment:chat_users:estimate{window="1d",segment="all"}"#;
    wait("rule evaluation after both scrapes", &|| {
        query(&format!("timestamp({series})"))
            .filter(|(_, at)| *at > both + 1.0)
            .map(|(_, at)| at)
    });
    let estimate = wait("estimate", &|| query(series).map(|(_, v)| v));
    drop(prometheus);
    // Three standard errors of a 1024-register sketch.
    let bound = 3.0 * 1.04 / 32.0 * 10_000.0;
    println!("fleet estimate of 10000 users: {estimate:.0} (bound ±{bound:.0})");
    assert!((estimate - 10_000.0).abs() <= bound, "{estimate}");
    // Each sidecar alone sees only its 6,000.
    let local = metric_value(
        &a.metrics_text(),
        "chat_users_estimate",
        &[("window", "1d"), ("segment", "all")],
    );
    assert!(
        (local - 6000.0).abs() <= 3.0 * 1.04 / 32.0 * 6000.0,
        "{local}"
    );
}

#[test]
fn a_restart_keeps_the_user_windows() {
    let dir = TempDir::new("analytics-state");
    let state = dir.path("users.json");
    let config = CONFIG.replace(
        "chat_analytics: {}",
        &format!("chat_analytics: {{ state_file: \"{}\" }}", state.display()),
    );
    let mut lw = Llmwatch::start(&config);
    emit(&lw, 0, 3000);
    lw.metrics_when(Duration::from_secs(30), |text| {
        metric_value(text, "chat_events_total", &[]) >= 3000.0
    });
    let estimate = |lw: &Llmwatch| {
        metric_value(
            &lw.metrics_text(),
            "chat_users_estimate",
            &[("window", "30d"), ("segment", "all")],
        )
    };
    let before = estimate(&lw);
    assert!(lw.terminate(Duration::from_secs(20)).success());
    assert!(state.is_file(), "no state file written at shutdown");
    let lw = Llmwatch::start(&config);
    assert_eq!(estimate(&lw), before);
    assert!(
        (before - 3000.0).abs() <= 3.0 * 1.04 / 32.0 * 3000.0,
        "{before}"
    );
}
