//! Numbers as people read them, by unit: `$1,234.56`, `12.3%`, `1.24 s`, `48,210`.

use super::catalogue::unit;

/// A value in its unit.
pub fn value(v: f64, u: &str) -> String {
    match u {
        unit::USD if v.abs() < 1.0 => format!("${v:.4}"),
        unit::USD => format!("${}", grouped(v, 2)),
        unit::RATIO => format!("{:.1}%", v * 100.0),
        unit::SECONDS if v < 1.0 => format!("{:.0} ms", v * 1000.0),
        unit::SECONDS => format!("{v:.2} s"),
        unit::MESSAGES | unit::SCORE => format!("{v:.2}"),
        _ => grouped(v, 0),
    }
}

/// An optional value: "no data" when absent.
pub fn maybe(v: Option<f64>, u: &str) -> String {
    v.map_or_else(|| "no data".to_owned(), |v| value(v, u))
}

/// A relative change: `+12.0%`, `-3.5%`, or "n/a" without a comparison.
pub fn change(c: Option<f64>) -> String {
    c.map_or_else(|| "n/a".to_owned(), |c| format!("{:+.1}%", c * 100.0))
}

/// "+12.0% vs $1.00" for a figure compared with the previous period, else empty.
pub fn compared(f: &super::model::Figure) -> String {
    if f.previous.is_none() {
        return String::new();
    }
    format!("{} vs {}", change(f.change), maybe(f.previous, f.unit))
}

/// What a partial period means, for every format.
pub fn partial(data_from: &str) -> String {
    format!(
        "the first LLM call Prometheus holds in this period is at {data_from}; the figures cover only the time since"
    )
}

/// `v` with `decimals` and thousands separators.
fn grouped(v: f64, decimals: usize) -> String {
    let text = format!("{:.*}", decimals, v.abs());
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let mut out = String::with_capacity(text.len() + int.len() / 3 + 1);
    if v < 0.0 && text.bytes().any(|b| b.is_ascii_digit() && b != b'0') {
        out.push('-');
    }
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_by_unit() {
        assert_eq!(value(1234.567, unit::USD), "$1,234.57");
        assert_eq!(value(0.01234, unit::USD), "$0.0123");
        assert_eq!(value(0.1234, unit::RATIO), "12.3%");
        assert_eq!(value(0.245, unit::SECONDS), "245 ms");
        assert_eq!(value(2.5, unit::SECONDS), "2.50 s");
        assert_eq!(value(1_234_567.4, unit::TOKENS), "1,234,567");
        assert_eq!(value(-1234.0, unit::COUNT), "-1,234");
        assert_eq!(maybe(None, unit::USD), "no data");
        assert_eq!(change(Some(0.25)), "+25.0%");
        assert_eq!(change(None), "n/a");
    }
}
