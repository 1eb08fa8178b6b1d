//! Browser web vitals: their short names and where browser telemetry puts them.

/// The vitals llmwatch records.
pub const VITALS: [&str; 5] = ["lcp", "inp", "fcp", "ttfb", "cls"];

/// The attribute prefix of a `browser.web_vital` event's fields.
pub const WEB_VITAL_PREFIX: &str = "browser.web_vital.";

/// Prefixes of web-vital metric names (lowercased).
pub const METRIC_PREFIXES: [&str; 4] = [
    "browser.web_vital.",
    "web_vitals.",
    "webvitals.",
    "web_vital.",
];
