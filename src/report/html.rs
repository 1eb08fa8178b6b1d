//! The HTML format, for e-mail: one self-contained page with inline styles (mail clients
//! drop `<style>` blocks and external files), charts as `data:` URIs with alt text.

use std::fmt::Write as _;

use super::chart::Chart;
use super::model::{Report, Section, Status, Table};
use super::text;

/// Renders `report` with `charts` as one HTML page.
pub fn render(report: &Report, charts: &[Chart], without_data: &[&str]) -> String {
    let mut out = String::with_capacity(16 << 10);
    head(&mut out, report);
    figures(&mut out, charts, without_data);
    for s in &report.sections {
        section(&mut out, s);
    }
    if !report.missing.is_empty() {
        let _ = writeln!(
            out,
            "<p style=\"color:#666\">No data for: {}.</p>",
            escape(&report.missing.join(", "))
        );
    }
    out.push_str("</body></html>\n");
    out
}

/// The page's head, title and period, and the no-data and partial-period warnings.
fn head(out: &mut String, report: &Report) {
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>llmwatch {title}</title></head>\n\
<body style=\"font-family:Helvetica,Arial,sans-serif;color:#222;max-width:760px;margin:auto\">\n\
<h1>llmwatch {title}</h1>\n<p>{start} to {end}, compared with {pstart} to {pend}</p>\n",
        title = escape(&report.title),
        start = report.period.start,
        end = report.period.end,
        pstart = report.previous_period.start,
        pend = report.previous_period.end,
    );
    if report.status == Status::Empty {
        let _ = writeln!(
            out,
            "<p style=\"color:#b00\"><strong>No data:</strong> Prometheus ({}) has no LLM calls or spend for this period.</p>",
            escape(&report.prometheus)
        );
    }
    if let Some(from) = &report.data_from {
        let _ = writeln!(
            out,
            "<p style=\"color:#b00\"><strong>Partial period:</strong> {}</p>",
            escape(&text::partial(from))
        );
    }
}

/// The charts, and the names of those without data.
fn figures(out: &mut String, charts: &[Chart], without_data: &[&str]) {
    for c in charts {
        let _ = writeln!(
            out,
            "<figure style=\"margin:0 0 16px\"><img src=\"data:image/png;base64,{}\" alt=\"{}\" width=\"{}\" height=\"{}\"><figcaption>{}</figcaption></figure>",
            base64(&c.png),
            escape(&c.alt),
            c.width,
            c.height,
            escape(&c.title)
        );
    }
    if !without_data.is_empty() {
        let _ = writeln!(
            out,
            "<p style=\"color:#666\">Charts without data: {}.</p>",
            escape(&without_data.join(", "))
        );
    }
}

/// One section: its headline figures, then its tables.
fn section(out: &mut String, s: &Section) {
    let _ = writeln!(out, "<h2>{}</h2>", escape(s.title));
    if !s.figures.is_empty() {
        out.push_str("<table style=\"border-collapse:collapse\">\n");
        for f in &s.figures {
            let _ = writeln!(
                out,
                "<tr><td style=\"padding:2px 12px 2px 0\">{}</td><td style=\"text-align:right;font-weight:bold\">{}</td><td style=\"padding-left:12px;color:#666\">{}</td></tr>",
                escape(&f.title),
                text::maybe(f.value, f.unit),
                text::compared(f)
            );
        }
        out.push_str("</table>\n");
    }
    for t in &s.tables {
        table(out, t);
    }
}

fn table(out: &mut String, t: &Table) {
    let _ = writeln!(out, "<h3>{}</h3>", escape(&t.title));
    if t.rows.is_empty() {
        out.push_str("<p>no data</p>\n");
        return;
    }
    let _ = writeln!(
        out,
        "<table style=\"border-collapse:collapse\"><tr><th style=\"text-align:left;padding-right:12px\">{}</th><th style=\"text-align:right\">{}</th></tr>",
        escape(&t.labels.join(" / ")),
        escape(t.unit)
    );
    for r in &t.rows {
        let _ = writeln!(
            out,
            "<tr><td style=\"padding-right:12px\">{}</td><td style=\"text-align:right\">{}</td></tr>",
            escape(&r.key(&t.labels)),
            text::value(r.value, t.unit)
        );
    }
    out.push_str("</table>\n");
}

/// Escapes text for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Standard base64 with padding (RFC 4648), for the `data:` URIs.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, &b| acc << 8 | u32::from(b)) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
