//! What a report needs of each objective: its attainment over the report's period and the
//! share of its error budget used, as PromQL for Prometheus's HTTP API.
//!
//! Attainment is computed from the raw families over the period, so it does not depend on
//! the recording rules being loaded; the budget used is over the objective's own window,
//! read from `slo:error_budget_remaining:ratio`, which `llmwatch slo-rules` records.

use super::Objective;
use super::sli::error_ratio;

/// The queries of one objective for a report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportQueries {
    /// Share of good events over the period, one series per slice.
    pub attainment: String,
    /// Share of the window's error budget spent (1 or more: the objective is missed), one
    /// series per slice.
    pub budget_used: String,
}

/// The queries of `o` for a report over `period`, a PromQL range such as `1d`, `7d` or
/// `30d`.
pub fn report_queries(o: &Objective, period: &str) -> ReportQueries {
    ReportQueries {
        attainment: format!("1 - (\n{}\n)", error_ratio(o, period)),
        budget_used: format!("1 - slo:error_budget_remaining:ratio{{slo=\"{}\"}}", o.name),
    }
}
