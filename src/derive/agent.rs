//! Recognising a tool call or an agent (or workflow) invocation in a span, whatever
//! convention described it ([`crate::semconv::agents`]).

use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;

use crate::model::attrs;
pub use crate::semconv::agents::AgentKind;
use crate::semconv::agents::{
    AGENT_NAME_KEYS, AI_SDK_TOOL_SPAN, KIND_KEYS, KINDS, MCP_METHOD, MCP_TOOL_CALL, OPERATIONS,
    TOOL_NAME_KEYS,
};

/// One tool call or agent invocation.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentOp {
    /// Tool, agent or workflow.
    pub kind: AgentKind,
    /// Its name as sent (`unknown` when none); a label only through a value limit.
    pub name: String,
    /// Duration in seconds.
    pub duration: Option<f64>,
    /// It failed: an error status or an `error.type`.
    pub failed: bool,
    /// An MCP `tools/call` span that names no tool in `gen_ai.tool.name` (the `mcp` SDK's
    /// transport span, `MCP send tools/call {name}`, which misses tool errors too): not a
    /// call of its own, it only links the spans of one call (its `name` is taken from the
    /// span name).
    pub transport: bool,
}

fn text(span: &Span, key: &str) -> Option<String> {
    attrs::get(&span.attributes, key)
        .and_then(attrs::text)
        .filter(|s| !s.is_empty())
}

fn kind(span: &Span) -> Option<AgentKind> {
    if let Some(op) = text(span, "gen_ai.operation.name") {
        return OPERATIONS.iter().find(|(o, _)| *o == op).map(|(_, k)| *k);
    }
    if text(span, MCP_METHOD).as_deref() == Some(MCP_TOOL_CALL) || span.name == AI_SDK_TOOL_SPAN {
        return Some(AgentKind::Tool);
    }
    KIND_KEYS.iter().find_map(|key| {
        let marker = text(span, key)?;
        KINDS
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&marker))
            .map(|(_, kind)| *kind)
    })
}

/// The target of an MCP span name, `{method} {target}`, after the method `tools/call`.
fn mcp_target(span: &Span) -> Option<String> {
    let (_, target) = span.name.split_once(MCP_TOOL_CALL)?;
    let target = target.trim();
    (!target.is_empty()).then(|| target.to_owned())
}

/// The tool call or agent invocation `span` is, if any.
pub fn from_span(span: &Span) -> Option<AgentOp> {
    let kind = kind(span)?;
    let keys = if kind == AgentKind::Tool {
        TOOL_NAME_KEYS
    } else {
        AGENT_NAME_KEYS
    };
    let named = keys.iter().find_map(|k| text(span, k));
    let transport = named.is_none()
        && text(span, MCP_METHOD).as_deref() == Some(MCP_TOOL_CALL)
        && text(span, "gen_ai.operation.name").is_none();
    let name = named
        .or_else(|| transport.then(|| mcp_target(span)).flatten())
        .unwrap_or_else(|| "unknown".to_owned());
    let failed = span
        .status
        .as_ref()
        .is_some_and(|s| s.code == StatusCode::Error as i32)
        || text(span, "error.type").is_some();
    let duration = (span.end_time_unix_nano > span.start_time_unix_nano
        && span.start_time_unix_nano > 0)
        .then(|| (span.end_time_unix_nano - span.start_time_unix_nano) as f64 / 1e9);
    Some(AgentOp {
        kind,
        name,
        duration,
        failed,
        transport,
    })
}
