//! `llmwatch_redactions_total`, the per-batch counts behind it, and the audit summary.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct RedactionLabels {
    pub(super) detector: &'static str,
    pub(super) location: &'static str,
}

/// `llmwatch_redactions_total`, shared by every redaction processor.
#[derive(Clone, Default)]
pub struct RedactionCounter(Family<RedactionLabels, Counter>);

impl RedactionCounter {
    /// Registers the family in `registry`.
    pub fn register(registry: &mut Registry) -> RedactionCounter {
        let counter = RedactionCounter::default();
        registry.register(
            "llmwatch_redactions",
            "Values redacted, by detector (or key rule: blocked_key, user_id) and location",
            counter.0.clone(),
        );
        counter
    }

    pub(super) fn family(&self) -> Family<RedactionLabels, Counter> {
        self.0.clone()
    }
}

/// Counts per (detector or rule, location), summed for a batch and recorded once.
pub(super) type Counts = BTreeMap<(&'static str, &'static str), u64>;

/// Adds `redaction.masked.count` and `redaction.masked.types` for what changed between
/// `before` and `after`, when anything did.
pub(super) fn add_summary(attrs: &mut Vec<KeyValue>, before: &Counts, after: &Counts) {
    let mut total = 0;
    let mut types: Vec<&'static str> = Vec::new();
    for (key, &n) in after {
        let d = n - before.get(key).copied().unwrap_or(0);
        if d > 0 {
            total += d;
            if !types.contains(&key.0) {
                types.push(key.0);
            }
        }
    }
    if total == 0 {
        return;
    }
    types.sort_unstable();
    attrs.push(KeyValue {
        key: "redaction.masked.count".to_owned(),
        value: Some(AnyValue {
            value: Some(Value::IntValue(i64::try_from(total).unwrap_or(i64::MAX))),
        }),
        ..Default::default()
    });
    let values = types
        .into_iter()
        .map(|t| AnyValue {
            value: Some(Value::StringValue(t.to_owned())),
        })
        .collect();
    attrs.push(KeyValue {
        key: "redaction.masked.types".to_owned(),
        value: Some(AnyValue {
            value: Some(Value::ArrayValue(
                opentelemetry_proto::tonic::common::v1::ArrayValue { values },
            )),
        }),
        ..Default::default()
    });
}
