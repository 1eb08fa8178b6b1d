//! The configuration primitives every component's config uses: where in the YAML a value
//! is ([`Path`]), what is wrong with it ([`ConfigError`]), decoding a component's section
//! ([`decode_at`]), endpoints and component ids. `config` re-exports them; components
//! import them from here, so no component imports `config`, which imports them all.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// A YAML path such as `receivers.otlp.protocols[0]`.
#[derive(Clone, Debug, Default)]
pub struct Path(Vec<String>);

impl Path {
    pub(crate) fn push_key(&mut self, key: &str) {
        self.0.push(format!(".{key}"));
    }
    pub(crate) fn push_index(&mut self, i: usize) {
        self.0.push(format!("[{i}]"));
    }
    pub(crate) fn pop(&mut self) {
        self.0.pop();
    }
    pub(crate) fn join(&self, key: &str) -> Path {
        let mut p = self.clone();
        p.push_key(key);
        p
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("<root>");
        }
        let joined: String = self.0.concat();
        f.write_str(joined.strip_prefix('.').unwrap_or(&joined))
    }
}

/// One problem in a configuration, with where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The YAML path.
    pub path: String,
    /// What is wrong, and how to fix it where that is clear.
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(path: &Path, message: impl Into<String>) -> ConfigError {
        ConfigError {
            path: path.to_string(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Decodes `value` as `T`, recording any error under `path` joined with serde's own path.
pub(crate) fn decode_at<T: DeserializeOwned>(
    value: Value,
    path: &Path,
    errors: &mut Vec<ConfigError>,
) -> Option<T> {
    // `nop:` with no body is null in YAML; treat it as an empty mapping.
    let value = if value.is_null() {
        Value::Object(Map::new())
    } else {
        value
    };
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(v) => Some(v),
        Err(e) => {
            let inner = e.path().to_string();
            let mut full = path.to_string();
            if inner != "." {
                if full == "<root>" {
                    full = inner;
                } else {
                    full = format!("{full}.{inner}");
                }
            }
            errors.push(ConfigError {
                path: full,
                message: e.into_inner().to_string(),
            });
            None
        }
    }
}

/// The type part of a component id: `otlp` in `otlp/browser`.
pub fn component_type(id: &str) -> &str {
    id.split_once('/').map_or(id, |(kind, _)| kind)
}

/// Resolves a `host:port` endpoint, reporting a helpful error.
pub fn resolve_endpoint(endpoint: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = endpoint.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let hint = "expected host:port, such as 0.0.0.0:4317 or localhost:4317";
    if !endpoint.contains(':') {
        return Err(format!(
            "invalid endpoint {endpoint:?}: missing port; {hint}"
        ));
    }
    match endpoint.to_socket_addrs() {
        Ok(mut addrs) => addrs
            .next()
            .ok_or_else(|| format!("endpoint {endpoint:?} resolved to no address")),
        Err(e) => Err(format!("invalid endpoint {endpoint:?}: {e}; {hint}")),
    }
}
