//! Reading OTLP attribute lists, shared by the processors that derive metrics.

use std::borrow::Cow;

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};

/// An attribute.
pub fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

/// The value of `key`, if present.
pub fn get<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attrs.iter().find(|kv| kv.key == key)?.value.as_ref()
}

/// A scalar value as text; arrays, maps and bytes have none.
pub fn text(v: &AnyValue) -> Option<String> {
    match v.value.as_ref()? {
        Value::StringValue(s) => Some(s.clone()),
        Value::IntValue(i) => Some(i.to_string()),
        Value::BoolValue(b) => Some(b.to_string()),
        Value::DoubleValue(d) => Some(d.to_string()),
        _ => None,
    }
}

/// [`text`], borrowing a string value instead of copying it.
pub fn text_ref(v: &AnyValue) -> Option<Cow<'_, str>> {
    match v.value.as_ref()? {
        Value::StringValue(s) => Some(Cow::Borrowed(s.as_str())),
        _ => text(v).map(Cow::Owned),
    }
}

/// A finite number, from an int, a double or a numeric string.
pub fn number(v: &AnyValue) -> Option<f64> {
    match v.value.as_ref()? {
        Value::IntValue(i) => Some(*i as f64),
        Value::DoubleValue(d) => Some(*d),
        Value::StringValue(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|n: &f64| n.is_finite())
}

/// The first non-empty text of `keys` in the first of `layers` that has one: an item's own
/// attributes first, then those of what encloses it (its span, its resource).
pub fn first(layers: &[&[KeyValue]], keys: &[&str]) -> Option<String> {
    first_ref(layers, keys).map(Cow::into_owned)
}

/// [`first`], borrowing a string value instead of copying it: what the derive stage reads
/// of every span.
pub fn first_ref<'a>(layers: &[&'a [KeyValue]], keys: &[&str]) -> Option<Cow<'a, str>> {
    layers.iter().find_map(|attrs| {
        keys.iter()
            .find_map(|k| get(attrs, k).and_then(text_ref))
            .filter(|v| !v.is_empty())
    })
}
