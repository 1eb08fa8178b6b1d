//! `processors.genai`: prices, budgets, dimensions, limits and dedupe, with their checks
//! and the processor's build; and what every `genai` processor shares.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use serde::Deserialize;

use super::dedupe::{Dedupe, DedupeCounter};
use super::metrics::{self, LlmMetrics, LlmMetricsSlot, OverflowCounter};
use super::price::{self, Price, PriceTable};
use super::{Dimension, GenaiProcessor, matches};
use prometheus_client::registry::Registry;

use crate::component::factory::{BuildContext, Factory, ProcessorSettings, Shared, decode_checked};
use crate::component::series::{Bounded, SeriesBounds, deserialize_bounded};
use crate::derive::Stage;
use crate::metrics::bounded::DimensionConfig;

/// A price from the config, USD per 1M tokens.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PriceConfig {
    /// The model key, matched like the embedded table's keys.
    pub model: String,
    /// Uncached input.
    pub input: f64,
    /// Output.
    pub output: f64,
    /// Cache reads; the input price when absent.
    #[serde(default)]
    pub cache_read: Option<f64>,
    /// Cache writes; the input price when absent.
    #[serde(default)]
    pub cache_write: Option<f64>,
    /// Reasoning output; the output price when absent.
    #[serde(default)]
    pub reasoning: Option<f64>,
    /// `YYYY-MM-DD` from which the price applies; always when absent.
    #[serde(default)]
    pub effective: Option<String>,
}

/// Spending budgets, exported as `llm_budget_usd{period}` for alert rules.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BudgetConfig {
    /// USD per day.
    #[serde(default)]
    pub daily_usd: Option<f64>,
    /// USD per month.
    #[serde(default)]
    pub monthly_usd: Option<f64>,
}

/// `processors.genai`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct GenaiConfig {
    /// Extra labels on the request, token and cost families (at most 8).
    #[serde(default)]
    pub dimensions: Vec<DimensionConfig>,
    /// `series_limit` and `series_ttl`, beside the other keys.
    #[serde(skip)]
    pub series: SeriesBounds,
    /// Prices that add to or override the embedded table.
    #[serde(default)]
    pub prices: Vec<PriceConfig>,
    /// Use the cost the app reported (`gen_ai.usage.cost`, `llm.cost.total`, …) over
    /// the computed one when both exist. A reported cost is used for unpriced models
    /// either way.
    #[serde(default)]
    pub prefer_reported_cost: bool,
    /// Budgets, as gauges.
    #[serde(default)]
    pub budgets: BudgetConfig,
    /// Latency thresholds per level in seconds, e.g. `{ warning: 10, critical: 30 }`, as
    /// `llmwatch_latency_threshold_seconds{component="ai",level}` gauges.
    #[serde(default)]
    pub latency_thresholds: std::collections::BTreeMap<String, f64>,
    /// Count a call described twice (by response id, or by a parent and child span with
    /// the same model and usage) once.
    #[serde(default = "GenaiConfig::yes")]
    pub dedupe: bool,
}

impl Default for GenaiConfig {
    fn default() -> GenaiConfig {
        GenaiConfig {
            dimensions: Vec::new(),
            series: SeriesBounds::default(),
            prices: Vec::new(),
            prefer_reported_cost: false,
            budgets: BudgetConfig::default(),
            latency_thresholds: Default::default(),
            dedupe: true,
        }
    }
}

impl<'de> Deserialize<'de> for GenaiConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_bounded(d)
    }
}

impl Bounded for GenaiConfig {
    const TTL: bool = true;
    fn deserialize_rest<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        GenaiConfig::deserialize(d)
    }
    fn set_bounds(&mut self, bounds: SeriesBounds) {
        self.series = bounds;
    }
}

/// Most extra dimensions.
const MAX_DIMENSIONS: usize = 8;

/// Labels the families already have.
const RESERVED_LABELS: &[&str] = &[
    "service",
    "provider",
    "model",
    "operation",
    "outcome",
    "type",
    "cost_source",
    "error_type",
    "reason",
    "le",
];

impl GenaiConfig {
    fn yes() -> bool {
        true
    }

    /// Problems, as (key, message).
    pub fn check(&self) -> Vec<(String, String)> {
        let mut errors = Vec::new();
        if self.dimensions.len() > MAX_DIMENSIONS {
            errors.push((
                "dimensions".to_owned(),
                format!(
                    "at most {MAX_DIMENSIONS} dimensions, found {}",
                    self.dimensions.len()
                ),
            ));
        }
        let mut seen = HashSet::new();
        for (i, d) in self.dimensions.iter().enumerate() {
            let mut problems = d.problems(RESERVED_LABELS);
            if problems.is_empty() && !seen.insert(d.label()) {
                problems.push(("label", format!("label {:?} is already used", d.label())));
            }
            errors.extend(
                problems
                    .into_iter()
                    .map(|(key, message)| (format!("dimensions[{i}].{key}"), message)),
            );
        }
        errors.extend(self.series.check());
        self.check_prices(&mut errors);
        for (key, v) in [
            ("budgets.daily_usd", self.budgets.daily_usd),
            ("budgets.monthly_usd", self.budgets.monthly_usd),
        ] {
            if v.is_some_and(|v| !v.is_finite() || v < 0.0) {
                errors.push((key.to_owned(), "must be a non-negative number".to_owned()));
            }
        }
        for (level, v) in &self.latency_thresholds {
            if !v.is_finite() || *v <= 0.0 {
                errors.push((
                    format!("latency_thresholds.{level}"),
                    "must be a positive number of seconds".to_owned(),
                ));
            }
        }
        errors
    }

    /// Prices are non-negative numbers with a valid effective day.
    fn check_prices(&self, errors: &mut Vec<(String, String)>) {
        for (i, p) in self.prices.iter().enumerate() {
            for (what, v) in [
                ("input", Some(p.input)),
                ("output", Some(p.output)),
                ("cache_read", p.cache_read),
                ("cache_write", p.cache_write),
                ("reasoning", p.reasoning),
            ] {
                if v.is_some_and(|v| !v.is_finite() || v < 0.0) {
                    errors.push((
                        format!("prices[{i}].{what}"),
                        "must be a non-negative number".to_owned(),
                    ));
                }
            }
            if let Some(e) = &p.effective
                && price::parse_day(e).is_none()
            {
                errors.push((
                    format!("prices[{i}].effective"),
                    format!("{e:?} is not a YYYY-MM-DD date"),
                ));
            }
        }
    }

    /// The embedded price table with this config's prices applied.
    pub fn price_table(&self) -> PriceTable {
        let mut table = PriceTable::embedded();
        for p in &self.prices {
            table.set(
                &p.model,
                p.effective
                    .as_deref()
                    .and_then(price::parse_day)
                    .unwrap_or(i64::MIN),
                Price {
                    input: p.input,
                    output: p.output,
                    cache_read: p.cache_read,
                    cache_write: p.cache_write,
                    reasoning: p.reasoning,
                },
            );
        }
        table
    }

    fn metrics(&self) -> LlmMetrics {
        let dims: Vec<String> = self.dimensions.iter().map(DimensionConfig::label).collect();
        let mut m = LlmMetrics::new(&dims, self.series.series_limit, self.series.ttl_secs());
        m.budgets = [
            ("daily", self.budgets.daily_usd),
            ("monthly", self.budgets.monthly_usd),
        ]
        .into_iter()
        .filter_map(|(p, v)| Some((p, v?)))
        .collect();
        m
    }

    /// Builds the processor. Every `genai` processor records into one set of families,
    /// so all of them must agree on the settings that shape those families.
    pub fn build(
        &self,
        slot: &LlmMetricsSlot,
        shared: &GenaiShared,
        overflow: &OverflowCounter,
        thresholds: &metrics::Thresholds,
    ) -> Result<GenaiProcessor, String> {
        let mut first = shared.config.lock().unwrap_or_else(PoisonError::into_inner);
        match first.as_ref() {
            Some(c) if c != self => {
                return Err(
                    "every genai processor must have the same settings: they record into one set of llm_* families"
                        .to_owned(),
                );
            }
            Some(_) => {}
            None => *first = Some(self.clone()),
        }
        let metrics = Arc::clone(slot.0.get_or_init(|| Arc::new(self.metrics())));
        for (level, seconds) in &self.latency_thresholds {
            thresholds.set("ai", level, *seconds);
        }
        Ok(GenaiProcessor {
            metrics,
            prices: self.price_table(),
            matched: matches::Matches::default(),
            prefer_reported: self.prefer_reported_cost,
            dimensions: self
                .dimensions
                .iter()
                .map(|d| Dimension {
                    attribute: d.attribute.clone(),
                    values: d.limit(),
                })
                .collect(),
            dedupe: self.dedupe.then(|| Arc::clone(&shared.dedupe)),
            overflow: overflow.clone(),
        })
    }
}

/// What every `genai` processor shares: the settings of the first, and the record of
/// calls already counted (a span and its log event may travel in different pipelines).
#[derive(Default)]
pub struct GenaiShared {
    config: Mutex<Option<GenaiConfig>>,
    dedupe: Arc<Dedupe>,
}

impl GenaiShared {
    /// `llmwatch_genai_deduplicated_total{rule}`, to register.
    pub fn deduplicated(&self) -> DedupeCounter {
        self.dedupe.counter()
    }
}

/// The `genai` processor type, for the registry.
pub const FACTORY: Factory<Arc<dyn ProcessorSettings<Stage>>> = Factory {
    type_name: "genai",
    decode: |value, path, errors, _env| {
        let cfg = decode_checked(value, path, errors, GenaiConfig::check)?;
        Some(Arc::new(cfg) as Arc<dyn ProcessorSettings<Stage>>)
    },
    register: register_shared,
};

/// What every `genai` processor shares: the `llm_*` families' slot, the dedupe record and
/// its counter, and the latency thresholds it sets.
fn register_shared(shared: &mut Shared, registry: &mut Registry) {
    let slot = LlmMetricsSlot::default();
    registry.register_collector(Box::new(slot.clone()));
    shared.insert(slot);
    shared.get_or_register(registry, |registry| {
        let thresholds = metrics::Thresholds::default();
        registry.register_collector(Box::new(thresholds.clone()));
        thresholds
    });
    let genai = Arc::new(GenaiShared::default());
    registry.register(
        "llmwatch_genai_deduplicated",
        "Descriptions of an LLM call merged into the call counted before them in the same trace, by rule (response_id, same_span, parent_child; nested_tool for a tool call).",
        genai.deduplicated().0,
    );
    shared.insert(genai);
}

impl ProcessorSettings<Stage> for GenaiConfig {
    fn build(&self, ctx: &BuildContext<'_>) -> Result<Stage, String> {
        let genai: Arc<GenaiShared> = ctx.get()?;
        let processor = GenaiConfig::build(self, &ctx.get()?, &genai, &ctx.get()?, &ctx.get()?)?;
        Ok(Stage::Record(Arc::new(processor)))
    }
}
