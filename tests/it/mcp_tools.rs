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

/// (service, span name) of every span llmwatch received, from its file exporter.
fn spans(out: &Path) -> Vec<(String, String)> {
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
                    all.push((service.clone(), s["name"].as_str().unwrap().to_owned()));
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

    check_wire_spans(&lw);
    check_tool_calls(&text);
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
fn check_wire_spans(lw: &Llmwatch) {
    let wire = spans(&lw.dir.path("out.jsonl"));
    let count = |service: &str, name: &str| {
        wire.iter()
            .filter(|(s, n)| s == service && n == name)
            .count()
    };
    assert_eq!(count("mcp-app", "tools/call weather"), 3, "{wire:?}");
    assert_eq!(count("mcp-app", "MCP send tools/call weather"), 2);
    assert_eq!(count("mcp-app", "execute_tool weather"), 1);
    assert_eq!(count("mcp-weather", "tools/call weather"), 1);
    assert_eq!(count("mcp-weather", "tools/call broken"), 1);
    assert!(count("mcp-weather", "tools/list") >= 1);
}

/// Tool calls count once per side, with their durations; nested descriptions merge.
fn check_tool_calls(text: &str) {
    let tool = |service, tool, outcome| {
        metric_value(
            text,
            "llm_tool_calls_total",
            &[("service", service), ("tool", tool), ("outcome", outcome)],
        )
    };
    // The client: weather over stdio (framework, client and transport spans) and in
    // process (client, transport and server spans), broken once.
    assert_eq!(tool("mcp-app", "weather", "success"), 2.0, "{text}");
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
    assert_eq!(durations("mcp-app", "weather"), 2.0);
    assert_eq!(durations("mcp-weather", "broken"), 1.0);
    // Two descriptions merged: the framework's span around the client's, and the client's
    // around the transport and server spans in one process.
    assert_eq!(
        metric_value(
            text,
            "llmwatch_genai_deduplicated_total",
            &[("rule", "nested_tool")]
        ),
        2.0
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
