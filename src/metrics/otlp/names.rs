//! Prometheus metric and label names from OTel ones, as the OpenTelemetry specification's
//! Prometheus compatibility rules say.

use crate::model::text::cap;

/// Name prefixes of llmwatch's own and derived families. An app metric whose translated
/// name starts with one is exposed with `otlp_` in front, so it can never collide.
pub const RESERVED_PREFIXES: [&str; 7] = [
    "llm_",
    "llmwatch_",
    "app_",
    "integration_",
    "web_vitals_",
    "chat_",
    "target_info",
];

/// Longest OTel metric name translated; a longer one is refused.
pub(super) const MAX_METRIC_NAME_BYTES: usize = 256;
/// Longest OTel unit translated; a longer one is refused.
pub(super) const MAX_UNIT_BYTES: usize = 64;
/// Longest attribute key turned into a label name; the rest is cut.
pub(super) const MAX_LABEL_NAME_BYTES: usize = 128;

/// A Prometheus metric or label name from an OTel one: characters outside
/// `[a-zA-Z0-9_:]` become `_`, runs of `_` collapse, and a leading digit gets a `_`.
pub fn sanitize(name: &str, colons: bool) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    for c in name.chars() {
        let ok = c.is_ascii_alphanumeric() || c == '_' || (colons && c == ':');
        let c = if ok { c } else { '_' };
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    if out.is_empty() {
        out.push('_');
    }
    out
}

fn unit_word(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "min" => "minutes",
        "h" => "hours",
        "d" => "days",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "%" => "percent",
        _ => return None,
    })
}

fn per_unit_word(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        _ => return None,
    })
}

/// The unit without `{annotations}`, which are not units.
fn strip_annotations(unit: &str) -> String {
    let mut u = String::new();
    let mut depth = 0;
    for c in unit.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ if depth == 0 => u.push(c),
            _ => {}
        }
    }
    u.trim().to_owned()
}

fn unit_suffix(unit: &str, is_gauge: bool) -> Option<String> {
    if unit == "1" {
        is_gauge.then(|| "ratio".to_owned())
    } else if let Some((a, b)) = unit.split_once('/') {
        let a = unit_word(a).map_or_else(|| sanitize(a, false), str::to_owned);
        let b = per_unit_word(b).map_or_else(|| sanitize(b, false), str::to_owned);
        Some(format!("{a}_per_{b}"))
    } else if unit.is_empty() {
        None
    } else {
        Some(unit_word(unit).map_or_else(|| sanitize(unit, false), str::to_owned))
    }
}

/// The Prometheus name of an OTel metric: sanitised, with the unit's suffix (`_seconds`,
/// `_bytes`, `_per_second`, `_ratio` for gauges of unit `1`), `_total` for counters, and
/// `otlp_` in front of names that would fall among llmwatch's own families.
pub fn prometheus_name(name: &str, unit: &str, kind_is_counter: bool, is_gauge: bool) -> String {
    let mut out = sanitize(name, true);
    let unit = strip_annotations(unit);
    if let Some(s) = unit_suffix(&unit, is_gauge).filter(|s| !s.trim_matches('_').is_empty())
        && !out.ends_with(&format!("_{s}"))
    {
        out.push('_');
        out.push_str(s.trim_matches('_'));
    }
    if kind_is_counter && !out.ends_with("_total") {
        out.push_str("_total");
    }
    if RESERVED_PREFIXES.iter().any(|p| out.starts_with(p)) {
        out.insert_str(0, "otlp_");
    }
    out
}

/// The label name of an attribute key, cut to [`MAX_LABEL_NAME_BYTES`] first; names that
/// start with `__` (reserved by Prometheus) get `key` in front.
pub(super) fn label_name(key: &str) -> String {
    let name = sanitize(cap(key, MAX_LABEL_NAME_BYTES), false);
    if name.starts_with("__") {
        format!("key{name}")
    } else {
        name
    }
}
