//! Agents, workflows and tools: how each convention marks the span of a tool call or an
//! agent invocation, and where it puts the name (semconv 1.39–1.41 `execute_tool`,
//! `invoke_agent`, `invoke_workflow` and MCP `tools/call`; the Vercel AI SDK's
//! `ai.toolCall`; Traceloop's and OpenInference's span kinds).

/// What a span is, when it is not an LLM call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentKind {
    /// One tool (function) call.
    Tool,
    /// One invocation of an agent.
    Agent,
    /// One run of a workflow (of agents).
    Workflow,
}

impl AgentKind {
    /// The `kind` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentKind::Tool => "tool",
            AgentKind::Agent => "agent",
            AgentKind::Workflow => "workflow",
        }
    }
}

/// `gen_ai.operation.name` values.
pub const OPERATIONS: &[(&str, AgentKind)] = &[
    ("execute_tool", AgentKind::Tool),
    ("invoke_agent", AgentKind::Agent),
    ("invoke_workflow", AgentKind::Workflow),
];

/// Span-kind markers of Traceloop (`traceloop.span.kind`) and OpenInference
/// (`openinference.span.kind`), compared ignoring ASCII case.
pub const KIND_KEYS: &[&str] = &["traceloop.span.kind", "openinference.span.kind"];
/// Their values.
pub const KINDS: &[(&str, AgentKind)] = &[
    ("tool", AgentKind::Tool),
    ("agent", AgentKind::Agent),
    ("workflow", AgentKind::Workflow),
];

/// The MCP method attribute, and the method that calls a tool.
pub const MCP_METHOD: &str = "mcp.method.name";
/// See [`MCP_METHOD`].
pub const MCP_TOOL_CALL: &str = "tools/call";

/// The Vercel AI SDK's tool-call span name (AI SDK 6, and 7's `LegacyOpenTelemetry()`).
pub const AI_SDK_TOOL_SPAN: &str = "ai.toolCall";

/// Where the tool's name is, in precedence order.
pub const TOOL_NAME_KEYS: &[&str] = &[
    "gen_ai.tool.name",
    "ai.toolCall.name",
    "tool.name",
    "traceloop.entity.name",
];

/// Where the agent's or workflow's name is, in precedence order.
pub const AGENT_NAME_KEYS: &[&str] = &[
    "gen_ai.agent.name",
    "gen_ai.workflow.name",
    "agent.name",
    "traceloop.workflow.name",
    "traceloop.entity.name",
];
