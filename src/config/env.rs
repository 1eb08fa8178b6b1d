//! `${env:VAR}` and `${env:VAR:-default}` expansion, in the OpenTelemetry Collector's syntax.
//!
//! Expansion runs on string values of the parsed document, never on raw text, so an
//! environment value cannot inject YAML structure. A value that is exactly one reference is
//! re-read as a YAML scalar, so `port: ${env:PORT}` yields a number. `$$` is a literal `$`.

use serde_json::Value;

use super::{ConfigError, Path};

/// Expands every reference in `value`, collecting one error per bad reference.
pub(super) fn expand(
    value: &mut Value,
    env: &dyn Fn(&str) -> Option<String>,
    path: &mut Path,
    errors: &mut Vec<ConfigError>,
) {
    match value {
        Value::String(s) if s.contains('$') => match expand_str(s, env) {
            Ok(Expanded::Whole(text)) => *value = reparse_scalar(text),
            Ok(Expanded::Text(text)) => *s = text,
            Err(message) => errors.push(ConfigError::new(path, message)),
        },
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                path.push_index(i);
                expand(item, env, path, errors);
                path.pop();
            }
        }
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                path.push_key(key);
                expand(item, env, path, errors);
                path.pop();
            }
        }
        _ => {}
    }
}

enum Expanded {
    /// The string was exactly one reference.
    Whole(String),
    /// Text with references replaced.
    Text(String),
}

fn expand_str(s: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Expanded, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    let mut references = 0;
    let mut literal = false;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        literal |= pos > 0;
        let tail = &rest[pos..];
        if let Some(after) = tail.strip_prefix("$$") {
            out.push('$');
            literal = true;
            rest = after;
        } else if let Some(body) = tail.strip_prefix("${") {
            let end = body
                .find('}')
                .ok_or_else(|| format!("unterminated reference in {s:?}: expected `}}`"))?;
            out.push_str(&resolve(&body[..end], env)?);
            references += 1;
            rest = &body[end + 1..];
        } else {
            out.push('$');
            literal = true;
            rest = &tail[1..];
        }
    }
    literal |= !rest.is_empty();
    out.push_str(rest);
    if references == 1 && !literal {
        Ok(Expanded::Whole(out))
    } else {
        Ok(Expanded::Text(out))
    }
}

fn resolve(reference: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let Some(spec) = reference.strip_prefix("env:") else {
        return Err(format!(
            "unsupported reference `${{{reference}}}`: only `${{env:NAME}}` and \
             `${{env:NAME:-default}}` are expanded (write `$$` for a literal `$`)"
        ));
    };
    let (name, default) = match spec.split_once(":-") {
        Some((name, default)) => (name, Some(default)),
        None => (spec, None),
    };
    let valid = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if !valid {
        return Err(format!(
            "invalid environment variable name {name:?} in `${{{reference}}}`"
        ));
    }
    match (env(name), default) {
        (Some(value), _) => Ok(value),
        (None, Some(default)) => Ok(default.to_owned()),
        (None, None) => Err(format!(
            "environment variable {name} is not set; set it or give a default as `${{env:{name}:-value}}`"
        )),
    }
}

/// Reads an expanded value as a YAML scalar, so numbers and booleans keep their type.
fn reparse_scalar(text: String) -> Value {
    match serde_saphyr::from_str::<Value>(&text) {
        Ok(v @ (Value::Number(_) | Value::Bool(_))) => v,
        _ => Value::String(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "PORT" => Some("4317".into()),
            "HOST" => Some("127.0.0.1".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn run(input: Value) -> (Value, Vec<String>) {
        let mut value = input;
        let mut errors = Vec::new();
        expand(&mut value, &env, &mut Path::default(), &mut errors);
        (value, errors.into_iter().map(|e| e.to_string()).collect())
    }

    #[test]
    fn expands_whole_reference_to_typed_scalar() {
        let (v, errs) = run(serde_json::json!({"port": "${env:PORT}"}));
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(v, serde_json::json!({"port": 4317}));
    }

    #[test]
    fn expands_inside_text_and_defaults() {
        let (v, errs) = run(serde_json::json!([
            "${env:HOST}:${env:PORT}",
            "${env:NOPE:-0.0.0.0}:1",
            "a$$b",
            "${env:EMPTY:-x}"
        ]));
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(
            v,
            serde_json::json!(["127.0.0.1:4317", "0.0.0.0:1", "a$b", ""])
        );
    }

    #[test]
    fn missing_variable_names_it_and_the_path() {
        let (_, errs) =
            run(serde_json::json!({"exporters": {"otlp": {"endpoint": "${env:COLLECTOR}"}}}));
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].starts_with("exporters.otlp.endpoint: "),
            "{}",
            errs[0]
        );
        assert!(errs[0].contains("COLLECTOR is not set"), "{}", errs[0]);
    }

    #[test]
    fn rejects_other_reference_forms() {
        let (_, errs) = run(serde_json::json!(["${HOST}", "${env:1BAD}", "${env:HOST"]));
        assert_eq!(errs.len(), 3, "{errs:?}");
    }
}
