//! The `chat_analytics` processor: what a product manager reads. Product events from a
//! configurable catalogue, fleet-wide unique users as HyperLogLog registers, feedback and
//! intents, conversations and funnels.
//!
//! It is a recorder of derived facts ([`crate::derive`]), so every user id it sees is
//! already a pseudonym, and telemetry opted out of analytics has no user id left to count.
//! LLM costs reach conversations and top users through the call facts, which the `genai`
//! processor before it in the pipeline fills.

mod config;
mod families;
pub mod hll;
pub mod inherit;
pub mod state;

use std::sync::{Arc, PoisonError};

use opentelemetry_proto::tonic::common::v1::KeyValue;

pub use self::config::{AnalyticsConfig, EventConfig, FACTORY, FunnelConfig};
pub use self::families::{Analytics, WINDOWS};
use self::families::{Progress, unix_now};
use crate::component::{ProcessError, Processor};
use crate::derive::Recorder;
use crate::derive::{Counted, Facts, Identity};
use crate::metrics::bounded::{OTHER, OverflowCounter, label_value};
use crate::model::Batch;
use crate::model::attrs::first as find;

/// Where the shared analytics state lives once a processor is built.
pub type AnalyticsSlot = crate::metrics::bounded::Slot<Analytics>;

/// The built `chat_analytics` processor.
pub struct AnalyticsProcessor {
    state: Arc<Analytics>,
    overflow: OverflowCounter,
}

/// A feedback rating as positive, negative or neutral: thumbs (`up`, `👍`, `1`, `-1`,
/// `0`), words (`positive`, `good`, `helpful`, …) or 2-to-5 stars (4 and 5 positive, 2
/// negative, 3 neutral).
fn rating(raw: &str) -> &'static str {
    let r = raw.trim().to_ascii_lowercase();
    if let Ok(n) = r.parse::<f64>() {
        return match n {
            n if n >= 4.0 || n == 1.0 => "positive",
            n if n <= 0.0 || n == 2.0 => "negative",
            _ => "neutral",
        };
    }
    match r.as_str() {
        "up" | "thumbs_up" | "thumbsup" | "👍" | "positive" | "good" | "like" | "true" | "pass"
        | "helpful" => "positive",
        "down" | "thumbs_down" | "thumbsdown" | "👎" | "negative" | "bad" | "dislike" | "false"
        | "fail" | "unhelpful" => "negative",
        _ => "neutral",
    }
}

impl AnalyticsProcessor {
    /// One product event, seen as a span event or a log event.
    fn event(&self, name: &str, layers: &[&[KeyValue]], service: &str, who: &Identity<'_>) {
        let s = &self.state;
        if let Some((dims, family)) = s.events.get(name) {
            let mut values: Vec<String> = vec![label_value(service).into_owned(), name.to_owned()];
            for (attribute, limit) in dims {
                let v = find(layers, &[attribute.as_str()]).unwrap_or_default();
                let v = limit.admit(label_value(&v).into_owned(), &self.overflow);
                values.push(v);
            }
            let refs: Vec<&str> = values.iter().map(String::as_str).collect();
            family.with(&refs, s.now(), &self.overflow, |c| {
                c.inc();
            });
        }
        self.funnels(name, who);
        if let Some(id) = who.thread()
            && s.events.contains_key(name)
        {
            let tracked = s.shared.conversation(id, |c| {
                match name {
                    "message_sent" => {
                        c.messages += 1;
                        c.answered = false;
                    }
                    "message_received" => {
                        c.messages += 1;
                        c.answered = true;
                    }
                    "chat_closed" | "conversation_ended" => c.closed = true,
                    _ => {}
                }
                c.last_event = Some(name.to_owned());
            });
            if !tracked {
                self.overflow.inc("chat_conversations");
            }
        }
        match name {
            "message_feedback" => {
                let r = find(layers, &["feedback.rating", "rating", "feedback.score"])
                    .map_or("neutral", |r| rating(&r));
                self.feedback_of(r, layers);
            }
            "gen_ai.evaluation.result" => {
                let r = find(layers, &["gen_ai.evaluation.score.label"])
                    .map(|l| rating(&l))
                    .or_else(|| {
                        find(layers, &["gen_ai.evaluation.score.value"])
                            .and_then(|v| v.parse::<f64>().ok())
                            .map(|v| if v >= 0.5 { "positive" } else { "negative" })
                    })
                    .unwrap_or("neutral");
                self.feedback_of(r, layers);
            }
            _ => {}
        }
    }

    /// Funnel progress: a user reaches a step when its event arrives after every earlier
    /// step, within the funnel window; each step is counted once per user and window.
    fn funnels(&self, name: &str, who: &Identity<'_>) {
        let hits = self.funnel_steps_of(name);
        if hits.is_empty() {
            return;
        }
        let Some(user) = who.user.as_deref() else {
            return;
        };
        let user = hll::hash(user);
        let now = unix_now();
        for (f, step) in hits {
            if let Some(first_unix) = self.advance_funnel(f, step, user, now) {
                self.record_funnel_step(f, step, user, now.saturating_sub(first_unix));
            }
        }
    }

    /// The (funnel, step) pairs that the event `name` is a step of.
    fn funnel_steps_of(&self, name: &str) -> Vec<(usize, usize)> {
        self.state
            .config
            .funnels
            .iter()
            .enumerate()
            .filter_map(|(f, funnel)| {
                funnel
                    .steps
                    .iter()
                    .position(|st| st == name)
                    .map(|i| (f, i))
            })
            .collect()
    }

    /// Moves `user` to `step` of funnel `f` if it is the next step (a repeated or skipped
    /// step is not), within the funnel window and the user limit; returns when the user
    /// reached the funnel's first step.
    fn advance_funnel(&self, f: usize, step: usize, user: u64, now: u64) -> Option<u64> {
        let s = &self.state;
        let c = &s.config;
        let mut progress = s
            .funnel_progress
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let key = (f, user);
        let p = progress.get(&key).copied();
        let expired =
            p.is_some_and(|p| now.saturating_sub(p.first_unix) > c.funnel_window.as_secs());
        let reached = if expired {
            0
        } else {
            p.map_or(0, |p| p.reached)
        };
        // Only the next step counts; a repeated or skipped step does not.
        if step != reached {
            return None;
        }
        if p.is_none() && progress.len() >= c.max_funnel_users {
            drop(progress);
            self.overflow.inc("chat_funnels");
            return None;
        }
        let first_unix = if step == 0 {
            now
        } else {
            p.map_or(now, |p| p.first_unix)
        };
        progress.insert(
            key,
            Progress {
                reached: step + 1,
                first_unix,
            },
        );
        Some(first_unix)
    }

    /// Counts `step` of funnel `f`; on its last step, records the time the funnel `took`
    /// and forgets the user's progress.
    fn record_funnel_step(&self, f: usize, step: usize, user: u64, took: u64) {
        let s = &self.state;
        let funnel = &s.config.funnels[f];
        let (fname, sname) = (label_value(&funnel.name), label_value(&funnel.steps[step]));
        s.funnel_steps
            .with(&[&fname, &sname], s.now(), &self.overflow, |x| {
                x.inc();
            });
        if step + 1 == funnel.steps.len() {
            let took = took as f64;
            s.funnel_duration
                .with(&[&fname], s.now(), &self.overflow, |h| {
                    h.observe(took, None, None)
                });
            s.funnel_progress
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&(f, user));
        }
    }

    fn feedback_of(&self, rating: &str, layers: &[&[KeyValue]]) {
        let model = find(
            layers,
            &[
                "gen_ai.response.model",
                "gen_ai.request.model",
                "llm.model_name",
            ],
        )
        .unwrap_or_else(|| "unknown".to_owned());
        let model = label_value(&model).into_owned();
        self.state
            .feedback
            .with(&[rating, &model], self.state.now(), &self.overflow, |c| {
                c.inc();
            });
    }

    /// Intents and users of one span or log record.
    fn item(
        &self,
        (attrs, resource): (&[KeyValue], &[KeyValue]),
        who: &Identity<'_>,
        failed: bool,
        event: Option<&str>,
    ) {
        let s = &self.state;
        let c = &s.config;
        let layers = [attrs, resource];
        if let Some(intent) = find(&[attrs], &[c.intent_attribute.as_str()]) {
            let intent = label_value(&intent).into_owned();
            let intent = if c.intents.is_empty() {
                s.intents.admit(intent, &self.overflow)
            } else if c.intents.contains(&intent) {
                intent
            } else {
                OTHER.to_owned()
            };
            let confidence = find(&[attrs], &[&format!("{}.confidence", c.intent_attribute)])
                .and_then(|v| v.parse::<f64>().ok());
            // The same intent twice in a row in one conversation: the user had to repeat.
            let repeated = who.thread().is_some_and(|id| {
                let mut repeated = false;
                s.shared.conversation(id, |conv| {
                    repeated = conv.last_intent.as_deref() == Some(intent.as_str());
                    conv.last_intent = Some(intent.clone());
                });
                repeated
            });
            let outcome = if confidence.is_some_and(|v| v < c.min_intent_confidence) || repeated {
                "misunderstood"
            } else if failed {
                "error"
            } else {
                "understood"
            };
            s.intent_counts
                .with(&[&intent, outcome], s.now(), &self.overflow, |c| {
                    c.inc();
                });
        }
        if let Some(user) = who.user.as_deref() {
            let guest = find(&layers, &[c.guest_attribute.as_str()])
                .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
            let mut segments = vec![
                "all".to_owned(),
                if guest { "guest" } else { "authenticated" }.to_owned(),
            ];
            // New users: first activity, by attribute or by the first-message event.
            // Returning users are all minus new (new ones are in `all` too).
            let new = event == Some("first_chat_message")
                || find(&layers, &[c.new_user_attribute.as_str()])
                    .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
            if new {
                segments.push("new".to_owned());
            }
            if !c.tier_attribute.is_empty()
                && let Some(tier) = find(&layers, &[c.tier_attribute.as_str()])
            {
                let tier = s
                    .tiers
                    .admit(label_value(&tier).into_owned(), &self.overflow);
                segments.push(format!("tier:{tier}"));
            }
            s.add_user(user, &segments);
        }
    }

    fn maybe_save(&self) {
        let s = &self.state;
        if s.config.state_file.is_none() {
            return;
        }
        let due = s
            .last_save
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .elapsed()
            >= s.config.save_interval;
        if due && let Err(error) = s.save() {
            tracing::warn!(%error, "saving the analytics state failed");
        }
    }
}

impl Analytics {
    /// Forgets a pseudonymous user's funnel progress (its top-user costs live in
    /// [`state::Shared::forget`]). HyperLogLog registers cannot forget one user; they age
    /// out with their window. Returns the entries removed.
    pub fn forget(&self, pseudonym: &str) -> usize {
        let user = hll::hash(pseudonym);
        let mut progress = self
            .funnel_progress
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let before = progress.len();
        progress.retain(|(_, u), _| *u != user);
        before - progress.len()
    }
}

impl AnalyticsProcessor {
    /// A call the `genai` recorder counted earlier in the pipeline: its cost goes to its
    /// user, and its tokens, cost and outcome to its conversation (its own, else its
    /// nearest ancestor's: see [`inherit`]).
    fn call(&self, who: &crate::derive::inherit::Who, counted: Counted) {
        let shared = &self.state.shared;
        if let Some(user) = &who.user {
            shared.add_cost(user, counted.cost_usd);
        }
        if let Some(session) = &who.session {
            let tracked = shared.conversation(session, |conv| {
                conv.calls += 1;
                conv.tokens += counted.tokens;
                conv.cost += counted.cost_usd;
                conv.last_call_failed = counted.failed;
                conv.answered |= !counted.failed;
            });
            if !tracked {
                self.overflow.inc("chat_conversations");
            }
        }
    }
}

impl Recorder for AnalyticsProcessor {
    fn record(&self, facts: &mut Facts<'_>) -> Result<(), ProcessError> {
        use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
        // Calls first, as when `genai` fed the conversations before this processor ran.
        for (who, counted) in self.state.inheriting.calls(facts) {
            self.call(&who, counted);
        }
        for f in &facts.spans {
            let span = f.span;
            for e in &f.events {
                let layers = [&e.event.attributes[..], &span.attributes, f.resource];
                self.event(&e.event.name, &layers, f.service, &e.identity);
            }
            let failed = span
                .status
                .as_ref()
                .is_some_and(|s| s.code == StatusCode::Error as i32);
            self.item((&span.attributes, f.resource), &f.identity, failed, None);
        }
        for f in &facts.logs {
            let rec = f.record;
            if let Some(name) = f.event {
                self.event(name, &[&rec.attributes, f.resource], f.service, &f.identity);
            }
            let failed = rec.severity_number >= 17;
            self.item((&rec.attributes, f.resource), &f.identity, failed, f.event);
        }
        self.state.settle(false);
        self.maybe_save();
        Ok(())
    }
}

impl Processor for AnalyticsProcessor {
    fn process(&self, batch: &mut Batch) -> Result<(), ProcessError> {
        Recorder::record(self, &mut crate::derive::derive(batch))
    }

    fn flush(&self) -> Result<(), ProcessError> {
        for (who, counted) in self.state.inheriting.settle(true) {
            self.call(&who, counted);
        }
        self.state.save().map_err(ProcessError)
    }
}

#[cfg(test)]
mod tests;
