//! Apps' metrics that attack the exposition (issue 16, breaks 1, 2 and 4), through the real
//! binary: each test states its bound.

use std::io::Write;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as Number;
use opentelemetry_proto::tonic::metrics::v1::summary_data_point::ValueAtQuantile;
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
    Summary, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

use super::support::{Llmwatch, Prometheus, assert_promtool_accepts, http_request, metric_value};

const CONFIG: &str = r#"
receivers:
  otlp:
    protocols:
      http: { endpoint: "127.0.0.1:0" }
exporters:
  prometheus: { endpoint: "127.0.0.1:0", app_metrics: { series_limit: 50 } }
service:
  pipelines:
    metrics: { receivers: [otlp], exporters: [prometheus] }
"#;

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.to_owned())),
        }),
        ..Default::default()
    }
}

fn request(metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![kv("service.name", "hostile")],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn gauge(name: &str, description: &str, attrs: Vec<KeyValue>) -> Metric {
    Metric {
        name: name.to_owned(),
        description: description.to_owned(),
        data: Some(Data::Gauge(Gauge {
            data_points: vec![NumberDataPoint {
                attributes: attrs,
                value: Some(Number::AsDouble(1.0)),
                ..Default::default()
            }],
        })),
        ..Default::default()
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn post(lw: &Llmwatch, req: &ExportMetricsServiceRequest, compress: bool) {
    let body = req.encode_to_vec();
    let (body, mut headers) = (body, vec![("content-type", "application/x-protobuf")]);
    let body = if compress {
        headers.push(("content-encoding", "gzip"));
        gzip(&body)
    } else {
        body
    };
    let r = http_request(lw.http(), "POST", "/v1/metrics", &headers, &body);
    assert_eq!(r.status, 200, "{}", r.text());
}

/// CPU seconds (user + system) the process has used.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    // utime and stime are fields 14 and 15, in clock ticks (100 per second on Linux).
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn overflow(text: &str, family: &str) -> f64 {
    metric_value(
        text,
        "llmwatch_metric_overflow_total",
        &[("family", family)],
    )
}

/// Break 1: 80,000 attributes on one point cost 18 s of worker CPU on `main`. Bound: the
/// point is refused (counted) and the whole request costs under 3 s of CPU; a point at the
/// cap of 128 attributes is kept.
#[test]
fn a_point_with_80k_attributes_is_refused_in_bounded_work() {
    let lw = Llmwatch::start(CONFIG);
    let before = cpu_seconds(lw.pid());
    let wide: Vec<KeyValue> = (0..80_000).map(|i| kv(&format!("k{i}"), "v")).collect();
    let at_cap: Vec<KeyValue> = (0..128).map(|i| kv(&format!("k{i}"), "v")).collect();
    for _ in 0..2 {
        post(
            &lw,
            &request(vec![
                gauge("wide", "", wide.clone()),
                gauge("capped", "", at_cap.clone()),
            ]),
            true,
        );
    }
    let text = lw.metrics_when(Duration::from_secs(30), |t| {
        overflow(t, "otlp_too_large") >= 2.0 && t.contains("capped{")
    });
    let spent = cpu_seconds(lw.pid()) - before;
    println!("{spent:.2} s of llmwatch CPU for two requests with an 80k-attribute point");
    assert!(spent < 3.0, "{spent} s of CPU for two 80k-attribute points");
    assert!(!text.contains("\nwide{"), "the over-wide point was kept");
    let capped = text.lines().find(|l| l.starts_with("capped{")).unwrap();
    assert_eq!(capped.matches("=\"").count(), 129, "128 attributes and job");
}

/// Break 2: twenty gauges with 30 MiB labels took RSS to 1.9 GB and one scrape was 629 MB on
/// `main`. Bound: label values are cut to 128 bytes, HELP never carries the description,
/// every scrape stays under 64 KiB, peak RSS under 256 MiB, and families past the series
/// limit are never created.
#[test]
fn thirty_mebibyte_labels_and_descriptions_stay_bounded_in_bytes() {
    let lw = Llmwatch::start(CONFIG);
    let huge = "a".repeat(30 << 20);
    for i in 0..20 {
        let req = request(vec![gauge(
            &format!("big_{i}"),
            &huge[..1 << 20],
            vec![kv("v", &huge), kv(&huge[..1 << 20], "k")],
        )]);
        post(&lw, &req, true);
    }
    // 1,000 distinct families in one request against a limit of 50 series.
    let many: Vec<Metric> = (0..1000)
        .map(|i| gauge(&format!("family_{i}"), "Described.", vec![]))
        .collect();
    post(&lw, &request(many), false);
    let text = lw.metrics_when(Duration::from_secs(60), |t| {
        overflow(t, "otlp_metrics") >= 900.0
    });
    assert!(text.len() < 64 << 10, "scrape of {} bytes", text.len());
    let line = text.lines().find(|l| l.starts_with("big_0{")).unwrap();
    assert!(
        line.contains(&format!("v=\"{}\"", "a".repeat(128))),
        "{}",
        &line[..200]
    );
    assert!(line.len() < 400, "a series line of {} bytes", line.len());
    assert!(text.contains("# HELP big_0 OTLP metric big_0\n"));
    let families = text
        .lines()
        .filter(|l| l.starts_with("# TYPE family_"))
        .count();
    assert!(families < 50, "{families} families past the series limit");
    let rss = lw.peak_rss();
    assert!(rss < 256 << 20, "peak RSS {} MiB", rss >> 20);
    println!("peak RSS {} MiB, scrape {} bytes", rss >> 20, text.len());
}

/// A histogram with attributes `le`, `job` and `instance`, and a summary with `quantile`
/// and `le`: every label name the exposition reserves.
fn reserved_label_metrics() -> Vec<Metric> {
    let histogram = Metric {
        name: "latency".into(),
        unit: "s".into(),
        data: Some(Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                attributes: vec![kv("le", "x"), kv("job", "mine"), kv("instance", "me")],
                count: 1,
                sum: Some(0.5),
                bucket_counts: vec![1, 0],
                explicit_bounds: vec![1.0],
                ..Default::default()
            }],
            aggregation_temporality: 2,
        })),
        ..Default::default()
    };
    let summary = Metric {
        name: "size".into(),
        data: Some(Data::Summary(Summary {
            data_points: vec![SummaryDataPoint {
                attributes: vec![kv("quantile", "q"), kv("le", "l")],
                count: 1,
                sum: 2.0,
                quantile_values: vec![ValueAtQuantile {
                    quantile: 0.5,
                    value: 2.0,
                }],
                ..Default::default()
            }],
        })),
        ..Default::default()
    };
    vec![histogram, summary]
}

/// Break 4: an attribute named `le` on a histogram or `quantile` on a summary made
/// Prometheus reject the whole exposition on `main`. Bound: promtool accepts the scrape,
/// and a real Prometheus scrapes it (`up` is 1) with the attributes as `exported_*`.
#[test]
fn reserved_attribute_names_never_break_the_scrape() {
    let lw = Llmwatch::start(CONFIG);
    post(&lw, &request(reserved_label_metrics()), false);
    let text = lw.metrics_when(Duration::from_secs(20), |t| t.contains("size_count{"));
    assert!(
        text.contains(r#"latency_seconds_bucket{exported_instance="me",exported_job="mine",exported_le="x",job="hostile",le="1"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"size{exported_le="l",exported_quantile="q",job="hostile",quantile="0.5"} 2"#
        ),
        "{text}"
    );
    assert_promtool_accepts(&text);
    let prometheus = Prometheus::start(&[lw.admin], &[]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let up = prometheus.query("up{job=\"llmwatch\"}").unwrap_or_default();
        let value = up
            .first()
            .and_then(|r| r["value"][1].as_str().map(str::to_owned));
        let kept = prometheus
            .query("size{exported_quantile=\"q\"}")
            .is_some_and(|r| !r.is_empty());
        if value.as_deref() == Some("1") && kept {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus did not scrape: up = {value:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
