//! Apps' own OTLP metrics on `/metrics`: every instrument type of the Python SDK, exported
//! with cumulative and with delta temporality, gives the same exact series, and the
//! exposition passes `promtool check metrics`.

use std::time::Duration;

use super::python_clients::run_script;
use super::support::{Llmwatch, assert_promtool_accepts, metric_value};

const CONFIG: &str = r#"
receivers:
  otlp:
    protocols:
      http: { endpoint: "127.0.0.1:0" }
processors:
  redaction: { insecure_dev_key: true }
exporters:
  prometheus: { endpoint: "127.0.0.1:0" }
service:
  pipelines:
    metrics: { receivers: [otlp], processors: [redaction], exporters: [prometheus] }
"#;

#[test]
fn every_instrument_in_both_temporalities_gives_exact_series_that_promtool_accepts() {
    let lw = Llmwatch::start(CONFIG);
    for temporality in ["cumulative", "delta"] {
        run_script(
            "emit_metrics.py",
            &[
                format!("http://{}", lw.http.unwrap()),
                temporality.to_owned(),
            ],
        );
    }
    // Four requests (two per run), each through the pipeline once the exporter sent it.
    let text = lw.metrics_when(Duration::from_secs(20), |text| {
        let signal = [("signal", "metrics")];
        let accepted = metric_value(text, "llmwatch_receiver_accepted_items_total", &signal);
        let sent = metric_value(text, "llmwatch_exporter_sent_items_total", &signal);
        accepted > 0.0 && accepted == sent && text.contains("job=\"metrics-delta\"")
    });
    for job in ["metrics-cumulative", "metrics-delta"] {
        let l = format!("instance=\"i-1\",job=\"{job}\"");
        for line in [
            format!("it_requests_total{{{l},route=\"/chat\"}} 7"),
            format!("it_active_sessions{{{l}}} 3"),
            format!("it_latency_seconds_bucket{{{l},route=\"/chat\",le=\"0\"}} 0"),
            format!("it_latency_seconds_bucket{{{l},route=\"/chat\",le=\"5\"}} 3"),
            format!("it_latency_seconds_bucket{{{l},route=\"/chat\",le=\"+Inf\"}} 3"),
            format!("it_latency_seconds_sum{{{l},route=\"/chat\"}} 3.9"),
            format!("it_latency_seconds_count{{{l},route=\"/chat\"}} 3"),
            format!("it_size_bytes_bucket{{{l},le=\"+Inf\"}} 3"),
            format!("it_size_bytes_sum{{{l}}} 108"),
            format!("it_size_bytes_count{{{l}}} 3"),
            format!("it_queue_depth{{{l},queue=\"chat\"}} 4"),
            format!("it_cpu_time_seconds_total{{{l}}} 15"),
            format!("it_connections{{{l}}} 7"),
        ] {
            assert!(text.lines().any(|x| x == line), "{line} missing:\n{text}");
        }
    }
    assert!(
        text.contains("# TYPE it_requests_total counter\n"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE it_latency_seconds histogram\n"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("target_info{")
                && l.contains("telemetry_sdk_language=\"python\"")),
        "{text}"
    );

    assert_promtool_accepts(&text);
}
