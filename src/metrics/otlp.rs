//! Apps' own OTLP metrics on `/metrics`, translated as the OpenTelemetry specification's
//! Prometheus compatibility rules say: names with unit suffixes and `_total`, attributes
//! as labels, `job` and `instance` from the resource, and `target_info` for the rest of
//! the resource. Delta temporality is accumulated into cumulative. Series are bounded in
//! number and expire when stale.
//!
//! prometheus-client cannot write summaries, so these families are rendered here and
//! appended to the registry's exposition.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as Number;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, ExponentialHistogramDataPoint,
};
use serde::Deserialize;

use super::bounded::OverflowCounter;
use super::exposition::Format;

/// Name prefixes of llmwatch's own and derived families. An app metric whose translated
/// name starts with one is exposed with `otlp_` in front, so it can never collide.
pub const RESERVED_PREFIXES: [&str; 7] = [
    "llm_",
    "llmwatch_",
    "app_",
    "integration_",
    "web_vitals_",
    "chat_",
    "target_info",
];

/// `exporters.prometheus.app_metrics`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AppMetricsConfig {
    /// Expose metrics that arrive through a metrics pipeline.
    #[serde(default = "AppMetricsConfig::yes")]
    pub enabled: bool,
    /// Resource attributes copied onto every series as labels (besides `job` and
    /// `instance`), e.g. `[deployment.environment.name]`.
    #[serde(default)]
    pub resource_to_labels: Vec<String>,
    /// Most series across all app metrics; new series past it are dropped and counted in
    /// `llmwatch_metric_overflow_total{family="otlp_metrics"}`.
    #[serde(default = "AppMetricsConfig::default_series_limit")]
    pub series_limit: usize,
    /// A series not updated for this long leaves `/metrics` (the app stopped reporting it).
    #[serde(
        default = "AppMetricsConfig::default_ttl",
        deserialize_with = "crate::config::units::deserialize_duration"
    )]
    pub series_ttl: Duration,
}

impl Default for AppMetricsConfig {
    fn default() -> AppMetricsConfig {
        AppMetricsConfig {
            enabled: true,
            resource_to_labels: Vec::new(),
            series_limit: AppMetricsConfig::default_series_limit(),
            series_ttl: AppMetricsConfig::default_ttl(),
        }
    }
}

impl AppMetricsConfig {
    fn yes() -> bool {
        true
    }
    fn default_series_limit() -> usize {
        10_000
    }
    fn default_ttl() -> Duration {
        Duration::from_secs(300)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
    Summary,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
            Kind::Summary => "summary",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Point {
    Value(f64),
    Histogram {
        /// Upper bounds, ascending, without +Inf.
        bounds: Vec<f64>,
        /// Per-bucket counts, one more than `bounds` (the last is +Inf).
        counts: Vec<u64>,
        sum: f64,
        count: u64,
    },
    Summary {
        quantiles: Vec<(f64, f64)>,
        sum: f64,
        count: u64,
    },
}

struct Series {
    point: Point,
    touched: Instant,
}

struct FamilyState {
    kind: Kind,
    help: String,
    series: HashMap<Vec<(String, String)>, Series>,
}

#[derive(Default)]
struct Store {
    families: BTreeMap<String, FamilyState>,
    targets: HashMap<Vec<(String, String)>, Instant>,
    series: usize,
}

/// The store of apps' metrics that `/metrics` renders.
pub struct AppMetrics {
    config: AppMetricsConfig,
    overflow: OverflowCounter,
    store: Mutex<Store>,
}

/// A Prometheus metric or label name from an OTel one: characters outside
/// `[a-zA-Z0-9_:]` become `_`, runs of `_` collapse, and a leading digit gets a `_`.
pub fn sanitize(name: &str, colons: bool) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    for c in name.chars() {
        let ok = c.is_ascii_alphanumeric() || c == '_' || (colons && c == ':');
        let c = if ok { c } else { '_' };
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    if out.is_empty() {
        out.push('_');
    }
    out
}

fn unit_word(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "min" => "minutes",
        "h" => "hours",
        "d" => "days",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "%" => "percent",
        _ => return None,
    })
}

fn per_unit_word(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        _ => return None,
    })
}

/// The Prometheus name of an OTel metric: sanitised, with the unit's suffix (`_seconds`,
/// `_bytes`, `_per_second`, `_ratio` for gauges of unit `1`), `_total` for counters, and
/// `otlp_` in front of names that would fall among llmwatch's own families.
pub fn prometheus_name(name: &str, unit: &str, kind_is_counter: bool, is_gauge: bool) -> String {
    let mut out = sanitize(name, true);
    // Annotations in braces ({token}, {request}) are not units.
    let unit: String = {
        let mut u = String::new();
        let mut depth = 0;
        for c in unit.chars() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ if depth == 0 => u.push(c),
                _ => {}
            }
        }
        u.trim().to_owned()
    };
    let suffix = if unit == "1" {
        is_gauge.then(|| "ratio".to_owned())
    } else if let Some((a, b)) = unit.split_once('/') {
        let a = unit_word(a).map_or_else(|| sanitize(a, false), str::to_owned);
        let b = per_unit_word(b).map_or_else(|| sanitize(b, false), str::to_owned);
        Some(format!("{a}_per_{b}"))
    } else if unit.is_empty() {
        None
    } else {
        Some(unit_word(&unit).map_or_else(|| sanitize(&unit, false), str::to_owned))
    };
    if let Some(s) = suffix.filter(|s| !s.trim_matches('_').is_empty())
        && !out.ends_with(&format!("_{s}"))
    {
        out.push('_');
        out.push_str(s.trim_matches('_'));
    }
    if kind_is_counter && !out.ends_with("_total") {
        out.push_str("_total");
    }
    if RESERVED_PREFIXES.iter().any(|p| out.starts_with(p)) {
        out.insert_str(0, "otlp_");
    }
    out
}

fn value_text(v: &AnyValue) -> String {
    match v.value.as_ref() {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        Some(Value::BytesValue(b)) => b.iter().map(|x| format!("{x:02x}")).collect(),
        Some(Value::ArrayValue(a)) => {
            let items: Vec<serde_json::Value> = a
                .values
                .iter()
                .map(|v| serde_json::Value::String(value_text(v)))
                .collect();
            serde_json::Value::Array(items).to_string()
        }
        Some(Value::KvlistValue(kv)) => {
            let map: serde_json::Map<String, serde_json::Value> = kv
                .values
                .iter()
                .map(|kv| {
                    let v = kv.value.as_ref().map(value_text).unwrap_or_default();
                    (kv.key.clone(), serde_json::Value::String(v))
                })
                .collect();
            serde_json::Value::Object(map).to_string()
        }
        // Dictionary references (profiles only) and absent values.
        _ => String::new(),
    }
}

fn label_name(key: &str) -> String {
    let name = sanitize(key, false);
    if name.starts_with("__") {
        format!("key{name}")
    } else {
        name
    }
}

/// The classic buckets of an exponential histogram data point: the upper bound of
/// positive bucket `i` is base^(offset + i + 1); the zero bucket ends at the zero
/// threshold; negative buckets end at -base^(offset + i).
fn exponential_to_classic(p: &ExponentialHistogramDataPoint) -> (Vec<f64>, Vec<u64>) {
    let base = 2f64.powf(2f64.powi(-p.scale));
    let mut pairs: Vec<(f64, u64)> = Vec::new();
    if let Some(neg) = &p.negative {
        for (i, c) in neg.bucket_counts.iter().enumerate().rev() {
            let index = f64::from(neg.offset) + i as f64;
            pairs.push((-base.powf(index), *c));
        }
    }
    pairs.push((p.zero_threshold.max(0.0), p.zero_count));
    if let Some(pos) = &p.positive {
        for (i, c) in pos.bucket_counts.iter().enumerate() {
            let index = f64::from(pos.offset) + i as f64 + 1.0;
            pairs.push((base.powf(index), *c));
        }
    }
    let bounds: Vec<f64> = pairs.iter().map(|(b, _)| *b).collect();
    let mut counts: Vec<u64> = pairs.iter().map(|(_, c)| *c).collect();
    counts.push(0);
    (bounds, counts)
}

fn escape_label(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{v}")
    }
}

fn labels_text(labels: &[(String, String)], extra: Option<(&str, &str)>) -> String {
    let mut out = String::new();
    let mut first = true;
    for (k, v) in labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(extra)
    {
        out.push(if first { '{' } else { ',' });
        first = false;
        out.push_str(k);
        out.push_str("=\"");
        escape_label(v, &mut out);
        out.push('"');
    }
    if !first {
        out.push('}');
    }
    out
}

impl AppMetrics {
    /// An empty store.
    pub fn new(config: AppMetricsConfig, overflow: OverflowCounter) -> AppMetrics {
        AppMetrics {
            config,
            overflow,
            store: Mutex::new(Store::default()),
        }
    }

    /// Takes in one export request.
    pub fn ingest(&self, req: &ExportMetricsServiceRequest) {
        let now = Instant::now();
        let mut store = self.store.lock().unwrap_or_else(PoisonError::into_inner);
        for rm in &req.resource_metrics {
            let resource: &[KeyValue] = rm.resource.as_ref().map_or(&[], |r| &r.attributes);
            let get = |k: &str| {
                resource
                    .iter()
                    .find(|kv| kv.key == k)
                    .and_then(|kv| kv.value.as_ref())
                    .map(value_text)
            };
            let mut base: Vec<(String, String)> = Vec::new();
            let job = match (get("service.namespace"), get("service.name")) {
                (Some(ns), Some(n)) => Some(format!("{ns}/{n}")),
                (None, Some(n)) => Some(n),
                _ => None,
            };
            if let Some(job) = &job {
                base.push(("job".to_owned(), job.clone()));
            }
            if let Some(instance) = get("service.instance.id") {
                base.push(("instance".to_owned(), instance));
            }
            for key in &self.config.resource_to_labels {
                if let Some(v) = get(key) {
                    base.push((label_name(key), v));
                }
            }
            // target_info: the resource's other attributes, once per job and instance.
            let mut target = base.clone();
            for kv in resource {
                if matches!(
                    kv.key.as_str(),
                    "service.name" | "service.namespace" | "service.instance.id"
                ) {
                    continue;
                }
                let name = label_name(&kv.key);
                if target.iter().any(|(k, _)| *k == name) {
                    continue;
                }
                let v = kv.value.as_ref().map(value_text).unwrap_or_default();
                target.push((name, v));
            }
            target.sort();
            if !resource.is_empty() {
                if store.targets.contains_key(&target) || store.series < self.config.series_limit {
                    if store.targets.insert(target, now).is_none() {
                        store.series += 1;
                    }
                } else {
                    self.overflow.inc("otlp_metrics");
                }
            }
            for sm in &rm.scope_metrics {
                for m in &sm.metrics {
                    self.ingest_metric(&mut store, m, &base, now);
                }
            }
        }
    }

    fn ingest_metric(
        &self,
        store: &mut Store,
        m: &opentelemetry_proto::tonic::metrics::v1::Metric,
        base: &[(String, String)],
        now: Instant,
    ) {
        let delta = AggregationTemporality::Delta as i32;
        // (kind, delta, points as (attributes, point))
        let (kind, is_delta, points): (Kind, bool, Vec<(&[KeyValue], Point)>) = match &m.data {
            Some(Data::Gauge(g)) => (
                Kind::Gauge,
                false,
                g.data_points
                    .iter()
                    .map(|p| {
                        (
                            &p.attributes[..],
                            Point::Value(point_value(p.value.as_ref())),
                        )
                    })
                    .collect(),
            ),
            Some(Data::Sum(s)) => (
                if s.is_monotonic {
                    Kind::Counter
                } else {
                    Kind::Gauge
                },
                s.aggregation_temporality == delta,
                s.data_points
                    .iter()
                    .map(|p| {
                        (
                            &p.attributes[..],
                            Point::Value(point_value(p.value.as_ref())),
                        )
                    })
                    .collect(),
            ),
            Some(Data::Histogram(h)) => (
                Kind::Histogram,
                h.aggregation_temporality == delta,
                h.data_points
                    .iter()
                    .map(|p| {
                        let mut counts = p.bucket_counts.clone();
                        counts.resize(p.explicit_bounds.len() + 1, 0);
                        (
                            &p.attributes[..],
                            Point::Histogram {
                                bounds: p.explicit_bounds.clone(),
                                counts,
                                sum: p.sum.unwrap_or(0.0),
                                count: p.count,
                            },
                        )
                    })
                    .collect(),
            ),
            Some(Data::ExponentialHistogram(h)) => (
                Kind::Histogram,
                h.aggregation_temporality == delta,
                h.data_points
                    .iter()
                    .map(|p| {
                        let (bounds, counts) = exponential_to_classic(p);
                        (
                            &p.attributes[..],
                            Point::Histogram {
                                bounds,
                                counts,
                                sum: p.sum.unwrap_or(0.0),
                                count: p.count,
                            },
                        )
                    })
                    .collect(),
            ),
            Some(Data::Summary(s)) => (
                Kind::Summary,
                false,
                s.data_points
                    .iter()
                    .map(|p| {
                        (
                            &p.attributes[..],
                            Point::Summary {
                                quantiles: p
                                    .quantile_values
                                    .iter()
                                    .map(|q| (q.quantile, q.value))
                                    .collect(),
                                sum: p.sum,
                                count: p.count,
                            },
                        )
                    })
                    .collect(),
            ),
            None => return,
        };
        let name = prometheus_name(&m.name, &m.unit, kind == Kind::Counter, kind == Kind::Gauge);
        let family = store.families.entry(name).or_insert_with(|| FamilyState {
            kind,
            // promtool wants help text; without a description, the OTel name says most.
            help: if m.description.trim().is_empty() {
                format!("OTLP metric {}", m.name)
            } else {
                m.description.clone()
            },
            series: HashMap::new(),
        });
        if family.kind != kind {
            // One name, two types: the first one seen keeps the name.
            self.overflow.inc("otlp_type_conflict");
            return;
        }
        let mut added = 0;
        for (attrs, point) in points {
            let mut labels: Vec<(String, String)> = base.to_vec();
            for kv in attrs {
                let k = label_name(&kv.key);
                if labels.iter().any(|(l, _)| *l == k) {
                    continue;
                }
                labels.push((k, kv.value.as_ref().map(value_text).unwrap_or_default()));
            }
            labels.sort();
            match family.series.get_mut(&labels) {
                Some(series) => {
                    series.touched = now;
                    if is_delta {
                        accumulate(&mut series.point, point);
                    } else {
                        series.point = point;
                    }
                }
                None if store.series + added < self.config.series_limit => {
                    family.series.insert(
                        labels,
                        Series {
                            point,
                            touched: now,
                        },
                    );
                    added += 1;
                }
                None => self.overflow.inc("otlp_metrics"),
            }
        }
        store.series += added;
    }

    /// Appends the families in `format`; for OpenMetrics, before the registry's `# EOF`.
    pub fn render(&self, out: &mut String, format: Format) {
        let mut store = self.store.lock().unwrap_or_else(PoisonError::into_inner);
        let ttl = self.config.series_ttl;
        let mut removed = 0;
        store.families.retain(|_, f| {
            let before = f.series.len();
            f.series.retain(|_, s| s.touched.elapsed() < ttl);
            removed += before - f.series.len();
            !f.series.is_empty()
        });
        let before = store.targets.len();
        store.targets.retain(|_, t| t.elapsed() < ttl);
        removed += before - store.targets.len();
        store.series -= removed;

        let open_metrics = format == Format::OpenMetrics;
        let eof = open_metrics && out.ends_with("# EOF\n");
        if eof {
            out.truncate(out.len() - "# EOF\n".len());
        }
        if !store.targets.is_empty() {
            out.push_str("# HELP target_info Target metadata\n# TYPE target_info gauge\n");
            let mut targets: Vec<&Vec<(String, String)>> = store.targets.keys().collect();
            targets.sort();
            for t in targets {
                let _ = writeln!(out, "target_info{} 1", labels_text(t, None));
            }
        }
        for (name, f) in &store.families {
            // OpenMetrics names a counter family without its `_total`.
            let family = if open_metrics && f.kind == Kind::Counter {
                name.strip_suffix("_total").unwrap_or(name)
            } else {
                name
            };
            let help = f.help.replace('\\', "\\\\").replace('\n', "\\n");
            let _ = writeln!(out, "# HELP {family} {help}");
            let _ = writeln!(out, "# TYPE {family} {}", f.kind.name());
            let mut series: Vec<(&Vec<(String, String)>, &Series)> = f.series.iter().collect();
            series.sort_by(|a, b| a.0.cmp(b.0));
            for (labels, s) in series {
                match &s.point {
                    Point::Value(v) => {
                        let _ = writeln!(out, "{name}{} {}", labels_text(labels, None), number(*v));
                    }
                    Point::Histogram {
                        bounds,
                        counts,
                        sum,
                        count,
                    } => {
                        let mut cumulative = 0;
                        for (b, c) in bounds.iter().zip(counts) {
                            cumulative += c;
                            let le = number(*b);
                            let _ = writeln!(
                                out,
                                "{name}_bucket{} {cumulative}",
                                labels_text(labels, Some(("le", &le)))
                            );
                        }
                        let _ = writeln!(
                            out,
                            "{name}_bucket{} {count}",
                            labels_text(labels, Some(("le", "+Inf")))
                        );
                        let _ = writeln!(
                            out,
                            "{name}_sum{} {}",
                            labels_text(labels, None),
                            number(*sum)
                        );
                        let _ = writeln!(out, "{name}_count{} {count}", labels_text(labels, None));
                    }
                    Point::Summary {
                        quantiles,
                        sum,
                        count,
                    } => {
                        for (q, v) in quantiles {
                            let q = number(*q);
                            let _ = writeln!(
                                out,
                                "{name}{} {}",
                                labels_text(labels, Some(("quantile", &q))),
                                number(*v)
                            );
                        }
                        let _ = writeln!(
                            out,
                            "{name}_sum{} {}",
                            labels_text(labels, None),
                            number(*sum)
                        );
                        let _ = writeln!(out, "{name}_count{} {count}", labels_text(labels, None));
                    }
                }
            }
        }
        if eof {
            out.push_str("# EOF\n");
        }
    }

    /// Number of series held, `target_info` included.
    pub fn series(&self) -> usize {
        self.store
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .series
    }
}

fn point_value(v: Option<&Number>) -> f64 {
    match v {
        Some(Number::AsDouble(d)) => *d,
        Some(Number::AsInt(i)) => *i as f64,
        None => 0.0,
    }
}

/// Adds a delta point to the cumulative one. A histogram whose bounds changed starts over
/// from the delta: its old buckets cannot be mapped onto the new ones.
fn accumulate(total: &mut Point, delta: Point) {
    match (total, delta) {
        (Point::Value(t), Point::Value(d)) => *t += d,
        (
            Point::Histogram {
                bounds,
                counts,
                sum,
                count,
            },
            Point::Histogram {
                bounds: db,
                counts: dc,
                sum: ds,
                count: dn,
            },
        ) if *bounds == db => {
            for (c, d) in counts.iter_mut().zip(dc) {
                *c += d;
            }
            *sum += ds;
            *count += dn;
        }
        (total, delta) => *total = delta,
    }
}

impl std::fmt::Debug for AppMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppMetrics").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
