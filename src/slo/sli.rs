//! Each indicator as PromQL: the error ratio (bad events over valid events) over a range,
//! from the families llmwatch exposes, and the histogram buckets a latency threshold must
//! fall on.
//!
//! Every ratio is written as `(bad or all * 0) / (valid > 0)`, so that a slice with traffic
//! and no failure reads 0 rather than nothing, and a slice without traffic in the range
//! reads nothing rather than NaN.

use super::{Objective, SliKind};
use crate::genai::metrics::DURATION_BUCKETS;

/// The histogram a latency indicator reads, and its bucket boundaries.
pub(super) struct Buckets {
    /// The family, for messages.
    pub(super) family: &'static str,
    /// Its bucket boundaries, in seconds.
    pub(super) bounds: Vec<f64>,
    /// The threshold when none is configured.
    pub(super) default: Option<f64>,
}

/// Whether a latency indicator sliced `by` reads the health processor's
/// `app_operation_duration_seconds{component="ai"}`, whose buckets include the configured
/// `ai` thresholds; sliced by model, it reads the genai histograms, which have a model
/// label and the semconv buckets.
fn uses_health_histogram(sli: SliKind, by: &[&str]) -> bool {
    sli == SliKind::LlmLatency && !by.contains(&"model")
}

/// The processor type whose families the indicator reads.
pub(super) fn processor(sli: SliKind, by: &[&str]) -> &'static str {
    match sli {
        SliKind::LlmAvailability | SliKind::PlatformAvailability => "health",
        SliKind::LlmLatency if uses_health_histogram(sli, by) => "health",
        SliKind::LlmLatency | SliKind::LlmTtft => "genai",
        SliKind::ChatTurns => "chat_analytics",
    }
}

/// The buckets a latency indicator's threshold must be one of; `None` for the others.
pub(super) fn buckets(sli: SliKind, by: &[&str], ai: Option<[f64; 2]>) -> Option<Buckets> {
    match sli {
        SliKind::LlmLatency if uses_health_histogram(sli, by) => Some(Buckets {
            family: "app_operation_duration_seconds (its thresholds.ai of the health processor)",
            bounds: ai.map(Vec::from).unwrap_or_default(),
            default: ai.map(|[_, good]| good),
        }),
        SliKind::LlmLatency => Some(Buckets {
            family: "llm_request_duration_seconds",
            bounds: DURATION_BUCKETS.to_vec(),
            default: None,
        }),
        SliKind::LlmTtft => Some(Buckets {
            family: "llm_time_to_first_token_seconds",
            bounds: DURATION_BUCKETS.to_vec(),
            default: None,
        }),
        _ => None,
    }
}

/// A bucket boundary as the `le` label llmwatch writes it (`5.0`, `1.28`).
pub(crate) fn le(seconds: f64) -> String {
    format!("{seconds:?}")
}

/// The error ratio of `o` over `range` (`5m`, `1h`, `28d`).
pub(super) fn error_ratio(o: &Objective, range: &str) -> String {
    let by = o.by.join(", ");
    let sum = |selector: &str| format!("sum by ({by}) (rate({selector}[{range}]))");
    // `all` is present whenever the slice has traffic: `all * 0` stands in for a family
    // with no sample yet.
    let ratio = |bad: &str, all: &str, valid: &str| {
        format!("(\n  {bad}\n  or {all} * 0\n)\n/\n(\n  {valid}\n  > 0\n)")
    };
    match o.sli {
        SliKind::LlmAvailability => {
            // Expected outcomes (rate limits, guest 401s, validation) count in neither.
            let all = sum("app_operation_duration_seconds_count{component=\"ai\"}");
            let expected = sum("app_expected_outcomes_total{component=\"ai\"}");
            let valid = format!("{all}\n  - ({expected} or {all} * 0)");
            ratio(&sum("app_errors_total{component=\"ai\"}"), &all, &valid)
        }
        SliKind::LlmLatency | SliKind::LlmTtft => {
            let (family, filter) = match o.sli {
                SliKind::LlmTtft => ("llm_time_to_first_token_seconds", ""),
                _ if uses_health_histogram(o.sli, &o.by) => {
                    ("app_operation_duration_seconds", "component=\"ai\"")
                }
                _ => ("llm_request_duration_seconds", ""),
            };
            let le = format!("le=\"{}\"", le(o.threshold.unwrap_or_default()));
            let bucket = [filter, &le]
                .iter()
                .filter(|f| !f.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(",");
            let good = sum(&format!("{family}_bucket{{{bucket}}}"));
            let count = if filter.is_empty() {
                sum(&format!("{family}_count"))
            } else {
                sum(&format!("{family}_count{{{filter}}}"))
            };
            format!("1 - (\n  {good}\n  /\n  ({count} > 0)\n)")
        }
        SliKind::ChatTurns => {
            // A turn is a user message; it succeeded when an answer was received. Answers
            // can land in the next range, so the ratio is kept at 0 or above.
            let sent = sum("chat_events_total{event=\"message_sent\"}");
            let received = sum("chat_events_total{event=\"message_received\"}");
            format!("clamp_min(\n  1 - ({received} or {sent} * 0)\n  / ({sent} > 0),\n  0\n)")
        }
        SliKind::PlatformAvailability => {
            // A 429 is the platform's quota, not its failure (as health's default
            // expected outcomes have it).
            let valid = sum("integration_requests_total{outcome!=\"rate_limited\"}");
            ratio(
                &sum("integration_requests_total{outcome=\"error\"}"),
                &valid,
                &valid,
            )
        }
    }
}
