//! Product analytics end to end: the Python SDK sends a realistic session of three users,
//! and every counter on `/metrics` has its exact expected value.

use std::time::Duration;

use super::python_clients::run_script;
use super::support::{Llmwatch, metric_value};

const CONFIG: &str = r#"
receivers:
  otlp:
    protocols:
      http: { endpoint: "127.0.0.1:0" }
processors:
  redaction: { insecure_dev_key: true }
  chat_analytics: { conversation_idle: 5s }
exporters:
  prometheus: { endpoint: "127.0.0.1:0" }
service:
  pipelines:
    logs: { receivers: [otlp], processors: [redaction, chat_analytics], exporters: [prometheus] }
"#;

/// A counter's metric, labels, value and what it counts.
type Counter = (
    &'static str,
    &'static [(&'static str, &'static str)],
    f64,
    &'static str,
);

/// The counters of the session.
const SESSION_COUNTERS: &[Counter] = &[
    (
        "chat_events_total",
        &[
            ("service", "chat-web"),
            ("event", "chat_opened"),
            ("entry_point", "widget"),
        ],
        2.0,
        "widget opens",
    ),
    (
        "chat_events_total",
        &[
            ("service", "chat-web"),
            ("event", "chat_opened"),
            ("entry_point", "help_page"),
        ],
        1.0,
        "help-page opens",
    ),
    (
        "chat_events_total",
        &[("service", "chat-web"), ("event", "message_sent")],
        3.0,
        "messages sent",
    ),
    (
        "chat_events_total",
        &[("service", "chat-web"), ("event", "message_received")],
        1.0,
        "messages received",
    ),
    (
        "chat_events_total",
        &[
            ("service", "chat-web"),
            ("event", "message_feedback"),
            ("rating", "up"),
        ],
        1.0,
        "thumbs up events",
    ),
    (
        "chat_events_total",
        &[
            ("service", "chat-web"),
            ("event", "platform_connected"),
            ("platform", "google_ads"),
        ],
        1.0,
        "connections",
    ),
    (
        "chat_events_total",
        &[("service", "chat-web"), ("event", "first_chat_message")],
        1.0,
        "first messages",
    ),
    (
        "chat_events_total",
        &[("event", "oauth_started")],
        0.0,
        "events outside the catalogue",
    ),
    (
        "chat_feedback_total",
        &[("rating", "positive"), ("model", "gpt-4o")],
        1.0,
        "positive feedback",
    ),
    (
        "chat_feedback_total",
        &[("rating", "negative"), ("model", "unknown")],
        1.0,
        "negative feedback",
    ),
    (
        "chat_intents_total",
        &[("intent", "billing"), ("outcome", "understood")],
        1.0,
        "billing intents",
    ),
    (
        "chat_intents_total",
        &[("intent", "reports"), ("outcome", "understood")],
        1.0,
        "reports intents",
    ),
    (
        "chat_intents_total",
        &[("intent", "reports"), ("outcome", "misunderstood")],
        1.0,
        "repeated intents",
    ),
    (
        "chat_funnel_step_total",
        &[("funnel", "platform_connection"), ("step", "chat_opened")],
        3.0,
        "funnel entries",
    ),
    (
        "chat_funnel_step_total",
        &[
            ("funnel", "platform_connection"),
            ("step", "oauth_completed"),
        ],
        1.0,
        "OAuth completions",
    ),
    (
        "chat_funnel_step_total",
        &[
            ("funnel", "platform_connection"),
            ("step", "platform_connected"),
        ],
        1.0,
        "funnel completions",
    ),
    (
        "chat_funnel_duration_seconds_count",
        &[("funnel", "platform_connection")],
        1.0,
        "funnel durations",
    ),
    (
        "chat_conversations_total",
        &[("outcome", "completed")],
        1.0,
        "completed conversations",
    ),
    (
        "chat_conversations_total",
        &[("outcome", "abandoned")],
        1.0,
        "abandoned conversations",
    ),
    (
        "chat_conversation_dropoff_total",
        &[("event", "message_sent")],
        1.0,
        "drop-offs after a message",
    ),
];

#[test]
fn a_realistic_session_gives_exact_counters() {
    let lw = Llmwatch::start(CONFIG);
    run_script("emit_chat.py", &[format!("http://{}", lw.http.unwrap())]);
    // A conversation ends when a scrape finds it idle past `conversation_idle`. The scrapes
    // of this wait run while the script still emits, one request per event, so the idle
    // time must exceed any gap between two events of one conversation on a loaded machine.
    let text = lw.metrics_when(Duration::from_secs(40), |text| {
        metric_value(
            text,
            "llmwatch_exporter_sent_items_total",
            &[("signal", "logs")],
        ) >= 16.0
            && metric_value(text, "chat_conversations_total", &[]) >= 2.0
    });
    for &(metric, labels, want, what) in SESSION_COUNTERS {
        let got = metric_value(&text, metric, labels);
        assert_eq!(got, want, "{what}:\n{text}");
    }
    // Three users, one of them a guest, one new: linear counting is exact at this size.
    for (segment, n) in [
        ("all", 3.0),
        ("guest", 1.0),
        ("authenticated", 2.0),
        ("new", 1.0),
        ("tier:pro", 1.0),
    ] {
        let e = metric_value(
            &text,
            "chat_users_estimate",
            &[("window", "1d"), ("segment", segment)],
        );
        assert!((e - n).abs() < 0.05, "{segment}: {e}\n{text}");
    }
    // Only pseudonyms reach the metrics.
    assert!(!text.contains("user-a"), "{text}");
}
