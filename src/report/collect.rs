//! Runs the catalogue's queries against Prometheus and assembles a [`Report`].

use jiff::Timestamp;

use super::catalogue::{self, FigureDef, SectionDef, TableDef};
use super::model::{Figure, Report, Row, SCHEMA, Section, Status, Table};
use super::period::Period;
use super::prom::{PromError, Prometheus};
use crate::slo::Objective;

const ABOUT: &str = "Every figure is the PromQL in its `query` evaluated at the end of `period` \
(and, for `previous`, at the end of `previous_period`), with `$R` the period's range. \
`value` is in `unit`; `null` means Prometheus had no data, never zero. \
`change` is (value - previous) / previous. Users are pseudonyms.";

/// Figures whose absence means there is nothing to report.
const CORE: [&str; 2] = ["spend.total", "usage.calls"];

/// Builds the report of `period` from `prometheus`. `dimensions` add a spend table each,
/// `slos` an objectives section.
pub async fn collect(
    prometheus: &Prometheus,
    period: Period,
    dimensions: &[String],
    slos: &[Objective],
) -> Result<Report, PromError> {
    let previous = period.previous();
    let mut sections = Vec::new();
    for def in catalogue::sections(period.kind, dimensions, slos) {
        sections.push(section(prometheus, &period, &previous, def).await?);
    }
    let mut missing = Vec::new();
    for s in &sections {
        missing.extend(
            s.figures
                .iter()
                .filter(|f| f.value.is_none())
                .map(|f| f.id.clone()),
        );
        missing.extend(
            s.tables
                .iter()
                .filter(|t| t.rows.is_empty())
                .map(|t| t.id.clone()),
        );
    }
    let data_from = first_data(prometheus, &period).await?;
    let status = if CORE.iter().all(|id| missing.iter().any(|m| m == id)) {
        Status::Empty
    } else if missing.is_empty() && data_from.is_none() {
        Status::Complete
    } else {
        Status::Partial
    };
    Ok(Report {
        schema: SCHEMA,
        about: ABOUT,
        title: period.kind.title().to_owned(),
        period: (&period).into(),
        previous_period: (&previous).into(),
        prometheus: prometheus.url().to_owned(),
        generated_at: Timestamp::from_second(Timestamp::now().as_second())
            .unwrap_or(period.end)
            .to_string(),
        status,
        missing,
        data_from: data_from.map(|t| t.to_string()),
        sections,
    })
}

async fn section(
    prometheus: &Prometheus,
    period: &Period,
    previous: &Period,
    def: SectionDef,
) -> Result<Section, PromError> {
    let mut figures = Vec::with_capacity(def.figures.len());
    for f in def.figures {
        figures.push(figure(prometheus, period, previous, f).await?);
    }
    let mut tables = Vec::with_capacity(def.tables.len());
    for t in def.tables {
        tables.push(table(prometheus, period, t).await?);
    }
    Ok(Section {
        id: def.id,
        title: def.title,
        figures,
        tables,
    })
}

/// How much of the period's start may pass without an LLM call before it reads partial.
const GRACE: u64 = 1200;

/// When Prometheus holds no LLM call in the first [`GRACE`] of the period: about when the
/// first one is (a 5-minute subquery: with Prometheus's 5-minute lookback every sample is
/// seen; never before the grace ends). `None` when the
/// period is covered from its start. (An empty period reads empty whatever this says.)
async fn first_data(
    prometheus: &Prometheus,
    period: &Period,
) -> Result<Option<Timestamp>, PromError> {
    let head = format!(
        "count(count_over_time(llm_requests_total[{GRACE}s] offset {}s))",
        period.seconds().saturating_sub(GRACE)
    );
    if scalar(prometheus, &head, period).await?.is_some() {
        return Ok(None);
    }
    // `timestamp` gives each sample's own time; those before the start (seen through the
    // lookback) are left out.
    let expr = format!(
        "min(min_over_time((timestamp(llm_requests_total) >= {})[$R:5m]))",
        period.start.as_second()
    );
    let first = scalar(prometheus, &expr, period).await?;
    let earliest = period.start.as_second() + GRACE as i64;
    // Nothing at any step: the first call came after the last one.
    let last_step = period.end.as_second() / 300 * 300;
    let first = first.map_or(last_step, |t| t as i64).max(earliest);
    Ok(Timestamp::from_second(first).ok())
}

/// The query with the period's range in place of `$R`.
pub fn promql(expr: &str, period: &Period) -> String {
    expr.replace("$R", period.kind.range())
}

/// A scalar-valued query: the sum of its samples, `None` when it returned none.
async fn scalar(
    prometheus: &Prometheus,
    expr: &str,
    period: &Period,
) -> Result<Option<f64>, PromError> {
    let samples = prometheus.query(&promql(expr, period), period.end).await?;
    Ok((!samples.is_empty()).then(|| samples.iter().map(|s| s.value).sum()))
}

async fn figure(
    prometheus: &Prometheus,
    period: &Period,
    previous: &Period,
    def: FigureDef,
) -> Result<Figure, PromError> {
    let value = scalar(prometheus, &def.expr, period).await?;
    let before = if def.compare {
        scalar(prometheus, &def.expr, previous).await?
    } else {
        None
    };
    let change = match (value, before) {
        (Some(v), Some(b)) if b != 0.0 => Some((v - b) / b),
        _ => None,
    };
    Ok(Figure {
        id: def.id.to_owned(),
        title: def.title,
        unit: def.unit,
        description: def.description,
        query: def.expr,
        value,
        previous: before,
        change,
    })
}

async fn table(
    prometheus: &Prometheus,
    period: &Period,
    def: TableDef,
) -> Result<Table, PromError> {
    let samples = prometheus
        .query(&promql(&def.expr, period), period.end)
        .await?;
    let mut rows: Vec<Row> = samples
        .iter()
        .map(|s| Row {
            labels: def
                .labels
                .iter()
                .map(|l| (l.clone(), s.label(l).to_owned()))
                .collect(),
            value: s.value,
        })
        .collect();
    rows.sort_by(|a, b| {
        b.value
            .total_cmp(&a.value)
            .then_with(|| a.labels.cmp(&b.labels))
    });
    rows.truncate(def.limit);
    Ok(Table {
        id: def.id,
        title: def.title,
        unit: def.unit,
        description: def.description,
        query: def.expr,
        labels: def.labels,
        rows,
    })
}
