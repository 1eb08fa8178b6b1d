//! The configuration primitives every component's config uses: where in the YAML a value
//! is ([`Path`]), what is wrong with it ([`ConfigError`]), decoding a component's section
//! ([`decode_at`]), endpoints and component ids. `config` re-exports them; components
//! import them from here, so no component imports `config`, which imports them all.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

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

/// Checks that `endpoint` is a `host:port` a listener can be bound on, without resolving
/// it: the host is an IP address, a bracketed IPv6 address or an RFC 1123 host name, and
/// the port a number from 0 to 65535. Names are resolved when the listener is bound, so
/// checking a configuration never waits on DNS.
pub fn check_endpoint(endpoint: &str) -> Result<(), String> {
    if endpoint.parse::<SocketAddr>().is_ok() {
        return Ok(());
    }
    let hint = "expected host:port, such as 0.0.0.0:4317, [::1]:4317 or localhost:4317";
    let fail = |what: &str| Err(format!("invalid endpoint {endpoint:?}: {what}; {hint}"));
    let Some((host, port)) = endpoint.rsplit_once(':') else {
        return fail("missing port");
    };
    if host.is_empty() {
        return fail("missing host");
    }
    if port.is_empty() {
        return fail("missing port");
    }
    if port.parse::<u16>().is_err() {
        return fail(&format!("port {port:?} is not a number from 0 to 65535"));
    }
    if let Some(inner) = host.strip_prefix('[') {
        return match inner.strip_suffix(']').map(str::parse::<Ipv6Addr>) {
            Some(Ok(_)) => Ok(()),
            _ => fail(&format!("{host:?} is not a bracketed IPv6 address")),
        };
    }
    if host.contains("://") {
        return fail("a listen endpoint has no scheme");
    }
    if host.contains(':') {
        return fail("an IPv6 address goes in brackets, as in [::1]:4317");
    }
    if host.parse::<Ipv4Addr>().is_ok() {
        return Ok(());
    }
    match host_name_problem(host) {
        None => Ok(()),
        Some(problem) => fail(&format!("host {host:?} {problem}")),
    }
}

/// What makes `host` no RFC 1123 host name, if anything: labels of 1 to 63 letters, digits
/// and hyphens, not starting or ending with a hyphen, 253 bytes in all, with an optional
/// final dot, and not all digits and dots (that would be a malformed IPv4 address).
fn host_name_problem(host: &str) -> Option<&'static str> {
    let name = host.strip_suffix('.').unwrap_or(host);
    if name.is_empty() || name.len() > 253 {
        return Some("is not a host name of 1 to 253 bytes");
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Some("has a label that is empty or longer than 63 bytes");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Some("may hold only letters, digits, hyphens and dots");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Some("has a label that starts or ends with a hyphen");
        }
    }
    if name.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Some("is not a valid IPv4 address");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::check_endpoint;

    #[test]
    fn good_endpoints_pass() {
        for good in [
            "localhost:4317",
            "[::1]:4317",
            "0.0.0.0:4317",
            "127.0.0.1:0",
            "[::]:65535",
            "collector.example.com:4318",
            "otel-collector.:4318",
            "nonexistent.invalid:4317",
            "a1:1",
        ] {
            assert_eq!(check_endpoint(good), Ok(()), "{good}");
        }
    }

    #[test]
    fn bad_endpoints_say_why() {
        let long_label = format!("{}:1", "a".repeat(64));
        let long_name = format!("{}:1", ["abc"; 64].join("."));
        for (bad, why) in [
            ("localhost", "missing port"),
            ("localhost:", "missing port"),
            (
                "localhost:70000",
                "port \"70000\" is not a number from 0 to 65535",
            ),
            ("localhost:http", "port \"http\" is not a number"),
            ("localhost:-1", "port \"-1\" is not a number"),
            (":4317", "missing host"),
            ("", "missing port"),
            ("ho st:1", "may hold only letters, digits, hyphens and dots"),
            ("ho_st:1", "may hold only letters"),
            ("-host:1", "starts or ends with a hyphen"),
            ("host-:1", "starts or ends with a hyphen"),
            ("a..b:1", "label that is empty"),
            (long_label.as_str(), "longer than 63 bytes"),
            (long_name.as_str(), "1 to 253 bytes"),
            ("999.1.1.1:1", "is not a valid IPv4 address"),
            ("::1:4317", "IPv6 address goes in brackets"),
            ("[::1:4317", "is not a bracketed IPv6 address"),
            ("[nope]:4317", "is not a bracketed IPv6 address"),
            ("http://localhost:4317", "has no scheme"),
        ] {
            let err = check_endpoint(bad).expect_err(bad);
            assert!(err.starts_with("invalid endpoint"), "{bad}: {err}");
            assert!(err.contains(why), "{bad}: {err}");
            assert!(err.contains("expected host:port"), "{bad}: {err}");
        }
    }
}
