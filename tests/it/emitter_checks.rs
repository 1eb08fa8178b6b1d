//! What an emitter put on the wire, read from llmwatch's file exporter (OTLP/JSON), and the
//! metrics llmwatch must derive from it, computed here from the wire and the fake
//! provider's served-call log, independently of llmwatch's extractor. Each emitter family
//! is read by its own documented keys (genai-semconv.md §2), never by llmwatch's key table.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use super::support::{lines, metric_value};

/// USD per 1M tokens (genai-semconv.md §4.3): input, output, cache read.
fn price(model: &str) -> Option<(f64, f64, f64)> {
    match model.trim_end_matches("-2024-08-06") {
        "gpt-4o" => Some((2.50, 10.00, 1.25)),
        "text-embedding-3-small" => Some((0.02, 0.0, 0.02)),
        _ => None,
    }
}

/// One span or log record as exported.
#[derive(Debug, Default)]
pub(super) struct Item {
    pub id: String,
    pub parent: String,
    pub name: String,
    pub error: bool,
    pub attrs: BTreeMap<String, Value>,
    pub events: Vec<String>,
    /// `exception.type` of the span's `exception` event.
    pub exception_type: Option<String>,
}

impl Item {
    fn num(&self, key: &str) -> Option<f64> {
        let v = self.attrs.get(key)?;
        v.get("intValue")
            .and_then(|i| {
                i.as_str()
                    .and_then(|s| s.parse().ok())
                    .or_else(|| i.as_f64())
            })
            .or_else(|| v.get("doubleValue").and_then(Value::as_f64))
    }

    fn text(&self, key: &str) -> Option<String> {
        Some(
            self.attrs
                .get(key)?
                .get("stringValue")?
                .as_str()?
                .to_owned(),
        )
    }

    fn texts(&self, key: &str) -> Vec<String> {
        let Some(v) = self.attrs.get(key) else {
            return Vec::new();
        };
        if let Some(s) = v.get("stringValue").and_then(Value::as_str) {
            return vec![s.to_owned()];
        }
        v.pointer("/arrayValue/values")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.get("stringValue")?.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn first(&self, keys: &[&str]) -> Option<f64> {
        keys.iter().find_map(|k| self.num(k))
    }
}

/// Every span in a file-exporter output.
pub(super) fn spans(out: &Path) -> Vec<Item> {
    let mut items = Vec::new();
    for line in lines(out) {
        let v: Value = serde_json::from_str(&line).expect("file exporter line");
        for rs in v["resourceSpans"].as_array().into_iter().flatten() {
            for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                for s in ss["spans"].as_array().into_iter().flatten() {
                    items.push(Item {
                        id: s["spanId"].as_str().unwrap_or("").to_owned(),
                        parent: s["parentSpanId"].as_str().unwrap_or("").to_owned(),
                        name: s["name"].as_str().unwrap_or("").to_owned(),
                        error: s.pointer("/status/code").and_then(Value::as_i64) == Some(2),
                        attrs: attrs(&s["attributes"]),
                        events: s["events"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|e| e["name"].as_str().map(str::to_owned))
                            .collect(),
                        exception_type: s["events"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter(|e| e["name"] == "exception")
                            .find_map(|e| {
                                let a = attrs(&e["attributes"]);
                                let t = a.get("exception.type")?.get("stringValue")?;
                                t.as_str().map(str::to_owned)
                            }),
                    });
                }
            }
        }
    }
    items
}

fn attrs(list: &Value) -> BTreeMap<String, Value> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|kv| Some((kv["key"].as_str()?.to_owned(), kv["value"].clone())))
        .collect()
}

/// How an emitter family lays out a call on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Layout {
    /// AI SDK 6, and AI SDK 7's `LegacyOpenTelemetry`: `ai.*.doGenerate` / `doStream` /
    /// `doEmbed` spans with `ai.usage.*`.
    AiSdk,
    /// GenAI semantic conventions (`gen_ai.operation.name`, `gen_ai.usage.*`): AI SDK 7's
    /// `OpenTelemetry`, `@opentelemetry/instrumentation-openai`, Traceloop. A call span with
    /// a call span below it (AI SDK 7's embedding operation span) is not itself a call.
    GenAi,
    /// OpenInference: `openinference.span.kind` and `llm.token_count.*`.
    OpenInference,
}

/// One LLM call as its emitter described it.
#[derive(Debug, Clone)]
pub(super) struct Call {
    pub operation: &'static str,
    /// The model label llmwatch documents: the response model, else the requested one.
    pub model: String,
    pub error: bool,
    /// (input incl. cache, cache read, output incl. reasoning, reasoning)
    pub usage: Option<(f64, f64, f64, f64)>,
    pub finish: Vec<String>,
    pub first_chunk: bool,
    pub response_id: Option<String>,
    pub user_in_trace: bool,
    pub session_in_trace: bool,
    /// `error.type` as the emitter set it.
    pub error_type: Option<String>,
}

fn operation(layout: Layout, s: &Item) -> Option<&'static str> {
    match layout {
        Layout::AiSdk if s.name.ends_with(".doGenerate") || s.name.ends_with(".doStream") => {
            Some("chat")
        }
        Layout::AiSdk if s.name.ends_with(".doEmbed") => Some("embeddings"),
        Layout::AiSdk => None,
        Layout::GenAi => match s.text("gen_ai.operation.name").as_deref() {
            Some("chat") => Some("chat"),
            Some("embeddings") => Some("embeddings"),
            _ => None,
        },
        Layout::OpenInference => match s.text("openinference.span.kind").as_deref() {
            Some("LLM") => Some("chat"),
            Some("EMBEDDING") => Some("embeddings"),
            _ => None,
        },
    }
}

const USER_KEYS: [&str; 5] = [
    "gen_ai.user",
    "ai.telemetry.metadata.userId",
    "ai.settings.context.userId",
    "user.id",
    "traceloop.association.properties.user_id",
];

/// The calls on the wire, in export order.
pub(super) fn calls(layout: Layout, items: &[Item]) -> Vec<Call> {
    let by_id: BTreeMap<&str, &Item> = items.iter().map(|s| (s.id.as_str(), s)).collect();
    let is_call = |s: &Item| operation(layout, s).is_some();
    items
        .iter()
        .filter(|s| is_call(s))
        .filter(|s| {
            layout == Layout::AiSdk || !items.iter().any(|c| c.parent == s.id && is_call(c))
        })
        .map(|s| {
            let op = operation(layout, s).unwrap_or("chat");
            let (requested, response) = match layout {
                Layout::AiSdk => (s.text("ai.model.id"), s.text("ai.response.model")),
                Layout::GenAi => (
                    s.text("gen_ai.request.model"),
                    s.text("gen_ai.response.model"),
                ),
                // The requested model is only inside the invocation parameters' JSON.
                Layout::OpenInference => (
                    s.text("llm.invocation_parameters")
                        .and_then(|p| serde_json::from_str::<Value>(&p).ok())
                        .and_then(|p| p["model"].as_str().map(str::to_owned)),
                    s.text("llm.model_name")
                        .or_else(|| s.text("embedding.model_name")),
                ),
            };
            Call {
                operation: op,
                model: response.or(requested).unwrap_or_default(),
                error: s.error,
                usage: usage(layout, op, s),
                finish: match layout {
                    Layout::AiSdk => s.texts("ai.response.finishReason"),
                    Layout::GenAi => s.texts("gen_ai.response.finish_reasons"),
                    Layout::OpenInference => s.texts("llm.finish_reason"),
                },
                first_chunk: s.attrs.contains_key("ai.response.msToFirstChunk")
                    || s.attrs
                        .contains_key("gen_ai.client.operation.time_to_first_chunk")
                    || s.events
                        .iter()
                        .any(|e| FIRST_CHUNK_EVENTS.contains(&e.as_str())),
                response_id: s
                    .text("ai.response.id")
                    .or_else(|| s.text("gen_ai.response.id")),
                user_in_trace: in_trace(&by_id, s, &USER_KEYS),
                session_in_trace: in_trace(&by_id, s, &SESSION_KEYS),
                error_type: s.text("error.type").or_else(|| s.exception_type.clone()),
            }
        })
        .collect()
}

/// Span events that mark a stream's first chunk: the AI SDK's, OpenInference's, and
/// Traceloop Python's per-chunk event.
const FIRST_CHUNK_EVENTS: [&str; 3] = [
    "ai.stream.firstChunk",
    "First Token Stream Event",
    "gen_ai.content.completion.chunk",
];

const SESSION_KEYS: [&str; 4] = [
    "ai.telemetry.metadata.sessionId",
    "ai.settings.context.sessionId",
    "session.id",
    "traceloop.association.properties.session_id",
];

/// Whether `s` or one of its ancestors carries one of `keys`.
fn in_trace<'a>(by_id: &BTreeMap<&'a str, &'a Item>, mut s: &'a Item, keys: &[&str]) -> bool {
    loop {
        if keys.iter().any(|k| s.attrs.contains_key(*k)) {
            return true;
        }
        match by_id.get(s.parent.as_str()) {
            Some(p) => s = p,
            None => return false,
        }
    }
}

fn usage(layout: Layout, op: &str, s: &Item) -> Option<(f64, f64, f64, f64)> {
    let (input, cached, output, reasoning) = match (layout, op) {
        (Layout::AiSdk, "embeddings") => (s.num("ai.usage.tokens"), None, None, None),
        (Layout::AiSdk, _) => (
            s.num("ai.usage.inputTokens"),
            s.first(&[
                "ai.usage.inputTokenDetails.cacheReadTokens",
                "ai.usage.cachedInputTokens",
            ]),
            s.num("ai.usage.outputTokens"),
            s.first(&[
                "ai.usage.outputTokenDetails.reasoningTokens",
                "ai.usage.reasoningTokens",
            ]),
        ),
        (Layout::GenAi, _) => (
            s.num("gen_ai.usage.input_tokens"),
            s.num("gen_ai.usage.cache_read.input_tokens"),
            s.num("gen_ai.usage.output_tokens"),
            s.first(&[
                "gen_ai.usage.reasoning.output_tokens",
                "gen_ai.usage.reasoning_tokens",
            ]),
        ),
        (Layout::OpenInference, _) => (
            s.num("llm.token_count.prompt"),
            s.num("llm.token_count.prompt_details.cache_read"),
            s.num("llm.token_count.completion"),
            s.num("llm.token_count.completion_details.reasoning"),
        ),
    };
    if input.is_none() && output.is_none() {
        return None;
    }
    Some((
        input.unwrap_or(0.0),
        cached.unwrap_or(0.0),
        output.unwrap_or(0.0),
        reasoning.unwrap_or(0.0),
    ))
}

/// A finish reason in the semantic conventions' spelling.
fn semconv_reason(r: &str) -> String {
    match r {
        "tool-calls" | "tool_calls" | "tool_call" | "function_call" => "tool_call".into(),
        "max_tokens" | "length" => "length".into(),
        "content-filter" | "content_filter" => "content_filter".into(),
        other => other.to_owned(),
    }
}

/// One expected metric value.
#[derive(Debug, Clone)]
pub(super) struct Check {
    pub what: String,
    pub metric: String,
    pub labels: Vec<(String, String)>,
    pub expected: f64,
}

fn check(what: &str, metric: &str, labels: &[(&str, &str)], expected: f64) -> Check {
    Check {
        what: what.to_owned(),
        metric: metric.to_owned(),
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        expected,
    }
}

/// The error class a failed call must land in: the SDK's exception class when the wire
/// carries a specific one (`RateLimitError`, also from `<class 'openai.RateLimitError'>`
/// or `openai.RateLimitError`), which llmwatch documents as the class to use; else the
/// class of the HTTP status (README: `rate_limited`, `server_error`). A generic wrapper
/// such as the AI SDK's `AI_APICallError` says nothing about the failure.
pub(super) fn error_class(status: u16, exception_class: Option<&str>) -> String {
    let class = exception_class.map(|c| {
        let c = c.trim_start_matches("<class '").trim_end_matches("'>");
        c.rsplit('.').next().unwrap_or(c).to_owned()
    });
    match (class, status) {
        (Some(class), _) if class != "AI_APICallError" && class != "APICallError" => class,
        (_, 429) => "rate_limited".into(),
        (_, 500..=599) => "server_error".into(),
        (_, s) => format!("http_{s}"),
    }
}

/// The metrics llmwatch must derive from `calls` for `service`; `statuses` maps each model
/// the fake provider refused to the HTTP status it answered.
pub(super) fn expected(
    service: &str,
    calls: &[Call],
    statuses: &BTreeMap<String, u16>,
) -> Vec<Check> {
    let s = ("service", service);
    let mut out = call_checks(s, calls);
    out.extend(usage_checks(s, calls));
    out.extend(error_checks(s, calls, statuses));
    let mut reasons: BTreeMap<String, f64> = BTreeMap::new();
    for c in calls.iter().filter(|c| !c.error) {
        for r in &c.finish {
            *reasons.entry(semconv_reason(r)).or_default() += 1.0;
        }
    }
    for (reason, n) in &reasons {
        out.push(check(
            &format!("finish reason {reason}"),
            "llm_finish_reasons_total",
            &[s, ("reason", reason)],
            *n,
        ));
    }
    let firsts = calls.iter().filter(|c| c.first_chunk).count();
    out.push(check(
        "streams with a time to first chunk",
        "llm_time_to_first_token_seconds_count",
        &[s],
        firsts as f64,
    ));
    let without = calls
        .iter()
        .filter(|c| !c.error && c.usage.is_none())
        .count();
    out.push(check(
        "successful calls without usage",
        "llm_calls_without_usage_total",
        &[s],
        without as f64,
    ));
    out.extend(identity_checks(calls));
    out
}

/// Calls and their durations, by operation and outcome.
fn call_checks(s: (&str, &str), calls: &[Call]) -> Vec<Check> {
    let mut out = Vec::new();
    for op in ["chat", "embeddings"] {
        for (outcome, err) in [("success", false), ("error", true)] {
            let n = calls
                .iter()
                .filter(|c| c.operation == op && c.error == err)
                .count();
            out.push(check(
                &format!("{op} calls, {outcome}"),
                "llm_requests_total",
                &[s, ("operation", op), ("outcome", outcome)],
                n as f64,
            ));
        }
        let n = calls.iter().filter(|c| c.operation == op).count();
        out.push(check(
            &format!("{op} call durations"),
            "llm_request_duration_seconds_count",
            &[s, ("operation", op)],
            n as f64,
        ));
    }
    out
}

/// The cost of one call's usage, when its model is priced.
fn cost(c: &Call) -> Option<f64> {
    let (i, cr, o, _) = c.usage?;
    let (pi, po, pc) = price(&c.model)?;
    Some(((i - cr) * pi + cr * pc + o * po) / 1e6)
}

/// Tokens in disjoint types, and cost, per model.
fn usage_checks(s: (&str, &str), calls: &[Call]) -> Vec<Check> {
    let mut models: BTreeMap<&str, [f64; 5]> = BTreeMap::new();
    for c in calls.iter().filter(|c| !c.error) {
        if let Some((i, cr, o, r)) = c.usage {
            let m = models.entry(&c.model).or_default();
            m[0] += i - cr;
            m[1] += cr;
            m[2] += o - r;
            m[3] += r;
            m[4] += cost(c).expect("a priced model");
        }
    }
    let mut out = Vec::new();
    for (model, [input, cache_read, output, reasoning, usd]) in &models {
        let m = ("model", *model);
        for (ty, v) in [
            ("input", input),
            ("cache_read", cache_read),
            ("output", output),
            ("reasoning", reasoning),
        ] {
            out.push(check(
                &format!("{model} {ty} tokens"),
                "llm_tokens_total",
                &[s, m, ("type", ty)],
                *v,
            ));
        }
        out.push(check(
            &format!("{model} cost (USD)"),
            "llm_cost_usd_total",
            &[s, m, ("cost_source", "computed")],
            *usd,
        ));
    }
    out.push(check(
        "unpriced tokens",
        "llm_unpriced_tokens_total",
        &[s],
        0.0,
    ));
    out
}

/// Failed calls by model and error class.
fn error_checks(s: (&str, &str), calls: &[Call], statuses: &BTreeMap<String, u16>) -> Vec<Check> {
    let mut errors: BTreeMap<(String, String), f64> = BTreeMap::new();
    for c in calls.iter().filter(|c| c.error) {
        let status = statuses.get(&c.model).copied().unwrap_or(0);
        let class = error_class(status, c.error_type.as_deref());
        *errors.entry((c.model.clone(), class)).or_default() += 1.0;
    }
    errors
        .iter()
        .map(|((model, class), n)| {
            check(
                &format!("{model} errors by class"),
                "llm_errors_total",
                &[s, ("model", model), ("error_type", class)],
                *n,
            )
        })
        .collect()
}

/// Per-user cost and conversations, when the trace names a user and a session.
fn identity_checks(calls: &[Call]) -> Vec<Check> {
    let attributed = calls
        .iter()
        .filter(|c| c.user_in_trace)
        .filter_map(cost)
        .fold(0.0, |a, b| a + b);
    // Every driver runs at most one session, kept open (conversation_idle is 30m).
    let sessions = calls.iter().any(|c| c.session_in_trace);
    vec![
        check(
            "cost of the user's calls (top users, 1d)",
            "chat_top_user_cost_usd",
            &[("window", "1d")],
            attributed,
        ),
        check(
            "open conversations",
            "chat_conversations_open",
            &[],
            f64::from(u8::from(sessions)),
        ),
    ]
}

/// The value of `c` in a /metrics text.
pub(super) fn observed(text: &str, c: &Check) -> f64 {
    let labels: Vec<(&str, &str)> = c
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    metric_value(text, &c.metric, &labels)
}

/// Whether `observed` matches `c` (costs to 1e-12 relative).
pub(super) fn matches(c: &Check, observed: f64) -> bool {
    (observed - c.expected).abs() <= 1e-12 * c.expected.abs().max(1e-6)
}

/// The series of `c`'s family in a /metrics text that carry `c`'s service label.
fn series(text: &str, c: &Check) -> Vec<String> {
    let service = c.labels.iter().find(|(k, _)| k == "service");
    text.lines()
        .filter(|l| {
            l.strip_prefix(c.metric.as_str())
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter(|l| service.is_none_or(|(_, v)| l.contains(&format!("service=\"{v}\""))))
        .map(str::to_owned)
        .collect()
}

/// The JSON form of a check, as the corpus stores it; a wrong one keeps the family's
/// series as observed (for instance the error class llmwatch chose instead).
pub(super) fn to_json(c: &Check, text: &str, defect: Option<&str>) -> Value {
    let observed = observed(text, c);
    let labels: serde_json::Map<String, Value> = c
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let correct = matches(c, observed);
    json!({
        "what": c.what,
        "metric": c.metric,
        "labels": labels,
        "expected": c.expected,
        "observed": observed,
        "status": if correct { "correct" } else { "wrong" },
        "defect": if correct { None } else { defect },
        "observed_series": if correct { Vec::new() } else { series(text, c) },
    })
}
