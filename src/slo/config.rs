//! The `slos:` section as written, its defaults, and the checks that turn it into
//! [`Objective`]s.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::Objective;
use crate::component::config::{ConfigError, Path};
use crate::registry::ProcessorConfig;

/// The compliance windows an objective may have, in days.
pub const WINDOWS_DAYS: [u32; 2] = [28, 30];

/// What an objective measures.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SliKind {
    /// LLM calls without an error that no expected-outcome rule of `health` matched, among
    /// the calls that no rule matched.
    LlmAvailability,
    /// LLM calls that took at most the threshold.
    LlmLatency,
    /// Streamed LLM calls whose first chunk came within the threshold.
    LlmTtft,
    /// User messages (`message_sent`) that got an answer (`message_received`).
    ChatTurns,
    /// Requests to a third-party platform that did not fail, rate limits left out.
    PlatformAvailability,
}

impl SliKind {
    /// The name as written in the config.
    pub fn name(self) -> &'static str {
        match self {
            SliKind::LlmAvailability => "llm_availability",
            SliKind::LlmLatency => "llm_latency",
            SliKind::LlmTtft => "llm_ttft",
            SliKind::ChatTurns => "chat_turns",
            SliKind::PlatformAvailability => "platform_availability",
        }
    }

    /// The labels an objective of this kind may be sliced by, and the default slicing.
    fn slicing(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            SliKind::LlmAvailability | SliKind::ChatTurns => (&["service"], &["service"]),
            SliKind::LlmLatency | SliKind::LlmTtft => (&["service", "model"], &["service"]),
            SliKind::PlatformAvailability => (&["platform"], &["platform"]),
        }
    }
}

/// `slos:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSlos {
    /// The objectives; setting the list replaces the defaults.
    #[serde(default)]
    objectives: Option<Vec<RawObjective>>,
}

/// One entry of `slos.objectives`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawObjective {
    /// The id, exported as the `slo` label.
    name: String,
    /// The indicator.
    sli: SliKind,
    /// Percent of good events, e.g. 99.5.
    target: f64,
    /// `28d` or `30d`.
    #[serde(default = "default_window")]
    window: String,
    /// Labels to slice by; the indicator's default when omitted.
    #[serde(default)]
    by: Option<Vec<String>>,
    /// The latency threshold (latency indicators), e.g. `5s` or `1.28s`.
    #[serde(default)]
    threshold: Option<String>,
}

fn default_window() -> String {
    "28d".to_owned()
}

fn default_objectives() -> Vec<RawObjective> {
    let objective =
        |name: &str, sli, target, threshold: Option<&str>, by: Option<&str>| RawObjective {
            name: name.to_owned(),
            sli,
            target,
            window: default_window(),
            by: by.map(|b| b.split(',').map(str::to_owned).collect()),
            threshold: threshold.map(str::to_owned),
        };
    vec![
        objective(
            "llm-availability",
            SliKind::LlmAvailability,
            99.5,
            None,
            None,
        ),
        // Without a threshold: the `good` threshold of the health processor's `ai`
        // component, which is a bucket boundary of app_operation_duration_seconds.
        objective("llm-latency", SliKind::LlmLatency, 95.0, None, None),
        // 1.28 s is a bucket boundary of llm_time_to_first_token_seconds.
        objective(
            "llm-ttft",
            SliKind::LlmTtft,
            95.0,
            Some("1.28s"),
            Some("service,model"),
        ),
        objective("chat-turns", SliKind::ChatTurns, 99.0, None, None),
        objective(
            "platform-availability",
            SliKind::PlatformAvailability,
            99.0,
            None,
            None,
        ),
    ]
}

/// What the checks need to know of the processors.
pub(super) struct Context {
    /// Processor types declared.
    types: BTreeSet<String>,
    /// `[excellent, good]` of the `ai` component, from the first `health` processor.
    ai_thresholds: Option<[f64; 2]>,
    /// Whether the `chat_analytics` catalogue counts `message_sent` and `message_received`.
    turn_events: bool,
}

impl Context {
    pub(super) fn from_processors(processors: &BTreeMap<String, ProcessorConfig>) -> Context {
        let mut context = Context {
            types: processors
                .keys()
                .map(|id| crate::component::config::component_type(id).to_owned())
                .collect(),
            ai_thresholds: None,
            turn_events: false,
        };
        for p in processors.values() {
            if let Some(h) = p.downcast::<crate::health::HealthConfig>()
                && context.ai_thresholds.is_none()
            {
                context.ai_thresholds = h.thresholds.get("ai").copied();
            }
            if let Some(a) = p.downcast::<crate::analytics::AnalyticsConfig>() {
                let has = |n: &str| a.events.iter().any(|e| e.name == n);
                context.turn_events = has("message_sent") && has("message_received");
            }
        }
        context
    }
}

/// The highest target whose fast-burn page can fire at all: at 14.4 times the budget,
/// the error ratio must stay below 1.
const MIN_TARGET_PERCENT: f64 = 100.0 - 100.0 / 14.4;

/// The problems of one objective, under its YAML path.
struct Problems {
    at: String,
    list: Vec<ConfigError>,
}

impl Problems {
    fn add(&mut self, field: &str, message: String) {
        let path = format!("{}.{field}", self.at);
        self.list.push(ConfigError { path, message });
    }
}

pub(super) fn check(
    raw: RawSlos,
    context: &Context,
    path: &Path,
    errors: &mut Vec<ConfigError>,
) -> Vec<Objective> {
    // The defaults apply where their families are produced; objectives the operator
    // wrote must all be measurable.
    let defaults = raw.objectives.is_none();
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (i, o) in raw
        .objectives
        .unwrap_or_else(default_objectives)
        .into_iter()
        .enumerate()
    {
        let mut problems = Problems {
            at: format!("{path}.objectives[{i}]"),
            list: Vec::new(),
        };
        let by = check_by(&o, &mut problems);
        if !check_source(&o, &by, context, &mut problems) && defaults {
            continue;
        }
        check_name(&o.name, &mut seen, &mut problems);
        if !(o.target > MIN_TARGET_PERCENT && o.target < 100.0) {
            problems.add(
                "target",
                format!(
                    "target {} is out of range: it is a percentage below 100 and above {MIN_TARGET_PERCENT:.2}, so that 14.4 times the error budget (the fast-burn page) stays under 100% errors",
                    o.target
                ),
            );
        }
        let window_days = o
            .window
            .strip_suffix('d')
            .and_then(|d| d.parse::<u32>().ok())
            .filter(|d| WINDOWS_DAYS.contains(d));
        if window_days.is_none() {
            let message = format!("invalid window {:?}: use 28d or 30d", o.window);
            problems.add("window", message);
        }
        let threshold = check_threshold(&o, &by, context, &mut problems);
        match window_days {
            Some(window_days) if problems.list.is_empty() => out.push(Objective {
                name: o.name,
                sli: o.sli,
                target: o.target / 100.0,
                target_percent: o.target,
                window_days,
                by,
                threshold,
            }),
            _ => errors.append(&mut problems.list),
        }
    }
    out
}

fn check_name(name: &str, seen: &mut BTreeSet<String>, problems: &mut Problems) {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid {
        let message = format!("invalid name {name:?}: use 1 to 64 of a-z, 0-9 and -");
        problems.add("name", message);
    } else if !seen.insert(name.to_owned()) {
        problems.add(
            "name",
            format!("{name:?} is the name of an earlier objective"),
        );
    }
}

/// Whether the families the indicator reads are produced; a problem when not.
fn check_source(o: &RawObjective, by: &[&str], context: &Context, problems: &mut Problems) -> bool {
    let needs = super::sli::processor(o.sli, by);
    if !context.types.contains(needs) {
        let message = format!(
            "{} reads the families of the {needs} processor, and none is declared",
            o.sli.name()
        );
        problems.add("sli", message);
        return false;
    }
    if o.sli == SliKind::ChatTurns && !context.turn_events {
        problems.add("sli", "chat_turns counts the message_sent and message_received events: the chat_analytics catalogue must list both".to_owned());
        return false;
    }
    true
}

/// The slice labels, service first.
fn check_by(o: &RawObjective, problems: &mut Problems) -> Vec<&'static str> {
    let (allowed, default_by) = o.sli.slicing();
    let Some(labels) = &o.by else {
        return default_by.to_vec();
    };
    let mut by: Vec<&'static str> = Vec::new();
    for (j, label) in labels.iter().enumerate() {
        match allowed.iter().find(|a| **a == label.as_str()) {
            Some(a) if !by.contains(a) => by.push(a),
            Some(_) => problems.add(&format!("by[{j}]"), format!("{label} is listed twice")),
            None => problems.add(&format!("by[{j}]"), slicing_error(o.sli, label, allowed)),
        }
    }
    if labels.is_empty() {
        problems.add(
            "by",
            format!("slice by at least one of {}", allowed.join(", ")),
        );
    }
    by.sort_by_key(|l| allowed.iter().position(|a| a == l));
    by
}

fn slicing_error(sli: SliKind, label: &str, allowed: &[&str]) -> String {
    let mut message = format!(
        "{} cannot be sliced by {label:?}: its families have only {}",
        sli.name(),
        allowed.join(", ")
    );
    if sli == SliKind::LlmAvailability && label == "model" {
        message.push_str(". The expected outcomes it leaves out (a guest's 401, matched on a user attribute) are known only to app_*_total, which has no model label");
    }
    message
}

/// The threshold in seconds of a latency objective: as written, or the health
/// processor's `good` threshold for `ai`; it must be a bucket boundary of the histogram
/// the indicator reads.
fn check_threshold(
    o: &RawObjective,
    by: &[&str],
    context: &Context,
    problems: &mut Problems,
) -> Option<f64> {
    let Some(buckets) = super::sli::buckets(o.sli, by, context.ai_thresholds) else {
        if o.threshold.is_some() {
            let message = format!(
                "{} has no threshold: only llm_latency and llm_ttft do",
                o.sli.name()
            );
            problems.add("threshold", message);
        }
        return None;
    };
    if buckets.bounds.is_empty() {
        let message = format!(
            "{} by service reads the bucket of the health processor's thresholds.ai, and it has none",
            o.sli.name()
        );
        problems.add("threshold", message);
        return None;
    }
    let seconds = match (&o.threshold, buckets.default) {
        (Some(t), _) => parse_seconds(t).or_else(|| {
            let message =
                format!("invalid threshold {t:?}: use seconds such as 5s, 1.28s or 500ms");
            problems.add("threshold", message);
            None
        })?,
        (None, Some(default)) => default,
        (None, None) => {
            let message = format!(
                "{} sliced by model needs a threshold, one of {}",
                o.sli.name(),
                list(&buckets.bounds)
            );
            problems.add("threshold", message);
            return None;
        }
    };
    if !buckets.bounds.iter().any(|b| (b - seconds).abs() < 1e-9) {
        problems.add(
            "threshold",
            format!(
                "{seconds}s is not a bucket boundary of {}, so the share of calls under it cannot be counted exactly; use one of {}",
                buckets.family,
                list(&buckets.bounds)
            ),
        );
        return None;
    }
    Some(seconds)
}

fn list(bounds: &[f64]) -> String {
    bounds
        .iter()
        .map(|b| format!("{b}s"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn parse_seconds(text: &str) -> Option<f64> {
    let text = text.trim();
    let (number, scale) = if let Some(ms) = text.strip_suffix("ms") {
        (ms, 0.001)
    } else {
        (text.strip_suffix('s')?, 1.0)
    };
    let value: f64 = number.parse().ok()?;
    (value.is_finite() && value > 0.0).then_some(value * scale)
}
