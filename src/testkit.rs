//! Builders of OTLP batches and readers of `/metrics` text, shared by the unit tests of the
//! processors.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prometheus_client::registry::Registry;

use crate::metrics::exposition::{Format, render};
use crate::model::{Batch, Payload, Transport};

/// A string value.
pub(crate) fn s(v: &str) -> Value {
    Value::StringValue(v.to_owned())
}

/// An int value.
pub(crate) fn i(v: i64) -> Value {
    Value::IntValue(v)
}

pub(crate) use crate::model::attrs::kv;

/// An attribute value written as data, for tables of test cases.
#[derive(Clone, Copy, Debug)]
pub(crate) enum V {
    /// A string.
    S(&'static str),
    /// An int.
    I(i64),
    /// A bool.
    B(bool),
    /// A double.
    D(f64),
}

impl V {
    /// The OTLP value.
    pub(crate) fn value(self) -> Value {
        match self {
            V::S(v) => s(v),
            V::I(v) => i(v),
            V::B(v) => Value::BoolValue(v),
            V::D(v) => Value::DoubleValue(v),
        }
    }
}

/// The attributes of a table of (key, value).
pub(crate) fn attrs(table: &[(&str, V)]) -> Vec<KeyValue> {
    table.iter().map(|(k, v)| kv(k, v.value())).collect()
}

/// A traces batch of `spans` under one resource.
pub(crate) fn traces(resource: Vec<KeyValue>, spans: Vec<Span>) -> Batch {
    Batch::new(
        Payload::Traces(ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: resource,
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }),
        Transport::Grpc,
        0,
    )
}

/// A logs batch of `records` under one resource.
pub(crate) fn logs(resource: Vec<KeyValue>, records: Vec<LogRecord>) -> Batch {
    Batch::new(
        Payload::Logs(ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: resource,
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    log_records: records,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }),
        Transport::Grpc,
        0,
    )
}

/// The registry in Prometheus text.
pub(crate) fn scrape(registry: &Registry) -> String {
    render(registry, Format::PrometheusText).unwrap_or_default()
}

/// The value of the sample whose series (name and labels) is exactly `series`.
pub(crate) fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}
