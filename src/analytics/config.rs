//! `processors.chat_analytics`: the event catalogue, segments, intents, conversations,
//! funnels and limits, with their checks and the processor's build.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use serde::Deserialize;

use super::families::Analytics;
use super::{AnalyticsProcessor, AnalyticsSlot, hll, state};
use prometheus_client::registry::Registry;

use crate::component::factory::{BuildContext, Factory, ProcessorSettings, Shared, decode_checked};
use crate::component::series::{Bounded, SeriesBounds, deserialize_bounded};
use crate::derive::Stage;
use crate::metrics::bounded::{DimensionConfig, OverflowCounter};

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
#[serde(remote = "Self", deny_unknown_fields)]
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
        deserialize_with = "crate::component::units::deserialize_duration"
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
    /// `series_limit`, beside the other keys (its series do not expire, so it takes no
    /// `series_ttl`).
    #[serde(skip)]
    pub series: SeriesBounds,
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
        deserialize_with = "crate::component::units::deserialize_duration"
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
        deserialize_with = "crate::component::units::deserialize_duration"
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

impl<'de> Deserialize<'de> for AnalyticsConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_bounded(d)
    }
}

impl Bounded for AnalyticsConfig {
    const TTL: bool = false;
    fn deserialize_rest<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        AnalyticsConfig::deserialize(d)
    }
    fn set_bounds(&mut self, bounds: SeriesBounds) {
        self.series = bounds;
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
        errors.extend(self.series.check());
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

/// The `chat_analytics` processor type, for the registry.
pub const FACTORY: Factory<Arc<dyn ProcessorSettings<Stage>>> = Factory {
    type_name: "chat_analytics",
    decode: |value, path, errors, _env| {
        let cfg = decode_checked(value, path, errors, AnalyticsConfig::check)?;
        Some(Arc::new(cfg) as Arc<dyn ProcessorSettings<Stage>>)
    },
    register: register_shared,
};

/// What every `chat_analytics` processor shares: its state's slot, and the top users and
/// conversations.
fn register_shared(shared: &mut Shared, registry: &mut Registry) {
    let slot = AnalyticsSlot::default();
    registry.register_collector(Box::new(slot.clone()));
    shared.insert(slot);
    shared.insert(Arc::<state::Shared>::default());
}

impl ProcessorSettings<Stage> for AnalyticsConfig {
    fn build(&self, ctx: &BuildContext<'_>) -> Result<Stage, String> {
        let chat: Arc<state::Shared> = ctx.get()?;
        let processor = AnalyticsConfig::build(self, &ctx.get()?, &ctx.get()?, &chat)?;
        Ok(Stage::Record(Arc::new(processor)))
    }
}
