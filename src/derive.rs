//! The derive stage: one reading of the wire. Each batch is walked once, after redaction,
//! and every item becomes typed facts: the LLM call it describes, who it belongs to, the
//! product events it carries, its service. The recorders (`genai`, `health`,
//! `chat_analytics`) read these facts and never each other, and never read a key table of
//! their own.
//!
//! Key knowledge lives in [`crate::semconv`]; this module applies it. It is synchronous,
//! does no I/O and keeps no state: facts that need state (a call described twice in one
//! trace) are resolved by the `genai` recorder, which writes its verdict and the call's
//! cost into the fact, so that recorders later in the pipeline read them in order.

pub mod agent;
pub mod app;
pub mod evaluation;
pub mod identity;
pub mod inherit;
pub mod llm;
pub mod recorder;
pub mod web;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::Event;

pub use self::app::{AppOp, OpKind};
pub use self::identity::Identity;
pub use self::llm::Call;
pub use self::recorder::{Recorder, Stage};
pub use self::web::WebVital;
use crate::model::{Batch, Payload};
use crate::semconv::events::{SERVICE_NAME, UNKNOWN_SERVICE, WEB_VITAL_EVENT, event_name};

/// What the `genai` recorder made of a call: written into the fact, read by the recorders
/// after it in the pipeline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Counted {
    /// The call's cost in USD (computed or reported; 0 when unpriced).
    pub cost_usd: f64,
    /// Every token of the call.
    pub tokens: u64,
    /// The call failed.
    pub failed: bool,
}

/// An LLM call, and what the `genai` recorder made of it.
#[derive(Clone, Debug, PartialEq)]
pub struct LlmCall {
    /// The call as the wire describes it.
    pub call: Call,
    /// Set by `genai` when it counted the call (`None` before it ran, when it merged the
    /// call into one counted before, or when no `genai` processor is in the pipeline).
    pub counted: Option<Counted>,
}

/// A span event, with the identity of its layers (event, span, resource).
#[derive(Debug)]
pub struct SpanEvent<'a> {
    /// The event.
    pub event: &'a Event,
    /// Who it belongs to.
    pub identity: Identity<'a>,
}

/// The facts of one span.
#[derive(Debug)]
pub struct SpanFacts<'a> {
    /// The span, for what only a recorder's config can classify (platform hosts,
    /// dimensions).
    pub span: &'a Span,
    /// Its resource's attributes.
    pub resource: &'a [KeyValue],
    /// `service.name`.
    pub service: &'a str,
    /// Who it belongs to.
    pub identity: Identity<'a>,
    /// The LLM call it describes, if any.
    pub call: Option<LlmCall>,
    /// The tool call or agent invocation it is, if any.
    pub agent: Option<agent::AgentOp>,
    /// The application operation it is.
    pub op: AppOp,
    /// Its events.
    pub events: Vec<SpanEvent<'a>>,
    /// Web vitals from its `browser.web_vital` events, and from itself when it is a
    /// web-vital span.
    pub vitals: Vec<WebVital>,
    /// It is a web-vital span (named after the vital, with its value), not an operation.
    pub vital_span: bool,
}

/// The facts of one log record.
#[derive(Debug)]
pub struct LogFacts<'a> {
    /// The record.
    pub record: &'a LogRecord,
    /// Its resource's attributes.
    pub resource: &'a [KeyValue],
    /// `service.name`.
    pub service: &'a str,
    /// The event it carries: `event_name`, else the `event.name` attribute.
    pub event: Option<&'a str>,
    /// Who it belongs to.
    pub identity: Identity<'a>,
    /// The LLM call it describes, if any.
    pub call: Option<LlmCall>,
    /// The web vital of a `browser.web_vital` event.
    pub vital: Option<WebVital>,
}

/// Everything derived from one batch.
#[derive(Debug, Default)]
pub struct Facts<'a> {
    /// Per span, in batch order.
    pub spans: Vec<SpanFacts<'a>>,
    /// Per log record, in batch order.
    pub logs: Vec<LogFacts<'a>>,
    /// A metrics batch, read as is.
    pub metrics: Option<&'a ExportMetricsServiceRequest>,
    /// Web vitals reported as metrics, with their service.
    pub metric_vitals: Vec<(&'a str, WebVital)>,
}

/// `service.name` of a resource, or `unknown_service` as the SDKs default it.
pub fn service_name(resource: &[KeyValue]) -> &str {
    resource
        .iter()
        .find(|kv| kv.key == SERVICE_NAME)
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) if !s.is_empty() => Some(s.as_str()),
            _ => None,
        })
        .unwrap_or(UNKNOWN_SERVICE)
}

/// What a resource says of all its items, read once per resource.
#[derive(Clone, Debug)]
pub struct ResourceFacts<'a> {
    /// Its attributes.
    pub attributes: &'a [KeyValue],
    /// `service.name`.
    pub service: &'a str,
    /// The identity its attributes carry, which its items' own complete.
    pub identity: Identity<'a>,
}

impl<'a> ResourceFacts<'a> {
    /// Reads `attributes` once.
    pub fn of(attributes: &'a [KeyValue]) -> ResourceFacts<'a> {
        ResourceFacts {
            attributes,
            service: service_name(attributes),
            identity: Identity::of(&[attributes]),
        }
    }
}

/// The facts of one span under `resource`.
pub fn span<'a>(span: &'a Span, under: &ResourceFacts<'a>) -> SpanFacts<'a> {
    let (resource, service) = (under.attributes, under.service);
    let identity = Identity::of(&[&span.attributes]).within(&under.identity);
    let call = llm::from_span_with(span, resource, service, &identity).map(|call| LlmCall {
        call,
        counted: None,
    });
    let op = app::from_span(
        span,
        resource,
        call.as_ref().map(|c| c.call.operation.as_str()),
    );
    let events: Vec<SpanEvent<'a>> = span
        .events
        .iter()
        .map(|event| SpanEvent {
            event,
            identity: Identity::of(&[&event.attributes]).within(&identity),
        })
        .collect();
    let mut vitals: Vec<WebVital> = events
        .iter()
        .filter(|e| e.event.name == WEB_VITAL_EVENT)
        .filter_map(|e| web::from_event(&e.event.attributes, None))
        .collect();
    let own = web::from_span(span);
    vitals.extend(own.clone().flatten());
    SpanFacts {
        span,
        resource,
        service,
        identity,
        call,
        agent: agent::from_span(span),
        op,
        events,
        vitals,
        vital_span: own.is_some(),
    }
}

/// The facts of one log record under `resource`.
pub fn log<'a>(record: &'a LogRecord, under: &ResourceFacts<'a>) -> LogFacts<'a> {
    let (resource, service) = (under.attributes, under.service);
    let identity = Identity::of(&[&record.attributes]).within(&under.identity);
    let event = event_name(record);
    let call = event
        .and_then(|name| llm::from_log_with(record, name, resource, service, &identity))
        .map(|call| LlmCall {
            call,
            counted: None,
        });
    let vital = (event == Some(WEB_VITAL_EVENT))
        .then(|| web::from_event(&record.attributes, record.body.as_ref()))
        .flatten();
    LogFacts {
        record,
        resource,
        service,
        event,
        identity,
        call,
        vital,
    }
}

/// Walks `batch` once and derives the facts of every item.
pub fn derive(batch: &Batch) -> Facts<'_> {
    let mut facts = Facts::default();
    match &batch.payload {
        Payload::Traces(req) => {
            for rs in &req.resource_spans {
                let resource = rs.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
                let resource = ResourceFacts::of(resource);
                facts.spans.extend(
                    rs.scope_spans
                        .iter()
                        .flat_map(|s| &s.spans)
                        .map(|s| span(s, &resource)),
                );
            }
        }
        Payload::Logs(req) => {
            for rl in &req.resource_logs {
                let resource = rl.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
                let resource = ResourceFacts::of(resource);
                facts.logs.extend(
                    rl.scope_logs
                        .iter()
                        .flat_map(|s| &s.log_records)
                        .map(|r| log(r, &resource)),
                );
            }
        }
        Payload::Metrics(req) => {
            facts.metrics = Some(req);
            facts.metric_vitals = web::from_metrics(req)
                .into_iter()
                .map(|(resource, v)| (service_name(resource), v))
                .collect();
        }
    }
    facts
}

#[cfg(test)]
mod tests;
