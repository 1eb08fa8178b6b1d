//! Label sets of app series, built in time linear in the attributes and bounded in bytes:
//! values are cut to 128 bytes, names to 128, a point with more than [`MAX_ATTRIBUTES`]
//! attributes is refused, and names Prometheus or llmwatch reserve are renamed.

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};

use super::names::label_name;
use crate::model::text::cap;

/// A series' labels, sorted by name, names unique.
pub(super) type Labels = Vec<(String, String)>;

/// Longest label value kept, in bytes, as for every other llmwatch family.
pub(super) const MAX_LABEL_BYTES: usize = 128;
/// Most attributes on one data point (or resource); a point with more is refused.
pub const MAX_ATTRIBUTES: usize = 128;
/// Label names an attribute may not take: those the exposition adds (`le`, `quantile`)
/// and those llmwatch sets from the resource. Such an attribute becomes `exported_<name>`,
/// as Prometheus renames a target's labels that collide with its own.
const RESERVED_LABELS: [&str; 4] = ["le", "quantile", "job", "instance"];

/// The text of an attribute value, at most [`MAX_LABEL_BYTES`] bytes; arrays and maps are
/// written as JSON, cut at the bound. The work is bounded by the cap, not the value's size.
pub(super) fn value_text(v: &AnyValue) -> String {
    let mut out = String::new();
    write_value(v, &mut out);
    cap(&out, MAX_LABEL_BYTES).to_owned()
}

fn write_value(v: &AnyValue, out: &mut String) {
    use std::fmt::Write;
    match v.value.as_ref() {
        Some(Value::StringValue(s)) => out.push_str(cap(s, MAX_LABEL_BYTES + 4)),
        Some(Value::BoolValue(b)) => {
            let _ = write!(out, "{b}");
        }
        Some(Value::IntValue(i)) => {
            let _ = write!(out, "{i}");
        }
        Some(Value::DoubleValue(d)) => {
            let _ = write!(out, "{d}");
        }
        Some(Value::BytesValue(b)) => {
            for x in b.iter().take(MAX_LABEL_BYTES / 2 + 1) {
                let _ = write!(out, "{x:02x}");
            }
        }
        Some(Value::ArrayValue(a)) => {
            out.push('[');
            for (i, v) in a.values.iter().enumerate() {
                if out.len() > MAX_LABEL_BYTES {
                    break;
                }
                if i > 0 {
                    out.push(',');
                }
                json_string(&value_text(v), out);
            }
            out.push(']');
        }
        Some(Value::KvlistValue(kv)) => {
            out.push('{');
            for (i, kv) in kv.values.iter().enumerate() {
                if out.len() > MAX_LABEL_BYTES {
                    break;
                }
                if i > 0 {
                    out.push(',');
                }
                json_string(cap(&kv.key, MAX_LABEL_BYTES), out);
                out.push(':');
                json_string(&kv.value.as_ref().map(value_text).unwrap_or_default(), out);
            }
            out.push('}');
        }
        // Dictionary references (profiles only) and absent values.
        _ => {}
    }
}

fn json_string(s: &str, out: &mut String) {
    out.push_str(&serde_json::Value::String(s.to_owned()).to_string());
}

/// A label set refused, and why.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Refused {
    /// More than [`MAX_ATTRIBUTES`] attributes.
    TooManyAttributes,
}

/// The labels of a point: `base` (job, instance, resource labels) first, then each
/// attribute not in `skip`, renamed `exported_<name>` where the name is reserved or taken
/// by `base`. Two attributes that end up with one name keep the first; the count of those
/// dropped is returned. Sorting makes the whole linear-logarithmic in the attributes.
pub(super) fn build(
    base: &[(String, String)],
    attrs: &[KeyValue],
    skip: impl Fn(&str) -> bool,
) -> Result<(Labels, usize), Refused> {
    if attrs.len() > MAX_ATTRIBUTES {
        return Err(Refused::TooManyAttributes);
    }
    let mut out: Labels = Vec::with_capacity(base.len() + attrs.len());
    out.extend_from_slice(base);
    for kv in attrs.iter().filter(|kv| !skip(&kv.key)) {
        let mut name = label_name(&kv.key);
        if RESERVED_LABELS.contains(&name.as_str()) || base.iter().any(|(k, _)| *k == name) {
            name.insert_str(0, "exported_");
        }
        let value = kv.value.as_ref().map(value_text).unwrap_or_default();
        out.push((name, value));
    }
    // Stable: of equal names, `base` and then the earlier attribute stay first.
    out.sort_by(|a, b| a.0.cmp(&b.0));
    let before = out.len();
    out.dedup_by(|later, first| later.0 == first.0);
    let dropped = before - out.len();
    Ok((out, dropped))
}

/// The bytes a label set takes in one exposition line, with escaping at its worst.
pub(super) fn rendered_bytes(labels: &Labels) -> usize {
    labels.iter().map(|(k, v)| k.len() + 2 * v.len() + 4).sum()
}

/// HELP text from an app's description. Descriptions are free text that the redaction
/// processor does not scan, so one is kept only when it cannot carry the values the
/// detectors look for: at most 200 bytes, no digits, no `@`, `/`, `:` or `=`, and no word
/// over 24 characters (keys and tokens). Otherwise, and when empty, HELP is
/// `OTLP metric <name>`.
pub(super) fn help(description: &str, name: &str) -> String {
    let d = description.trim();
    let safe = !d.is_empty()
        && d.len() <= 200
        && !d
            .chars()
            .any(|c| c.is_numeric() || matches!(c, '@' | '/' | ':' | '=') || c.is_control())
        && d.split_whitespace().all(|w| w.chars().count() <= 24);
    if safe {
        d.to_owned()
    } else {
        format!("OTLP metric {name}")
    }
}
