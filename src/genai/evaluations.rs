//! Evaluation results (`gen_ai.evaluation.result` events): `llm_evaluation_score` by
//! evaluation and `llm_evaluations_total` by evaluation and score label. Evaluation names
//! and labels pass a value limit each ([`MAX_NAMES`], [`MAX_LABELS`]); past it they are
//! `other`, counted in `llmwatch_metric_overflow_total{family="llm_evaluation_names"}`
//! (`llm_evaluation_labels`). The feedback mapping of `chat_analytics` is unchanged.

use super::metrics::{LlmMetrics, OverflowCounter, label_value};
use crate::derive::evaluation::Evaluation;

/// Distinct evaluation names kept as labels.
pub const MAX_NAMES: usize = 50;
/// Distinct score labels kept as labels.
pub const MAX_LABELS: usize = 50;

/// Score buckets: scores from 0 to 1 in tenths, and 1-to-5 or 1-to-10 scales.
pub const SCORE_BUCKETS: [f64; 14] = [
    0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 2.0, 3.0, 5.0, 10.0,
];

/// Records one evaluation result of `service`.
pub fn record(m: &LlmMetrics, service: &str, e: &Evaluation, of: &OverflowCounter) {
    let now = m.now();
    let service = label_value(service);
    let name = m
        .evaluation_names
        .admit(label_value(&e.name).into_owned(), of);
    let label = match &e.label {
        Some(l) => m.evaluation_labels.admit(label_value(l).into_owned(), of),
        None => "none".to_owned(),
    };
    m.evaluations
        .with(&[&service, &name, &label], now, of, |c| {
            c.inc();
        });
    if let Some(score) = e.score {
        m.evaluation_score.with(&[&service, &name], now, of, |h| {
            h.observe(score, None, None)
        });
    }
}
