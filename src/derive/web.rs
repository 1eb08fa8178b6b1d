//! Browser web vitals, from every place browser telemetry puts them: `browser.web_vital`
//! span and log events (fields in the body or in `browser.web_vital.*` attributes), spans
//! named after the vital, and gauge or sum metrics.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as N;
use opentelemetry_proto::tonic::trace::v1::Span;

use crate::model::attrs::{get as attr, number, text};
use crate::semconv::web::{METRIC_PREFIXES, VITALS, WEB_VITAL_PREFIX};

/// One observation of a web vital.
#[derive(Clone, Debug, PartialEq)]
pub struct WebVital {
    /// `lcp`, `inp`, `fcp`, `ttfb` or `cls`.
    pub name: &'static str,
    /// Seconds; for CLS, which has no unit, the score.
    pub value: f64,
    /// `good`, `needs-improvement`, `poor` or `unknown`.
    pub rating: &'static str,
}

fn vital(name: &str) -> Option<&'static str> {
    VITALS
        .iter()
        .copied()
        .find(|v| v.eq_ignore_ascii_case(name))
}

/// A vital named `name` whose value was reported as `seconds` (for CLS, the score
/// divided by 1000, as the millisecond vitals are), if it is one and the value is sane.
fn observe(name: &str, seconds: f64, rating: Option<String>) -> Option<WebVital> {
    let name = vital(name)?;
    if seconds.is_nan() || seconds < 0.0 {
        return None;
    }
    let rating = match rating.as_deref() {
        Some("good") => "good",
        Some("needs-improvement") => "needs-improvement",
        Some("poor") => "poor",
        _ => "unknown",
    };
    let value = if name == "cls" {
        seconds * 1000.0
    } else {
        seconds
    };
    Some(WebVital {
        name,
        value,
        rating,
    })
}

/// A `browser.web_vital` event: fields in the body (the semconv event) or in
/// `browser.web_vital.*` attributes. LCP, INP, FCP and TTFB arrive in milliseconds, as
/// the web-vitals library reports them.
pub fn from_event(attrs: &[KeyValue], body: Option<&AnyValue>) -> Option<WebVital> {
    let fields: &[KeyValue] = match body.and_then(|b| b.value.as_ref()) {
        Some(Value::KvlistValue(kv)) => &kv.values,
        _ => &[],
    };
    let get = |field: &str| {
        attr(fields, field).or_else(|| attr(attrs, &format!("{WEB_VITAL_PREFIX}{field}")))
    };
    let name = get("name").and_then(text)?;
    let value = get("value").and_then(number)?;
    observe(&name, value / 1000.0, get("rating").and_then(text))
}

/// A web-vital span, as browser web-vitals instrumentations make them: named `lcp`,
/// `cls`, `inp`, `fcp` or `ttfb`, with `<name>.value` (ms; unitless for CLS) and
/// `<name>.rating`. `None` for any other span; `Some(None)` for a web-vital span whose
/// value is not a sane one.
pub fn from_span(span: &Span) -> Option<Option<WebVital>> {
    let name = vital(&span.name)?;
    let value = attr(&span.attributes, &format!("{name}.value")).and_then(number)?;
    let rating = attr(&span.attributes, &format!("{name}.rating")).and_then(text);
    Some(observe(name, value / 1000.0, rating))
}

/// Web vitals reported as gauge or sum metrics named `lcp`, `inp`, `fcp`, `ttfb` or `cls`
/// under a `browser.web_vital.`, `web_vitals.` or `webvitals.` prefix (or none), in ms or
/// s; each data point is one observation, rated by its `rating` attribute. With the
/// resource attributes of each.
pub fn from_metrics(req: &ExportMetricsServiceRequest) -> Vec<(&[KeyValue], WebVital)> {
    let mut out = Vec::new();
    for rm in &req.resource_metrics {
        let resource = rm.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
        for m in rm.scope_metrics.iter().flat_map(|s| &s.metrics) {
            let lower = m.name.to_ascii_lowercase();
            let short = METRIC_PREFIXES
                .iter()
                .find_map(|p| lower.strip_prefix(p))
                .unwrap_or(&lower);
            let Some(name) = vital(short) else {
                continue;
            };
            let to_seconds = match m.unit.as_str() {
                "s" => 1.0,
                "ms" | "" => 1e-3,
                _ if name == "cls" => 1e-3,
                _ => continue,
            };
            let points = match &m.data {
                Some(Data::Gauge(g)) => &g.data_points,
                Some(Data::Sum(s)) => &s.data_points,
                _ => continue,
            };
            for p in points {
                let v = match p.value {
                    Some(N::AsDouble(d)) => d,
                    Some(N::AsInt(i)) => i as f64,
                    None => continue,
                };
                let rating = attr(&p.attributes, "rating").and_then(text);
                out.extend(observe(name, v * to_seconds, rating).map(|w| (resource, w)));
            }
        }
    }
    out
}
