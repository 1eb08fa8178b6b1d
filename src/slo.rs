//! Service level objectives for the AI path, and the Prometheus rules that watch them.
//!
//! The `slos:` section declares objectives on four indicators llmwatch already measures
//! (LLM call availability, LLM latency and time to first token, chat turns answered,
//! platform integration availability). This module checks them against the rest of the
//! configuration (the families an indicator reads must be produced, a latency threshold
//! must be a bucket boundary of the histogram it reads) and writes the recording rules,
//! multi-window burn-rate alerts and error-budget series of the SRE workbook's chapter
//! "Alerting on SLOs" (`llmwatch slo-rules`), and gives reports the queries of each
//! objective's attainment and budget used ([`report_queries`]).
//!
//! It evaluates nothing at run time: Prometheus does, from the rules. Nothing here is on
//! the data path.

mod config;
mod report;
mod rules;
mod sli;

use std::collections::BTreeMap;

use serde_json::Value;

use crate::component::config::{ConfigError, Path, decode_at};
use crate::registry::ProcessorConfig;

pub use config::{SliKind, WINDOWS_DAYS};
pub use report::{ReportQueries, report_queries};
pub use rules::{ALERT_PAIRS, RATE_WINDOWS, render_rules};

/// One validated objective.
#[derive(Clone, Debug, PartialEq)]
pub struct Objective {
    /// The id, `[a-z0-9-]`, exported as the `slo` label.
    pub name: String,
    /// What is measured.
    pub sli: SliKind,
    /// The share of good events, as a fraction (0.995).
    pub target: f64,
    /// The target as written, in percent (`99.5`), for texts.
    pub target_percent: f64,
    /// The compliance window in days.
    pub window_days: u32,
    /// The labels the indicator is sliced by (`service`, `model` or `platform`).
    pub by: Vec<&'static str>,
    /// Seconds under which a call is good (latency indicators only).
    pub threshold: Option<f64>,
}

impl Objective {
    /// The error budget: the share of events allowed to be bad.
    pub fn budget(&self) -> f64 {
        1.0 - self.target
    }
}

/// The validated `slos:` section.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Slos {
    /// The objectives, in the order they were declared.
    pub objectives: Vec<Objective>,
}

impl Slos {
    /// Decodes and checks `slos:` (the defaults when it is absent) against the declared
    /// processors, recording every problem with its YAML path.
    pub fn decode(
        value: Option<Value>,
        path: &Path,
        processors: &BTreeMap<String, ProcessorConfig>,
        errors: &mut Vec<ConfigError>,
    ) -> Slos {
        let raw = match value {
            Some(v) => decode_at::<config::RawSlos>(v, path, errors),
            None => Some(config::RawSlos::default()),
        };
        let Some(raw) = raw else {
            return Slos::default();
        };
        let context = config::Context::from_processors(processors);
        Slos {
            objectives: config::check(raw, &context, path, errors),
        }
    }
}

#[cfg(test)]
mod tests;
