//! OTLP/JSON decoding, with the check that opentelemetry-proto's serde leaves out.
//!
//! opentelemetry-proto flattens protobuf `oneof`s into serde enums. When a value inside one
//! fails to parse (an enum given by name, a malformed `asInt`), serde reports `None` instead
//! of an error and the data disappears. For metrics, where every field that matters sits in
//! a `oneof`, llmwatch therefore re-reads the raw document and refuses any metric, data point
//! or exemplar whose value went missing although the JSON had one.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::exemplar;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point;
use opentelemetry_proto::tonic::metrics::v1::{Exemplar, Metric};
use serde_json::Value;

use super::DecodeError;
use crate::model::{Payload, Signal};

/// The JSON keys of `Metric.data`, in the order of the `oneof`.
const DATA_KEYS: [&str; 5] = [
    "gauge",
    "sum",
    "histogram",
    "exponentialHistogram",
    "summary",
];

pub(super) fn decode(signal: Signal, body: &[u8]) -> Result<Payload, DecodeError> {
    // JSON text is UTF-8 (RFC 8259). serde_json skips unknown fields without checking
    // them, so validate the whole body up front.
    let text = std::str::from_utf8(body).map_err(|e| DecodeError::JsonDataLost {
        path: format!("byte {}", e.valid_up_to()),
        detail: "the body is not valid UTF-8".to_owned(),
    })?;
    Ok(match signal {
        Signal::Traces => Payload::Traces(serde_json::from_str(text).map_err(DecodeError::Json)?),
        Signal::Logs => Payload::Logs(serde_json::from_str(text).map_err(DecodeError::Json)?),
        Signal::Metrics => {
            let request: ExportMetricsServiceRequest =
                serde_json::from_str(text).map_err(DecodeError::Json)?;
            let raw: Value = serde_json::from_str(text).map_err(DecodeError::Json)?;
            check_metrics(&request, &raw)?;
            Payload::Metrics(request)
        }
    })
}

// Accessors over the raw document, tolerant of missing keys: a key that is absent decoded to
// its default, which loses nothing.
fn field<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    value
        .as_object()
        .and_then(|o| o.get(key))
        .filter(|v| !v.is_null())
}

fn item(value: Option<&Value>, index: usize) -> Option<&Value> {
    value.and_then(Value::as_array).and_then(|a| a.get(index))
}

fn check_metrics(request: &ExportMetricsServiceRequest, raw: &Value) -> Result<(), DecodeError> {
    let raw_rms = field(raw, "resourceMetrics");
    for (i, rm) in request.resource_metrics.iter().enumerate() {
        let raw_sms = item(raw_rms, i).and_then(|v| field(v, "scopeMetrics"));
        for (j, sm) in rm.scope_metrics.iter().enumerate() {
            let raw_ms = item(raw_sms, j).and_then(|v| field(v, "metrics"));
            for (k, metric) in sm.metrics.iter().enumerate() {
                let Some(raw_metric) = item(raw_ms, k) else {
                    continue;
                };
                let path = format!("resourceMetrics[{i}].scopeMetrics[{j}].metrics[{k}]");
                check_metric(metric, raw_metric, &path)?;
            }
        }
    }
    Ok(())
}

fn check_metric(metric: &Metric, raw: &Value, path: &str) -> Result<(), DecodeError> {
    let Some(data) = &metric.data else {
        if let Some(key) = DATA_KEYS.iter().find(|k| field(raw, k).is_some()) {
            return Err(lost(
                format!("{path}.{key}"),
                "the metric's data could not be decoded; check that enums such as \
                 aggregationTemporality are integers and that every value has the right type",
            ));
        }
        return Ok(());
    };
    let (key, points) = match data {
        Data::Gauge(_) => ("gauge", "dataPoints"),
        Data::Sum(_) => ("sum", "dataPoints"),
        Data::Histogram(_) => ("histogram", "dataPoints"),
        Data::ExponentialHistogram(_) => ("exponentialHistogram", "dataPoints"),
        Data::Summary(_) => ("summary", "dataPoints"),
    };
    let raw_points = field(raw, key).and_then(|v| field(v, points));
    let point_path = |p: usize| format!("{path}.{key}.dataPoints[{p}]");
    match data {
        Data::Gauge(g) => check_number_points(&g.data_points, raw_points, &point_path),
        Data::Sum(s) => check_number_points(&s.data_points, raw_points, &point_path),
        Data::Histogram(h) => {
            for (p, dp) in h.data_points.iter().enumerate() {
                check_exemplars(&dp.exemplars, item(raw_points, p), &point_path(p))?;
            }
            Ok(())
        }
        Data::ExponentialHistogram(h) => {
            for (p, dp) in h.data_points.iter().enumerate() {
                check_exemplars(&dp.exemplars, item(raw_points, p), &point_path(p))?;
            }
            Ok(())
        }
        Data::Summary(_) => Ok(()),
    }
}

fn check_number_points(
    points: &[opentelemetry_proto::tonic::metrics::v1::NumberDataPoint],
    raw_points: Option<&Value>,
    point_path: &dyn Fn(usize) -> String,
) -> Result<(), DecodeError> {
    for (p, dp) in points.iter().enumerate() {
        let raw = item(raw_points, p);
        let had_value = raw.is_some_and(has_number_value);
        let value_ok = matches!(
            dp.value,
            Some(number_data_point::Value::AsInt(_) | number_data_point::Value::AsDouble(_))
        );
        if had_value && !value_ok {
            return Err(lost(
                point_path(p),
                "the data point's value could not be decoded; asInt must be an integer \
                 (or a string of one) and asDouble a number",
            ));
        }
        check_exemplars(&dp.exemplars, raw, &point_path(p))?;
    }
    Ok(())
}

fn check_exemplars(
    exemplars: &[Exemplar],
    raw_point: Option<&Value>,
    path: &str,
) -> Result<(), DecodeError> {
    let raw_exemplars = raw_point.and_then(|v| field(v, "exemplars"));
    for (e, exemplar) in exemplars.iter().enumerate() {
        let had_value = item(raw_exemplars, e).is_some_and(has_number_value);
        let value_ok = matches!(
            exemplar.value,
            Some(exemplar::Value::AsInt(_) | exemplar::Value::AsDouble(_))
        );
        if had_value && !value_ok {
            return Err(lost(
                format!("{path}.exemplars[{e}]"),
                "the exemplar's value could not be decoded",
            ));
        }
    }
    Ok(())
}

fn has_number_value(raw: &Value) -> bool {
    field(raw, "asInt").is_some() || field(raw, "asDouble").is_some()
}

fn lost(path: String, detail: &str) -> DecodeError {
    DecodeError::JsonDataLost {
        path,
        detail: detail.to_owned(),
    }
}
