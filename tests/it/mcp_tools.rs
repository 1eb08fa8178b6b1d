//! Tool calls and agent invocations through the binary (issue 15, item 3), from a real MCP
//! client and server: FastMCP 4.1.6 (`tests/python/requirements-mcp.txt`, installed by
//! scripts/check), whose client and server spans follow the MCP conventions, over the `mcp`
//! SDK 2.3.0, which adds a transport span (`MCP send tools/call {tool}`) between them.
//! `tests/python/drive_mcp.py` calls tools as an agent would, inside `invoke_workflow` and
//! `invoke_agent` spans, on a server in its own process (its own service) and on one in the
//! same process, then calls more distinct tools than the label limit keeps.
//!
//! The expected counts come from what the driver did, not from llmwatch: each tool call
//! counts once per service that saw it, whatever the number of spans describing it.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::emitter_verify::{CONFIG, drained};
use super::python_clients::venv_python;
use super::support::{Llmwatch, lines, metric_value};

/// Distinct `bulk-N` tools the driver calls once each, past the two of the server.
const BULK: usize = 103;
/// Tool names kept as labels (`genai::agents::MAX_NAMES`).
const MAX_NAMES: usize = 100;

/// One span as llmwatch's file exporter wrote it.
#[derive(Debug)]
struct Wire {
    service: String,
    name: String,
    id: String,
    parent: String,
}

/// Every span llmwatch received, from its file exporter, in the order it processed them
/// (the test runs one worker).
fn spans(out: &Path) -> Vec<Wire> {
    let mut all = Vec::new();
    for line in lines(out) {
        let v: Value = serde_json::from_str(&line).unwrap();
        for rs in v["resourceSpans"].as_array().into_iter().flatten() {
            let service = rs["resource"]["attributes"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|a| a["key"] == "service.name")
                .and_then(|a| a["value"]["stringValue"].as_str())
                .unwrap_or_default()
                .to_owned();
            for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                for s in ss["spans"].as_array().into_iter().flatten() {
                    let text = |k: &str| s[k].as_str().unwrap_or_default().to_owned();
                    all.push(Wire {
                        service: service.clone(),
                        name: text("name"),
                        id: text("spanId"),
                        parent: text("parentSpanId"),
                    });
                }
            }
        }
    }
    all
}

#[test]
fn mcp_tool_calls_count_once_per_side_and_agents_by_kind() {
    let python = venv_python(".venv-mcp", "LLMWATCH_PYTHON_MCP");
    // One worker: the client's exporter sends its next batch as soon as llmwatch answers,
    // before the processors ran, so with two workers a batch holding the transport span
    // can be overtaken by the next one, and its two sides then count twice (README,
    // "nested_tool"). The rule is tested here; the order of arrival is not.
    let lw = Llmwatch::start(&CONFIG.replace("service:\n", "service:\n  workers: 1\n"));
    drive_mcp(&python, &lw);
    // The server's spans come from its own process: wait until both sides are in.
    lw.metrics_when(Duration::from_secs(30), |t| {
        metric_value(t, "llm_tool_calls_total", &[("service", "mcp-weather")]) >= 2.0
            && metric_value(t, "llm_tool_calls_total", &[("service", "mcp-app")])
                >= (BULK + 3) as f64
    });
    let text = drained(&lw);

    let wire = spans(&lw.dir.path("out.jsonl"));
    check_wire_spans(&wire);
    check_tool_calls(&text, transport_last(&wire));
    check_bounded_tool_names(&text);
    check_agents(&text);
}

/// Runs the MCP driver against llmwatch: a client app and a weather server, one tool
/// that fails, and BULK more tools.
fn drive_mcp(python: &Path, lw: &Llmwatch) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/drive_mcp.py");
    let out = Command::new(python)
        .arg(&script)
        .args([
            "mcp-app",
            "mcp-weather",
            &format!("http://{}", lw.http()),
            &BULK.to_string(),
        ])
        .env("FASTMCP_LOG_LEVEL", "WARNING")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "driver failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("broken: ToolError"), "{stdout}");
}

/// What llmwatch received: each call described by several spans.
fn check_wire_spans(wire: &[Wire]) {
    let count = |service: &str, name: &str| {
        wire.iter()
            .filter(|w| w.service == service && w.name == name)
            .count()
    };
    assert_eq!(count("mcp-app", "tools/call weather"), 3, "{wire:?}");
    assert_eq!(count("mcp-app", "MCP send tools/call weather"), 2);
    assert_eq!(count("mcp-app", "execute_tool weather"), 1);
    assert_eq!(count("mcp-weather", "tools/call weather"), 1);
    assert_eq!(count("mcp-weather", "tools/call broken"), 1);
    assert!(count("mcp-weather", "tools/list") >= 1);
}

/// Whether the in-process call's transport span reached llmwatch after both the client and
/// the server span it links. The rule counts that call twice then (counting is never
/// deferred; README, "nested_tool"). The SDK ends and queues the transport span first, yet
/// once, in a run of the whole suite at 4 test threads, the app's weather call counted 3
/// with one merge: its requests can reach llmwatch out of that order.
fn transport_last(wire: &[Wire]) -> bool {
    let at = |p: &dyn Fn(&Wire) -> bool| wire.iter().position(p);
    let app = |w: &Wire| w.service == "mcp-app";
    wire.iter()
        .enumerate()
        .filter(|(_, t)| app(t) && t.name == "MCP send tools/call weather")
        .any(|(i, t)| {
            let server = at(&|w| app(w) && w.parent == t.id && w.name == "tools/call weather");
            let client = at(&|w| app(w) && w.id == t.parent);
            matches!((server, client), (Some(s), Some(c)) if i > s && i > c)
        })
}

/// Tool calls count once per side, with their durations; nested descriptions merge.
fn check_tool_calls(text: &str, transport_last: bool) {
    // Two calls of weather in the app; three when the in-process call's two sides arrived
    // before the transport span that links them.
    let split = f64::from(u8::from(transport_last));
    let tool = |service, tool, outcome| {
        metric_value(
            text,
            "llm_tool_calls_total",
            &[("service", service), ("tool", tool), ("outcome", outcome)],
        )
    };
    // The client: weather over stdio (framework, client and transport spans) and in
    // process (client, transport and server spans), broken once.
    assert_eq!(tool("mcp-app", "weather", "success"), 2.0 + split, "{text}");
    assert_eq!(tool("mcp-app", "broken", "error"), 1.0);
    assert_eq!(tool("mcp-app", "broken", "success"), 0.0);
    assert_eq!(tool("mcp-app", "unknown", "success"), 0.0);
    // The server, in its own service: once each.
    assert_eq!(tool("mcp-weather", "weather", "success"), 1.0);
    assert_eq!(tool("mcp-weather", "broken", "error"), 1.0);
    let durations = |service, tool| {
        metric_value(
            text,
            "llm_tool_call_duration_seconds_count",
            &[("service", service), ("tool", tool)],
        )
    };
    assert_eq!(durations("mcp-app", "weather"), 2.0 + split);
    assert_eq!(durations("mcp-weather", "broken"), 1.0);
    // Two descriptions merged: the framework's span around the client's, and the client's
    // around the transport and server spans in one process.
    assert_eq!(
        metric_value(
            text,
            "llmwatch_genai_deduplicated_total",
            &[("rule", "nested_tool")]
        ),
        2.0 - split
    );
}

/// Bounded labels: weather, broken and the first bulk tools are kept, the rest fold.
fn check_bounded_tool_names(text: &str) {
    let tool = |service, tool, outcome| {
        metric_value(
            text,
            "llm_tool_calls_total",
            &[("service", service), ("tool", tool), ("outcome", outcome)],
        )
    };
    let past = BULK + 2 - MAX_NAMES;
    assert_eq!(tool("mcp-app", "bulk-0", "success"), 1.0);
    assert_eq!(tool("mcp-app", "other", "success"), past as f64);
    assert_eq!(
        metric_value(
            text,
            "llmwatch_metric_overflow_total",
            &[("family", "llm_tool_names")]
        ),
        past as f64
    );
}

/// Agents and workflows by kind, and none of it is an LLM call.
fn check_agents(text: &str) {
    let agent = |kind, name| {
        metric_value(
            text,
            "llm_agent_invocations_total",
            &[
                ("service", "mcp-app"),
                ("kind", kind),
                ("agent", name),
                ("outcome", "success"),
            ],
        )
    };
    assert_eq!(agent("workflow", "triage"), 1.0);
    assert_eq!(agent("agent", "planner"), 1.0);
    assert_eq!(
        metric_value(
            text,
            "llm_agent_duration_seconds_count",
            &[("kind", "workflow"), ("agent", "triage")]
        ),
        1.0
    );
    // None of it is an LLM call.
    assert_eq!(metric_value(text, "llm_requests_total", &[]), 0.0);
}
