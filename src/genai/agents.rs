//! Tool calls and agent (or workflow) invocations: `llm_tool_calls_total`,
//! `llm_tool_call_duration_seconds`, `llm_agent_invocations_total` and
//! `llm_agent_duration_seconds`. Tool and agent names are labels through a value limit
//! each ([`MAX_NAMES`]): later names become `other`, counted in
//! `llmwatch_metric_overflow_total{family="llm_tool_names"}` (`llm_agent_names`).

use super::metrics::{LlmMetrics, OverflowCounter, TraceExemplar, label_value};
use crate::derive::agent::{AgentKind, AgentOp};

/// Distinct tool names, and distinct agent and workflow names, kept as labels.
pub const MAX_NAMES: usize = 100;

/// Records one tool call or agent invocation of `service`, in trace `trace_id`.
pub fn record(m: &LlmMetrics, service: &str, op: &AgentOp, trace_id: &[u8], of: &OverflowCounter) {
    let now = m.now();
    let service = label_value(service);
    let outcome = if op.failed { "error" } else { "success" };
    let exemplar = TraceExemplar::new(trace_id);
    if op.kind == AgentKind::Tool {
        let tool = m.tool_names.admit(label_value(&op.name).into_owned(), of);
        m.tool_calls
            .with(&[&service, &tool, outcome], now, of, |c| {
                c.inc();
            });
        if let Some(d) = op.duration {
            m.tool_duration.with(&[&service, &tool], now, of, |h| {
                h.observe(d, exemplar, None)
            });
        }
        return;
    }
    let kind = op.kind.as_str();
    let agent = m.agent_names.admit(label_value(&op.name).into_owned(), of);
    m.agent_invocations
        .with(&[&service, kind, &agent, outcome], now, of, |c| {
            c.inc();
        });
    if let Some(d) = op.duration {
        m.agent_duration
            .with(&[&service, kind, &agent], now, of, |h| {
                h.observe(d, exemplar, None)
            });
    }
}
