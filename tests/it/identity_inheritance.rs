//! Identity from the enclosing span, through the binary (issue 15): an LLM span without a
//! user or session takes its nearest ancestor's, whether the ancestor arrives in a later
//! request or an earlier one, while its `llm_*` metrics are recorded at once; a call whose
//! ancestor never arrives gives up after `identity_inheritance.wait` and is counted.

use std::time::Duration;

use serde_json::{Value, json};

use super::support::{Llmwatch, http_request, metric_value};

const CONFIG: &str = r#"
receivers:
  otlp:
    protocols:
      http: { endpoint: "127.0.0.1:0" }
processors:
  redaction: { insecure_dev_key: true }
  genai: {}
  chat_analytics: { identity_inheritance: { wait: "1s" } }
exporters:
  prometheus: { endpoint: "127.0.0.1:0" }
service:
  pipelines:
    traces: { receivers: [otlp], processors: [redaction, genai, chat_analytics], exporters: [prometheus] }
"#;

fn s(key: &str, v: &str) -> Value {
    json!({"key": key, "value": {"stringValue": v}})
}

fn span(trace: &str, id: &str, parent: &str, name: &str, attributes: Vec<Value>) -> Value {
    json!({
        "traceId": trace, "spanId": id, "parentSpanId": parent, "name": name,
        "startTimeUnixNano": "1764000000000000000", "endTimeUnixNano": "1764000001000000000",
        "attributes": attributes,
    })
}

/// A `chat` span of gpt-4o with 1000 input and 100 output tokens and no identity.
fn chat(trace: &str, id: &str, parent: &str) -> Value {
    span(
        trace,
        id,
        parent,
        "chat gpt-4o",
        vec![
            s("gen_ai.operation.name", "chat"),
            s("gen_ai.provider.name", "openai"),
            s("gen_ai.request.model", "gpt-4o"),
            json!({"key": "gen_ai.usage.input_tokens", "value": {"intValue": "1000"}}),
            json!({"key": "gen_ai.usage.output_tokens", "value": {"intValue": "100"}}),
        ],
    )
}

/// The app's server span with the user and session.
fn server(trace: &str, id: &str, user: &str) -> Value {
    span(
        trace,
        id,
        "",
        "POST /api/chat",
        vec![s("user.id", user), s("session.id", &format!("s-{user}"))],
    )
}

fn send(lw: &Llmwatch, spans: Vec<Value>) {
    let body = json!({"resourceSpans": [{
        "resource": {"attributes": [s("service.name", "chat-api")]},
        "scopeSpans": [{"spans": spans}],
    }]});
    let r = http_request(
        lw.http(),
        "POST",
        "/v1/traces",
        &[("content-type", "application/json")],
        &serde_json::to_vec(&body).unwrap(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
}

fn inheritance(text: &str, result: &str) -> f64 {
    metric_value(
        text,
        "llmwatch_identity_inheritance_total",
        &[("result", result)],
    )
}

/// The cost of one call: 1000 input and 100 output tokens of gpt-4o.
const CALL_USD: f64 = 1000.0 * 2.5e-6 + 100.0 * 10e-6;

/// The day's top users are the two inherited users, one call each, pseudonymised by
/// redaction like the ancestors' own attribute.
fn check_two_pseudonymous_top_users(text: &str) {
    let users: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("chat_top_user_cost_usd{") && l.contains("window=\"1d\""))
        .collect();
    assert_eq!(users.len(), 2, "{text}");
    for l in users {
        let usd: f64 = l.rsplit(' ').next().unwrap().parse().unwrap();
        assert!((usd - CALL_USD).abs() < 1e-12, "{l}");
        // Pseudonymised by redaction like the ancestor's own attribute.
        assert!(!l.contains("u-later") && !l.contains("u-earlier"), "{l}");
    }
}

#[test]
fn llm_calls_take_the_user_and_session_of_their_enclosing_span() {
    let lw = Llmwatch::start(CONFIG);
    let t1 = "11111111111111111111111111111111";
    let t2 = "22222222222222222222222222222222";
    let t3 = "33333333333333333333333333333333";
    // The ancestor arrives in a later request, with a span in between.
    send(&lw, vec![chat(t1, "1111111111111113", "1111111111111112")]);
    // `genai` counts the call before `chat_analytics` parks it: a scrape may fall between
    // the two, so both are awaited.
    let text = lw.metrics_when(Duration::from_secs(10), |t| {
        metric_value(t, "llm_requests_total", &[("outcome", "success")]) == 1.0
            && metric_value(t, "llmwatch_identity_inheritance_waiting", &[]) == 1.0
    });
    // Metrics at once; the attribution waits.
    assert_eq!(inheritance(&text, "inherited"), 0.0, "{text}");
    assert_eq!(
        metric_value(&text, "llmwatch_identity_inheritance_waiting", &[]),
        1.0
    );
    send(
        &lw,
        vec![
            span(t1, "1111111111111112", "1111111111111111", "step", vec![]),
            server(t1, "1111111111111111", "u-later"),
        ],
    );
    // The ancestor arrived earlier.
    send(&lw, vec![server(t2, "2222222222222221", "u-earlier")]);
    send(&lw, vec![chat(t2, "2222222222222222", "2222222222222221")]);
    // The outcome is counted before the call reaches its conversation: both awaited.
    let text = lw.metrics_when(Duration::from_secs(10), |t| {
        inheritance(t, "inherited") == 2.0 && metric_value(t, "chat_conversations_open", &[]) == 2.0
    });
    assert_eq!(
        metric_value(&text, "chat_conversations_open", &[]),
        2.0,
        "{text}"
    );
    check_two_pseudonymous_top_users(&text);
    // An ancestor that never comes: given up after the wait, at the next batch, counted.
    send(&lw, vec![chat(t3, "3333333333333332", "3333333333333331")]);
    // Waits out the configured wait (1 s): a deadline, not a readiness guess.
    std::thread::sleep(Duration::from_millis(1100));
    send(
        &lw,
        vec![span(t3, "4444444444444444", "", "GET /health", vec![])],
    );
    let text = lw.metrics_when(Duration::from_secs(10), |t| {
        inheritance(t, "timeout") == 1.0
    });
    assert_eq!(
        metric_value(&text, "llmwatch_identity_inheritance_waiting", &[]),
        0.0
    );
    assert_eq!(
        metric_value(&text, "chat_conversations_open", &[]),
        2.0,
        "{text}"
    );
    assert_eq!(
        metric_value(&text, "llm_requests_total", &[("outcome", "success")]),
        3.0
    );
}
