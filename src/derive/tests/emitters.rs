//! The spans of the JavaScript emitters as `tests/corpus/*/wire.jsonl` recorded them
//! (issue 15), cut to the attributes that matter, and the call each must give.

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::span::Event;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{Span, Status};

use super::llm;
use crate::derive::Identity;
use crate::derive::agent::{self, AgentKind};

fn s(key: &str, v: &str) -> KeyValue {
    crate::model::attrs::kv(key, Value::StringValue(v.to_owned()))
}

fn strings(key: &str, vs: &[&str]) -> KeyValue {
    crate::model::attrs::kv(
        key,
        Value::ArrayValue(ArrayValue {
            values: vs
                .iter()
                .map(|v| AnyValue {
                    value: Some(Value::StringValue((*v).to_owned())),
                })
                .collect(),
        }),
    )
}

fn span(name: &str, attributes: Vec<KeyValue>) -> Span {
    Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        name: name.to_owned(),
        start_time_unix_nano: 1_000_000_000,
        end_time_unix_nano: 1_500_000_000,
        attributes,
        ..Default::default()
    }
}

/// A span failed as the AI SDK fails it: error status, an `exception` event.
fn failed(mut span: Span, class: &str, message: &str) -> Span {
    span.status = Some(Status {
        code: StatusCode::Error as i32,
        message: message.to_owned(),
    });
    span.events.push(Event {
        name: "exception".to_owned(),
        attributes: vec![s("exception.type", class), s("exception.message", message)],
        ..Default::default()
    });
    span
}

fn ai6_generate(model: &str) -> Span {
    span(
        "ai.generateText.doGenerate",
        vec![
            s("ai.model.provider", "openai.chat"),
            s("ai.model.id", model),
            s("gen_ai.system", "openai.chat"),
            s("gen_ai.request.model", model),
        ],
    )
}

#[test]
fn ai_sdk_6_embedding_tokens_are_input() {
    let span = span(
        "ai.embed.doEmbed",
        vec![
            s("ai.model.provider", "openai.embedding"),
            s("ai.model.id", "text-embedding-3-small"),
            s("ai.usage.tokens", "8"),
        ],
    );
    let call = llm::from_span(&span, &[], "svc").unwrap();
    assert_eq!(call.operation, "embeddings");
    assert_eq!(call.usage.tokens().input, 8);
    assert_eq!(call.usage.tokens().total(), 8);
}

#[test]
fn semconv_1_41_time_to_first_chunk_is_read_in_seconds() {
    let span = span(
        "chat gpt-4o",
        vec![
            s("gen_ai.operation.name", "chat"),
            s("gen_ai.request.model", "gpt-4o"),
            crate::model::attrs::kv(
                "gen_ai.client.operation.time_to_first_chunk",
                Value::DoubleValue(0.038),
            ),
        ],
    );
    let call = llm::from_span(&span, &[], "svc").unwrap();
    assert_eq!(call.ttft, Some(0.038));
    assert!(call.streaming);
}

#[test]
fn finish_reasons_take_the_semconv_spelling() {
    for (sent, expected) in [
        ("tool-calls", "tool_call"),
        ("tool_calls", "tool_call"),
        ("TOOL_USE", "tool_call"),
        ("max_tokens", "length"),
        ("content-filter", "content_filter"),
        ("end_turn", "stop"),
        ("stop", "stop"),
        ("something_new", "something_new"),
    ] {
        let span = span(
            "chat gpt-4o",
            vec![
                s("gen_ai.operation.name", "chat"),
                s("gen_ai.request.model", "gpt-4o"),
                strings("gen_ai.response.finish_reasons", &[sent]),
            ],
        );
        let call = llm::from_span(&span, &[], "svc").unwrap();
        assert_eq!(call.finish_reasons, [expected], "{sent}");
    }
}

#[test]
fn a_generic_api_error_takes_its_class_from_the_message() {
    // AI SDK 6: a 429 and a 500 are both `AI_APICallError`, with OpenAI's message.
    let cases = [
        ("AI_APICallError", "Rate limit reached", "rate_limited"),
        (
            "AI_APICallError",
            "The server had an error processing your request",
            "server_error",
        ),
        ("AI_APICallError", "something odd", "AI_APICallError"),
        // A class that names the failure wins over the message.
        (
            "openai.RateLimitError",
            "The server had an error",
            "RateLimitError",
        ),
    ];
    for (class, message, expected) in cases {
        let span = failed(ai6_generate("fail"), class, message);
        let call = llm::from_span(&span, &[], "svc").unwrap();
        assert_eq!(call.error.as_deref(), Some(expected), "{class}: {message}");
    }
    // Without an exception event, the status message.
    let mut span = ai6_generate("fail");
    span.status = Some(Status {
        code: StatusCode::Error as i32,
        message: "Too Many Requests".to_owned(),
    });
    let call = llm::from_span(&span, &[], "svc").unwrap();
    assert_eq!(call.error.as_deref(), Some("rate_limited"));
    // An HTTP status on the span (AI SDK 7) decides before the exception.
    let mut span = failed(ai6_generate("fail"), "AI_APICallError", "whatever");
    span.attributes.push(s("http.response.status_code", "500"));
    let call = llm::from_span(&span, &[], "svc").unwrap();
    assert_eq!(call.error.as_deref(), Some("server_error"));
}

#[test]
fn ai_sdk_7_runtime_context_is_the_user_and_session() {
    let attrs = [
        s("ai.settings.context.userId", "user-js-1"),
        s("ai.settings.context.sessionId", "session-js-1"),
    ];
    let id = Identity::of(&[&attrs]);
    assert_eq!(id.user.as_deref(), Some("user-js-1"));
    assert_eq!(id.thread(), Some("session-js-1"));
}

/// A span name and attributes, and the kind and name of tool or agent they must yield.
type AgentCase = (
    &'static str,
    &'static [(&'static str, &'static str)],
    AgentKind,
    &'static str,
);

/// A tool or agent span of each convention: its name and attributes, and the kind and
/// name it must yield.
const AGENT_CASES: &[AgentCase] = &[
    (
        "execute_tool weather",
        &[
            ("gen_ai.operation.name", "execute_tool"),
            ("gen_ai.tool.name", "weather"),
        ],
        AgentKind::Tool,
        "weather",
    ),
    (
        "ai.toolCall",
        &[("ai.toolCall.name", "weather")],
        AgentKind::Tool,
        "weather",
    ),
    (
        "tools/call get_page",
        &[
            ("mcp.method.name", "tools/call"),
            ("gen_ai.tool.name", "get_page"),
        ],
        AgentKind::Tool,
        "get_page",
    ),
    (
        "search.tool",
        &[
            ("traceloop.span.kind", "tool"),
            ("traceloop.entity.name", "search"),
        ],
        AgentKind::Tool,
        "search",
    ),
    (
        "lookup",
        &[("openinference.span.kind", "TOOL")],
        AgentKind::Tool,
        "unknown",
    ),
    (
        "invoke_agent chat",
        &[
            ("gen_ai.operation.name", "invoke_agent"),
            ("gen_ai.agent.name", "chat"),
        ],
        AgentKind::Agent,
        "chat",
    ),
    (
        "invoke_workflow triage",
        &[
            ("gen_ai.operation.name", "invoke_workflow"),
            ("gen_ai.workflow.name", "triage"),
        ],
        AgentKind::Workflow,
        "triage",
    ),
];

#[test]
fn tool_calls_and_agent_invocations_in_every_convention() {
    for &(span_name, attrs, kind, name) in AGENT_CASES {
        let span = span(span_name, attrs.iter().map(|(k, v)| s(k, v)).collect());
        let op = agent::from_span(&span).unwrap_or_else(|| panic!("{}", span.name));
        assert_eq!((op.kind, op.name.as_str()), (kind, name), "{}", span.name);
        assert_eq!(op.duration, Some(0.5));
        assert!(!op.failed && !op.transport);
        // Neither is an LLM call.
        assert!(llm::from_span(&span, &[], "svc").is_none(), "{}", span.name);
    }
    let failed = failed(
        span(
            "execute_tool weather",
            vec![s("gen_ai.operation.name", "execute_tool")],
        ),
        "Error",
        "boom",
    );
    assert!(agent::from_span(&failed).unwrap().failed);
}

#[test]
fn mcp_transport_spans_only_link_and_other_spans_are_neither() {
    // The `mcp` SDK's client transport span names the tool only in its span name: it
    // links the spans of one call and is not counted itself; the server's span is.
    let send = span(
        "MCP send tools/call get_page",
        vec![s("mcp.method.name", "tools/call")],
    );
    let op = agent::from_span(&send).unwrap();
    assert_eq!(
        (op.kind, op.name.as_str(), op.transport),
        (AgentKind::Tool, "get_page", true)
    );
    let served = span(
        "tools/call get_page",
        vec![
            s("mcp.method.name", "tools/call"),
            s("gen_ai.operation.name", "execute_tool"),
            s("gen_ai.tool.name", "get_page"),
        ],
    );
    assert!(!agent::from_span(&served).unwrap().transport);
    // Other MCP methods are neither.
    assert!(
        agent::from_span(&span(
            "tools/list",
            vec![s("mcp.method.name", "tools/list")]
        ))
        .is_none()
    );
    // LLM calls, steps and chains are neither.
    for attrs in [
        vec![s("gen_ai.operation.name", "chat")],
        vec![s("gen_ai.operation.name", "agent_step")],
        vec![s("openinference.span.kind", "CHAIN")],
        vec![s("traceloop.span.kind", "llm")],
    ] {
        assert!(agent::from_span(&span("x", attrs)).is_none());
    }
}
