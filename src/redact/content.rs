//! The content policies: prompt and completion text dropped, or replaced by metadata.

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};

use super::Finding;
use super::config::ContentPolicy;
use super::counter::Counts;
use super::processor::Redactor;

/// Appends every string inside `value`, space-separated.
pub(super) fn flatten_strings(value: &AnyValue, out: &mut String) {
    match &value.value {
        Some(Value::StringValue(s)) => {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(s);
        }
        Some(Value::ArrayValue(a)) => a.values.iter().for_each(|v| flatten_strings(v, out)),
        Some(Value::KvlistValue(kv)) => kv
            .values
            .iter()
            .filter_map(|kv| kv.value.as_ref())
            .for_each(|v| flatten_strings(v, out)),
        _ => {}
    }
}

impl Redactor {
    /// `<key>.length` and `<key>.pii` (`length` and `pii` for an empty key) for a content
    /// value under the metadata policy.
    pub(super) fn content_metadata(
        &self,
        key: &str,
        value: &AnyValue,
        found: &mut Vec<Finding>,
    ) -> [KeyValue; 2] {
        let mut text = String::new();
        flatten_strings(value, &mut text);
        found.clear();
        self.scanner.scan(&text, found);
        let mut kinds: Vec<&'static str> = found
            .iter()
            .map(|f| self.scanner.name(f.detector))
            .collect();
        kinds.sort_unstable();
        kinds.dedup();
        let pii = kinds
            .into_iter()
            .map(|k| AnyValue {
                value: Some(Value::StringValue(k.to_owned())),
            })
            .collect();
        [
            KeyValue {
                key: if key.is_empty() {
                    "length".to_owned()
                } else {
                    format!("{key}.length")
                },
                value: Some(AnyValue {
                    value: Some(Value::IntValue(text.chars().count() as i64)),
                }),
                ..Default::default()
            },
            KeyValue {
                key: if key.is_empty() {
                    "pii".to_owned()
                } else {
                    format!("{key}.pii")
                },
                value: Some(AnyValue {
                    value: Some(Value::ArrayValue(
                        opentelemetry_proto::tonic::common::v1::ArrayValue { values: pii },
                    )),
                }),
                ..Default::default()
            },
        ]
    }

    pub(super) fn is_content_event(&self, name: &str) -> bool {
        self.content != ContentPolicy::Keep && self.content_events.iter().any(|e| e == name)
    }

    /// Replaces every string, array or kvlist attribute of a content event by its metadata.
    pub(super) fn content_event_attributes(
        &self,
        attrs: &mut Vec<KeyValue>,
        counts: &mut Counts,
        location: &'static str,
        found: &mut Vec<Finding>,
    ) {
        *counts.entry(("content", location)).or_default() += 1;
        let mut out = Vec::with_capacity(attrs.len() * 2);
        for kv in attrs.drain(..) {
            // Metadata written by an earlier pass (or an earlier llmwatch) stays as it is.
            if kv.key.ends_with(".pii")
                && matches!(
                    kv.value.as_ref().and_then(|v| v.value.as_ref()),
                    Some(Value::ArrayValue(_))
                )
            {
                out.push(kv);
                continue;
            }
            match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Value::StringValue(_) | Value::ArrayValue(_) | Value::KvlistValue(_)) => {
                    if let Some(v) = kv.value.as_ref() {
                        out.extend(self.content_metadata(&kv.key, v, found));
                    }
                }
                _ => out.push(kv),
            }
        }
        *attrs = out;
    }
}
