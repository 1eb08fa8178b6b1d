//! Writing the app families in the Prometheus text or OpenMetrics format. prometheus-client
//! cannot write summaries, so these families are rendered here and appended to the
//! registry's exposition.

use std::fmt::Write;

use super::labels::Labels;
use super::points::{Kind, Point};
use super::{FamilyState, Series, Store};
use crate::metrics::exposition::Format;

fn escape_label(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{v}")
    }
}

fn labels_text(labels: &Labels, extra: Option<(&str, &str)>) -> String {
    let mut out = String::new();
    let mut first = true;
    for (k, v) in labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(extra)
    {
        out.push(if first { '{' } else { ',' });
        first = false;
        out.push_str(k);
        out.push_str("=\"");
        escape_label(v, &mut out);
        out.push('"');
    }
    if !first {
        out.push('}');
    }
    out
}

impl Store {
    /// Appends every family in `format`; for OpenMetrics, before the registry's `# EOF`.
    pub(super) fn render(&self, out: &mut String, format: Format) {
        let open_metrics = format == Format::OpenMetrics;
        let eof = open_metrics && out.ends_with("# EOF\n");
        if eof {
            out.truncate(out.len() - "# EOF\n".len());
        }
        if !self.targets.is_empty() {
            out.push_str("# HELP target_info Target metadata\n# TYPE target_info gauge\n");
            let mut targets: Vec<&Labels> = self.targets.keys().collect();
            targets.sort();
            for t in targets {
                let _ = writeln!(out, "target_info{} 1", labels_text(t, None));
            }
        }
        for (name, f) in &self.families {
            render_family(out, name, f, open_metrics);
        }
        if eof {
            out.push_str("# EOF\n");
        }
    }
}

fn render_family(out: &mut String, name: &str, f: &FamilyState, open_metrics: bool) {
    // OpenMetrics names a counter family without its `_total`.
    let family = if open_metrics && f.kind == Kind::Counter {
        name.strip_suffix("_total").unwrap_or(name)
    } else {
        name
    };
    let help = f.help.replace('\\', "\\\\").replace('\n', "\\n");
    let _ = writeln!(out, "# HELP {family} {help}");
    let _ = writeln!(out, "# TYPE {family} {}", f.kind.name());
    let mut series: Vec<(&Labels, &Series)> = f.series.iter().collect();
    series.sort_by(|a, b| a.0.cmp(b.0));
    for (labels, s) in series {
        render_series(out, name, labels, &s.point);
    }
}

fn render_series(out: &mut String, name: &str, labels: &Labels, point: &Point) {
    let plain = labels_text(labels, None);
    match point {
        Point::Value(v) => {
            let _ = writeln!(out, "{name}{plain} {}", number(*v));
        }
        Point::Histogram {
            bounds,
            counts,
            sum,
            count,
        } => {
            let mut cumulative = 0u64;
            for (b, c) in bounds.iter().zip(counts) {
                cumulative = cumulative.saturating_add(*c);
                let le = number(*b);
                let with_le = labels_text(labels, Some(("le", &le)));
                let _ = writeln!(out, "{name}_bucket{with_le} {cumulative}");
            }
            let inf = labels_text(labels, Some(("le", "+Inf")));
            let _ = writeln!(out, "{name}_bucket{inf} {count}");
            let _ = writeln!(out, "{name}_sum{plain} {}", number(*sum));
            let _ = writeln!(out, "{name}_count{plain} {count}");
        }
        Point::Summary {
            quantiles,
            sum,
            count,
        } => {
            for (q, v) in quantiles {
                let q = number(*q);
                let with_q = labels_text(labels, Some(("quantile", &q)));
                let _ = writeln!(out, "{name}{with_q} {}", number(*v));
            }
            let _ = writeln!(out, "{name}_sum{plain} {}", number(*sum));
            let _ = writeln!(out, "{name}_count{plain} {count}");
        }
    }
}
