//! What a report holds: sections of figures (one number, with the previous period's) and
//! tables (a number per label set), each with its unit, meaning and the PromQL behind it.
//! This is also the `json` format, so every field documents itself.

use std::collections::BTreeMap;

use serde::Serialize;

use super::period::Period;

/// Identifies the JSON layout; bumped when a field changes meaning.
pub const SCHEMA: &str = "llmwatch.report/v1";

/// How much data the report found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Every figure has data.
    Complete,
    /// Some figures have none (they are listed in `missing` and shown as "no data"), or
    /// the first LLM call recorded comes well after the period's start (`data_from`).
    Partial,
    /// No LLM calls or spend at all in the period: nothing to report.
    Empty,
}

/// A whole report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// [`SCHEMA`].
    pub schema: &'static str,
    /// How to read the fields.
    pub about: &'static str,
    /// "Daily summary", "Weekly deep dive" or "Monthly board report".
    pub title: String,
    /// The period reported on.
    pub period: PeriodInfo,
    /// The period every `previous` value comes from.
    pub previous_period: PeriodInfo,
    /// The Prometheus queried.
    pub prometheus: String,
    /// When the report was built (RFC 3339).
    pub generated_at: String,
    /// How much data was found.
    pub status: Status,
    /// Ids of the figures and tables without data.
    pub missing: Vec<String>,
    /// When Prometheus holds no LLM call in the first 20 minutes of the period: about when
    /// the first one is (RFC 3339, to 5 minutes). Figures then cover only the time since
    /// (llmwatch was new, down or not scraped, or the app was idle).
    pub data_from: Option<String>,
    /// The sections, in reading order.
    pub sections: Vec<Section>,
}

/// A period as the JSON shows it.
#[derive(Clone, Debug, Serialize)]
pub struct PeriodInfo {
    /// `day`, `week` or `month`.
    pub kind: &'static str,
    /// Start, RFC 3339, inclusive.
    pub start: String,
    /// End, RFC 3339, exclusive.
    pub end: String,
    /// Length in seconds.
    pub seconds: u64,
}

impl From<&Period> for PeriodInfo {
    fn from(p: &Period) -> PeriodInfo {
        PeriodInfo {
            kind: p.kind.name(),
            start: p.start.to_string(),
            end: p.end.to_string(),
            seconds: p.seconds(),
        }
    }
}

/// A titled group of figures and tables.
#[derive(Clone, Debug, Serialize)]
pub struct Section {
    /// `spend`, `usage`, `product`, `health`, `alerts`, `users`.
    pub id: &'static str,
    /// Heading.
    pub title: &'static str,
    /// Single numbers.
    pub figures: Vec<Figure>,
    /// Breakdowns.
    pub tables: Vec<Table>,
}

/// One number of the period, with the previous period's.
#[derive(Clone, Debug, Serialize)]
pub struct Figure {
    /// Stable id, `section.name`.
    pub id: String,
    /// Label.
    pub title: String,
    /// Unit of `value` and `previous`.
    pub unit: &'static str,
    /// What it means.
    pub description: String,
    /// The PromQL, evaluated at the end of the period (and of the previous one).
    pub query: String,
    /// The value; `null` when Prometheus has no data for it.
    pub value: Option<f64>,
    /// The value over the previous period; `null` without data or when not compared.
    pub previous: Option<f64>,
    /// `(value - previous) / previous`; `null` unless both exist and previous is not 0.
    pub change: Option<f64>,
}

/// A breakdown: a number per label set, largest first.
#[derive(Clone, Debug, Serialize)]
pub struct Table {
    /// Stable id, `section.name`.
    pub id: String,
    /// Label.
    pub title: String,
    /// Unit of each row's value.
    pub unit: &'static str,
    /// What it means.
    pub description: String,
    /// The PromQL, evaluated at the end of the period.
    pub query: String,
    /// The label names that identify a row.
    pub labels: Vec<String>,
    /// At most `limit` rows, largest value first; empty when there is no data.
    pub rows: Vec<Row>,
}

/// One row of a [`Table`].
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// The row's labels.
    pub labels: BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
}

impl Row {
    /// The labels in `names` order, joined for display.
    pub fn key(&self, names: &[String]) -> String {
        names
            .iter()
            .map(|n| self.labels.get(n).map_or("", String::as_str))
            .collect::<Vec<_>>()
            .join(" / ")
    }
}

impl Report {
    /// A figure by id.
    pub fn figure(&self, id: &str) -> Option<&Figure> {
        self.sections
            .iter()
            .flat_map(|s| &s.figures)
            .find(|f| f.id == id)
    }

    /// A table by id.
    pub fn table(&self, id: &str) -> Option<&Table> {
        self.sections
            .iter()
            .flat_map(|s| &s.tables)
            .find(|t| t.id == id)
    }
}
