//! Recognising one LLM call in a span or a GenAI log event, whatever convention described it.

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;

use super::keys::{self, Field, INDEX, Key, USAGE_JSON_KEYS};

/// Token counts of one call, as disjoint categories: their sum is every token billed.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tokens {
    /// Input neither read from nor written to a cache.
    pub input: u64,
    /// Input read from a cache.
    pub cache_read: u64,
    /// Input written to a cache.
    pub cache_write: u64,
    /// Output that is not reasoning.
    pub output: u64,
    /// Output spent on reasoning.
    pub reasoning: u64,
}

impl Tokens {
    /// Every token of the call.
    pub fn total(&self) -> u64 {
        self.input + self.cache_read + self.cache_write + self.output + self.reasoning
    }

    /// The categories with their `type` label values.
    pub fn by_type(&self) -> [(&'static str, u64); 5] {
        [
            ("input", self.input),
            ("cache_read", self.cache_read),
            ("cache_write", self.cache_write),
            ("output", self.output),
            ("reasoning", self.reasoning),
        ]
    }
}

/// Usage as a convention reports it, before it is made disjoint.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RawUsage {
    /// Input tokens, and whether cached tokens are included in them.
    pub input: Option<u64>,
    /// The convention counts input without cached tokens (Anthropic's API, Langfuse).
    pub input_excludes_cache: bool,
    /// Explicitly uncached input (Vercel AI SDK `noCacheTokens`).
    pub uncached_input: Option<u64>,
    /// Output tokens, reasoning included.
    pub output: Option<u64>,
    /// Cache reads.
    pub cache_read: Option<u64>,
    /// Cache writes.
    pub cache_write: Option<u64>,
    /// Reasoning tokens.
    pub reasoning: Option<u64>,
}

impl RawUsage {
    /// Whether any count was reported.
    pub fn is_empty(&self) -> bool {
        self.input.is_none()
            && self.output.is_none()
            && self.uncached_input.is_none()
            && self.cache_read.is_none()
            && self.cache_write.is_none()
            && self.reasoning.is_none()
    }

    /// The disjoint token categories.
    ///
    /// OTel, OpenAI, OpenInference and Traceloop count cached tokens inside input;
    /// Anthropic's API and Langfuse do not. A convention's declared semantics decide,
    /// and input smaller than its own cache counts proves the second whatever was
    /// declared: such input cannot include them. Reasoning is inside output everywhere.
    pub fn tokens(&self) -> Tokens {
        let cache_read = self.cache_read.unwrap_or(0);
        let cache_write = self.cache_write.unwrap_or(0);
        let cached = cache_read + cache_write;
        let input = match (self.uncached_input, self.input) {
            (Some(uncached), _) => uncached,
            (None, Some(input)) if self.input_excludes_cache || input < cached => input,
            (None, Some(input)) => input - cached,
            (None, None) => 0,
        };
        let output = self.output.unwrap_or(0);
        let reasoning = self.reasoning.unwrap_or(0);
        Tokens {
            input,
            cache_read,
            cache_write,
            // Output includes reasoning in every convention, but some emitters pass on
            // Gemini's output count, which excludes thinking: reasoning above output
            // proves that, and then output is all non-reasoning.
            output: if reasoning > output {
                output
            } else {
                output - reasoning
            },
            reasoning,
        }
    }
}

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
    /// Finish reasons, lowercased.
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
    best: [Option<(u16, Key, &'a AnyValue)>; 22],
}

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
    match v.value.as_ref()? {
        Value::StringValue(s) => Some(s.clone()),
        Value::IntValue(i) => Some(i.to_string()),
        Value::BoolValue(b) => Some(b.to_string()),
        _ => None,
    }
}

fn number(v: &AnyValue) -> Option<f64> {
    let n = match v.value.as_ref()? {
        Value::IntValue(i) => *i as f64,
        Value::DoubleValue(d) => *d,
        Value::StringValue(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    (n.is_finite() && n >= 0.0).then_some(n)
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

/// Normalises a provider name to the `gen_ai.provider.name` spelling.
pub fn provider(raw: &str) -> String {
    // The Vercel AI SDK's `openai.chat` / `anthropic.messages` form.
    let raw = raw.trim().to_ascii_lowercase();
    let base = match raw.split_once('.') {
        Some((head, "chat" | "responses" | "completion" | "messages" | "embedding")) => head,
        _ => raw.as_str(),
    };
    match base {
        "az.ai.openai" | "azure" | "azure-openai" | "azure_openai" => "azure.ai.openai",
        "az.ai.inference" | "azure_ai" => "azure.ai.inference",
        "vertex_ai" | "vertexai" | "google.vertex" | "vertex" => "gcp.vertex_ai",
        "gemini" | "google.generative-ai" | "google" | "google_genai" => "gcp.gemini",
        "xai" => "x_ai",
        "mistralai" | "mistral" => "mistral_ai",
        "aws" | "bedrock" | "amazon-bedrock" | "aws_bedrock" => "aws.bedrock",
        "ibm.watson.ai" | "watsonx" => "ibm.watsonx.ai",
        "togetherai" | "together" => "together_ai",
        other => return other.to_owned(),
    }
    .to_owned()
}

/// Normalises an error to a low-cardinality class: a Python repr like
/// `<class 'openai.RateLimitError'>` becomes `RateLimitError`, a dotted or pathed class
/// name keeps its last segment, and HTTP status codes become classes (`429` is
/// `rate_limited`).
pub fn error_class(raw: &str) -> String {
    let raw = raw.trim();
    if let Ok(code) = raw.parse::<u16>() {
        return http_class(code).to_owned();
    }
    let inner = raw
        .strip_prefix("<class '")
        .and_then(|r| r.strip_suffix("'>"))
        .unwrap_or(raw);
    let last = inner
        .rsplit(['.', ':', '/', '\\'])
        .find(|s| !s.is_empty())
        .unwrap_or(inner);
    let class: String = last
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(64)
        .collect();
    if class.is_empty() {
        "other".to_owned()
    } else {
        class
    }
}

/// The error class of an HTTP status code.
pub fn http_class(code: u16) -> &'static str {
    match code {
        400 | 422 => "invalid_request",
        401 => "authentication",
        403 => "permission",
        404 => "not_found",
        408 | 504 => "timeout",
        413 => "request_too_large",
        429 => "rate_limited",
        500..=599 => "server_error",
        _ => "http_error",
    }
}

fn finish_reasons(v: &AnyValue) -> Vec<String> {
    match v.value.as_ref() {
        Some(Value::StringValue(s)) => {
            // Some emitters send the array as a JSON string.
            if let Ok(list) = serde_json::from_str::<Vec<String>>(s) {
                list
            } else {
                vec![s.clone()]
            }
        }
        Some(Value::ArrayValue(a)) => a.values.iter().filter_map(string).collect(),
        _ => Vec::new(),
    }
    .into_iter()
    .map(|r| r.trim().to_ascii_lowercase())
    .filter(|r| !r.is_empty())
    .collect()
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

/// The operation of the model call a span describes, if it describes one: what
/// [`from_span`] decides, for stages that need only that.
pub fn span_call_operation(span: &Span, resource: &[KeyValue]) -> Option<&'static str> {
    let mut found = Found::default();
    found.offer(&span.attributes, false);
    found.offer(resource, true);
    call_operation(&found, &span.name)
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
        user: found.string(Field::User),
        session: found.string(Field::Session),
        reported_cost: reported_cost(found),
        ..Call::default()
    })
}

/// The call a span describes, if any. `resource` supplies `service.name` and fallbacks
/// for every field.
pub fn from_span(span: &Span, resource: &[KeyValue], service: &str) -> Option<Call> {
    let mut found = Found::default();
    found.offer(&span.attributes, false);
    found.offer(resource, true);
    let mut call = call_from(&found, &span.name)?;
    call.service = service.to_owned();
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
        // issue 15: an exception class that names no failure (`AI_APICallError`) gives way
        // to what its message says; the rest of this was:
        // the exception's class, else "error".
        call.error = Some(crate::derive::llm::failure_class(span));
    }
    if call.ttft.is_none()
        && let Some(first) = span
            .attributes
            .iter()
            .find(|kv| kv.key == "langfuse.observation.completion_start_time")
            .and_then(|kv| kv.value.as_ref())
            .and_then(string)
            .and_then(|t| unix_nanos(&t))
        && first >= span.start_time_unix_nano
        && span.start_time_unix_nano > 0
    {
        // Langfuse records when the completion started, as a timestamp.
        call.ttft = Some((first - span.start_time_unix_nano) as f64 / 1e9);
    }
    if call.ttft.is_none() {
        // Streaming instrumentations mark the first chunk with a span event.
        call.ttft = span
            .events
            .iter()
            .find(|e| {
                matches!(
                    e.name.as_str(),
                    "First Token Stream Event"
                        | "ai.stream.firstChunk"
                        | "gen_ai.content.completion.chunk"
                )
            })
            .filter(|e| e.time_unix_nano >= span.start_time_unix_nano)
            .map(|e| (e.time_unix_nano - span.start_time_unix_nano) as f64 / 1e9);
    }
    // Only streamed responses have a first chunk.
    call.streaming |= call.ttft.is_some();
    call.trace_id.clone_from(&span.trace_id);
    call.span_id.clone_from(&span.span_id);
    call.parent_span_id.clone_from(&span.parent_span_id);
    Some(call)
}

/// The GenAI log events that describe a whole call.
pub const CALL_EVENTS: &[&str] = &["gen_ai.client.inference.operation.details"];

/// The call a GenAI log event describes, if any: the event name is in `event_name` or,
/// from older SDKs, in the `event.name` attribute.
///
/// The per-message events of the older conventions describe messages of a call whose
/// span carries the usage. Inside a span they are not calls: the span is. Outside any
/// span (an app that exports logs but not traces), each `gen_ai.choice` event is one
/// call, with the provider from `gen_ai.system` and the finish reason from its body, and
/// without usage, which those events never carry.
pub fn from_log(record: &LogRecord, resource: &[KeyValue], service: &str) -> Option<Call> {
    let name = if record.event_name.is_empty() {
        record
            .attributes
            .iter()
            .find(|kv| kv.key == "event.name")
            .and_then(|kv| kv.value.as_ref())
            .and_then(string)?
    } else {
        record.event_name.clone()
    };
    let mut found = Found::default();
    found.offer(&record.attributes, false);
    found.offer(resource, true);
    let in_span = !record.span_id.is_empty() && record.span_id.iter().any(|b| *b != 0);
    let mut call = if CALL_EVENTS.contains(&name.as_str()) {
        call_from(&found, "")?
    } else if name == "gen_ai.choice" && !in_span {
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
            && let Some(reason) = body
                .values
                .iter()
                .find(|kv| kv.key == "finish_reason")
                .and_then(|kv| kv.value.as_ref())
        {
            call.finish_reasons = finish_reasons(reason);
        }
        call
    } else {
        return None;
    };
    call.service = service.to_owned();
    call.end_unix_nano = record.time_unix_nano.max(record.observed_time_unix_nano);
    call.trace_id.clone_from(&record.trace_id);
    call.span_id.clone_from(&record.span_id);
    call.from_event = true;
    Some(call)
}

/// Unix nanoseconds of an RFC 3339 UTC timestamp (`2026-11-26T12:00:00.250Z`, or with
/// `+00:00`), possibly JSON-quoted as Langfuse writes it.
pub fn unix_nanos(text: &str) -> Option<u64> {
    let t = text.trim().trim_matches('"');
    let t = t.strip_suffix('Z').or_else(|| t.strip_suffix("+00:00"))?;
    let (date, time) = t.split_once(['T', ' '])?;
    let day = u64::try_from(super::price::parse_day(date)?).ok()?;
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut parts = hms.splitn(3, ':').map(|p| p.parse::<u64>().ok());
    let (h, m, sec) = (parts.next()??, parts.next()??, parts.next()??);
    if h > 23 || m > 59 || sec > 60 || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let nanos: u64 = format!("{frac:0<9}").parse().ok()?;
    Some(((day * 86_400 + h * 3600 + m * 60 + sec) * 1_000_000_000) + nanos)
}

/// `service.name` of a resource, or `unknown_service` as the SDKs default it.
pub fn service_name(resource: &[KeyValue]) -> &str {
    resource
        .iter()
        .find(|kv| kv.key == "service.name")
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) if !s.is_empty() => Some(s.as_str()),
            _ => None,
        })
        .unwrap_or("unknown_service")
}
