use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;
use opentelemetry_proto::tonic::metrics::v1::summary_data_point::ValueAtQuantile;
use opentelemetry_proto::tonic::metrics::v1::{
    ExponentialHistogram, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use std::time::Duration;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as Number;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, ExponentialHistogramDataPoint,
};

use super::*;
use crate::component::units::ByteSize;

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.to_owned(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(v.to_owned())),
        }),
        ..Default::default()
    }
}

fn request(metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", "chat-api"),
                    kv("service.instance.id", "pod-1"),
                    kv("deployment.environment.name", "prod"),
                ],
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

fn number(v: f64, attrs: Vec<KeyValue>) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs,
        value: Some(Number::AsDouble(v)),
        ..Default::default()
    }
}

fn sum(
    name: &str,
    unit: &str,
    monotonic: bool,
    temporality: AggregationTemporality,
    v: f64,
) -> Metric {
    Metric {
        name: name.to_owned(),
        unit: unit.to_owned(),
        description: format!("{name} help"),
        data: Some(Data::Sum(Sum {
            data_points: vec![number(v, vec![kv("route", "/chat")])],
            aggregation_temporality: temporality as i32,
            is_monotonic: monotonic,
        })),
        ..Default::default()
    }
}

fn histogram(temporality: AggregationTemporality, counts: Vec<u64>, total: f64) -> Metric {
    Metric {
        name: "http.server.request.duration".to_owned(),
        unit: "s".to_owned(),
        data: Some(Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                count: counts.iter().sum(),
                sum: Some(total),
                bucket_counts: counts,
                explicit_bounds: vec![0.1, 1.0],
                ..Default::default()
            }],
            aggregation_temporality: temporality as i32,
        })),
        ..Default::default()
    }
}

fn store(config: AppMetricsConfig) -> AppMetrics {
    AppMetrics::new(config, OverflowCounter::default())
}

fn text(m: &AppMetrics) -> String {
    let mut out = String::new();
    m.render(&mut out, Format::PrometheusText);
    out
}

#[test]
fn names_follow_the_prometheus_compatibility_rules() {
    for (name, unit, counter, gauge, want) in [
        (
            "http.server.request.duration",
            "s",
            false,
            false,
            "http_server_request_duration_seconds",
        ),
        (
            "gen_ai.client.token.usage",
            "{token}",
            false,
            false,
            "gen_ai_client_token_usage",
        ),
        ("requests", "1", true, false, "requests_total"),
        ("requests", "{request}", true, false, "requests_total"),
        (
            "system.cpu.utilization",
            "1",
            false,
            true,
            "system_cpu_utilization_ratio",
        ),
        ("net.io", "By/s", false, true, "net_io_bytes_per_second"),
        (
            "queue.latency_seconds",
            "s",
            false,
            false,
            "queue_latency_seconds",
        ),
        ("jobs_total", "", true, false, "jobs_total"),
        ("9lives", "", false, true, "_9lives"),
        ("llm.requests", "", true, false, "otlp_llm_requests_total"),
        ("app.users", "", false, true, "otlp_app_users"),
        (
            "web_vitals.lcp",
            "ms",
            false,
            false,
            "otlp_web_vitals_lcp_milliseconds",
        ),
    ] {
        assert_eq!(
            prometheus_name(name, unit, counter, gauge),
            want,
            "{name} {unit}"
        );
    }
}

#[test]
fn delta_and_cumulative_sums_give_the_same_counter() {
    let cumulative = store(AppMetricsConfig::default());
    let delta = store(AppMetricsConfig::default());
    for (c, d) in [(3.0, 3.0), (5.0, 2.0), (9.0, 4.0)] {
        cumulative.ingest(&request(vec![sum(
            "conversation.messages",
            "{message}",
            true,
            AggregationTemporality::Cumulative,
            c,
        )]));
        delta.ingest(&request(vec![sum(
            "conversation.messages",
            "{message}",
            true,
            AggregationTemporality::Delta,
            d,
        )]));
    }
    let want = "conversation_messages_total{instance=\"pod-1\",job=\"chat-api\",route=\"/chat\"} 9";
    for m in [&cumulative, &delta] {
        let out = text(m);
        assert!(out.lines().any(|l| l == want), "{out}");
        assert!(
            out.lines()
                .any(|l| l == "# TYPE conversation_messages_total counter"),
            "{out}"
        );
    }
}

#[test]
fn histograms_accumulate_deltas_and_keep_cumulative_buckets() {
    let m = store(AppMetricsConfig::default());
    m.ingest(&request(vec![histogram(
        AggregationTemporality::Delta,
        vec![1, 2, 0],
        1.5,
    )]));
    m.ingest(&request(vec![histogram(
        AggregationTemporality::Delta,
        vec![0, 1, 1],
        3.5,
    )]));
    let out = text(&m);
    let l = "instance=\"pod-1\",job=\"chat-api\"";
    for line in [
        "# TYPE http_server_request_duration_seconds histogram".to_owned(),
        format!("http_server_request_duration_seconds_bucket{{{l},le=\"0.1\"}} 1"),
        format!("http_server_request_duration_seconds_bucket{{{l},le=\"1\"}} 4"),
        format!("http_server_request_duration_seconds_bucket{{{l},le=\"+Inf\"}} 5"),
        format!("http_server_request_duration_seconds_sum{{{l}}} 5"),
        format!("http_server_request_duration_seconds_count{{{l}}} 5"),
    ] {
        assert!(out.lines().any(|x| x == line), "{line} missing:\n{out}");
    }
}

/// `queue.depth`: a gauge of 7.
fn queue_depth() -> Metric {
    Metric {
        name: "queue.depth".to_owned(),
        data: Some(Data::Gauge(Gauge {
            data_points: vec![number(7.0, vec![])],
        })),
        ..Default::default()
    }
}

/// `prompt.size` in bytes: an exponential histogram of scale 0, six values.
fn prompt_size() -> Metric {
    Metric {
        name: "prompt.size".to_owned(),
        unit: "By".to_owned(),
        data: Some(Data::ExponentialHistogram(ExponentialHistogram {
            data_points: vec![ExponentialHistogramDataPoint {
                scale: 0,
                count: 6,
                sum: Some(20.0),
                zero_count: 1,
                positive: Some(Buckets {
                    offset: 1,
                    bucket_counts: vec![2, 3],
                }),
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        })),
        ..Default::default()
    }
}

/// `rpc.latency` in milliseconds: a summary of ten values with two quantiles.
fn rpc_latency() -> Metric {
    Metric {
        name: "rpc.latency".to_owned(),
        unit: "ms".to_owned(),
        data: Some(Data::Summary(Summary {
            data_points: vec![SummaryDataPoint {
                count: 10,
                sum: 120.0,
                quantile_values: vec![
                    ValueAtQuantile {
                        quantile: 0.5,
                        value: 10.0,
                    },
                    ValueAtQuantile {
                        quantile: 0.99,
                        value: 40.0,
                    },
                ],
                ..Default::default()
            }],
        })),
        ..Default::default()
    }
}

#[test]
fn gauges_exponential_histograms_and_summaries() {
    let m = store(AppMetricsConfig {
        resource_to_labels: vec!["deployment.environment.name".to_owned()],
        ..AppMetricsConfig::default()
    });
    m.ingest(&request(vec![queue_depth(), prompt_size(), rpc_latency()]));
    let out = text(&m);
    let l = "deployment_environment_name=\"prod\",instance=\"pod-1\",job=\"chat-api\"";
    for line in [
        format!("queue_depth{{{l}}} 7"),
        // Scale 0: base 2. Zero bucket up to 0, then (2,4] and (4,8] from offset 1.
        format!("prompt_size_bytes_bucket{{{l},le=\"0\"}} 1"),
        format!("prompt_size_bytes_bucket{{{l},le=\"4\"}} 3"),
        format!("prompt_size_bytes_bucket{{{l},le=\"8\"}} 6"),
        format!("prompt_size_bytes_bucket{{{l},le=\"+Inf\"}} 6"),
        "# TYPE rpc_latency_milliseconds summary".to_owned(),
        format!("rpc_latency_milliseconds{{{l},quantile=\"0.99\"}} 40"),
        format!("rpc_latency_milliseconds_count{{{l}}} 10"),
        "target_info{deployment_environment_name=\"prod\",instance=\"pod-1\",job=\"chat-api\"} 1"
            .to_owned(),
    ] {
        assert!(out.lines().any(|x| x == line), "{line} missing:\n{out}");
    }
}

#[test]
fn series_are_bounded_types_do_not_collide_and_stale_series_expire() {
    let overflow = OverflowCounter::default();
    let m = AppMetrics::new(
        AppMetricsConfig {
            series_limit: 3,
            ..AppMetricsConfig::default()
        },
        overflow.clone(),
    );
    for route in ["/a", "/b", "/c", "/d"] {
        let mut metric = sum("hits", "", true, AggregationTemporality::Cumulative, 1.0);
        if let Some(Data::Sum(s)) = &mut metric.data {
            s.data_points[0].attributes = vec![kv("route", route)];
        }
        m.ingest(&request(vec![metric]));
    }
    // target_info and two routes fill the three series.
    assert_eq!(m.series(), 3);
    let folded = |f: &str| {
        overflow
            .0
            .get_or_create(&crate::metrics::bounded::OverflowLabels::for_family(f))
            .get()
    };
    assert_eq!(folded("otlp_metrics"), 2);
    // A gauge whose name translates to the counter's is refused, not merged.
    let mut gauge = sum(
        "hits_total",
        "",
        false,
        AggregationTemporality::Cumulative,
        5.0,
    );
    if let Some(Data::Sum(s)) = &mut gauge.data {
        s.data_points[0].attributes = vec![kv("route", "/a")];
    }
    m.ingest(&request(vec![gauge]));
    assert_eq!(folded("otlp_type_conflict"), 1);
    assert!(
        text(&m).contains("# TYPE hits_total counter\n"),
        "{}",
        text(&m)
    );
    let gauge = sum("hits", "", true, AggregationTemporality::Cumulative, 5.0);
    let expired = store(AppMetricsConfig {
        series_ttl: Duration::ZERO,
        ..AppMetricsConfig::default()
    });
    expired.ingest(&request(vec![gauge]));
    // Held (the series and target_info) until the next render finds them stale.
    assert_eq!(expired.series(), 2);
    assert_eq!(text(&expired), "");
    assert_eq!(expired.series(), 0);
}

#[test]
fn openmetrics_names_counter_families_without_total_and_keeps_eof_last() {
    let m = store(AppMetricsConfig::default());
    m.ingest(&request(vec![sum(
        "jobs",
        "",
        true,
        AggregationTemporality::Cumulative,
        2.0,
    )]));
    let mut out = "# EOF\n".to_owned();
    m.render(&mut out, Format::OpenMetrics);
    assert!(out.contains("# TYPE jobs counter\n"), "{out}");
    assert!(out.contains("jobs_total{"), "{out}");
    assert!(
        out.ends_with("# EOF\n") && out.matches("# EOF").count() == 1,
        "{out}"
    );
}

#[test]
fn hostile_label_values_are_escaped() {
    let m = store(AppMetricsConfig::default());
    let mut metric = sum("x", "", false, AggregationTemporality::Cumulative, 1.0);
    if let Some(Data::Sum(s)) = &mut metric.data {
        s.data_points[0].attributes = vec![kv("bad key!", "a\"b\\c\nd")];
    }
    m.ingest(&request(vec![metric]));
    assert!(
        text(&m).contains(r#"bad_key_="a\"b\\c\nd""#),
        "{}",
        text(&m)
    );
}

fn gauge_with(name: &str, attrs: Vec<KeyValue>) -> Metric {
    Metric {
        name: name.to_owned(),
        data: Some(Data::Gauge(Gauge {
            data_points: vec![number(1.0, attrs)],
        })),
        ..Default::default()
    }
}

fn folded(overflow: &OverflowCounter, family: &str) -> u64 {
    overflow
        .0
        .get_or_create(&crate::metrics::bounded::OverflowLabels::for_family(family))
        .get()
}

#[test]
fn reserved_and_colliding_label_names_are_renamed_exported() {
    let overflow = OverflowCounter::default();
    let m = AppMetrics::new(AppMetricsConfig::default(), overflow.clone());
    let mut h = histogram(AggregationTemporality::Cumulative, vec![1, 1, 0], 0.5);
    if let Some(Data::Histogram(h)) = &mut h.data {
        h.data_points[0].attributes = vec![kv("le", "x"), kv("job", "j"), kv("quantile", "q")];
    }
    let s = Metric {
        name: "lat".into(),
        data: Some(Data::Summary(Summary {
            data_points: vec![SummaryDataPoint {
                attributes: vec![kv("quantile", "0.5"), kv("exported_quantile", "dup")],
                quantile_values: vec![ValueAtQuantile {
                    quantile: 0.5,
                    value: 1.0,
                }],
                ..Default::default()
            }],
        })),
        ..Default::default()
    };
    m.ingest(&request(vec![h, s]));
    let out = text(&m);
    assert!(
        out.contains(r#"http_server_request_duration_seconds_bucket{exported_job="j",exported_le="x",exported_quantile="q",instance="pod-1",job="chat-api",le="0.1"} 1"#),
        "{out}"
    );
    assert!(
        out.contains(
            r#"lat{exported_quantile="0.5",instance="pod-1",job="chat-api",quantile="0.5"} 1"#
        ),
        "{out}"
    );
    assert_eq!(folded(&overflow, "otlp_label_conflict"), 1);
}

#[test]
fn values_names_and_points_are_capped_before_anything_is_kept() {
    let overflow = OverflowCounter::default();
    let m = AppMetrics::new(AppMetricsConfig::default(), overflow.clone());
    let huge = "é".repeat(1 << 20);
    let many: Vec<KeyValue> = (0..=MAX_ATTRIBUTES)
        .map(|i| kv(&format!("k{i}"), "v"))
        .collect();
    let mut described = gauge_with("described", vec![kv(&huge, &huge)]);
    described.description = huge;
    m.ingest(&request(vec![
        described,
        gauge_with(&"n".repeat(MAX_METRIC_NAME_BYTES + 1), vec![]),
        gauge_with("wide", many),
    ]));
    let out = text(&m);
    let line = out
        .lines()
        .find(|l| l.starts_with("described{"))
        .expect("series");
    assert!(line.len() < 2 * 128 + 200, "{} bytes", line.len());
    assert!(
        out.contains("# HELP described OTLP metric described\n"),
        "{out}"
    );
    assert_eq!(folded(&overflow, "otlp_too_large"), 2);
    assert!(!out.contains("wide"), "{out}");
    assert!(m.bytes() < 4096, "{}", m.bytes());
}

#[test]
fn the_byte_budget_refuses_new_series_and_families_and_frees_on_expiry() {
    let overflow = OverflowCounter::default();
    let config = AppMetricsConfig {
        max_bytes: ByteSize(8 << 10),
        series_ttl: Duration::from_secs(3600),
        ..AppMetricsConfig::default()
    };
    let m = AppMetrics::new(config, overflow.clone());
    for i in 0..1000 {
        m.ingest(&request(vec![gauge_with(
            &format!("family_{i}"),
            vec![kv("v", &"x".repeat(120))],
        )]));
    }
    assert!(m.bytes() <= 8 << 10, "{}", m.bytes());
    let mut out = String::new();
    m.render(&mut out, Format::PrometheusText);
    assert!(out.len() <= 8 << 10, "{} bytes rendered", out.len());
    assert!(folded(&overflow, "otlp_metrics_bytes") > 900);
    // Families are created only with a series: no HELP without samples.
    assert_eq!(
        out.matches("# HELP").count(),
        out.lines().filter(|l| !l.starts_with('#')).count()
    );
}

#[test]
fn descriptions_that_could_carry_values_are_replaced() {
    assert_eq!(
        labels::help(" Time of one request. ", "x"),
        "Time of one request."
    );
    for bad in [
        "Requests by alice@example.com",
        "Calls to +1 415 555 0100",
        "token sk_live_abcdefghijklmnopqrstuvwxyz",
        "see https://example.com",
        "",
    ] {
        assert_eq!(labels::help(bad, "x"), "OTLP metric x", "{bad}");
    }
}

#[test]
fn label_building_is_linear_in_the_attributes() {
    // 128 attributes per point (the cap), 2,000 points: about 256k labels in all.
    let attrs: Vec<KeyValue> = (0..MAX_ATTRIBUTES)
        .map(|i| kv(&format!("key_{i}"), "v"))
        .collect();
    let base = vec![("job".to_owned(), "j".to_owned())];
    let started = std::time::Instant::now();
    for _ in 0..2000 {
        let (labels, dropped) = labels::build(&base, &attrs, |_| false).expect("fits");
        assert_eq!((labels.len(), dropped), (MAX_ATTRIBUTES + 1, 0));
    }
    // A quadratic build (a scan per attribute) is about 64× the work of this one.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}
