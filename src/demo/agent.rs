//! The demo's agent: one turn in four runs the chat assistant as an agent that calls one
//! tool (`invoke_agent` around `execute_tool`), so the LLM operations dashboard's tool and
//! agent panels have data. Everything is decided by the turn's trace id, so the other
//! spans' random draws stay as they were. The tools never fail: a failure rate that
//! small samples push past `LLMToolErrorRateHigh`'s 20% now and then would page during
//! normal traffic.

use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

use super::catalogue::s;

/// The tools the assistant calls.
const TOOLS: [&str; 3] = ["search_docs", "run_report_query", "get_connected_platforms"];

/// A span id made of the trace id's second half and `tag`.
fn span_id(trace: &[u8], tag: u8) -> Vec<u8> {
    let mut id: Vec<u8> = trace.iter().skip(8).copied().collect();
    id.resize(8, 0);
    id[7] ^= tag;
    id
}

/// The agent span (under `parent`, over the LLM call from `start` to `end`) and its tool
/// span, for one turn in four; none for the others.
pub(super) fn spans(trace: &[u8], parent: &[u8], start: u64, end: u64) -> Vec<Span> {
    let byte = |i: usize| trace.get(i).copied().unwrap_or(0);
    if byte(0) % 4 != 0 || end <= start {
        return Vec::new();
    }
    let agent_id = span_id(trace, 0xa5);
    let tool = TOOLS[usize::from(byte(1)) % TOOLS.len()];
    let tool_start = start + 1_000_000;
    // 20 to 275 ms, within the agent's span.
    let tool_end = (tool_start + (20 + u64::from(byte(2))) * 1_000_000)
        .min(end.saturating_sub(1))
        .max(tool_start + 1);
    let call = Span {
        trace_id: trace.to_vec(),
        span_id: span_id(trace, 0x5a),
        parent_span_id: agent_id.clone(),
        name: format!("execute_tool {tool}"),
        kind: SpanKind::Internal as i32,
        start_time_unix_nano: tool_start,
        end_time_unix_nano: tool_end,
        attributes: vec![
            s("gen_ai.operation.name", "execute_tool"),
            s("gen_ai.tool.name", tool),
        ],
        ..Default::default()
    };
    let agent = Span {
        trace_id: trace.to_vec(),
        span_id: agent_id,
        parent_span_id: parent.to_vec(),
        name: "invoke_agent chat-assistant".into(),
        kind: SpanKind::Internal as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: end.max(tool_end + 1),
        attributes: vec![
            s("gen_ai.operation.name", "invoke_agent"),
            s("gen_ai.agent.name", "chat-assistant"),
        ],
        ..Default::default()
    };
    vec![call, agent]
}
