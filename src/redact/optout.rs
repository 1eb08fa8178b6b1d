//! Telemetry marked as opted out of user-level analytics loses its user ids.

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value;

use super::counter::Counts;
use super::processor::Redactor;
use crate::model::Payload;

impl Redactor {
    fn opted_out(&self, attrs: &[KeyValue]) -> bool {
        attrs.iter().any(|kv| {
            self.opt_out.contains(&kv.key)
                && match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(Value::BoolValue(b)) => *b,
                    Some(Value::StringValue(s)) => s.eq_ignore_ascii_case("true") || s == "1",
                    Some(Value::IntValue(i)) => *i == 1,
                    _ => false,
                }
        })
    }

    fn remove_user_ids(
        &self,
        attrs: &mut Vec<KeyValue>,
        counts: &mut Counts,
        location: &'static str,
    ) {
        let before = attrs.len();
        attrs.retain(|kv| !self.is_user_id_key(&kv.key));
        let removed = (before - attrs.len()) as u64;
        if removed > 0 {
            *counts.entry(("opted_out_user_id", location)).or_default() += removed;
        }
    }

    /// Removes user ids from telemetry marked as opted out, before anything else runs.
    pub(super) fn strip_opted_out(&self, payload: &mut Payload, counts: &mut Counts) {
        if self.opt_out.is_empty() || (self.user_ids.is_empty() && !self.identity_keys) {
            return;
        }
        match payload {
            Payload::Traces(req) => {
                for rs in &mut req.resource_spans {
                    let all = rs
                        .resource
                        .as_ref()
                        .is_some_and(|r| self.opted_out(&r.attributes));
                    if all && let Some(r) = rs.resource.as_mut() {
                        self.remove_user_ids(&mut r.attributes, counts, "resource");
                    }
                    for span in rs.scope_spans.iter_mut().flat_map(|ss| &mut ss.spans) {
                        if all || self.opted_out(&span.attributes) {
                            self.remove_user_ids(&mut span.attributes, counts, "span");
                            for e in &mut span.events {
                                self.remove_user_ids(&mut e.attributes, counts, "span_event");
                            }
                        }
                    }
                }
            }
            Payload::Logs(req) => {
                for rl in &mut req.resource_logs {
                    let all = rl
                        .resource
                        .as_ref()
                        .is_some_and(|r| self.opted_out(&r.attributes));
                    if all && let Some(r) = rl.resource.as_mut() {
                        self.remove_user_ids(&mut r.attributes, counts, "resource");
                    }
                    for rec in rl.scope_logs.iter_mut().flat_map(|sl| &mut sl.log_records) {
                        if all || self.opted_out(&rec.attributes) {
                            self.remove_user_ids(&mut rec.attributes, counts, "log");
                        }
                    }
                }
            }
            Payload::Metrics(req) => {
                for rm in &mut req.resource_metrics {
                    if rm
                        .resource
                        .as_ref()
                        .is_some_and(|r| self.opted_out(&r.attributes))
                        && let Some(r) = rm.resource.as_mut()
                    {
                        self.remove_user_ids(&mut r.attributes, counts, "resource");
                    }
                }
            }
        }
    }
}
