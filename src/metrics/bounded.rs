//! Metric families with typed, bounded label sets: series limits with an `other` fold,
//! idle expiry, and exemplars in OpenMetrics. Every derived family (`llm_*`, `app_*`,
//! `integration_*`, `web_vitals_*`) is one of these.
//!
//! prometheus-client's `Family` grows without bound and cannot expire series, so these
//! families keep their own series maps and encode through the registry as collectors.

use std::borrow::Cow;
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, PoisonError};

use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::exemplar::HistogramWithExemplars;
use prometheus_client::metrics::family::Family as PromFamily;
use prometheus_client::registry::Unit;

mod family;

pub use family::Family;

/// The label value that stands for every value past a limit.
pub const OTHER: &str = "other";

/// Longest label value kept, in bytes; longer values are cut at a character boundary.
const MAX_LABEL_BYTES: usize = 128;

/// `llmwatch_metric_overflow_total{family}`: values folded into `other`.
#[derive(Clone, Debug, Default)]
pub struct OverflowCounter(pub PromFamily<OverflowLabels, Counter>);

/// The labels of [`OverflowCounter`].
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OverflowLabels {
    family: String,
}

impl OverflowLabels {
    /// The labels of `family`.
    pub fn for_family(family: &str) -> OverflowLabels {
        OverflowLabels {
            family: family.to_owned(),
        }
    }
}

impl OverflowCounter {
    /// Counts one value folded into `other` in `family`.
    pub fn inc(&self, family: &str) {
        self.0
            .get_or_create(&OverflowLabels::for_family(family))
            .inc();
    }
}

/// The exemplar label set: the trace of one observation.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TraceExemplar {
    trace_id: String,
}

impl TraceExemplar {
    /// The exemplar of a trace id, or `None` for an empty one.
    pub fn new(trace_id: &[u8]) -> Option<TraceExemplar> {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        if trace_id.is_empty() || trace_id.iter().all(|b| *b == 0) {
            return None;
        }
        let mut hex = String::with_capacity(trace_id.len() * 2);
        for b in trace_id {
            hex.push(char::from(HEX[usize::from(b >> 4)]));
            hex.push(char::from(HEX[usize::from(b & 15)]));
        }
        Some(TraceExemplar { trace_id: hex })
    }
}

/// A float counter.
pub type FloatCounter = Counter<f64, AtomicU64>;

/// A histogram with trace exemplars.
pub type Histogram = HistogramWithExemplars<TraceExemplar>;

/// What makes a value fit for a label: printable, and at most [`MAX_LABEL_BYTES`].
pub fn label_value(v: &str) -> Cow<'_, str> {
    // Control characters are ASCII below 0x20, DEL, or U+0080..U+009F (0xC2 0x80..0x9F):
    // a byte scan finds every candidate without decoding.
    let suspect = |b: u8| b < 0x20 || b == 0x7f || b == 0xc2;
    if v.len() <= MAX_LABEL_BYTES && !v.bytes().any(suspect) {
        return Cow::Borrowed(v);
    }
    let mut end = v.len().min(MAX_LABEL_BYTES);
    while !v.is_char_boundary(end) {
        end -= 1;
    }
    let cut = &v[..end];
    if !cut.chars().any(char::is_control) {
        return Cow::Borrowed(cut);
    }
    Cow::Owned(
        cut.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect(),
    )
}

/// Most labels a family has: five of its own and eight dimensions.
pub const MAX_LABELS: usize = 13;

/// `llmwatch_latency_threshold_seconds{component,level}`: the latency thresholds that
/// processors are configured with, as gauges for dashboards and alert rules. Shared, so
/// that every processor adds to one family.
#[derive(Clone, Debug, Default)]
pub struct Thresholds(std::sync::Arc<Mutex<std::collections::BTreeMap<(String, String), f64>>>);

impl Thresholds {
    /// Sets the threshold of `component` at `level`.
    pub fn set(&self, component: &str, level: &str, seconds: f64) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((component.to_owned(), level.to_owned()), seconds);
    }
}

impl prometheus_client::collector::Collector for Thresholds {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let all = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if all.is_empty() {
            return Ok(());
        }
        let mut m = encoder.encode_descriptor(
            "llmwatch_latency_threshold",
            "Configured latency thresholds per component and level, for dashboards and alert rules.",
            Some(&Unit::Seconds),
            MetricType::Gauge,
        )?;
        for ((component, level), seconds) in all.iter() {
            m.encode_family(&[("component", component.as_str()), ("level", level.as_str())])?
                .encode_gauge(seconds)?;
        }
        Ok(())
    }
}

/// Where a processor's families live once the first processor of its type is built:
/// registered as a collector at startup, and empty until then.
pub struct Slot<T>(pub std::sync::Arc<std::sync::OnceLock<std::sync::Arc<T>>>);

impl<T> Default for Slot<T> {
    fn default() -> Slot<T> {
        Slot(Default::default())
    }
}

impl<T> Clone for Slot<T> {
    fn clone(&self) -> Slot<T> {
        Slot(std::sync::Arc::clone(&self.0))
    }
}

impl<T> std::fmt::Debug for Slot<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("built", &self.0.get().is_some())
            .finish()
    }
}

impl<T: prometheus_client::collector::Collector> prometheus_client::collector::Collector
    for Slot<T>
{
    fn encode(&self, encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        match self.0.get() {
            Some(m) => m.encode(encoder),
            None => Ok(()),
        }
    }
}

/// An extra label taken from an attribute, with a limit on its distinct values.
#[derive(Clone, Debug, serde::Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DimensionConfig {
    /// The attribute, looked up on the item, then on what encloses it.
    pub attribute: String,
    /// The Prometheus label name; the attribute with `.` as `_` by default.
    #[serde(default)]
    pub label: Option<String>,
    /// Distinct values kept; later values become `other`.
    #[serde(default = "DimensionConfig::default_max_values")]
    pub max_values: usize,
}

impl DimensionConfig {
    fn default_max_values() -> usize {
        50
    }

    /// The label name.
    pub fn label(&self) -> String {
        self.label.clone().unwrap_or_else(|| {
            self.attribute
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect()
        })
    }

    /// Problems as (key under the dimension, message); `reserved` are the labels the
    /// family already has.
    pub fn problems(&self, reserved: &[&str]) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let label = self.label();
        let valid = label.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !label.starts_with("__");
        if !valid {
            out.push((
                "label",
                format!("{label:?} is not a valid Prometheus label name"),
            ));
        } else if reserved.contains(&label.as_str()) {
            out.push(("label", format!("label {label:?} is already used")));
        }
        if self.max_values == 0 {
            out.push(("max_values", "must be at least 1".to_owned()));
        }
        out
    }

    /// The value limit of this dimension, counting overflow under its label.
    pub fn limit(&self) -> ValueLimit {
        ValueLimit::new(self.label(), self.max_values)
    }
}

/// A label that keeps its first `max` distinct values; later values become `other`, and
/// each is counted in `llmwatch_metric_overflow_total{family}`.
#[derive(Debug)]
pub struct ValueLimit {
    family: String,
    max: usize,
    seen: Mutex<std::collections::HashSet<String>>,
}

impl ValueLimit {
    /// A limit of `max` values, whose overflow counts under `family`.
    pub fn new(family: impl Into<String>, max: usize) -> ValueLimit {
        ValueLimit {
            family: family.into(),
            max,
            seen: Mutex::default(),
        }
    }

    /// `value` when it is one of the kept values (or an empty, absent one), `other`
    /// otherwise.
    pub fn admit(&self, value: String, overflow: &OverflowCounter) -> String {
        if value.is_empty() {
            return value;
        }
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.contains(&value) {
            value
        } else if seen.len() < self.max {
            seen.insert(value.clone());
            value
        } else {
            drop(seen);
            overflow.inc(&self.family);
            OTHER.to_owned()
        }
    }
}
