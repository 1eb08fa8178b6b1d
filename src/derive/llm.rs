//! Recognising one LLM call in a span or a GenAI log event, whatever convention described it.

mod names;
mod usage;

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;

use self::names::finish_reasons;
pub use self::names::{error_class, http_class, provider};
pub use self::usage::{RawUsage, Tokens};
use super::identity::Identity;
use crate::model::attrs;
pub use crate::model::time::unix_nanos;
use crate::semconv::events::{
    CALL_EVENTS, CHOICE_EVENT, COMPLETION_START_TIME, EXCEPTION_EVENT, EXCEPTION_MESSAGE,
    EXCEPTION_TYPE, FIRST_TOKEN_EVENTS,
};
use crate::semconv::genai::{self as keys, Field, INDEX, Key, USAGE_JSON_KEYS};
use crate::semconv::outcome;

/// One LLM call, as extracted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Call {
    /// `service.name` of the resource.
    pub service: String,
    /// Provider, normalised to `gen_ai.provider.name` values.
    pub provider: String,
    /// Operation, an OTel `gen_ai.operation.name` value.
    pub operation: String,
    /// The requested model.
    pub request_model: Option<String>,
    /// The answering model.
    pub response_model: Option<String>,
    /// Usage as reported.
    pub usage: RawUsage,
    /// Duration in seconds.
    pub duration: Option<f64>,
    /// Time to first token in seconds.
    pub ttft: Option<f64>,
    /// Streamed response.
    pub streaming: bool,
    /// Finish reasons, lowercased, in the OTel spelling where one exists.
    pub finish_reasons: Vec<String>,
    /// Low-cardinality error class, when the call failed.
    pub error: Option<String>,
    /// The provider's response id.
    pub response_id: Option<String>,
    /// End user.
    pub user: Option<String>,
    /// Session or conversation.
    pub session: Option<String>,
    /// Cost the app reported, USD.
    pub reported_cost: Option<f64>,
    /// Trace id, span id and parent span id (empty when unknown).
    pub trace_id: Vec<u8>,
    /// The span this call was found in, or the span a log event belongs to.
    pub span_id: Vec<u8>,
    /// The parent span.
    pub parent_span_id: Vec<u8>,
    /// When the call ended, Unix nanoseconds (0 when unknown).
    pub end_unix_nano: u64,
    /// Found in a log event rather than a span.
    pub from_event: bool,
}

impl Call {
    /// The model to price by and label with: the response model when present.
    pub fn model(&self) -> &str {
        self.response_model
            .as_deref()
            .or(self.request_model.as_deref())
            .unwrap_or("unknown")
    }
}

/// The best value per field while walking attributes.
#[derive(Default)]
struct Found<'a> {
    best: [Option<(u16, Key, &'a AnyValue)>; FIELDS],
}

/// Fields of [`Field`].
const FIELDS: usize = Field::ParamsJson as usize + 1;

fn slot(field: Field) -> usize {
    field as usize
}

impl<'a> Found<'a> {
    /// Takes the best key per field from `attrs`; with `fill_only`, only for fields
    /// nothing was found for yet (resource attributes, after the span's own).
    fn offer(&mut self, attrs: &'a [KeyValue], fill_only: bool) {
        for kv in attrs {
            let Some((key, rank)) = INDEX.get(kv.key.as_str()) else {
                continue;
            };
            let Some(value) = kv.value.as_ref() else {
                continue;
            };
            let s = &mut self.best[slot(key.field)];
            let better = match s {
                None => true,
                Some((r, _, _)) => !fill_only && *rank < *r,
            };
            if better {
                *s = Some((*rank, *key, value));
            }
        }
    }

    fn get(&self, field: Field) -> Option<(Key, &'a AnyValue)> {
        self.best[slot(field)].map(|(_, k, v)| (k, v))
    }

    fn string(&self, field: Field) -> Option<String> {
        self.get(field)
            .and_then(|(_, v)| string(v))
            .filter(|s| !s.is_empty())
    }

    fn number(&self, field: Field) -> Option<f64> {
        self.get(field)
            .and_then(|(k, v)| number(v).map(|n| n * k.scale))
    }
}

fn string(v: &AnyValue) -> Option<String> {
    attrs::text(v)
}

/// A count or a duration: a finite, non-negative number.
fn number(v: &AnyValue) -> Option<f64> {
    attrs::number(v).filter(|n| *n >= 0.0)
}

fn count(n: f64) -> u64 {
    // Token counts beyond 2^53 are not real; the cast saturates.
    n.round() as u64
}

fn truthy(v: &AnyValue) -> bool {
    match v.value.as_ref() {
        Some(Value::BoolValue(b)) => *b,
        Some(Value::StringValue(s)) => s.eq_ignore_ascii_case("true"),
        Some(Value::IntValue(i)) => *i != 0,
        _ => false,
    }
}

fn usage(found: &Found<'_>) -> RawUsage {
    let mut usage = RawUsage {
        input: found.number(Field::Input).map(count),
        input_excludes_cache: found
            .get(Field::Input)
            .is_some_and(|(k, _)| k.input_excludes_cache),
        uncached_input: found.number(Field::UncachedInput).map(count),
        output: found.number(Field::Output).map(count),
        cache_read: found.number(Field::CacheRead).map(count),
        cache_write: found.number(Field::CacheWrite).map(count),
        reasoning: found.number(Field::Reasoning).map(count),
    };
    // Langfuse's usage JSON fills what no attribute did.
    if let Some((_, v)) = found.get(Field::UsageJson)
        && let Some(Value::StringValue(s)) = v.value.as_ref()
        && let Ok(serde_json::Value::Object(map)) = serde_json::from_str(s)
    {
        let json = |field: Field| {
            USAGE_JSON_KEYS
                .iter()
                .filter(|k| k.field == field)
                .find_map(|k| map.get(k.name)?.as_f64())
                .filter(|n| n.is_finite() && *n >= 0.0)
                .map(count)
        };
        if usage.input.is_none() && usage.uncached_input.is_none() {
            usage.input = json(Field::Input);
            usage.input_excludes_cache = usage.input.is_some();
        }
        usage.output = usage.output.or_else(|| json(Field::Output));
        usage.cache_read = usage.cache_read.or_else(|| json(Field::CacheRead));
        usage.cache_write = usage.cache_write.or_else(|| json(Field::CacheWrite));
        usage.reasoning = usage.reasoning.or_else(|| json(Field::Reasoning));
    }
    usage
}

fn reported_cost(found: &Found<'_>) -> Option<f64> {
    if let Some((_, v)) = found.get(Field::CostJson)
        && let Some(Value::StringValue(s)) = v.value.as_ref()
        && let Ok(serde_json::Value::Object(map)) = serde_json::from_str(s)
        && let Some(total) = map.get("total").and_then(serde_json::Value::as_f64)
        && total.is_finite()
        && total >= 0.0
    {
        return Some(total);
    }
    found.number(Field::ReportedCost)
}

/// What a span name says about the call, for conventions without an operation attribute:
/// the Vercel AI SDK's provider-call spans (`ai.streamText.doStream`) are calls, its outer
/// spans (`ai.streamText`) wrap them and sum their usage.
fn operation_from_name(name: &str) -> Option<Option<&'static str>> {
    let rest = name.strip_prefix("ai.")?;
    Some(if rest.contains(".doEmbed") {
        Some("embeddings")
    } else if rest.contains(".doGenerate") || rest.contains(".doStream") {
        Some("chat")
    } else {
        None
    })
}

/// The operation of a span or event that is one call to a model, or `None` for anything
/// else: the whole decision of [`from_span`], without building the call.
fn call_operation(found: &Found<'_>, name: &str) -> Option<&'static str> {
    let marker = found
        .get(Field::Operation)
        .and_then(|(_, v)| match v.value.as_ref()? {
            Value::StringValue(s) if !s.is_empty() => Some(s.as_str()),
            _ => None,
        });
    let operation = match (marker, operation_from_name(name)) {
        (Some(m), _) => keys::operation(m)?,
        (None, Some(from_name)) => from_name?,
        (None, None) => {
            // No marker: a call if a model says so.
            let model = found.get(Field::RequestModel).is_some()
                || found.get(Field::ResponseModel).is_some();
            if !model {
                return None;
            }
            "chat"
        }
    };
    (keys::INFERENCE_OPERATIONS.contains(&operation) || operation == "rerank").then_some(operation)
}

/// Builds a call from a set of attributes, or `None` when they do not describe one call
/// to a model.
fn call_from(found: &Found<'_>, name: &str) -> Option<Call> {
    let operation = call_operation(found, name)?;
    let usage = usage(found);
    let streaming = found.get(Field::Streaming).is_some_and(|(_, v)| truthy(v))
        || name.contains("doStream")
        || name.starts_with("ai.stream");
    let error = found
        .string(Field::ErrorType)
        .map(|e| error_class(&e))
        .or_else(|| {
            found
                .number(Field::HttpStatus)
                .filter(|c| *c >= 400.0)
                .map(|c| http_class(c as u16).to_owned())
        });
    Some(Call {
        provider: found
            .string(Field::Provider)
            .map_or_else(|| "unknown".to_owned(), |p| provider(&p)),
        operation: operation.to_owned(),
        request_model: found.string(Field::RequestModel).or_else(|| {
            // OpenInference keeps the requested model only in the request parameters.
            let (_, v) = found.get(Field::ParamsJson)?;
            let Some(Value::StringValue(s)) = v.value.as_ref() else {
                return None;
            };
            let params: serde_json::Value = serde_json::from_str(s).ok()?;
            Some(params.get("model")?.as_str()?.to_owned())
        }),
        response_model: found.string(Field::ResponseModel),
        usage,
        ttft: found.number(Field::TimeToFirstToken),
        streaming,
        finish_reasons: found
            .get(Field::FinishReasons)
            .map(|(_, v)| finish_reasons(v))
            .unwrap_or_default(),
        error,
        response_id: found.string(Field::ResponseId),
        reported_cost: reported_cost(found),
        ..Call::default()
    })
}

/// The call a span describes, if any. `resource` supplies `service.name` and fallbacks
/// for every field.
pub fn from_span(span: &Span, resource: &[KeyValue], service: &str) -> Option<Call> {
    from_span_with(
        span,
        resource,
        service,
        &Identity::of(&[&span.attributes, resource]),
    )
}

/// [`from_span`], with the span's identity already read.
pub fn from_span_with(
    span: &Span,
    resource: &[KeyValue],
    service: &str,
    identity: &Identity<'_>,
) -> Option<Call> {
    let mut found = Found::default();
    found.offer(&span.attributes, false);
    found.offer(resource, true);
    let mut call = call_from(&found, &span.name)?;
    call.service = service.to_owned();
    call.user = identity.user.as_deref().map(str::to_owned);
    call.session = identity.thread().map(str::to_owned);
    if span.end_time_unix_nano > span.start_time_unix_nano && span.start_time_unix_nano > 0 {
        call.duration = Some((span.end_time_unix_nano - span.start_time_unix_nano) as f64 / 1e9);
    }
    call.end_unix_nano = span.end_time_unix_nano;
    if call.error.is_none()
        && span
            .status
            .as_ref()
            .is_some_and(|s| s.code == StatusCode::Error as i32)
    {
        call.error = Some(failure_class(span));
    }
    if call.ttft.is_none() {
        call.ttft = span_ttft(span);
    }
    // Only streamed responses have a first chunk.
    call.streaming |= call.ttft.is_some();
    call.trace_id.clone_from(&span.trace_id);
    call.span_id.clone_from(&span.span_id);
    call.parent_span_id.clone_from(&span.parent_span_id);
    Some(call)
}

/// The class of the first `exception` event of a span, if any.
pub fn exception_class(span: &Span) -> Option<String> {
    span.events
        .iter()
        .find(|e| e.name == EXCEPTION_EVENT)
        .and_then(|e| attrs::get(&e.attributes, EXCEPTION_TYPE))
        .and_then(string)
        .map(|t| error_class(&t))
}

/// The error class of a failed span without `error.type` or an HTTP status: its
/// exception's class, unless that names no failure (`AI_APICallError`), in which case
/// the exception's message (else the span status message) tells the class when it can.
pub fn failure_class(span: &Span) -> String {
    let exception = span.events.iter().find(|e| e.name == EXCEPTION_EVENT);
    let class = exception
        .and_then(|e| attrs::get(&e.attributes, EXCEPTION_TYPE))
        .and_then(string)
        .map(|t| error_class(&t));
    if let Some(c) = &class
        && !outcome::is_generic_error(c)
    {
        return c.clone();
    }
    let message = exception
        .and_then(|e| attrs::get(&e.attributes, EXCEPTION_MESSAGE))
        .and_then(string)
        .or_else(|| span.status.as_ref().map(|s| s.message.clone()));
    message
        .as_deref()
        .and_then(outcome::error_from_message)
        .map(str::to_owned)
        .or(class)
        .unwrap_or_else(|| "error".to_owned())
}

/// Time to first token from what a span records besides attributes: Langfuse's completion
/// start timestamp, else a first-chunk span event.
fn span_ttft(span: &Span) -> Option<f64> {
    let start = span.start_time_unix_nano;
    if let Some(first) = attrs::get(&span.attributes, COMPLETION_START_TIME)
        .and_then(string)
        .and_then(|t| unix_nanos(&t))
        && first >= start
        && start > 0
    {
        return Some((first - start) as f64 / 1e9);
    }
    // Streaming instrumentations mark the first chunk with a span event.
    span.events
        .iter()
        .find(|e| FIRST_TOKEN_EVENTS.contains(&e.name.as_str()))
        .filter(|e| e.time_unix_nano >= start)
        .map(|e| (e.time_unix_nano - start) as f64 / 1e9)
}

/// The call a GenAI log event describes, if any: the event name is in `event_name` or,
/// from older SDKs, in the `event.name` attribute.
pub fn from_log(record: &LogRecord, resource: &[KeyValue], service: &str) -> Option<Call> {
    let name = crate::semconv::events::event_name(record)?;
    let identity = Identity::of(&[&record.attributes, resource]);
    from_log_with(record, name, resource, service, &identity)
}

/// [`from_log`], with the record's event name and identity already read.
///
/// The per-message events of the older conventions describe messages of a call whose
/// span carries the usage. Inside a span they are not calls: the span is. Outside any
/// span (an app that exports logs but not traces), each `gen_ai.choice` event is one
/// call, with the provider from `gen_ai.system` and the finish reason from its body, and
/// without usage, which those events never carry.
pub fn from_log_with(
    record: &LogRecord,
    name: &str,
    resource: &[KeyValue],
    service: &str,
    identity: &Identity<'_>,
) -> Option<Call> {
    let in_span = !record.span_id.is_empty() && record.span_id.iter().any(|b| *b != 0);
    let is_call = CALL_EVENTS.contains(&name);
    if !is_call && (name != CHOICE_EVENT || in_span) {
        return None;
    }
    let mut found = Found::default();
    found.offer(&record.attributes, false);
    found.offer(resource, true);
    let mut call = if is_call {
        let mut call = call_from(&found, "")?;
        call.user = identity.user.as_deref().map(str::to_owned);
        call.session = identity.thread().map(str::to_owned);
        call
    } else {
        choice_call(&found, record)
    };
    call.service = service.to_owned();
    call.end_unix_nano = record.time_unix_nano.max(record.observed_time_unix_nano);
    call.trace_id.clone_from(&record.trace_id);
    call.span_id.clone_from(&record.span_id);
    call.from_event = true;
    Some(call)
}

/// A call from a legacy `gen_ai.choice` event outside any span.
fn choice_call(found: &Found<'_>, record: &LogRecord) -> Call {
    let mut call = Call {
        provider: found
            .string(Field::Provider)
            .map_or_else(|| "unknown".to_owned(), |p| provider(&p)),
        operation: "chat".to_owned(),
        request_model: found.string(Field::RequestModel),
        response_model: found.string(Field::ResponseModel),
        ..Call::default()
    };
    if let Some(Value::KvlistValue(body)) = record.body.as_ref().and_then(|b| b.value.as_ref())
        && let Some(reason) = attrs::get(&body.values, "finish_reason")
    {
        call.finish_reasons = finish_reasons(reason);
    }
    call
}
