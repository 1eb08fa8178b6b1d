//! The in-memory model: a decoded OTLP export request plus what the receiver learnt about it.
//!
//! There is deliberately no second event model: the generated `opentelemetry-proto` types are
//! what every stage reads and rewrites in place.

pub mod attrs;
pub mod glob;
pub mod rpc;
pub mod text;
pub mod time;

use std::fmt;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;

/// The three OTLP signals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Signal {
    /// Spans.
    Traces,
    /// Log records.
    Logs,
    /// Metric data points.
    Metrics,
}

impl Signal {
    /// Every signal, in a fixed order.
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Logs, Signal::Metrics];

    /// The lowercase name used in config keys and metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Logs => "logs",
            Signal::Metrics => "metrics",
        }
    }

    /// What one item of this signal is called in OTLP partial-success messages.
    pub const fn item_name(self) -> &'static str {
        match self {
            Signal::Traces => "spans",
            Signal::Logs => "log records",
            Signal::Metrics => "data points",
        }
    }

    /// The OTLP/HTTP path, `/v1/{signal}`.
    pub const fn http_path(self) -> &'static str {
        match self {
            Signal::Traces => "/v1/traces",
            Signal::Logs => "/v1/logs",
            Signal::Metrics => "/v1/metrics",
        }
    }

    /// Parses a pipeline name such as `traces` or `traces/redacted`.
    pub fn from_pipeline_name(name: &str) -> Option<Signal> {
        let kind = name.split_once('/').map_or(name, |(kind, _)| kind);
        Signal::ALL.into_iter().find(|s| s.as_str() == kind)
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a batch arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// OTLP/gRPC.
    Grpc,
    /// OTLP/HTTP with a protobuf body.
    HttpProtobuf,
    /// OTLP/HTTP with a JSON body.
    HttpJson,
    /// OTLP/HTTP whose body format was not recognised (refusals only).
    Http,
}

impl Transport {
    /// The label value used in self-metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            Transport::Grpc => "grpc",
            Transport::HttpProtobuf => "http_protobuf",
            Transport::HttpJson => "http_json",
            Transport::Http => "http",
        }
    }
}

/// One decoded OTLP export request.
#[derive(Clone, Debug, PartialEq)]
pub enum Payload {
    /// `ExportTraceServiceRequest`.
    Traces(ExportTraceServiceRequest),
    /// `ExportLogsServiceRequest`.
    Logs(ExportLogsServiceRequest),
    /// `ExportMetricsServiceRequest`.
    Metrics(ExportMetricsServiceRequest),
}

impl Payload {
    /// The signal this payload carries.
    pub fn signal(&self) -> Signal {
        match self {
            Payload::Traces(_) => Signal::Traces,
            Payload::Logs(_) => Signal::Logs,
            Payload::Metrics(_) => Signal::Metrics,
        }
    }

    /// Counts the items: spans, log records, or metric data points.
    pub fn item_count(&self) -> u64 {
        match self {
            Payload::Traces(req) => req
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .map(|ss| ss.spans.len() as u64)
                .sum(),
            Payload::Logs(req) => req
                .resource_logs
                .iter()
                .flat_map(|rl| &rl.scope_logs)
                .map(|sl| sl.log_records.len() as u64)
                .sum(),
            Payload::Metrics(req) => req
                .resource_metrics
                .iter()
                .flat_map(|rm| &rm.scope_metrics)
                .flat_map(|sm| &sm.metrics)
                .map(|m| data_point_count(m.data.as_ref()))
                .sum(),
        }
    }
}

/// Counts the data points of one metric, whatever its type.
pub fn data_point_count(data: Option<&Data>) -> u64 {
    let n = match data {
        None => 0,
        Some(Data::Gauge(g)) => g.data_points.len(),
        Some(Data::Sum(s)) => s.data_points.len(),
        Some(Data::Histogram(h)) => h.data_points.len(),
        Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
        Some(Data::Summary(s)) => s.data_points.len(),
    };
    n as u64
}

/// A payload on its way through the pipeline, with what the receiver measured.
#[derive(Clone, Debug)]
pub struct Batch {
    /// The decoded request; stages rewrite it in place.
    pub payload: Payload,
    /// How it arrived.
    pub transport: Transport,
    /// Items in the payload when it was accepted.
    pub items: u64,
    /// Decompressed size of the request body, the unit the queue is bounded in.
    pub bytes: u64,
}

impl Batch {
    /// Wraps a payload that a receiver has just accepted.
    pub fn new(payload: Payload, transport: Transport, bytes: u64) -> Batch {
        let items = payload.item_count();
        Batch {
            payload,
            transport,
            items,
            bytes,
        }
    }

    /// The signal this batch carries.
    pub fn signal(&self) -> Signal {
        self.payload.signal()
    }
}

/// Low-cardinality reasons for refusing a request, used as a metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RefusalReason {
    /// Unsupported content type.
    UnsupportedContentType,
    /// Unsupported content encoding.
    UnsupportedEncoding,
    /// Body over the wire limit.
    BodyTooLarge,
    /// Body over the decompressed limit.
    DecompressedTooLarge,
    /// Corrupt compressed stream.
    InvalidCompression,
    /// Malformed protobuf or JSON.
    Malformed,
    /// A pipeline worker failed while decoding (a bug; never expected).
    Internal,
    /// The client stopped sending before the body was complete (stream reset, connection
    /// closed): nothing wrong with the data, just not all of it.
    IncompleteBody,
    /// Well-formed, but items had invalid contents (partial success).
    InvalidItems,
    /// No bearer token.
    MissingToken,
    /// A bearer token that matches none of the configured ones.
    InvalidToken,
    /// The queue is at its item or byte bound.
    QueueFull,
    /// An exporter that pushes back has a full send queue.
    ExporterQueueFull,
    /// llmwatch is shutting down.
    ShuttingDown,
    /// Request bodies being received are at the receive budget.
    ReceiveBudgetFull,
    /// A request body paused longer than the idle timeout, or took longer than the read
    /// timeout.
    BodyTimeout,
    /// An exporter with a persistent queue could not append the batch (disk full, I/O
    /// error), so it was not durably accepted.
    ExporterUnavailable,
    /// No pipeline is configured for the signal.
    SignalNotConfigured,
}

impl RefusalReason {
    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            RefusalReason::UnsupportedContentType => "unsupported_content_type",
            RefusalReason::UnsupportedEncoding => "unsupported_encoding",
            RefusalReason::BodyTooLarge => "body_too_large",
            RefusalReason::DecompressedTooLarge => "decompressed_too_large",
            RefusalReason::InvalidCompression => "invalid_compression",
            RefusalReason::Malformed => "malformed",
            RefusalReason::Internal => "internal",
            RefusalReason::IncompleteBody => "incomplete_body",
            RefusalReason::InvalidItems => "invalid_items",
            RefusalReason::MissingToken => "missing_token",
            RefusalReason::InvalidToken => "invalid_token",
            RefusalReason::QueueFull => "queue_full",
            RefusalReason::ExporterQueueFull => "exporter_queue_full",
            RefusalReason::ShuttingDown => "shutting_down",
            RefusalReason::ExporterUnavailable => "exporter_unavailable",
            RefusalReason::ReceiveBudgetFull => "receive_budget_full",
            RefusalReason::BodyTimeout => "body_timeout",
            RefusalReason::SignalNotConfigured => "signal_not_configured",
        }
    }
}

/// A refused request: why, what to tell the client, and when to retry.
#[derive(Debug)]
pub struct Refusal {
    /// The counted reason.
    pub reason: RefusalReason,
    /// The message for the client. Never contains payload data.
    pub message: String,
    /// For retryable refusals, how long the client should wait.
    pub retry_after: Option<Duration>,
}

/// What an accepted request gets back.
#[derive(Debug, Default)]
pub struct Accepted {
    /// Items removed as invalid (OTLP partial success).
    pub rejected_items: u64,
    /// The partial-success message; empty when nothing was rejected.
    pub message: String,
}
