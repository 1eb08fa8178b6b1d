//! Every string a batch carries, visited: resource, scope (name, version, attributes),
//! spans (name, status message, `trace_state`, attributes), span events (name,
//! attributes), links (`trace_state`, attributes), log records (body, severity text, event
//! name, attributes), metrics (name, description, unit, data point and exemplar
//! attributes). Bytes values are scanned when they are UTF-8.
//!
//! A field that cannot be rewritten and stay valid is removed instead: a `trace_state`
//! with a finding is emptied; a metric whose name or unit has one is dropped. Each is
//! counted in `llmwatch_redactions_total` (`dropped_trace_state`, `dropped_metric`).

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValueList};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::Metric;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::trace::v1::Span;

use super::Finding;
use super::config::ContentPolicy;
use super::counter::{Counts, add_summary};
use super::processor::Redactor;
use crate::model::Payload;

type Found = Vec<Finding>;

impl Redactor {
    pub(super) fn redact_payload(&self, payload: &mut Payload, counts: &mut Counts) {
        self.strip_opted_out(payload, counts);
        let f = &mut Vec::new();
        match payload {
            Payload::Traces(req) => {
                for rs in &mut req.resource_spans {
                    if let Some(r) = rs.resource.as_mut() {
                        self.redact_attributes(&mut r.attributes, "resource", counts, f);
                    }
                    for ss in &mut rs.scope_spans {
                        self.scope(ss.scope.as_mut(), counts, f);
                        for span in &mut ss.spans {
                            self.span(span, counts, f);
                        }
                    }
                }
            }
            Payload::Logs(req) => {
                for rl in &mut req.resource_logs {
                    if let Some(r) = rl.resource.as_mut() {
                        self.redact_attributes(&mut r.attributes, "resource", counts, f);
                    }
                    for sl in &mut rl.scope_logs {
                        self.scope(sl.scope.as_mut(), counts, f);
                        for rec in &mut sl.log_records {
                            self.log_record(rec, counts, f);
                        }
                    }
                }
            }
            Payload::Metrics(req) => {
                for rm in &mut req.resource_metrics {
                    if let Some(r) = rm.resource.as_mut() {
                        self.redact_attributes(&mut r.attributes, "resource", counts, f);
                    }
                    for sm in &mut rm.scope_metrics {
                        self.scope(sm.scope.as_mut(), counts, f);
                        sm.metrics.retain_mut(|m| self.metric(m, counts, f));
                    }
                }
            }
        }
    }

    fn scope(&self, scope: Option<&mut InstrumentationScope>, counts: &mut Counts, f: &mut Found) {
        if let Some(s) = scope {
            self.redact_string(&mut s.name, "scope", counts, f);
            self.redact_string(&mut s.version, "scope", counts, f);
            self.redact_attributes(&mut s.attributes, "scope", counts, f);
        }
    }

    /// Empties a W3C `trace_state` that holds a finding: masked, it would not parse.
    fn trace_state(&self, state: &mut String, counts: &mut Counts, f: &mut Found) {
        f.clear();
        self.scanner.scan(state, f);
        if !f.is_empty() {
            for x in f.iter() {
                *counts
                    .entry((self.scanner.name(x.detector), "trace_state"))
                    .or_default() += 1;
            }
            *counts
                .entry(("dropped_trace_state", "trace_state"))
                .or_default() += 1;
            state.clear();
        }
    }

    fn span(&self, span: &mut Span, counts: &mut Counts, f: &mut Found) {
        let snapshot = self.summary.then(|| counts.clone());
        if self.span_names {
            self.redact_string(&mut span.name, "span_name", counts, f);
        }
        self.trace_state(&mut span.trace_state, counts, f);
        self.redact_attributes(&mut span.attributes, "span", counts, f);
        if let Some(status) = span.status.as_mut() {
            self.redact_string(&mut status.message, "span_status", counts, f);
        }
        self.content_events(span, counts, f);
        for event in &mut span.events {
            self.redact_string(&mut event.name, "span_event", counts, f);
            self.redact_attributes(&mut event.attributes, "span_event", counts, f);
        }
        for link in &mut span.links {
            self.trace_state(&mut link.trace_state, counts, f);
            self.redact_attributes(&mut link.attributes, "span_link", counts, f);
        }
        if let Some(before) = snapshot {
            add_summary(&mut span.attributes, &before, counts);
        }
    }

    /// Applies the content policy to the span's content events.
    fn content_events(&self, span: &mut Span, counts: &mut Counts, f: &mut Found) {
        if self.content == ContentPolicy::Drop {
            let before = span.events.len();
            span.events.retain(|e| !self.is_content_event(&e.name));
            let dropped = (before - span.events.len()) as u64;
            if dropped > 0 {
                *counts.entry(("content", "span_event")).or_default() += dropped;
            }
        } else if self.content == ContentPolicy::Metadata {
            for event in span
                .events
                .iter_mut()
                .filter(|e| self.is_content_event(&e.name))
            {
                self.content_event_attributes(&mut event.attributes, counts, "span_event", f);
            }
        }
    }

    fn log_record(&self, rec: &mut LogRecord, counts: &mut Counts, f: &mut Found) {
        let snapshot = self.summary.then(|| counts.clone());
        let event_name = if rec.event_name.is_empty() {
            rec.attributes
                .iter()
                .find(|kv| kv.key == "event.name")
                .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                    Value::StringValue(s) => Some(s.clone()),
                    _ => None,
                })
        } else {
            Some(rec.event_name.clone())
        };
        if event_name.is_some_and(|n| self.is_content_event(&n))
            && let Some(body) = rec.body.take()
        {
            *counts.entry(("content", "log_body")).or_default() += 1;
            if self.content == ContentPolicy::Metadata {
                let [length, pii] = self.content_metadata("", &body, f);
                rec.body = Some(AnyValue {
                    value: Some(Value::KvlistValue(KeyValueList {
                        values: vec![length, pii],
                    })),
                });
            }
        }
        if let Some(body) = rec.body.as_mut() {
            self.redact_any(body, "log_body", counts, f);
        }
        self.redact_string(&mut rec.severity_text, "log", counts, f);
        self.redact_string(&mut rec.event_name, "log", counts, f);
        self.redact_attributes(&mut rec.attributes, "log", counts, f);
        if let Some(before) = snapshot {
            add_summary(&mut rec.attributes, &before, counts);
        }
    }

    /// Redacts a metric; returns whether it stays. A name or unit with a finding cannot be
    /// rewritten (the metric would become another one), so the metric is dropped.
    fn metric(&self, m: &mut Metric, counts: &mut Counts, f: &mut Found) -> bool {
        for field in [&m.name, &m.unit] {
            f.clear();
            self.scanner.scan(field, f);
            if !f.is_empty() {
                for x in f.iter() {
                    *counts
                        .entry((self.scanner.name(x.detector), "metric_name"))
                        .or_default() += 1;
                }
                *counts.entry(("dropped_metric", "metric_name")).or_default() += 1;
                return false;
            }
        }
        self.redact_string(&mut m.description, "metric_description", counts, f);
        self.metric_points(m.data.as_mut(), counts, f);
        true
    }

    fn metric_points(&self, data: Option<&mut Data>, counts: &mut Counts, f: &mut Found) {
        macro_rules! points {
            ($points:expr) => {
                for dp in $points {
                    self.redact_attributes(&mut dp.attributes, "metric", counts, f);
                    for e in &mut dp.exemplars {
                        self.redact_attributes(&mut e.filtered_attributes, "exemplar", counts, f);
                    }
                }
            };
        }
        match data {
            Some(Data::Gauge(g)) => points!(&mut g.data_points),
            Some(Data::Sum(s)) => points!(&mut s.data_points),
            Some(Data::Histogram(h)) => points!(&mut h.data_points),
            Some(Data::ExponentialHistogram(h)) => points!(&mut h.data_points),
            Some(Data::Summary(s)) => {
                for dp in &mut s.data_points {
                    self.redact_attributes(&mut dp.attributes, "metric", counts, f);
                }
            }
            None => {}
        }
    }
}
