//! The one registry of processors: their `type` names, their configs, what building them
//! needs, and how. `config` decodes `processors:` through it, `app` builds them from it
//! and registers what they share, and `slo` reads their configs from it; the pipeline
//! only runs built processors ([`Stage`]: a rewriting [`crate::component::Processor`] or a
//! [`crate::derive::Recorder`]) and imports neither them nor this registry.
//!
//! In the module graph the registry sits above the processors it names (which import only
//! `component`, `semconv`, `derive` and `metrics`, never each other) and below `slo`,
//! `config` and `app`, which read it.
//!
//! Adding a processor: its own folder (config with `check`, and `build`), plus its line in
//! [`PROCESSOR_TYPES`], its variant, and its arm in `decode` and `build` here.

use std::sync::Arc;

use prometheus_client::registry::Registry;
use serde_json::Value;

use crate::analytics;
use crate::component::config::{ConfigError, Path, decode_at};
use crate::derive::Stage;
use crate::genai;
use crate::genai::metrics::OverflowCounter;
use crate::health;
use crate::metrics::bounded::Thresholds;
use crate::redact::{RedactionConfig, RedactionCounter};

/// Every processor `type`, in the order the docs list them.
pub const PROCESSOR_TYPES: [&str; 4] = ["redaction", "genai", "health", "chat_analytics"];

/// A processor's configuration, by type.
#[derive(Clone, Debug)]
pub enum ProcessorConfig {
    /// PII and secret redaction.
    Redaction(RedactionConfig),
    /// LLM-call metrics.
    Genai(genai::GenaiConfig),
    /// Component, integration and web-vital health metrics.
    Health(health::HealthConfig),
    /// Product analytics.
    ChatAnalytics(analytics::AnalyticsConfig),
}

/// What building processors needs besides their config.
pub struct ProcessorContext<'a> {
    /// The process environment (keys are read from it).
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// The shared `llmwatch_redactions_total` family.
    pub redactions: RedactionCounter,
    /// Where the `llm_*` families live once a `genai` processor is built.
    pub llm: genai::metrics::LlmMetricsSlot,
    /// What every `genai` processor shares.
    pub genai: genai::GenaiShared,
    /// `llmwatch_metric_overflow_total`.
    pub overflow: genai::metrics::OverflowCounter,
    /// `llmwatch_latency_threshold_seconds`.
    pub thresholds: Thresholds,
    /// Where the `health` families live once a `health` processor is built.
    pub health: health::HealthMetricsSlot,
    /// Where the `chat_analytics` state lives once that processor is built.
    pub analytics: analytics::AnalyticsSlot,
    /// Top users and conversations of the `chat_analytics` processors.
    pub chat: Arc<analytics::state::Shared>,
}

impl<'a> ProcessorContext<'a> {
    /// What the processors share, created once and registered in `registry`; the slots
    /// are filled as processors are built.
    pub fn register(
        registry: &mut Registry,
        env: &'a dyn Fn(&str) -> Option<String>,
        overflow: OverflowCounter,
    ) -> ProcessorContext<'a> {
        let llm = genai::metrics::LlmMetricsSlot::default();
        registry.register_collector(Box::new(llm.clone()));
        let thresholds = Thresholds::default();
        registry.register_collector(Box::new(thresholds.clone()));
        let health = health::HealthMetricsSlot::default();
        registry.register_collector(Box::new(health.clone()));
        let analytics = analytics::AnalyticsSlot::default();
        registry.register_collector(Box::new(analytics.clone()));
        let genai = genai::GenaiShared::default();
        registry.register(
            "llmwatch_genai_deduplicated",
            "Descriptions of an LLM call merged into the call counted before them in the same trace, by rule (response_id, same_span, parent_child; nested_tool for a tool call).",
            genai.deduplicated().0,
        );
        ProcessorContext {
            thresholds,
            health,
            analytics,
            chat: Arc::default(),
            env,
            redactions: RedactionCounter::register(registry),
            llm,
            genai,
            overflow,
        }
    }
}

impl ProcessorConfig {
    pub(crate) fn decode(
        kind: &str,
        value: Value,
        path: &Path,
        errors: &mut Vec<ConfigError>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Option<ProcessorConfig> {
        // Every problem a config's own check finds, reported under its path.
        let checked = |problems: Vec<(String, String)>, errors: &mut Vec<ConfigError>| {
            let ok = problems.is_empty();
            errors.extend(problems.into_iter().map(|(key, message)| ConfigError {
                path: format!("{path}.{key}"),
                message,
            }));
            ok
        };
        match kind {
            "redaction" => {
                let cfg: RedactionConfig = decode_at(value, path, errors)?;
                checked(cfg.check(env), errors).then_some(ProcessorConfig::Redaction(cfg))
            }
            "genai" => {
                let cfg: genai::GenaiConfig = decode_at(value, path, errors)?;
                checked(cfg.check(), errors).then_some(ProcessorConfig::Genai(cfg))
            }
            "health" => {
                let cfg: health::HealthConfig = decode_at(value, path, errors)?;
                checked(cfg.check(), errors).then_some(ProcessorConfig::Health(cfg))
            }
            "chat_analytics" => {
                let cfg: analytics::AnalyticsConfig = decode_at(value, path, errors)?;
                checked(cfg.check(), errors).then_some(ProcessorConfig::ChatAnalytics(cfg))
            }
            other => {
                errors.push(ConfigError {
                    path: path.to_string(),
                    message: format!(
                        "unknown processor type {other:?}: the known types are {}",
                        PROCESSOR_TYPES.join(", ")
                    ),
                });
                None
            }
        }
    }

    /// Settings that are valid but probably not meant.
    pub fn warnings(&self) -> Vec<String> {
        match self {
            ProcessorConfig::Redaction(cfg) => cfg.warnings(),
            ProcessorConfig::Genai(_)
            | ProcessorConfig::Health(_)
            | ProcessorConfig::ChatAnalytics(_) => Vec::new(),
        }
    }

    /// Builds the runtime processor.
    pub fn build(&self, ctx: &ProcessorContext<'_>) -> Result<Stage, String> {
        match self {
            ProcessorConfig::Redaction(cfg) => Ok(Stage::Rewrite(Arc::new(
                cfg.build(&ctx.redactions, ctx.env)?,
            ))),
            ProcessorConfig::Genai(cfg) => Ok(Stage::Record(Arc::new(cfg.build(
                &ctx.llm,
                &ctx.genai,
                &ctx.overflow,
                &ctx.thresholds,
            )?))),
            ProcessorConfig::Health(cfg) => Ok(Stage::Record(Arc::new(cfg.build(
                &ctx.health,
                &ctx.overflow,
                &ctx.thresholds,
            )?))),
            ProcessorConfig::ChatAnalytics(cfg) => Ok(Stage::Record(Arc::new(cfg.build(
                &ctx.analytics,
                &ctx.overflow,
                &ctx.chat,
            )?))),
        }
    }
}
