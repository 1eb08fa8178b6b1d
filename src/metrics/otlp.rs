//! Apps' own OTLP metrics on `/metrics`, translated as the OpenTelemetry specification's
//! Prometheus compatibility rules say: names with unit suffixes and `_total`, attributes
//! as labels, `job` and `instance` from the resource, and `target_info` for the rest of
//! the resource. Delta temporality is accumulated into cumulative.
//!
//! The store is bounded in series and in bytes: a family, its series and its HELP text are
//! created only when they fit both bounds, each series is charged what it renders to, and
//! names, label values, attributes, buckets and quantiles are capped before anything is
//! kept. Everything refused is counted in `llmwatch_metric_overflow_total{family}`.

mod labels;
mod names;
mod points;
mod render;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::Metric;
use serde::Deserialize;

use self::labels::Labels;
pub use self::labels::MAX_ATTRIBUTES;
use self::names::{MAX_METRIC_NAME_BYTES, MAX_UNIT_BYTES};
pub use self::names::{RESERVED_PREFIXES, prometheus_name, sanitize};
use self::points::{Kind, Point};
pub use self::points::{MAX_BUCKETS, MAX_QUANTILES};
use super::bounded::OverflowCounter;
use super::exposition::Format;
use crate::component::units::ByteSize;

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
    /// Most bytes the app families render to; new series past it are dropped and counted
    /// in `llmwatch_metric_overflow_total{family="otlp_metrics_bytes"}`.
    #[serde(default = "AppMetricsConfig::default_max_bytes")]
    pub max_bytes: ByteSize,
    /// A series not updated for this long leaves `/metrics` (the app stopped reporting it).
    #[serde(
        default = "AppMetricsConfig::default_ttl",
        deserialize_with = "crate::component::units::deserialize_duration"
    )]
    pub series_ttl: Duration,
}

impl Default for AppMetricsConfig {
    fn default() -> AppMetricsConfig {
        AppMetricsConfig {
            enabled: true,
            resource_to_labels: Vec::new(),
            series_limit: AppMetricsConfig::default_series_limit(),
            max_bytes: AppMetricsConfig::default_max_bytes(),
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
    fn default_max_bytes() -> ByteSize {
        ByteSize(16 << 20)
    }
    fn default_ttl() -> Duration {
        Duration::from_secs(300)
    }
}

/// What a `llmwatch_metric_overflow_total{family}` value counts.
mod refusal {
    /// A new series past `series_limit`.
    pub(super) const SERIES: &str = "otlp_metrics";
    /// A new or grown series past `max_bytes`.
    pub(super) const BYTES: &str = "otlp_metrics_bytes";
    /// One name, two types.
    pub(super) const TYPE_CONFLICT: &str = "otlp_type_conflict";
    /// A name or unit over its cap, or a point with too many attributes, buckets or
    /// quantiles.
    pub(super) const TOO_LARGE: &str = "otlp_too_large";
    /// An attribute dropped because an earlier one took its label name.
    pub(super) const LABEL_CONFLICT: &str = "otlp_label_conflict";
}

struct Series {
    point: Point,
    touched: Instant,
    /// Bytes charged against `max_bytes`.
    cost: usize,
}

struct FamilyState {
    kind: Kind,
    help: String,
    series: HashMap<Labels, Series>,
}

/// Fixed bytes charged per family (HELP and TYPE lines) and per exposition line.
const FAMILY_OVERHEAD: usize = 64;
const LINE_OVERHEAD: usize = 48;

#[derive(Default)]
struct Store {
    families: BTreeMap<String, FamilyState>,
    targets: HashMap<Labels, (Instant, usize)>,
    series: usize,
    bytes: usize,
}

impl Store {
    /// Drops series and targets not updated within `ttl`, and families left empty.
    fn expire(&mut self, ttl: Duration) {
        let (mut series, mut bytes) = (0, 0);
        self.families.retain(|name, f| {
            f.series.retain(|_, s| {
                let keep = s.touched.elapsed() < ttl;
                if !keep {
                    series += 1;
                    bytes += s.cost;
                }
                keep
            });
            let keep = !f.series.is_empty();
            if !keep {
                bytes += family_cost(name, &f.help);
            }
            keep
        });
        self.targets.retain(|_, (t, cost)| {
            let keep = t.elapsed() < ttl;
            if !keep {
                series += 1;
                bytes += *cost;
            }
            keep
        });
        self.series -= series;
        self.bytes -= bytes;
    }
}

fn family_cost(name: &str, help: &str) -> usize {
    2 * name.len() + help.len() + FAMILY_OVERHEAD
}

fn series_cost(name: &str, labels: &Labels, point: &Point) -> usize {
    (name.len() + labels::rendered_bytes(labels) + LINE_OVERHEAD) * point.lines()
}

/// The store of apps' metrics that `/metrics` renders.
pub struct AppMetrics {
    config: AppMetricsConfig,
    overflow: OverflowCounter,
    store: Mutex<Store>,
}

/// One point on its way into the store.
struct Update<'a> {
    name: &'a str,
    kind: Kind,
    is_delta: bool,
    metric: &'a Metric,
    now: Instant,
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

    fn refuse(&self, family: &str, n: usize) {
        for _ in 0..n {
            self.overflow.inc(family);
        }
    }

    /// Takes in one export request.
    pub fn ingest(&self, req: &ExportMetricsServiceRequest) {
        let now = Instant::now();
        let mut store = self.store.lock().unwrap_or_else(PoisonError::into_inner);
        for rm in &req.resource_metrics {
            let resource: &[KeyValue] = rm.resource.as_ref().map_or(&[], |r| &r.attributes);
            let base = self.base_labels(resource);
            if !resource.is_empty() {
                self.ingest_target(&mut store, &base, resource, now);
            }
            for sm in &rm.scope_metrics {
                for m in &sm.metrics {
                    self.ingest_metric(&mut store, m, &base, now);
                }
            }
        }
    }

    /// `job`, `instance` and the `resource_to_labels` of a resource.
    fn base_labels(&self, resource: &[KeyValue]) -> Labels {
        let get = |k: &str| {
            resource
                .iter()
                .find(|kv| kv.key == k)
                .and_then(|kv| kv.value.as_ref())
                .map(labels::value_text)
        };
        let mut base: Labels = Vec::new();
        let job = match (get("service.namespace"), get("service.name")) {
            (Some(ns), Some(n)) => {
                Some(crate::model::text::cap(&format!("{ns}/{n}"), 128).to_owned())
            }
            (None, Some(n)) => Some(n),
            _ => None,
        };
        if let Some(job) = job {
            base.push(("job".to_owned(), job));
        }
        if let Some(instance) = get("service.instance.id") {
            base.push(("instance".to_owned(), instance));
        }
        for key in &self.config.resource_to_labels {
            if let Some(v) = get(key) {
                base.push((names::label_name(key), v));
            }
        }
        base
    }

    /// `target_info`: the resource's other attributes, once per job and instance.
    fn ingest_target(&self, store: &mut Store, base: &Labels, resource: &[KeyValue], now: Instant) {
        // What `base` already carries.
        let skip = |k: &str| {
            matches!(
                k,
                "service.name" | "service.namespace" | "service.instance.id"
            ) || self.config.resource_to_labels.iter().any(|r| r == k)
        };
        let target = match labels::build(base, resource, skip) {
            Ok((target, conflicts)) => {
                self.refuse(refusal::LABEL_CONFLICT, conflicts);
                target
            }
            Err(_) => return self.refuse(refusal::TOO_LARGE, 1),
        };
        if let Some((touched, _)) = store.targets.get_mut(&target) {
            *touched = now;
            return;
        }
        let cost = series_cost("target_info", &target, &Point::Value(1.0));
        if store.series >= self.config.series_limit {
            self.refuse(refusal::SERIES, 1);
        } else if store.bytes + cost > self.config.max_bytes.as_usize() {
            self.refuse(refusal::BYTES, 1);
        } else {
            store.targets.insert(target, (now, cost));
            store.series += 1;
            store.bytes += cost;
        }
    }

    fn ingest_metric(&self, store: &mut Store, m: &Metric, base: &Labels, now: Instant) {
        let Some((kind, is_delta, points)) = points::of(m) else {
            return;
        };
        if m.name.len() > MAX_METRIC_NAME_BYTES || m.unit.len() > MAX_UNIT_BYTES {
            return self.refuse(refusal::TOO_LARGE, points.len());
        }
        let name = prometheus_name(&m.name, &m.unit, kind == Kind::Counter, kind == Kind::Gauge);
        if store.families.get(&name).is_some_and(|f| f.kind != kind) {
            // One name, two types: the first one seen keeps the name.
            return self.refuse(refusal::TYPE_CONFLICT, 1);
        }
        let update = Update {
            name: &name,
            kind,
            is_delta,
            metric: m,
            now,
        };
        for (attrs, point) in points {
            let Some(point) = point else {
                self.refuse(refusal::TOO_LARGE, 1);
                continue;
            };
            match labels::build(base, attrs, |_| false) {
                Ok((labels, conflicts)) => {
                    self.refuse(refusal::LABEL_CONFLICT, conflicts);
                    self.upsert(store, &update, labels, point);
                }
                Err(_) => self.refuse(refusal::TOO_LARGE, 1),
            }
        }
    }

    /// Updates a series, or creates it (and its family) when both bounds allow.
    fn upsert(&self, store: &mut Store, u: &Update<'_>, labels: Labels, point: Point) {
        let budget = self.config.max_bytes.as_usize();
        let existing = store
            .families
            .get_mut(u.name)
            .and_then(|f| f.series.get_mut(&labels));
        if let Some(series) = existing {
            let adds = u.is_delta && series.point.same_shape(&point);
            let cost = if adds {
                series.cost
            } else {
                series_cost(u.name, &labels, &point)
            };
            if store.bytes - series.cost + cost > budget {
                return self.refuse(refusal::BYTES, 1);
            }
            store.bytes = store.bytes - series.cost + cost;
            series.cost = cost;
            series.touched = u.now;
            if u.is_delta {
                points::accumulate(&mut series.point, point);
            } else {
                series.point = point;
            }
            return;
        }
        if store.series >= self.config.series_limit {
            return self.refuse(refusal::SERIES, 1);
        }
        let cost = series_cost(u.name, &labels, &point);
        let new_family = !store.families.contains_key(u.name);
        let help = new_family.then(|| labels::help(&u.metric.description, &u.metric.name));
        let family_bytes = help.as_deref().map_or(0, |h| family_cost(u.name, h));
        if store.bytes + cost + family_bytes > budget {
            return self.refuse(refusal::BYTES, 1);
        }
        let family = store
            .families
            .entry(u.name.to_owned())
            .or_insert_with(|| FamilyState {
                kind: u.kind,
                help: help.unwrap_or_default(),
                series: HashMap::new(),
            });
        family.series.insert(
            labels,
            Series {
                point,
                touched: u.now,
                cost,
            },
        );
        store.series += 1;
        store.bytes += cost + family_bytes;
    }

    /// Appends the families in `format`; for OpenMetrics, before the registry's `# EOF`.
    pub fn render(&self, out: &mut String, format: Format) {
        let mut store = self.store.lock().unwrap_or_else(PoisonError::into_inner);
        store.expire(self.config.series_ttl);
        store.render(out, format);
    }

    /// Number of series held, `target_info` included.
    pub fn series(&self) -> usize {
        self.store
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .series
    }

    /// Bytes charged against `max_bytes`.
    pub fn bytes(&self) -> usize {
        self.store
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .bytes
    }
}

impl std::fmt::Debug for AppMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppMetrics").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
