//! The `chat_analytics` processor: what a product manager reads. Product events from a
//! configurable catalogue, fleet-wide unique users as HyperLogLog registers, feedback and
//! intents.
//!
//! It reads batches after redaction, so every user id it sees is already a pseudonym,
//! and telemetry opted out of analytics has no user id left to count.

pub mod hll;
pub mod inherit;
pub mod state;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use foldhash::fast::FixedState;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use serde::{Deserialize, Serialize};

use self::hll::Hll;
use crate::derive::{Counted, Facts, Identity};
use crate::metrics::bounded::{
    DimensionConfig, Family, Histogram, OTHER, OverflowCounter, ValueLimit, label_value,
};
use crate::model::Batch;
use crate::model::attrs::first as find;
use crate::pipeline::{ProcessError, Processor, Recorder};

/// One catalogued event.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EventConfig {
    /// The event name.
    pub name: String,
    /// Its dimensions, at most 4.
    #[serde(default)]
    pub dimensions: Vec<DimensionConfig>,
}

/// `processors.chat_analytics`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AnalyticsConfig {
    /// The event catalogue; events outside it are not counted.
    #[serde(default = "AnalyticsConfig::default_events")]
    pub events: Vec<EventConfig>,
    /// HyperLogLog register bits (7 to 16): 2^p registers per window and segment.
    #[serde(default = "AnalyticsConfig::default_precision")]
    pub hll_precision: u8,
    /// The attribute that marks a guest user (true / "true").
    #[serde(default = "AnalyticsConfig::default_guest_attribute")]
    pub guest_attribute: String,
    /// The attribute that marks a new user's first activity (true / "true"), as does the
    /// `first_chat_message` event: the `new` segment.
    #[serde(default = "AnalyticsConfig::default_new_user_attribute")]
    pub new_user_attribute: String,
    /// The attribute holding the user's tier, a segment of its own; none when empty.
    #[serde(default = "AnalyticsConfig::default_tier_attribute")]
    pub tier_attribute: String,
    /// Distinct tiers kept; later ones become `other`.
    #[serde(default = "AnalyticsConfig::default_max_tiers")]
    pub max_tiers: usize,
    /// Where sketches are saved (periodically and at shutdown) and restored from at
    /// start; not saved when absent.
    #[serde(default)]
    pub state_file: Option<PathBuf>,
    /// How often the state file is written while running.
    #[serde(
        default = "AnalyticsConfig::default_save_interval",
        deserialize_with = "crate::config::units::deserialize_duration"
    )]
    pub save_interval: Duration,
    /// The attribute holding the intent of a message.
    #[serde(default = "AnalyticsConfig::default_intent_attribute")]
    pub intent_attribute: String,
    /// The intents counted by name; others become `other`. Empty: the first
    /// `max_intents` distinct values.
    #[serde(default)]
    pub intents: Vec<String>,
    /// Distinct intents kept when `intents` is empty.
    #[serde(default = "AnalyticsConfig::default_max_intents")]
    pub max_intents: usize,
    /// Intents whose `<intent_attribute>.confidence` is below this are misunderstood, as
    /// are intents repeated in a row within one conversation.
    #[serde(default = "AnalyticsConfig::default_min_confidence")]
    pub min_intent_confidence: f64,
    /// Series per family; values past it fold into `other`.
    #[serde(default = "AnalyticsConfig::default_series_limit")]
    pub series_limit: usize,
    /// Users in `chat_top_user_cost_usd` per window.
    #[serde(default = "AnalyticsConfig::default_top_k")]
    pub top_k: usize,
    /// Open conversations tracked; more are counted in
    /// `llmwatch_metric_overflow_total{family="chat_conversations"}` and not tracked.
    #[serde(default = "AnalyticsConfig::default_max_conversations")]
    pub max_conversations: usize,
    /// A conversation without activity for this long has ended.
    #[serde(
        default = "AnalyticsConfig::default_conversation_idle",
        deserialize_with = "crate::config::units::deserialize_duration"
    )]
    pub conversation_idle: Duration,
    /// Funnels: ordered event names that a user goes through.
    #[serde(default = "AnalyticsConfig::default_funnels")]
    pub funnels: Vec<FunnelConfig>,
    /// Users whose funnel progress is tracked, across funnels; more are counted in
    /// `llmwatch_metric_overflow_total{family="chat_funnels"}` and not tracked.
    #[serde(default = "AnalyticsConfig::default_max_funnel_users")]
    pub max_funnel_users: usize,
    /// A user's progress through a funnel starts over this long after its first step.
    #[serde(
        default = "AnalyticsConfig::default_funnel_window",
        deserialize_with = "crate::config::units::deserialize_duration"
    )]
    pub funnel_window: Duration,
    /// Calls without a user or session take their nearest ancestor's (README: "Identity
    /// from the enclosing span").
    #[serde(default)]
    pub identity_inheritance: crate::derive::inherit::InheritConfig,
}

/// One funnel.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FunnelConfig {
    /// The `funnel` label.
    pub name: String,
    /// Event names, in order (2 to 10).
    pub steps: Vec<String>,
}

impl Default for AnalyticsConfig {
    fn default() -> AnalyticsConfig {
        serde_saphyr::from_str("{}").unwrap_or_else(|_| unreachable!("every field has a default"))
    }
}

/// The default event catalogue.
const DEFAULT_EVENTS: &[(&str, &[(&str, &str)])] = &[
    ("chat_opened", &[("chat.entry_point", "entry_point")]),
    ("chat_closed", &[]),
    ("chat_minimized", &[]),
    ("conversation_created", &[]),
    ("message_sent", &[]),
    ("message_received", &[]),
    ("message_feedback", &[("feedback.rating", "rating")]),
    (
        "platform_connect_initiated",
        &[("integration.platform", "platform")],
    ),
    (
        "platform_connected",
        &[("integration.platform", "platform")],
    ),
    (
        "platform_connection_failed",
        &[("integration.platform", "platform")],
    ),
    ("data_query_executed", &[]),
    ("report_generated", &[("report.type", "report_type")]),
    ("first_chat_message", &[]),
    ("guest_user_signup_prompt", &[]),
    ("help_article_clicked", &[]),
];

impl AnalyticsConfig {
    fn default_events() -> Vec<EventConfig> {
        DEFAULT_EVENTS
            .iter()
            .map(|(name, dims)| EventConfig {
                name: (*name).to_owned(),
                dimensions: dims
                    .iter()
                    .map(|(attribute, label)| DimensionConfig {
                        attribute: (*attribute).to_owned(),
                        label: Some((*label).to_owned()),
                        max_values: 50,
                    })
                    .collect(),
            })
            .collect()
    }
    fn default_precision() -> u8 {
        hll::DEFAULT_PRECISION
    }
    fn default_guest_attribute() -> String {
        "user.is_guest".to_owned()
    }
    fn default_new_user_attribute() -> String {
        "user.is_new".to_owned()
    }
    fn default_tier_attribute() -> String {
        "user.tier".to_owned()
    }
    fn default_max_tiers() -> usize {
        5
    }
    fn default_save_interval() -> Duration {
        Duration::from_secs(60)
    }
    fn default_intent_attribute() -> String {
        "chat.intent".to_owned()
    }
    fn default_max_intents() -> usize {
        20
    }
    fn default_min_confidence() -> f64 {
        0.5
    }
    fn default_series_limit() -> usize {
        2000
    }
    fn default_top_k() -> usize {
        10
    }
    fn default_max_conversations() -> usize {
        10_000
    }
    fn default_conversation_idle() -> Duration {
        Duration::from_secs(1800)
    }
    fn default_funnels() -> Vec<FunnelConfig> {
        vec![FunnelConfig {
            name: "platform_connection".to_owned(),
            steps: [
                "chat_opened",
                "platform_connect_initiated",
                "oauth_started",
                "oauth_completed",
                "platform_connected",
            ]
            .map(str::to_owned)
            .to_vec(),
        }]
    }
    fn default_max_funnel_users() -> usize {
        10_000
    }
    fn default_funnel_window() -> Duration {
        Duration::from_secs(7 * 86_400)
    }

    /// Problems, as (key, message).
    pub fn check(&self) -> Vec<(String, String)> {
        let mut errors = self.identity_inheritance.check();
        // From 7 bits (m = 128) on, one alpha formula holds, which the recording rules use.
        if !(7..=16).contains(&self.hll_precision) {
            errors.push(("hll_precision".to_owned(), "must be 7 to 16".to_owned()));
        }
        let mut names = HashSet::new();
        for (i, e) in self.events.iter().enumerate() {
            if !names.insert(&e.name) {
                errors.push((
                    format!("events[{i}].name"),
                    format!("{:?} is listed twice", e.name),
                ));
            }
            if e.dimensions.len() > 4 {
                errors.push((format!("events[{i}].dimensions"), "at most 4".to_owned()));
            }
            for (j, d) in e.dimensions.iter().enumerate() {
                errors.extend(
                    d.problems(&["service", "event"])
                        .into_iter()
                        .map(|(key, m)| (format!("events[{i}].dimensions[{j}].{key}"), m)),
                );
            }
        }
        if self.series_limit == 0 {
            errors.push(("series_limit".to_owned(), "must be at least 1".to_owned()));
        }
        if !(1..=100).contains(&self.top_k) {
            errors.push(("top_k".to_owned(), "must be 1 to 100".to_owned()));
        }
        for (i, f) in self.funnels.iter().enumerate() {
            if !(2..=10).contains(&f.steps.len()) {
                errors.push((
                    format!("funnels[{i}].steps"),
                    "must have 2 to 10 steps".to_owned(),
                ));
            }
        }
        errors
    }

    /// Builds the processor; every `chat_analytics` processor shares one state, and
    /// `shared` with the `genai` processors.
    pub fn build(
        &self,
        slot: &AnalyticsSlot,
        overflow: &OverflowCounter,
        shared: &Arc<state::Shared>,
    ) -> Result<AnalyticsProcessor, String> {
        shared.activate();
        {
            let mut c = shared.config.lock().unwrap_or_else(PoisonError::into_inner);
            c.top_k = self.top_k;
            c.top_capacity = self.top_k * 10;
            c.max_conversations = self.max_conversations;
            c.conversation_idle = self.conversation_idle;
        }
        let state = Arc::clone(
            slot.0
                .get_or_init(|| Arc::new(Analytics::new(self, Arc::clone(shared), overflow))),
        );
        if state.config != *self {
            return Err(
                "every chat_analytics processor must have the same settings: they share one state"
                    .to_owned(),
            );
        }
        if let Some(path) = &self.state_file {
            state.restore(path)?;
        }
        Ok(AnalyticsProcessor {
            state,
            overflow: overflow.clone(),
        })
    }
}

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
    config: AnalyticsConfig,
    segments: Mutex<BTreeMap<String, Segment>>,
    tiers: ValueLimit,
    intents: ValueLimit,
    events: BTreeMap<String, CataloguedEvent>,
    feedback: Family<Counter>,
    intent_counts: Family<Counter>,
    shared: Arc<state::Shared>,
    conversations: Family<Counter>,
    dropoff: Family<Counter>,
    conversation_histograms: [(&'static str, Family<Histogram>); 4],
    funnel_progress: Mutex<HashMap<(usize, u64), Progress, FixedState>>,
    funnel_steps: Family<Counter>,
    funnel_duration: Family<Histogram>,
    /// `llmwatch_metric_overflow_total`, for the conversation families recorded at settle.
    overflow: OverflowCounter,
    last_settle: Mutex<Instant>,
    last_save: Mutex<Instant>,
    started: Instant,
    /// Identity from the enclosing span.
    inheriting: inherit::Inheriting,
}

impl std::fmt::Debug for Analytics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analytics").finish_non_exhaustive()
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A user's progress through one funnel: the steps reached, and when the first was.
#[derive(Clone, Copy, Debug)]
struct Progress {
    reached: usize,
    first_unix: u64,
}

/// Bucket bounds of the per-conversation histograms: messages, tokens, USD, seconds.
const CONVERSATION_BUCKETS: [(&str, &str, &[f64]); 4] = [
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

impl Analytics {
    fn new(
        config: &AnalyticsConfig,
        shared: Arc<state::Shared>,
        overflow: &OverflowCounter,
    ) -> Analytics {
        let limit = config.series_limit;
        let keep = ["event", "rating", "outcome"];
        let events = config
            .events
            .iter()
            .map(|e| {
                let dims: Vec<(String, ValueLimit)> = e
                    .dimensions
                    .iter()
                    .map(|d| {
                        let limit =
                            ValueLimit::new(format!("chat_events:{}", d.label()), d.max_values);
                        (d.attribute.clone(), limit)
                    })
                    .collect();
                let labels = ["service".to_owned(), "event".to_owned()]
                    .into_iter()
                    .chain(e.dimensions.iter().map(DimensionConfig::label))
                    .collect();
                (
                    e.name.clone(),
                    (
                        dims,
                        Family::new(
                            "chat_events",
                            "",
                            None,
                            labels,
                            &keep,
                            limit,
                            Counter::default,
                        ),
                    ),
                )
            })
            .collect();
        Analytics {
            config: config.clone(),
            segments: Mutex::new(BTreeMap::new()),
            tiers: ValueLimit::new("chat_user_tiers", config.max_tiers),
            intents: ValueLimit::new("chat_intents", config.max_intents),
            events,
            feedback: Family::new(
                "chat_feedback",
                "Message feedback and evaluation results by rating (positive, negative, neutral) and model.",
                None,
                vec!["rating".to_owned(), "model".to_owned()],
                &keep,
                limit,
                Counter::default,
            ),
            intent_counts: Family::new(
                "chat_intents",
                "Messages by intent and outcome (understood, misunderstood, error).",
                None,
                vec!["intent".to_owned(), "outcome".to_owned()],
                &keep,
                limit,
                Counter::default,
            ),
            shared,
            conversations: Family::new(
                "chat_conversations",
                "Ended conversations by outcome: completed (answered after the user's last message), abandoned (not), errored (last LLM call failed).",
                None,
                vec!["outcome".to_owned()],
                &keep,
                limit,
                Counter::default,
            ),
            dropoff: Family::new(
                "chat_conversation_dropoff",
                "Abandoned conversations by the last product event before the user left.",
                None,
                vec!["event".to_owned()],
                &keep,
                limit,
                Counter::default,
            ),
            conversation_histograms: CONVERSATION_BUCKETS.map(|(name, help, buckets)| {
                let b = buckets.to_vec();
                (
                    name,
                    Family::new(
                        name,
                        help,
                        None,
                        vec!["outcome".to_owned()],
                        &keep,
                        limit,
                        move || Histogram::new(b.clone().into_iter()),
                    ),
                )
            }),
            funnel_progress: Mutex::new(HashMap::default()),
            funnel_steps: Family::new(
                "chat_funnel_step",
                "Users reaching each funnel step for the first time in the funnel window (after every earlier step).",
                None,
                vec!["funnel".to_owned(), "step".to_owned()],
                &["funnel", "step"],
                limit,
                Counter::default,
            ),
            funnel_duration: Family::new(
                "chat_funnel_duration_seconds",
                "Time from a user's first funnel step to its last.",
                None,
                vec!["funnel".to_owned()],
                &["funnel"],
                limit,
                || {
                    Histogram::new(
                        [
                            60.0,
                            300.0,
                            900.0,
                            3600.0,
                            4.0 * 3600.0,
                            86_400.0,
                            3.0 * 86_400.0,
                            7.0 * 86_400.0,
                        ]
                        .into_iter(),
                    )
                },
            ),
            overflow: overflow.clone(),
            last_settle: Mutex::new(Instant::now()),
            last_save: Mutex::new(Instant::now()),
            started: Instant::now(),
            inheriting: inherit::Inheriting::new(&config.identity_inheritance),
        }
    }

    /// Records the conversations that ended: at most once a second from batches, and at
    /// every scrape.
    fn settle(&self, force: bool) {
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

    fn now(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// Restores the sketches saved in `path`, if it exists.
    fn restore(&self, path: &std::path::Path) -> Result<(), String> {
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

    fn add_user(&self, id: &str, segments: &[String]) {
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
        let s = &self.state;
        let c = &s.config;
        let hits: Vec<(usize, usize)> = c
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
            .collect();
        if hits.is_empty() {
            return;
        }
        let Some(user) = who.user.as_deref() else {
            return;
        };
        let user = hll::hash(user);
        let now = unix_now();
        for (f, step) in hits {
            let funnel = &c.funnels[f];
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
                continue;
            }
            if p.is_none() && progress.len() >= c.max_funnel_users {
                drop(progress);
                self.overflow.inc("chat_funnels");
                continue;
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
            drop(progress);
            let (fname, sname) = (label_value(&funnel.name), label_value(&funnel.steps[step]));
            s.funnel_steps
                .with(&[&fname, &sname], s.now(), &self.overflow, |x| {
                    x.inc();
                });
            if step + 1 == funnel.steps.len() {
                let took = now.saturating_sub(first_unix) as f64;
                s.funnel_duration
                    .with(&[&fname], s.now(), &self.overflow, |h| {
                        h.observe(took, None, None)
                    });
                s.funnel_progress
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&key);
            }
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

    fn recorder(&self) -> Option<&dyn Recorder> {
        Some(self)
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
