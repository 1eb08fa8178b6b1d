//! Evaluation results through the binary (issue 15, item 4): `gen_ai.evaluation.result`
//! log events become `llm_evaluation_score` and `llm_evaluations_total`, and still count as
//! feedback in `chat_feedback_total`.

use std::time::Duration;

use serde_json::{Value, json};

use super::emitter_verify::CONFIG;
use super::support::{Llmwatch, http_request, metric_value};

fn evaluation(name: &str, score: f64, label: &str) -> Value {
    json!({
        "eventName": "gen_ai.evaluation.result",
        "timeUnixNano": "1764000000000000000",
        "attributes": [
            {"key": "gen_ai.evaluation.name", "value": {"stringValue": name}},
            {"key": "gen_ai.evaluation.score.value", "value": {"doubleValue": score}},
            {"key": "gen_ai.evaluation.score.label", "value": {"stringValue": label}},
        ],
    })
}

#[test]
fn evaluation_events_become_scores_and_label_counts() {
    let lw = Llmwatch::start(CONFIG);
    let body = json!({"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "rag"}}]},
        "scopeLogs": [{"logRecords": [
            evaluation("Faithfulness", 0.9, "pass"),
            evaluation("Faithfulness", 0.4, "fail"),
            evaluation("Faithfulness", 0.95, "pass"),
        ]}],
    }]});
    let r = http_request(
        lw.http(),
        "POST",
        "/v1/logs",
        &[("content-type", "application/json")],
        &serde_json::to_vec(&body).unwrap(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    // `genai` records before `chat_analytics`: a scrape may fall between the two.
    let text = lw.metrics_when(Duration::from_secs(10), |t| {
        let feedback = |r| metric_value(t, "chat_feedback_total", &[("rating", r)]);
        metric_value(t, "llm_evaluation_score_count", &[]) == 3.0
            && feedback("positive") + feedback("negative") == 3.0
    });
    let of = |name, labels: &[(&str, &str)]| {
        let mut l = vec![("service", "rag"), ("evaluation", "Faithfulness")];
        l.extend_from_slice(labels);
        metric_value(&text, name, &l)
    };
    assert_eq!(
        of("llm_evaluations_total", &[("label", "pass")]),
        2.0,
        "{text}"
    );
    assert_eq!(of("llm_evaluations_total", &[("label", "fail")]), 1.0);
    assert!((of("llm_evaluation_score_sum", &[]) - 2.25).abs() < 1e-9);
    assert_eq!(of("llm_evaluation_score_bucket", &[("le", "0.5")]), 1.0);
    // The feedback mapping holds: labels pass and fail are positive and negative.
    assert_eq!(
        metric_value(&text, "chat_feedback_total", &[("rating", "positive")]),
        2.0
    );
    assert_eq!(
        metric_value(&text, "chat_feedback_total", &[("rating", "negative")]),
        1.0
    );
}
