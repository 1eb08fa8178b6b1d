//! The shared state of every `chat_analytics` processor: HyperLogLog sketches of users
//! per segment and window, funnel progress, and the `chat_*` families, with how they are
//! saved, restored and rendered.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use foldhash::fast::FixedState;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use serde::{Deserialize, Serialize};

use super::hll::{self, Hll};
use super::{AnalyticsConfig, state};
use crate::metrics::bounded::{Family, Histogram, OverflowCounter, ValueLimit};
use crate::metrics::spec::FamilyMaker;

mod specs;
use specs::*;

/// The windows of unique users.
pub const WINDOWS: [&str; 3] = ["1d", "7d", "30d"];

/// Sketches of one segment: 24 hourly and 30 daily sub-sketches, each tagged with the
/// hour or day it holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Segment {
    hours: Vec<(u64, Hll)>,
    days: Vec<(u64, Hll)>,
}

impl Segment {
    fn new(precision: u8) -> Segment {
        Segment {
            hours: vec![(u64::MAX, Hll::new(precision)); 24],
            days: vec![(u64::MAX, Hll::new(precision)); 30],
        }
    }

    fn insert(&mut self, hash: u64, now: u64, precision: u8) {
        let hour = now / 3600;
        let day = now / 86_400;
        for (ring, at, len) in [(&mut self.hours, hour, 24), (&mut self.days, day, 30)] {
            let slot = &mut ring[(at % len) as usize];
            if slot.0 != at {
                *slot = (at, Hll::new(precision));
            }
            slot.1.insert(hash);
        }
    }

    /// The union of the sub-sketches in `window` ending at `now`.
    fn window(&self, window: &str, now: u64, precision: u8) -> Hll {
        let (hour, day) = (now / 3600, now / 86_400);
        let mut out = Hll::new(precision);
        let (ring, at, span) = match window {
            "1d" => (&self.hours, hour, 24),
            "7d" => (&self.days, day, 7),
            _ => (&self.days, day, 30),
        };
        for (when, h) in ring {
            if *when <= at && at - *when < span {
                out.merge(h);
            }
        }
        out
    }
}

/// What is saved in the state file.
#[derive(Serialize, Deserialize)]
struct Saved {
    version: u32,
    precision: u8,
    segments: BTreeMap<String, Segment>,
}

/// A catalogued event: its dimensions as (attribute, value limit), and its series.
type CataloguedEvent = (Vec<(String, ValueLimit)>, Family<Counter>);

/// The shared state of every `chat_analytics` processor.
pub struct Analytics {
    pub(super) config: AnalyticsConfig,
    segments: Mutex<BTreeMap<String, Segment>>,
    pub(super) tiers: ValueLimit,
    pub(super) intents: ValueLimit,
    pub(super) events: BTreeMap<String, CataloguedEvent>,
    pub(super) feedback: Family<Counter>,
    pub(super) intent_counts: Family<Counter>,
    pub(super) shared: Arc<state::Shared>,
    pub(super) conversations: Family<Counter>,
    pub(super) dropoff: Family<Counter>,
    pub(super) conversation_histograms: [(&'static str, Family<Histogram>); 4],
    pub(super) funnel_progress: Mutex<HashMap<(usize, u64), Progress, FixedState>>,
    pub(super) funnel_steps: Family<Counter>,
    pub(super) funnel_duration: Family<Histogram>,
    /// `llmwatch_metric_overflow_total`, for the conversation families recorded at settle.
    pub(super) overflow: OverflowCounter,
    pub(super) last_settle: Mutex<Instant>,
    pub(super) last_save: Mutex<Instant>,
    pub(super) started: Instant,
    /// Identity from the enclosing span.
    pub(super) inheriting: super::inherit::Inheriting,
}

impl std::fmt::Debug for Analytics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analytics").finish_non_exhaustive()
    }
}

pub(super) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A user's progress through one funnel: the steps reached, and when the first was.
#[derive(Clone, Copy, Debug)]
pub(super) struct Progress {
    pub(super) reached: usize,
    pub(super) first_unix: u64,
}

impl Analytics {
    pub(super) fn new(
        config: &AnalyticsConfig,
        shared: Arc<state::Shared>,
        overflow: &OverflowCounter,
    ) -> Analytics {
        let limit = config.series.series_limit;
        let m = FamilyMaker { keep: &KEEP, limit };
        Analytics {
            config: config.clone(),
            segments: Mutex::new(BTreeMap::new()),
            tiers: ValueLimit::new("chat_user_tiers", config.max_tiers),
            intents: ValueLimit::new("chat_intents", config.max_intents),
            events: event_families(config),
            feedback: m.make(&FEEDBACK, &[], Counter::default),
            intent_counts: m.make(&INTENT_COUNTS, &[], Counter::default),
            shared,
            conversations: m.make(&CONVERSATIONS, &[], Counter::default),
            dropoff: m.make(&DROPOFF, &[], Counter::default),
            conversation_histograms: conversation_histograms(&m),
            funnel_progress: Mutex::new(HashMap::default()),
            funnel_steps: FamilyMaker {
                keep: &["funnel", "step"],
                limit,
            }
            .make(&FUNNEL_STEPS, &[], Counter::default),
            funnel_duration: FamilyMaker {
                keep: &["funnel"],
                limit,
            }
            .make(&FUNNEL_DURATION, &[], || {
                Histogram::new(FUNNEL_DURATION_BUCKETS.into_iter())
            }),
            overflow: overflow.clone(),
            last_settle: Mutex::new(Instant::now()),
            last_save: Mutex::new(Instant::now()),
            started: Instant::now(),
            inheriting: super::inherit::Inheriting::new(&config.identity_inheritance),
        }
    }

    /// Records the conversations that ended: at most once a second from batches, and at
    /// every scrape.
    pub(super) fn settle(&self, force: bool) {
        {
            let mut last = self
                .last_settle
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if !force && last.elapsed() < Duration::from_secs(1) {
                return;
            }
            *last = Instant::now();
        }
        let of = &self.overflow;
        let now = self.now();
        for e in self.shared.take_ended() {
            let c = &e.conversation;
            self.conversations.with(&[e.outcome], now, of, |x| {
                x.inc();
            });
            if e.outcome == "abandoned" {
                let event = c.last_event.as_deref().unwrap_or("none");
                self.dropoff.with(&[event], now, of, |x| {
                    x.inc();
                });
            }
            let messages = if c.messages == 0 { c.calls } else { c.messages };
            let values = [
                messages as f64,
                c.tokens as f64,
                c.cost,
                c.last.duration_since(c.started).as_secs_f64(),
            ];
            for ((_, family), v) in self.conversation_histograms.iter().zip(values) {
                family.with(&[e.outcome], now, of, |h| h.observe(v, None, None));
            }
        }
    }

    pub(super) fn now(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// Restores the sketches saved in `path`, if it exists.
    pub(super) fn restore(&self, path: &std::path::Path) -> Result<(), String> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let saved: Saved = match serde_json::from_str(&text) {
            Ok(s) => s,
            Err(e) => {
                // A damaged state file costs the windows, never the start.
                tracing::warn!(path = %path.display(), error = %e, "analytics state file unreadable; starting empty");
                return Ok(());
            }
        };
        if saved.version != 1 || saved.precision != self.config.hll_precision {
            tracing::warn!(path = %path.display(), "analytics state file from other settings; starting empty");
            return Ok(());
        }
        *self.segments.lock().unwrap_or_else(PoisonError::into_inner) = saved.segments;
        Ok(())
    }

    /// Writes the sketches to the state file, atomically (a temporary file, then rename).
    pub fn save(&self) -> Result<(), String> {
        let Some(path) = &self.config.state_file else {
            return Ok(());
        };
        let saved = Saved {
            version: 1,
            precision: self.config.hll_precision,
            segments: self
                .segments
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        };
        let text = serde_json::to_string(&saved).map_err(|e| e.to_string())?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        *self
            .last_save
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
        Ok(())
    }

    pub(super) fn add_user(&self, id: &str, segments: &[String]) {
        let hash = hll::hash(id);
        let now = unix_now();
        let p = self.config.hll_precision;
        let mut all = self.segments.lock().unwrap_or_else(PoisonError::into_inner);
        for s in segments {
            all.entry(s.clone())
                .or_insert_with(|| Segment::new(p))
                .insert(hash, now, p);
        }
    }
}

impl Collector for Analytics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        // Events: one family, whatever dimensions each event has.
        if self.events.values().any(|(_, f)| !f.is_empty()) {
            let mut m = encoder.encode_descriptor(
                "chat_events",
                "Product events of the catalogue, by service, event and the event's dimensions.",
                None,
                MetricType::Counter,
            )?;
            for (_, family) in self.events.values() {
                family.encode_series(&mut m)?;
            }
        }
        self.feedback.encode(&mut encoder, MetricType::Counter)?;
        self.intent_counts
            .encode(&mut encoder, MetricType::Counter)?;
        self.funnel_steps
            .encode(&mut encoder, MetricType::Counter)?;
        self.funnel_duration
            .encode(&mut encoder, MetricType::Histogram)?;
        self.settle(true);
        self.conversations
            .encode(&mut encoder, MetricType::Counter)?;
        self.dropoff.encode(&mut encoder, MetricType::Counter)?;
        for (_, family) in &self.conversation_histograms {
            family.encode(&mut encoder, MetricType::Histogram)?;
        }
        let open = self.shared.open_conversations();
        let mut m = encoder.encode_descriptor(
            "chat_conversations_open",
            "Conversations in progress.",
            None,
            MetricType::Gauge,
        )?;
        m.encode_gauge(&(open as i64))?;
        self.inheriting.encode(&mut encoder)?;
        self.encode_top_users(&mut encoder)?;
        self.encode_users(&mut encoder)
    }
}

impl Analytics {
    /// `chat_top_user_cost_usd`, when any user has a cost.
    fn encode_top_users(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let top = self.shared.top_users();
        if !top.is_empty() {
            let mut m = encoder.encode_descriptor(
                "chat_top_user_cost_usd",
                "The top users by LLM cost per window (pseudonymous ids; space-saving counts, which never understate).",
                None,
                MetricType::Gauge,
            )?;
            for (window, user, usd) in &top {
                m.encode_family(&[("user", user.as_str()), ("window", *window)])?
                    .encode_gauge(usd)?;
            }
        }
        Ok(())
    }

    /// The HyperLogLog registers and estimates of unique users per window and segment.
    fn encode_users(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let segments = self.segments.lock().unwrap_or_else(PoisonError::into_inner);
        if segments.is_empty() {
            return Ok(());
        }
        let now = unix_now();
        let p = self.config.hll_precision;
        let windows: Vec<(&str, String, Hll)> = segments
            .iter()
            .flat_map(|(segment, s)| {
                WINDOWS
                    .iter()
                    .map(move |w| (*w, segment.clone(), s.window(w, now, p)))
            })
            .filter(|(_, _, h)| !h.is_empty())
            .collect();
        drop(segments);
        let mut m = encoder.encode_descriptor(
            "chat_users_hll_registers",
            "Registers per HyperLogLog sketch: m in the estimate.",
            None,
            MetricType::Gauge,
        )?;
        m.encode_gauge(&(1i64 << p))?;
        let mut m = encoder.encode_descriptor(
            "chat_users_hll_register",
            "HyperLogLog registers of pseudonymous user ids per window and segment; zero registers are omitted. max by (window, segment, register) across sidecars is the fleet's union.",
            None,
            MetricType::Gauge,
        )?;
        for (window, segment, h) in &windows {
            for (i, r) in h.registers().iter().enumerate().filter(|(_, r)| **r > 0) {
                let register = i.to_string();
                m.encode_family(&[
                    ("window", *window),
                    ("segment", segment.as_str()),
                    ("register", register.as_str()),
                ])?
                .encode_gauge(&i64::from(*r))?;
            }
        }
        let mut m = encoder.encode_descriptor(
            "chat_users_estimate",
            "Unique users this sidecar saw per window and segment (HyperLogLog estimate). For the fleet, use the recording rule over chat_users_hll_register.",
            None,
            MetricType::Gauge,
        )?;
        for (window, segment, h) in &windows {
            m.encode_family(&[("window", *window), ("segment", segment.as_str())])?
                .encode_gauge(&h.estimate())?;
        }
        Ok(())
    }
}
