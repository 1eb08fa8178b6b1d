//! Event names: GenAI log events, streaming markers, and how a log record names its event.

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::logs::v1::LogRecord;

/// The attribute older SDKs name a log event with, before `LogRecord.event_name` existed.
pub const EVENT_NAME_KEY: &str = "event.name";

/// The name of the event a log record carries: `LogRecord.event_name`, else the
/// `event.name` attribute (a non-empty string). `None` for a plain log line.
pub fn event_name(record: &LogRecord) -> Option<&str> {
    if !record.event_name.is_empty() {
        return Some(&record.event_name);
    }
    record
        .attributes
        .iter()
        .find(|kv| kv.key == EVENT_NAME_KEY)
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) if !s.is_empty() => Some(s.as_str()),
            _ => None,
        })
}

/// The GenAI log events that describe a whole call.
pub const CALL_EVENTS: &[&str] = &["gen_ai.client.inference.operation.details"];

/// The older per-message GenAI event of a model's answer.
pub const CHOICE_EVENT: &str = "gen_ai.choice";

/// Span events that mark the first streamed chunk of a call.
pub const FIRST_TOKEN_EVENTS: &[&str] = &[
    "First Token Stream Event",
    "ai.stream.firstChunk",
    "gen_ai.content.completion.chunk",
];

/// The span event that records an exception, and its class attribute.
pub const EXCEPTION_EVENT: &str = "exception";
/// The class of an exception event.
pub const EXCEPTION_TYPE: &str = "exception.type";
/// The message of an exception event.
pub const EXCEPTION_MESSAGE: &str = "exception.message";

/// The browser web-vital event.
pub const WEB_VITAL_EVENT: &str = "browser.web_vital";

/// Platform connection events, with their `outcome` label value.
pub const CONNECT_EVENTS: [(&str, &str); 3] = [
    ("platform_connect_initiated", "initiated"),
    ("platform_connected", "connected"),
    ("platform_connection_failed", "failed"),
];

/// Langfuse's timestamp of the first completion chunk (RFC 3339).
pub const COMPLETION_START_TIME: &str = "langfuse.observation.completion_start_time";

/// `service.name` of a resource.
pub const SERVICE_NAME: &str = "service.name";
/// What the SDKs call a service without a name.
pub const UNKNOWN_SERVICE: &str = "unknown_service";
