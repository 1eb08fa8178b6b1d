//! The Markdown format, for chat: headings, one line per figure with its change against
//! the previous period, and small tables.

use std::fmt::Write as _;

use super::model::{Report, Status, Table};
use super::text;

/// Renders `report` as Markdown.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# llmwatch {}\n\n{} to {} (compared with {} to {})\n",
        report.title,
        report.period.start,
        report.period.end,
        report.previous_period.start,
        report.previous_period.end
    );
    if report.status == Status::Empty {
        let _ = writeln!(
            out,
            "**No data:** Prometheus ({}) has no LLM calls or spend for this period.\n",
            report.prometheus
        );
    }
    if let Some(from) = &report.data_from {
        let _ = writeln!(out, "**Partial period:** {}\n", text::partial(from));
    }
    for s in &report.sections {
        let _ = writeln!(out, "## {}\n", s.title);
        for f in &s.figures {
            let _ = write!(out, "- **{}:** {}", f.title, text::maybe(f.value, f.unit));
            if f.previous.is_some() {
                let _ = write!(out, " ({})", text::compared(f));
            }
            out.push('\n');
        }
        if !s.figures.is_empty() {
            out.push('\n');
        }
        for t in &s.tables {
            table(&mut out, t);
        }
    }
    if !report.missing.is_empty() {
        let _ = writeln!(out, "_No data for: {}._", report.missing.join(", "));
    }
    out
}

fn table(out: &mut String, t: &Table) {
    let _ = writeln!(out, "**{}**\n", t.title);
    if t.rows.is_empty() {
        out.push_str("no data\n\n");
        return;
    }
    let _ = writeln!(out, "| {} | {} |\n|---|---:|", t.labels.join(" / "), t.unit);
    for r in &t.rows {
        let _ = writeln!(
            out,
            "| {} | {} |",
            escape(&r.key(&t.labels)),
            text::value(r.value, t.unit)
        );
    }
    out.push('\n');
}

/// Label values come from telemetry: keep them from breaking the table or linking.
fn escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| match c {
            '|' | '*' | '_' | '`' | '[' | ']' | '<' | '>' | '\\' => vec!['\\', c],
            c if c.is_control() => vec![' '],
            c => vec![c],
        })
        .collect()
}

/// Headline figures of each section.
const HEADLINES: [&str; 9] = [
    "spend.total",
    "spend.budget_used",
    "usage.calls",
    "usage.error_rate",
    "usage.latency_p95",
    "product.dau",
    "product.conversations",
    "product.abandonment",
    "product.satisfaction",
];

/// The short form for chat: headline figures, fired alerts and top errors, under 2,000
/// characters (Discord's message limit) whatever the data.
pub fn summary(report: &Report) -> String {
    let mut out = format!(
        "*llmwatch {}*, {} to {}\n",
        report.title, report.period.start, report.period.end
    );
    if report.status == Status::Empty {
        out.push_str("No data: Prometheus has no LLM calls or spend for this period.\n");
        return out;
    }
    if let Some(from) = &report.data_from {
        let _ = writeln!(out, "Partial period: {}", text::partial(from));
    }
    for f in HEADLINES.iter().filter_map(|id| report.figure(id)) {
        let _ = write!(out, "• {}: {}", f.title, text::maybe(f.value, f.unit));
        if f.previous.is_some() {
            let _ = write!(out, " ({})", text::change(f.change));
        }
        out.push('\n');
    }
    for (id, label) in [
        ("alerts.fired", "Alerts"),
        ("usage.top_errors", "Top errors"),
    ] {
        if let Some(t) = report.table(id).filter(|t| !t.rows.is_empty()) {
            let names: Vec<String> = t
                .rows
                .iter()
                .take(5)
                .map(|r| escape(&r.key(&t.labels[..1])))
                .collect();
            let _ = writeln!(out, "• {label}: {}", names.join(", "));
        }
    }
    let mut cut: String = out.chars().take(1900).collect();
    if cut.len() < out.len() {
        cut.push('…');
    }
    cut
}
