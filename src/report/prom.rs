//! A small client of Prometheus's HTTP API: instant queries (`/api/v1/query`) and range
//! queries (`/api/v1/query_range`), over the hyper + rustls stack llmwatch already has.
//!
//! Answers are bounded in bytes; a query that Prometheus refuses, or a server that does
//! not answer, is an error with the reason, never an empty result.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use jiff::Timestamp;
use serde::Deserialize;

/// Largest answer read from Prometheus.
const MAX_BODY: usize = 16 << 20;

/// Why a query gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum PromError {
    /// Prometheus could not be reached, or answered with something that is not its API.
    #[error("prometheus at {url} is unreachable: {reason}")]
    Unreachable {
        /// The base URL.
        url: String,
        /// What happened.
        reason: String,
    },
    /// Prometheus answered, and refused the query.
    #[error("prometheus refused the query {query:?}: {reason}")]
    Refused {
        /// The PromQL.
        query: String,
        /// Prometheus's `error`.
        reason: String,
    },
}

/// One series of an instant vector: its labels and value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The labels, `__name__` included when the query kept it.
    pub labels: Vec<(String, String)>,
    /// The value; NaN and infinities are left out by the caller.
    pub value: f64,
}

impl Sample {
    /// The value of label `name`, empty when absent (as PromQL treats it).
    pub fn label(&self, name: &str) -> &str {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// One series of a range query: its labels and `(unix seconds, value)` points.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// The labels.
    pub labels: Vec<(String, String)>,
    /// The points, in time order.
    pub points: Vec<(f64, f64)>,
}

/// A Prometheus server's HTTP API.
pub struct Prometheus {
    base: String,
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>,
    timeout: Duration,
}

#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    data: Option<Data>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: serde_json::Value,
}

#[derive(Deserialize)]
struct RawSeries {
    #[serde(default)]
    metric: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    value: Option<(f64, String)>,
    #[serde(default)]
    values: Vec<(f64, String)>,
}

impl Prometheus {
    /// A client of the server at `base` (`http://host:9090`, or `https://…` with the system's
    /// roots). Must run inside a Tokio runtime; connects lazily.
    pub fn new(base: &str, timeout: Duration) -> Result<Prometheus, String> {
        let uri: http::Uri = base
            .parse()
            .map_err(|e| format!("--prometheus {base:?}: {e}"))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(format!(
                "--prometheus {base:?}: expected http://host:port or https://host:port"
            ));
        }
        let client = Client::builder(TokioExecutor::new()).build(https_connector(timeout)?);
        Ok(Prometheus {
            base: base.trim_end_matches('/').to_owned(),
            client,
            timeout,
        })
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// An instant query evaluated at `at`: its samples, NaN and infinite values left out
    /// (a ratio of zero by zero is no data, not a number). A scalar comes back as one
    /// sample without labels.
    pub async fn query(&self, promql: &str, at: Timestamp) -> Result<Vec<Sample>, PromError> {
        let path = format!(
            "/api/v1/query?query={}&time={}",
            url_encode(promql),
            unix(at)
        );
        let data = self.get(&path, promql).await?;
        let raw = match data.result_type.as_str() {
            "vector" => serde_json::from_value::<Vec<RawSeries>>(data.result),
            "scalar" => serde_json::from_value::<(f64, String)>(data.result).map(|v| {
                vec![RawSeries {
                    metric: Default::default(),
                    value: Some(v),
                    values: Vec::new(),
                }]
            }),
            other => return Err(self.unexpected(format!("result type {other}"))),
        }
        .map_err(|e| self.unexpected(e.to_string()))?;
        Ok(raw
            .into_iter()
            .filter_map(|s| {
                let value = s.value?.1.parse::<f64>().ok().filter(|v| v.is_finite())?;
                Some(Sample {
                    labels: s.metric.into_iter().collect(),
                    value,
                })
            })
            .collect())
    }

    /// A range query from `start` to `end` every `step`: one [`Series`] per result, with
    /// non-finite points left out.
    pub async fn query_range(
        &self,
        promql: &str,
        start: Timestamp,
        end: Timestamp,
        step: Duration,
    ) -> Result<Vec<Series>, PromError> {
        let path = format!(
            "/api/v1/query_range?query={}&start={}&end={}&step={}",
            url_encode(promql),
            unix(start),
            unix(end),
            step.as_secs_f64()
        );
        let data = self.get(&path, promql).await?;
        if data.result_type != "matrix" {
            return Err(self.unexpected(format!("result type {}", data.result_type)));
        }
        let raw: Vec<RawSeries> =
            serde_json::from_value(data.result).map_err(|e| self.unexpected(e.to_string()))?;
        Ok(raw
            .into_iter()
            .map(|s| Series {
                labels: s.metric.into_iter().collect(),
                points: s
                    .values
                    .into_iter()
                    .filter_map(|(t, v)| {
                        Some((t, v.parse::<f64>().ok().filter(|v| v.is_finite())?))
                    })
                    .collect(),
            })
            .collect())
    }

    fn unexpected(&self, reason: String) -> PromError {
        PromError::Unreachable {
            url: self.base.clone(),
            reason: format!("unexpected answer: {reason}"),
        }
    }

    async fn get(&self, path_and_query: &str, promql: &str) -> Result<Data, PromError> {
        let unreachable = |reason: String| PromError::Unreachable {
            url: self.base.clone(),
            reason,
        };
        let uri: http::Uri = format!("{}{path_and_query}", self.base)
            .parse()
            .map_err(|e| unreachable(format!("{e}")))?;
        let request = http::Request::get(uri)
            .header(http::header::ACCEPT, "application/json")
            .body(Empty::new())
            .map_err(|e| unreachable(e.to_string()))?;
        let response = tokio::time::timeout(self.timeout, self.client.request(request))
            .await
            .map_err(|_| unreachable(format!("no answer within {:?}", self.timeout)))?
            .map_err(|e| unreachable(error_chain(&e)))?;
        let status = response.status();
        let body = tokio::time::timeout(
            self.timeout,
            Limited::new(response.into_body(), MAX_BODY).collect(),
        )
        .await
        .map_err(|_| unreachable(format!("no full answer within {:?}", self.timeout)))?
        .map_err(|e| unreachable(format!("reading the answer: {e}")))?
        .to_bytes();
        let answer: Answer = serde_json::from_slice(&body).map_err(|_| {
            unreachable(format!(
                "HTTP {status} with a body that is not the Prometheus API"
            ))
        })?;
        if answer.status != "success" {
            return Err(PromError::Refused {
                query: promql.to_owned(),
                reason: answer.error.unwrap_or_else(|| format!("HTTP {status}")),
            });
        }
        answer
            .data
            .ok_or_else(|| unreachable("a success without data".to_owned()))
    }
}

/// An HTTP(S) connector with the system's roots, as the webhook sender uses too.
pub(crate) fn https_connector(
    timeout: Duration,
) -> Result<hyper_rustls::HttpsConnector<HttpConnector>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut connector = HttpConnector::new();
    connector.enforce_http(false);
    connector.set_connect_timeout(Some(timeout));
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(connector))
}

/// The error and its sources, joined: hyper's top-level message alone says little.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Unix seconds with millisecond precision, as the API takes them.
fn unix(t: Timestamp) -> String {
    format!("{:.3}", t.as_millisecond() as f64 / 1000.0)
}

/// Percent-encodes a query parameter.
fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(b as char);
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_promql_and_times() {
        assert_eq!(url_encode("sum(x{a=\"b\"})"), "sum%28x%7Ba%3D%22b%22%7D%29");
        let t: Timestamp = "2026-12-01T08:00:00.5Z".parse().unwrap();
        assert_eq!(unix(t), "1796112000.500");
    }
}
