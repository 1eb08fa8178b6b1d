//! One export request over OTLP/gRPC or OTLP/HTTP, and what its answer means.
//!
//! Retryable answers follow the OTLP specification:
//! - gRPC: `CANCELLED`, `DEADLINE_EXCEEDED`, `ABORTED`, `OUT_OF_RANGE`, `UNAVAILABLE`,
//!   `DATA_LOSS`, and `RESOURCE_EXHAUSTED` only when the server sent `RetryInfo`. The
//!   delay in `RetryInfo` is honoured.
//! - HTTP: 429, 502, 503 and 504, honouring `Retry-After` (in seconds).
//! - Connection failures and timeouts.
//!
//! Everything else is permanent. A success may carry `partial_success`: the items the
//! destination rejected, which are counted and never resent.
//!
//! Both protocols run on one hyper client with rustls. gRPC is framed here (a unary call is
//! one length-prefixed message over HTTP/2, its status in the trailers) rather than through
//! tonic's client, because tonic compresses gzip at level 6 with no way to choose: at that
//! level compression alone held forwarding to about 10k spans/s on this machine (README,
//! Performance). Here both protocols compress at level 1.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use prost::Message;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::config::{Compression, OtlpConfig, Protocol};
use crate::model::{Signal, rpc};

/// What one attempt came to.
#[derive(Debug, PartialEq)]
pub(super) enum Outcome {
    /// Delivered; the destination rejected `rejected` of the items.
    Delivered { rejected: u64, message: String },
    /// Worth retrying, after `after` if the destination said.
    Retry {
        after: Option<Duration>,
        reason: String,
    },
    /// Not worth retrying.
    Permanent { reason: String },
}

/// Sends encoded requests to one destination.
pub(super) struct Sender {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    protocol: Protocol,
    /// `scheme://authority`, or the HTTP base URL.
    base: String,
    headers: http::HeaderMap,
    compression: Compression,
    timeout: Duration,
}

/// Largest response body read from an HTTP destination.
const MAX_RESPONSE: usize = 64 << 10;

impl Sender {
    /// Builds the client. Must run inside a Tokio runtime; connects lazily.
    pub(super) fn new(cfg: &OtlpConfig) -> Result<Sender, String> {
        Ok(Sender {
            client: https_client(cfg, tls_config(cfg)?)?,
            protocol: cfg.protocol,
            base: cfg.endpoint.trim_end_matches('/').to_owned(),
            headers: header_map(cfg)?,
            compression: cfg.compression,
            timeout: cfg.timeout,
        })
    }

    /// Sends one encoded `Export*ServiceRequest` of `signal`.
    pub(super) async fn send(&mut self, signal: Signal, body: Bytes) -> Outcome {
        let request = match self.request(signal, &body) {
            Ok(request) => request,
            Err(outcome) => return outcome,
        };
        let grpc = self.protocol == Protocol::Grpc;
        let client = &self.client;
        let exchange = async {
            let response = client.request(request).await?;
            let (parts, body) = response.into_parts();
            let collected = Limited::new(body, MAX_RESPONSE).collect().await?;
            let trailers = collected.trailers().cloned().unwrap_or_default();
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((
                parts,
                collected.to_bytes(),
                trailers,
            ))
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => Outcome::Retry {
                after: None,
                reason: format!("no answer within {:?}", self.timeout),
            },
            Ok(Err(e)) => Outcome::Retry {
                after: None,
                reason: format!("request failed: {}", error_chain(&*e)),
            },
            Ok(Ok((parts, body, trailers))) if grpc => grpc_response(&parts, &body, &trailers),
            Ok(Ok((parts, body, _))) => http_outcome(&parts, &body),
        }
    }

    /// The HTTP request that carries `body`: compressed, framed for gRPC, with the
    /// protocol's and the configured headers; a permanent outcome if it cannot be built.
    fn request(&self, signal: Signal, body: &Bytes) -> Result<http::Request<Full<Bytes>>, Outcome> {
        let (payload, encoding) =
            compress(self.compression, body).map_err(|e| Outcome::Permanent {
                reason: format!("compressing: {e}"),
            })?;
        let grpc = self.protocol == Protocol::Grpc;
        let (url, body) = if grpc {
            // One length-prefixed message: compressed flag, big-endian length, bytes.
            let mut framed = BytesMut::with_capacity(5 + payload.len());
            framed.put_u8(u8::from(encoding.is_some()));
            framed.put_u32(u32::try_from(payload.len()).unwrap_or(u32::MAX));
            framed.extend_from_slice(&payload);
            (
                format!("{}{}", self.base, grpc_path(signal)),
                framed.freeze(),
            )
        } else {
            (format!("{}/v1/{}", self.base, signal.as_str()), payload)
        };
        let mut request = http::Request::post(url.as_str());
        if grpc {
            request = request
                .header(http::header::CONTENT_TYPE, "application/grpc")
                .header(http::header::TE, "trailers")
                .header(
                    "grpc-timeout",
                    format!("{}m", self.timeout.as_millis().min(99_999_999)),
                )
                .header("grpc-accept-encoding", "gzip,zstd");
            if let Some(encoding) = encoding {
                request = request.header("grpc-encoding", encoding);
            }
        } else {
            request = request.header(http::header::CONTENT_TYPE, "application/x-protobuf");
            if let Some(encoding) = encoding {
                request = request.header(http::header::CONTENT_ENCODING, encoding);
            }
        }
        let Ok(mut request) = request.body(Full::new(body)) else {
            return Err(Outcome::Permanent {
                reason: format!("invalid request URL {url:?}"),
            });
        };
        request.headers_mut().extend(self.headers.clone());
        Ok(request)
    }
}

/// The trusted roots: the configured CA file, else the system's for a TLS endpoint.
fn root_store(cfg: &OtlpConfig) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    match &cfg.tls.ca_file {
        Some(ca) => {
            for cert in CertificateDer::pem_file_iter(ca)
                .map_err(|e| format!("reading {}: {e}", ca.display()))?
            {
                let cert = cert.map_err(|e| format!("reading {}: {e}", ca.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("CA in {}: {e}", ca.display()))?;
            }
        }
        None if cfg.is_tls() => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
        }
        None => {}
    }
    Ok(roots)
}

/// The TLS client config: the roots, and the client certificate if one is configured.
fn tls_config(cfg: &OtlpConfig) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let builder = builder.with_root_certificates(root_store(cfg)?);
    Ok(match (&cfg.tls.cert_file, &cfg.tls.key_file) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("reading {}: {e}", cert.display()))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| format!("reading {}: {e}", key.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("client certificate: {e}"))?
        }
        _ => builder.with_no_client_auth(),
    })
}

/// The hyper client over `tls`: HTTP/2 only for gRPC, HTTP/1.1 for OTLP/HTTP, with the
/// configured server name and connect timeout.
fn https_client(
    cfg: &OtlpConfig,
    tls: rustls::ClientConfig,
) -> Result<Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>, String> {
    let mut connector = HttpConnector::new();
    connector.enforce_http(false);
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(cfg.timeout));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http();
    let https = match &cfg.tls.server_name {
        Some(name) => {
            let name = rustls::pki_types::ServerName::try_from(name.clone())
                .map_err(|e| format!("tls.server_name {name:?}: {e}"))?;
            https.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name))
        }
        None => https,
    };
    let mut client = Client::builder(TokioExecutor::new());
    Ok(match cfg.protocol {
        // gRPC is HTTP/2 only: ALPN h2 over TLS, prior knowledge over plain TCP.
        Protocol::Grpc => client
            .http2_only(true)
            .build(https.enable_http2().wrap_connector(connector)),
        Protocol::HttpProtobuf => client.build(https.enable_http1().wrap_connector(connector)),
    })
}

/// The configured headers, marked sensitive (they often carry credentials).
fn header_map(cfg: &OtlpConfig) -> Result<http::HeaderMap, String> {
    let mut headers = http::HeaderMap::new();
    for (name, value) in &cfg.headers {
        // gRPC metadata keys are lowercase; HTTP header names are case-insensitive.
        let name = http::HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
            .map_err(|_| format!("header {name:?} is not a valid name"))?;
        let mut value = http::HeaderValue::from_str(value)
            .map_err(|_| format!("the value of header {name:?} is not valid"))?;
        value.set_sensitive(true);
        headers.insert(name, value);
    }
    Ok(headers)
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn grpc_path(signal: Signal) -> &'static str {
    match signal {
        Signal::Traces => "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        Signal::Logs => "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
        Signal::Metrics => "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    }
}

fn compress(
    compression: Compression,
    body: &Bytes,
) -> std::io::Result<(Bytes, Option<&'static str>)> {
    Ok(match compression {
        Compression::None => (body.clone(), None),
        Compression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(
                Vec::with_capacity(body.len() / 4),
                flate2::Compression::fast(),
            );
            enc.write_all(body)?;
            (Bytes::from(enc.finish()?), Some("gzip"))
        }
        Compression::Zstd => (Bytes::from(zstd::encode_all(&body[..], 1)?), Some("zstd")),
    })
}

/// The `partial_success` of any of the three responses: field 1, a message whose field 1
/// is the rejected count and field 2 the message.
#[derive(Clone, PartialEq, Message)]
struct AnyResponse {
    #[prost(message, optional, tag = "1")]
    partial_success: Option<AnyPartialSuccess>,
}

#[derive(Clone, PartialEq, Message)]
struct AnyPartialSuccess {
    #[prost(int64, tag = "1")]
    rejected: i64,
    #[prost(string, tag = "2")]
    error_message: String,
}

fn partial_success(body: &[u8]) -> Outcome {
    // An undecodable success body still means the request was taken.
    let response = AnyResponse::decode(body).unwrap_or_default();
    let p = response.partial_success.unwrap_or_default();
    Outcome::Delivered {
        rejected: u64::try_from(p.rejected).unwrap_or(0),
        message: p.error_message,
    }
}

fn retry_info(details: &[u8]) -> Option<Duration> {
    let status = rpc::Status::decode(details).ok()?;
    let any = status
        .details
        .iter()
        .find(|a| a.type_url == rpc::RETRY_INFO_TYPE)?;
    let delay = rpc::RetryInfo::decode(any.value.as_slice())
        .ok()?
        .retry_delay?;
    Some(
        Duration::from_secs(u64::try_from(delay.seconds).unwrap_or(0))
            + Duration::from_nanos(u64::try_from(delay.nanos).unwrap_or(0)),
    )
}

/// gRPC status codes the classification needs.
mod code {
    pub(super) const OK: i32 = 0;
    pub(super) const CANCELLED: i32 = 1;
    pub(super) const UNKNOWN: i32 = 2;
    pub(super) const DEADLINE_EXCEEDED: i32 = 4;
    pub(super) const RESOURCE_EXHAUSTED: i32 = 8;
    pub(super) const ABORTED: i32 = 10;
    pub(super) const OUT_OF_RANGE: i32 = 11;
    pub(super) const UNIMPLEMENTED: i32 = 12;
    pub(super) const INTERNAL: i32 = 13;
    pub(super) const UNAVAILABLE: i32 = 14;
    pub(super) const DATA_LOSS: i32 = 15;
    pub(super) const UNAUTHENTICATED: i32 = 16;
    pub(super) const PERMISSION_DENIED: i32 = 7;
}

/// Classifies a gRPC status per the OTLP specification; `details` is the
/// `grpc-status-details-bin` (a `google.rpc.Status`), which may carry `RetryInfo`.
pub(super) fn grpc_outcome(status: i32, message: &str, details: &[u8]) -> Outcome {
    let after = retry_info(details);
    let reason = format!("gRPC status {status}: {message}");
    match status {
        code::CANCELLED
        | code::DEADLINE_EXCEEDED
        | code::ABORTED
        | code::OUT_OF_RANGE
        | code::UNAVAILABLE
        | code::DATA_LOSS => Outcome::Retry { after, reason },
        code::RESOURCE_EXHAUSTED if after.is_some() => Outcome::Retry { after, reason },
        _ => Outcome::Permanent { reason },
    }
}

/// Reads a unary gRPC answer: the status from the trailers (or the headers of a
/// trailers-only answer), the response message on success.
fn grpc_response(
    parts: &http::response::Parts,
    body: &[u8],
    trailers: &http::HeaderMap,
) -> Outcome {
    let get = |name: &str| {
        trailers
            .get(name)
            .or_else(|| parts.headers.get(name))
            .and_then(|v| v.to_str().ok())
    };
    let Some(status) = get("grpc-status").and_then(|s| s.trim().parse::<i32>().ok()) else {
        // No gRPC status: the HTTP status says what happened (the gRPC spec's mapping).
        let status = match parts.status.as_u16() {
            400 => code::INTERNAL,
            401 => code::UNAUTHENTICATED,
            403 => code::PERMISSION_DENIED,
            404 => code::UNIMPLEMENTED,
            429 | 502..=504 => code::UNAVAILABLE,
            _ => code::UNKNOWN,
        };
        return grpc_outcome(
            status,
            &format!("HTTP {} without a gRPC status", parts.status.as_u16()),
            &[],
        );
    };
    if status != code::OK {
        let message = percent_decode(get("grpc-message").unwrap_or(""));
        let details = get("grpc-status-details-bin")
            .and_then(base64_decode)
            .unwrap_or_default();
        return grpc_outcome(status, &message, &details);
    }
    // The response message: flag, length, bytes, perhaps compressed.
    let message = match body {
        [flag, a, b, c, d, rest @ ..] => {
            let len = u32::from_be_bytes([*a, *b, *c, *d]) as usize;
            let bytes = &rest[..len.min(rest.len())];
            if *flag == 1 {
                let encoding = match get("grpc-encoding") {
                    Some("gzip") => crate::decode::Encoding::Gzip,
                    Some("zstd") => crate::decode::Encoding::Zstd,
                    _ => crate::decode::Encoding::Identity,
                };
                crate::decode::decompress(bytes, encoding, MAX_RESPONSE)
                    .map(|b| b.into_owned())
                    .unwrap_or_default()
            } else {
                bytes.to_vec()
            }
        }
        _ => Vec::new(),
    };
    partial_success(&message)
}

/// Undoes the percent-encoding of `grpc-message`.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Decodes standard base64, padded or not (gRPC's `-bin` metadata).
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' | b'-' => Some(62),
        b'/' | b'_' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.trim_end_matches('=').bytes() {
        acc = (acc << 6) | u32::from(value(c)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// Classifies an HTTP answer per the OTLP specification.
pub(super) fn http_outcome(parts: &http::response::Parts, body: &[u8]) -> Outcome {
    let status = parts.status;
    if status.is_success() {
        return partial_success(body);
    }
    let message = rpc::Status::decode(body)
        .ok()
        .map(|s| s.message)
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(256)]).into_owned());
    let reason = format!("HTTP {}: {message}", status.as_u16());
    match status.as_u16() {
        429 | 502 | 503 | 504 => {
            let after = parts
                .headers
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            Outcome::Retry { after, reason }
        }
        _ => Outcome::Permanent { reason },
    }
}

#[cfg(test)]
mod tests;
