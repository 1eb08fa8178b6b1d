//! The `chat_*` families' specs and bucket bounds, and the catalogued events' families.

use std::collections::BTreeMap;

use prometheus_client::metrics::counter::Counter;

use super::super::AnalyticsConfig;
use super::CataloguedEvent;
use crate::metrics::bounded::{DimensionConfig, Family, Histogram, ValueLimit};
use crate::metrics::spec::{FamilyMaker, FamilySpec};

/// Bucket bounds of the per-conversation histograms: messages, tokens, USD, seconds.
pub(super) const CONVERSATION_BUCKETS: [(&str, &str, &[f64]); 4] = [
    (
        "chat_conversation_messages",
        "Messages per conversation, at its end.",
        &[1.0, 2.0, 4.0, 6.0, 10.0, 20.0, 50.0, 100.0],
    ),
    (
        "chat_conversation_tokens",
        "Tokens of LLM calls per conversation, at its end.",
        &[100.0, 1e3, 5e3, 1e4, 5e4, 1e5, 5e5, 1e6],
    ),
    (
        "chat_conversation_cost_usd",
        "Cost of LLM calls per conversation in USD, at its end.",
        &[0.0001, 0.001, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0],
    ),
    (
        "chat_conversation_duration_seconds",
        "Conversation duration, first to last activity.",
        &[10.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0],
    ),
];

pub(super) const FEEDBACK: FamilySpec = FamilySpec {
    name: "chat_feedback",
    help: "Message feedback and evaluation results by rating (positive, negative, neutral) and model.",
    unit: None,
    labels: &["rating", "model"],
};

pub(super) const INTENT_COUNTS: FamilySpec = FamilySpec {
    name: "chat_intents",
    help: "Messages by intent and outcome (understood, misunderstood, error).",
    unit: None,
    labels: &["intent", "outcome"],
};

pub(super) const CONVERSATIONS: FamilySpec = FamilySpec {
    name: "chat_conversations",
    help: "Ended conversations by outcome: completed (answered after the user's last message), abandoned (not), errored (last LLM call failed).",
    unit: None,
    labels: &["outcome"],
};

pub(super) const DROPOFF: FamilySpec = FamilySpec {
    name: "chat_conversation_dropoff",
    help: "Abandoned conversations by the last product event before the user left.",
    unit: None,
    labels: &["event"],
};

pub(super) const FUNNEL_STEPS: FamilySpec = FamilySpec {
    name: "chat_funnel_step",
    help: "Users reaching each funnel step for the first time in the funnel window (after every earlier step).",
    unit: None,
    labels: &["funnel", "step"],
};

pub(super) const FUNNEL_DURATION: FamilySpec = FamilySpec {
    name: "chat_funnel_duration_seconds",
    help: "Time from a user's first funnel step to its last.",
    unit: None,
    labels: &["funnel"],
};

/// Bucket boundaries of `chat_funnel_duration_seconds`: a minute to a week.
pub(super) const FUNNEL_DURATION_BUCKETS: [f64; 8] = [
    60.0,
    300.0,
    900.0,
    3600.0,
    4.0 * 3600.0,
    86_400.0,
    3.0 * 86_400.0,
    7.0 * 86_400.0,
];

/// The labels of `chat_events` that never fold.
pub(super) const KEEP: [&str; 3] = ["event", "rating", "outcome"];

/// One `chat_events` family per configured event, each with the value limits of its
/// dimensions, keyed by event name.
pub(super) fn event_families(config: &AnalyticsConfig) -> BTreeMap<String, CataloguedEvent> {
    config
        .events
        .iter()
        .map(|e| {
            let dims: Vec<(String, ValueLimit)> = e
                .dimensions
                .iter()
                .map(|d| {
                    let limit = ValueLimit::new(format!("chat_events:{}", d.label()), d.max_values);
                    (d.attribute.clone(), limit)
                })
                .collect();
            let labels = ["service".to_owned(), "event".to_owned()]
                .into_iter()
                .chain(e.dimensions.iter().map(DimensionConfig::label))
                .collect();
            let family = Family::new(
                "chat_events",
                "",
                None,
                labels,
                &KEEP,
                config.series.series_limit,
                Counter::default,
            );
            (e.name.clone(), (dims, family))
        })
        .collect()
}

/// The conversation histograms of [`CONVERSATION_BUCKETS`], by outcome.
pub(super) fn conversation_histograms(
    m: &FamilyMaker<'_>,
) -> [(&'static str, Family<Histogram>); 4] {
    CONVERSATION_BUCKETS.map(|(name, help, buckets)| {
        let b = buckets.to_vec();
        let spec = FamilySpec {
            name,
            help,
            unit: None,
            labels: &["outcome"],
        };
        (
            name,
            m.make(&spec, &[], move || Histogram::new(b.clone().into_iter())),
        )
    })
}
