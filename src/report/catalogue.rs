//! Every figure and table of a report, with the PromQL that computes it.
//!
//! Totals over the period are `increase` of llmwatch's counters over the whole period
//! (`$R`), summed over every series, so a fleet of llmwatch instances reports as one and
//! the figure is exact rather than an average of 5-minute rates. Percentiles are
//! `histogram_quantile` over the period's bucket increases: the true p95 of the period, not
//! an average of p95s. Unique users come from the shipped fleet recording rules
//! (`window_segment:chat_users:estimate`), and the charts from the rate recording rules
//! (`chart.rs`).

mod product;

use self::product::product;
use super::period::PeriodKind;
use crate::slo::Objective;

/// A single number.
pub struct FigureDef {
    /// `section.name`.
    pub id: &'static str,
    /// Label.
    pub title: String,
    /// Unit.
    pub unit: &'static str,
    /// Meaning.
    pub description: String,
    /// PromQL, `$R` standing for the period's range.
    pub expr: String,
    /// Also evaluated at the end of the previous period.
    pub compare: bool,
}

/// A breakdown.
pub struct TableDef {
    /// `section.name`.
    pub id: String,
    /// Label.
    pub title: String,
    /// Unit.
    pub unit: &'static str,
    /// Meaning.
    pub description: String,
    /// PromQL, `$R` standing for the period's range.
    pub expr: String,
    /// Label names of a row.
    pub labels: Vec<String>,
    /// Rows kept.
    pub limit: usize,
}

/// A section's definitions.
pub struct SectionDef {
    /// Id.
    pub id: &'static str,
    /// Heading.
    pub title: &'static str,
    /// Figures.
    pub figures: Vec<FigureDef>,
    /// Tables.
    pub tables: Vec<TableDef>,
}

/// Units, as the JSON names them.
pub mod unit {
    /// US dollars.
    pub const USD: &str = "USD";
    /// Tokens.
    pub const TOKENS: &str = "tokens";
    /// LLM calls.
    pub const CALLS: &str = "calls";
    /// A fraction from 0 to 1.
    pub const RATIO: &str = "ratio";
    /// Seconds.
    pub const SECONDS: &str = "seconds";
    /// Unique users (HyperLogLog estimate).
    pub const USERS: &str = "users";
    /// A count of events.
    pub const COUNT: &str = "count";
    /// Messages per conversation.
    pub const MESSAGES: &str = "messages";
    /// A unitless score (CLS).
    pub const SCORE: &str = "score";
}

fn figure(id: &'static str, title: &str, unit: &'static str, expr: &str, d: &str) -> FigureDef {
    FigureDef {
        id,
        title: title.to_owned(),
        unit,
        description: d.to_owned(),
        expr: expr.to_owned(),
        compare: true,
    }
}

fn table(
    id: &str,
    title: &str,
    unit: &'static str,
    expr: &str,
    labels: &[&str],
    d: &str,
) -> TableDef {
    TableDef {
        id: id.to_owned(),
        title: title.to_owned(),
        unit,
        description: d.to_owned(),
        expr: expr.to_owned(),
        labels: labels.iter().map(|l| (*l).to_owned()).collect(),
        limit: 10,
    }
}

/// The budget of a period: the daily one for a day, seven daily ones for a week, the
/// monthly one for a month (`llm_budget_usd{period}`).
fn budget(kind: PeriodKind) -> &'static str {
    match kind {
        PeriodKind::Day => r#"max(llm_budget_usd{period="daily"})"#,
        PeriodKind::Week => r#"7 * max(llm_budget_usd{period="daily"})"#,
        PeriodKind::Month => r#"max(llm_budget_usd{period="monthly"})"#,
    }
}

/// The PromQL of the total spend; the charts and the tests name it too.
pub const SPEND: &str = "sum(increase(llm_cost_usd_total[$R]))";
/// The PromQL of the LLM calls.
pub const CALLS: &str = "sum(increase(llm_requests_total[$R]))";
/// The PromQL of the error rate.
pub const ERROR_RATE: &str = r#"sum(increase(llm_requests_total{outcome="error"}[$R])) / sum(increase(llm_requests_total[$R]))"#;
/// The PromQL of daily active users, from the fleet recording rule.
pub const DAU: &str = r#"sum(window_segment:chat_users:estimate{segment="all",window="1d"})"#;

fn spend(kind: PeriodKind, dimensions: &[String]) -> SectionDef {
    SectionDef {
        id: "spend",
        title: "Spend",
        figures: spend_figures(budget(kind)),
        tables: spend_tables(dimensions),
    }
}

/// Spend by model, and by each configured dimension.
fn spend_tables(dimensions: &[String]) -> Vec<TableDef> {
    let mut tables = vec![table(
        "spend.by_model",
        "Spend by model",
        unit::USD,
        "sum by (model) (increase(llm_cost_usd_total[$R])) > 0",
        &["model"],
        "LLM cost of the period per model (the response model when reported).",
    )];
    for d in dimensions {
        tables.push(table(
            &format!("spend.by_{d}"),
            &format!("Spend by {d}"),
            unit::USD,
            &format!("sum by ({d}) (increase(llm_cost_usd_total[$R])) > 0"),
            &[d.as_str()],
            &format!("LLM cost of the period per value of the configured dimension {d}."),
        ));
    }
    tables
}

/// Total spend, the period's `budget` and how much of it was used, cache savings and
/// unpriced tokens.
fn spend_figures(budget: &str) -> Vec<FigureDef> {
    vec![
        figure(
            "spend.total",
            "Spend",
            unit::USD,
            SPEND,
            "LLM cost of the period: computed from the price table, or as reported by the app.",
        ),
        FigureDef {
            compare: false,
            ..figure(
                "spend.budget",
                "Budget",
                unit::USD,
                budget,
                "The budget of the period: the daily budget for a day, 7 times it for a week, the monthly budget for a month.",
            )
        },
        FigureDef {
            compare: false,
            ..figure(
                "spend.budget_used",
                "Budget used",
                unit::RATIO,
                &format!("{SPEND} / {budget}"),
                "Spend divided by the budget of the period.",
            )
        },
        figure(
            "spend.cache_savings",
            "Cache savings",
            unit::USD,
            "sum(increase(llm_cache_savings_usd_total[$R]))",
            "What cache reads saved against the uncached input price.",
        ),
        figure(
            "spend.unpriced_tokens",
            "Unpriced tokens",
            unit::TOKENS,
            "sum(increase(llm_unpriced_tokens_total[$R]))",
            "Tokens of calls the price table cannot price: their cost is not in the spend.",
        ),
    ]
}

fn usage() -> SectionDef {
    SectionDef {
        id: "usage",
        title: "Usage",
        figures: usage_figures(),
        tables: usage_tables(),
    }
}

fn usage_figures() -> Vec<FigureDef> {
    let p95 = |family: &str| {
        format!("histogram_quantile(0.95, sum by (le) (increase({family}_bucket[$R])))")
    };
    vec![
        figure(
            "usage.calls",
            "LLM calls",
            unit::CALLS,
            CALLS,
            "LLM calls of the period, successful or not.",
        ),
        figure(
            "usage.error_rate",
            "Error rate",
            unit::RATIO,
            ERROR_RATE,
            "Failed LLM calls divided by all LLM calls.",
        ),
        figure(
            "usage.tokens",
            "Tokens",
            unit::TOKENS,
            "sum(increase(llm_tokens_total[$R]))",
            "Every billed token: input, cache reads and writes, output, reasoning.",
        ),
        figure(
            "usage.latency_p95",
            "p95 latency",
            unit::SECONDS,
            &p95("llm_request_duration_seconds"),
            "95th percentile of LLM call duration over the period.",
        ),
        figure(
            "usage.ttft_p95",
            "p95 time to first token",
            unit::SECONDS,
            &p95("llm_time_to_first_token_seconds"),
            "95th percentile of the time to the first streamed chunk over the period.",
        ),
    ]
}

fn usage_tables() -> Vec<TableDef> {
    vec![
        table(
            "usage.tokens_by_type",
            "Tokens by type",
            unit::TOKENS,
            "sum by (type) (increase(llm_tokens_total[$R])) > 0",
            &["type"],
            "Tokens of the period by disjoint type.",
        ),
        table(
            "usage.top_errors",
            "Top error types",
            unit::CALLS,
            "sum by (error_type) (increase(llm_errors_total[$R])) > 0",
            &["error_type"],
            "Failed LLM calls by error class.",
        ),
        table(
            "usage.latency_thresholds",
            "Latency thresholds",
            unit::SECONDS,
            r#"max by (level) (llmwatch_latency_threshold_seconds{component="ai"})"#,
            &["level"],
            "The configured thresholds the p95 latency and time to first token are held against.",
        ),
    ]
}

fn health() -> SectionDef {
    SectionDef {
        id: "health",
        title: "Health",
        figures: health_figures(),
        tables: health_tables(),
    }
}

fn health_figures() -> Vec<FigureDef> {
    let p75 = |family: &str| {
        format!("histogram_quantile(0.75, sum by (le) (increase({family}_bucket[$R])))")
    };
    let vital = |id, title, unit, family: &str| {
        figure(
            id,
            title,
            unit,
            &p75(family),
            "75th percentile over the period, as Core Web Vitals are judged.",
        )
    };
    vec![
        vital(
            "health.lcp_p75",
            "LCP p75",
            unit::SECONDS,
            "web_vitals_lcp_seconds",
        ),
        vital(
            "health.inp_p75",
            "INP p75",
            unit::SECONDS,
            "web_vitals_inp_seconds",
        ),
        vital("health.cls_p75", "CLS p75", unit::SCORE, "web_vitals_cls"),
        vital(
            "health.ttfb_p75",
            "TTFB p75",
            unit::SECONDS,
            "web_vitals_ttfb_seconds",
        ),
    ]
}

fn health_tables() -> Vec<TableDef> {
    vec![
        table(
            "health.platform_success",
            "Platform success ratio",
            unit::RATIO,
            r#"sum by (platform) (increase(integration_requests_total{outcome="success"}[$R])) / sum by (platform) (increase(integration_requests_total[$R]))"#,
            &["platform"],
            "Successful platform API requests divided by all of them.",
        ),
        table(
            "health.tokens_expiring",
            "Expiring platform tokens",
            unit::COUNT,
            "max by (platform, within) (integration_tokens_expiring) > 0",
            &["platform", "within"],
            "Connections whose token expired or expires within 1 or 7 days, at the end of the period.",
        ),
        table(
            "health.errors_by_component",
            "Errors by component",
            unit::COUNT,
            "sum by (component) (increase(app_errors_total[$R])) > 0",
            &["component"],
            "Failed operations by component (ai, database, platform, frontend, server).",
        ),
    ]
}

fn alerts_and_users(kind: PeriodKind) -> [SectionDef; 2] {
    [
        SectionDef {
            id: "alerts",
            title: "Alerts",
            figures: vec![],
            tables: vec![table(
                "alerts.fired",
                "Alerts that fired",
                unit::COUNT,
                r#"max by (alertname, severity) (max_over_time(ALERTS{alertstate="firing"}[$R]))"#,
                &["alertname", "severity"],
                "Alerts Prometheus had firing at some point in the period (its ALERTS series); the value is 1.",
            )],
        },
        SectionDef {
            id: "users",
            title: "Top users by cost",
            figures: vec![],
            tables: vec![table(
                "users.top_by_cost",
                "Top users by cost",
                unit::USD,
                &format!(
                    r#"max by (user) (chat_top_user_cost_usd{{window="{}"}})"#,
                    kind.range()
                ),
                &["user"],
                "Pseudonymous users with the highest LLM cost over the period's window, from llmwatch's top-K summaries (never understated).",
            )],
        },
    ]
}

/// Whether `name` can be a Prometheus label name, so a dimension cannot change a query.
pub fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The service level objectives of the `slos:` section (issue 18's `report_queries`): each
/// one's attainment over the period and the share of its error budget used over its own
/// window (`slo:error_budget_remaining:ratio`, recorded by the `llmwatch slo-rules` rules).
fn slo(kind: PeriodKind, slos: &[Objective]) -> SectionDef {
    let mut tables = Vec::with_capacity(2 * slos.len());
    for o in slos {
        let q = crate::slo::report_queries(o, kind.range());
        tables.push(table(
            &format!("slo.{}.attainment", o.name),
            &format!("{}: attainment (target {}%)", o.name, o.target_percent),
            unit::RATIO,
            &q.attainment,
            &o.by,
            "Share of good events over the period, per slice.",
        ));
        tables.push(table(
            &format!("slo.{}.budget_used", o.name),
            &format!(
                "{}: error budget used ({}-day window)",
                o.name, o.window_days
            ),
            unit::RATIO,
            &q.budget_used,
            &o.by,
            "Share of the objective's error budget spent over its window; 1 or more means missed.",
        ));
    }
    SectionDef {
        id: "slo",
        title: "Service level objectives",
        figures: vec![],
        tables,
    }
}

/// Every section of a report of `kind`, with a spend table per dimension (each a label
/// name: see [`is_label_name`]) and the objectives of `slos`.
pub fn sections(kind: PeriodKind, dimensions: &[String], slos: &[Objective]) -> Vec<SectionDef> {
    let mut all = vec![spend(kind, dimensions), usage(), product(), health()];
    if !slos.is_empty() {
        all.push(slo(kind, slos));
    }
    all.extend(alerts_and_users(kind));
    all
}
