//! Per-user and per-conversation attribution of LLM calls that carry no user or session
//! of their own: they take the nearest ancestor's within their trace
//! ([`crate::derive::inherit`]), waiting for it a few seconds when it has not arrived.

use std::time::Instant;

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;

use crate::derive::inherit::{InheritConfig, Inheritance, Outcome, Settled, Who};
use crate::derive::{Counted, Facts};

/// The record of ancestors, the calls waiting, and how each wait ended.
pub struct Inheriting {
    record: Inheritance<Counted>,
    outcomes: [Counter; 4],
}

fn owned(who: (Option<&str>, Option<&str>)) -> Who {
    Who {
        user: who.0.map(str::to_owned),
        session: who.1.map(str::to_owned),
    }
}

impl Inheriting {
    /// An empty record.
    pub fn new(config: &InheritConfig) -> Inheriting {
        Inheriting {
            record: Inheritance::new(config.clone()),
            outcomes: Default::default(),
        }
    }

    fn count(&self, s: Settled<Counted>) -> (Who, Counted) {
        if let Some(outcome) = s.outcome
            && let Some(i) = Outcome::ALL.iter().position(|(o, _)| *o == outcome)
        {
            self.outcomes[i].inc();
        }
        (s.who, s.payload)
    }

    /// Remembers the spans of a batch and attributes its counted calls: those settled
    /// now, with the user and session to attribute them to. The others wait.
    pub fn calls(&self, facts: &Facts<'_>) -> Vec<(Who, Counted)> {
        let calls = || {
            let spans = facts.spans.iter().filter_map(|f| f.call.as_ref());
            spans.chain(facts.logs.iter().filter_map(|f| f.call.as_ref()))
        };
        for c in calls().filter(|c| c.counted.is_some()) {
            if c.call.user.is_none() || c.call.session.is_none() {
                self.record.expect(&c.call.trace_id);
            }
        }
        for f in &facts.spans {
            let who = (f.identity.user.as_deref(), f.identity.thread());
            let who = if who.0.is_some() || who.1.is_some() {
                owned(who)
            } else {
                Who::default()
            };
            let s = f.span;
            self.record
                .observe(&s.trace_id, &s.span_id, &s.parent_span_id, who);
        }
        let mut out = Vec::new();
        for c in calls() {
            let (Some(counted), call) = (c.counted, &c.call) else {
                continue;
            };
            // A log event's call starts at the span it belongs to, a span's at its parent.
            let start = if call.from_event {
                &call.span_id
            } else {
                &call.parent_span_id
            };
            let own = owned((call.user.as_deref(), call.session.as_deref()));
            if let Some(s) = self.record.attribute(&call.trace_id, start, own, counted) {
                out.push(self.count(s));
            }
        }
        out.extend(self.settle(false));
        out
    }

    /// The waiting calls whose ancestors arrived or whose wait is over (all of them with
    /// `give_up`, at shutdown).
    pub fn settle(&self, give_up: bool) -> Vec<(Who, Counted)> {
        self.record
            .settle(Instant::now(), give_up)
            .into_iter()
            .map(|s| self.count(s))
            .collect()
    }

    /// `llmwatch_identity_inheritance_*`.
    pub fn encode(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut m = encoder.encode_descriptor(
            "llmwatch_identity_inheritance",
            "LLM calls without a user or session that looked for their nearest ancestor's, by result: inherited, nothing (the root had none), timeout (gave up waiting for an ancestor), full (no room to wait). timeout and full keep only what the call had.",
            None,
            MetricType::Counter,
        )?;
        for ((_, label), c) in Outcome::ALL.iter().zip(&self.outcomes) {
            c.encode(m.encode_family(&[("result", *label)])?)?;
        }
        let mut m = encoder.encode_descriptor(
            "llmwatch_identity_inheritance_waiting",
            "LLM calls waiting for an ancestor's user or session.",
            None,
            MetricType::Gauge,
        )?;
        m.encode_gauge(&(self.record.waiting() as i64))?;
        let mut m = encoder.encode_descriptor(
            "llmwatch_identity_inheritance_bytes",
            "Bytes held by the record of ancestors and the waiting calls.",
            None,
            MetricType::Gauge,
        )?;
        m.encode_gauge(&(self.record.bytes() as i64))?;
        Ok(())
    }
}
