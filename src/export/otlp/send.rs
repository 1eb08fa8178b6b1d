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

use std::io::Write as _;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use prost::Message;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::{MetadataKey, MetadataValue};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use tonic::{Code, Status};

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
pub(super) enum Sender {
    Grpc {
        grpc: tonic::client::Grpc<Channel>,
        metadata: tonic::metadata::MetadataMap,
        timeout: Duration,
    },
    Http {
        client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
        base: String,
        headers: http::HeaderMap,
        compression: Compression,
        timeout: Duration,
    },
}

/// Largest response body read from an HTTP destination.
const MAX_RESPONSE: usize = 64 << 10;

fn read_pem(path: &std::path::Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))
}

impl Sender {
    /// Builds the client. Must run inside a Tokio runtime; connects lazily.
    pub(super) fn new(cfg: &OtlpConfig) -> Result<Sender, String> {
        match cfg.protocol {
            Protocol::Grpc => Self::grpc(cfg),
            Protocol::HttpProtobuf => Self::http(cfg),
        }
    }

    fn grpc(cfg: &OtlpConfig) -> Result<Sender, String> {
        let mut endpoint = Channel::from_shared(cfg.endpoint.clone())
            .map_err(|e| format!("endpoint {:?}: {e}", cfg.endpoint))?
            .connect_timeout(cfg.timeout)
            .timeout(cfg.timeout)
            .tcp_nodelay(true);
        if cfg.is_tls() {
            let mut tls = ClientTlsConfig::new();
            tls = match &cfg.tls.ca_file {
                Some(ca) => tls.ca_certificate(Certificate::from_pem(read_pem(ca)?)),
                None => tls.with_native_roots(),
            };
            if let (Some(cert), Some(key)) = (&cfg.tls.cert_file, &cfg.tls.key_file) {
                tls = tls.identity(Identity::from_pem(read_pem(cert)?, read_pem(key)?));
            }
            if let Some(name) = &cfg.tls.server_name {
                tls = tls.domain_name(name.clone());
            }
            endpoint = endpoint
                .tls_config(tls)
                .map_err(|e| format!("TLS settings: {e}"))?;
        }
        let mut grpc = tonic::client::Grpc::new(endpoint.connect_lazy())
            .max_decoding_message_size(MAX_RESPONSE);
        match cfg.compression {
            Compression::Gzip => grpc = grpc.send_compressed(CompressionEncoding::Gzip),
            Compression::Zstd => grpc = grpc.send_compressed(CompressionEncoding::Zstd),
            Compression::None => {}
        }
        let grpc = grpc
            .accept_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Zstd);
        let mut metadata = tonic::metadata::MetadataMap::new();
        for (name, value) in &cfg.headers {
            let key = MetadataKey::from_str(&name.to_ascii_lowercase())
                .map_err(|_| format!("header {name:?} is not valid gRPC metadata"))?;
            let value = MetadataValue::try_from(value.as_str())
                .map_err(|_| format!("the value of header {name:?} is not valid gRPC metadata"))?;
            metadata.insert(key, value);
        }
        Ok(Sender::Grpc {
            grpc,
            metadata,
            timeout: cfg.timeout,
        })
    }

    fn http(cfg: &OtlpConfig) -> Result<Sender, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?;
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
        let builder = builder.with_root_certificates(roots);
        let tls = match (&cfg.tls.cert_file, &cfg.tls.key_file) {
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
        };
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
        let https = https.enable_http1().wrap_connector(connector);
        let client = Client::builder(TokioExecutor::new()).build(https);
        let mut headers = http::HeaderMap::new();
        for (name, value) in &cfg.headers {
            let name = http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("header {name:?} is not a valid name"))?;
            let mut value = http::HeaderValue::from_str(value)
                .map_err(|_| format!("the value of header {name:?} is not valid"))?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        Ok(Sender::Http {
            client,
            base: cfg.endpoint.trim_end_matches('/').to_owned(),
            headers,
            compression: cfg.compression,
            timeout: cfg.timeout,
        })
    }

    /// Sends one encoded `Export*ServiceRequest` of `signal`.
    pub(super) async fn send(&mut self, signal: Signal, body: Bytes) -> Outcome {
        match self {
            Sender::Grpc {
                grpc,
                metadata,
                timeout,
            } => {
                if let Err(e) = grpc.ready().await {
                    return Outcome::Retry {
                        after: None,
                        reason: format!("connecting: {e}"),
                    };
                }
                let mut request = tonic::Request::new(body);
                *request.metadata_mut() = metadata.clone();
                request.set_timeout(*timeout);
                let path = http::uri::PathAndQuery::from_static(grpc_path(signal));
                match grpc.unary(request, path, BytesCodec).await {
                    Ok(response) => partial_success(signal, response.get_ref()),
                    Err(status) => grpc_outcome(&status),
                }
            }
            Sender::Http {
                client,
                base,
                headers,
                compression,
                timeout,
            } => {
                let url = format!("{base}/v1/{}", signal.as_str());
                let (body, encoding) = match compress(*compression, &body) {
                    Ok(x) => x,
                    Err(e) => {
                        return Outcome::Permanent {
                            reason: format!("compressing: {e}"),
                        };
                    }
                };
                let mut request = http::Request::post(url.as_str())
                    .header(http::header::CONTENT_TYPE, "application/x-protobuf");
                if let Some(encoding) = encoding {
                    request = request.header(http::header::CONTENT_ENCODING, encoding);
                }
                let Ok(mut request) = request.body(Full::new(body)) else {
                    return Outcome::Permanent {
                        reason: format!("invalid request URL {url:?}"),
                    };
                };
                request.headers_mut().extend(headers.clone());
                let exchange = async {
                    let response = client.request(request).await?;
                    let (parts, body) = response.into_parts();
                    let body = Limited::new(body, MAX_RESPONSE).collect().await;
                    Ok::<_, Box<dyn std::error::Error + Send + Sync>>((
                        parts,
                        body.map(|b| b.to_bytes()).unwrap_or_default(),
                    ))
                };
                match tokio::time::timeout(*timeout, exchange).await {
                    Err(_) => Outcome::Retry {
                        after: None,
                        reason: format!("no answer within {timeout:?}"),
                    },
                    Ok(Err(e)) => Outcome::Retry {
                        after: None,
                        reason: format!("request failed: {}", error_chain(&*e)),
                    },
                    Ok(Ok((parts, body))) => http_outcome(signal, &parts, &body),
                }
            }
        }
    }
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

fn partial_success(_signal: Signal, body: &[u8]) -> Outcome {
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

/// Classifies a gRPC status per the OTLP specification.
pub(super) fn grpc_outcome(status: &Status) -> Outcome {
    let after = retry_info(status.details());
    let reason = format!("{:?}: {}", status.code(), status.message());
    match status.code() {
        Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::OutOfRange
        | Code::Unavailable
        | Code::DataLoss => Outcome::Retry { after, reason },
        Code::ResourceExhausted if after.is_some() => Outcome::Retry { after, reason },
        _ => Outcome::Permanent { reason },
    }
}

/// Classifies an HTTP answer per the OTLP specification.
pub(super) fn http_outcome(signal: Signal, parts: &http::response::Parts, body: &[u8]) -> Outcome {
    let status = parts.status;
    if status.is_success() {
        return partial_success(signal, body);
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

/// Passes already encoded requests through, and responses back as bytes.
struct BytesCodec;

struct BytesEncoder;

impl Encoder for BytesEncoder {
    type Item = Bytes;
    type Error = Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        bytes::BufMut::put(dst, item);
        Ok(())
    }
}

struct BytesDecoder;

impl Decoder for BytesDecoder {
    type Item = Bytes;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

impl Codec for BytesCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = BytesEncoder;
    type Decoder = BytesDecoder;
    fn encoder(&mut self) -> BytesEncoder {
        BytesEncoder
    }
    fn decoder(&mut self) -> BytesDecoder {
        BytesDecoder
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(status: u16, retry_after: Option<&str>) -> http::response::Parts {
        let mut b = http::Response::builder().status(status);
        if let Some(r) = retry_after {
            b = b.header("retry-after", r);
        }
        b.body(()).expect("response").into_parts().0
    }

    #[test]
    fn http_answers_are_classified_as_the_specification_says() {
        for code in [429, 502, 503, 504] {
            assert!(
                matches!(
                    http_outcome(Signal::Traces, &parts(code, None), b""),
                    Outcome::Retry { after: None, .. }
                ),
                "{code}"
            );
        }
        for code in [400, 401, 403, 404, 413, 500] {
            assert!(
                matches!(
                    http_outcome(Signal::Traces, &parts(code, None), b""),
                    Outcome::Permanent { .. }
                ),
                "{code}"
            );
        }
        assert!(matches!(
            http_outcome(Signal::Logs, &parts(503, Some("7")), b""),
            Outcome::Retry { after: Some(d), .. } if d == Duration::from_secs(7)
        ));
        let body = AnyResponse {
            partial_success: Some(AnyPartialSuccess {
                rejected: 3,
                error_message: "bad spans".into(),
            }),
        }
        .encode_to_vec();
        assert_eq!(
            http_outcome(Signal::Traces, &parts(200, None), &body),
            Outcome::Delivered {
                rejected: 3,
                message: "bad spans".into()
            }
        );
        let status = rpc::Status {
            code: 3,
            message: "span 4 has no name".into(),
            details: vec![],
        }
        .encode_to_vec();
        assert_eq!(
            http_outcome(Signal::Traces, &parts(400, None), &status),
            Outcome::Permanent {
                reason: "HTTP 400: span 4 has no name".into()
            }
        );
    }

    #[test]
    fn grpc_resource_exhausted_is_retried_only_with_retry_info() {
        assert!(matches!(
            grpc_outcome(&Status::new(Code::ResourceExhausted, "full")),
            Outcome::Permanent { .. }
        ));
        let retry = rpc::RetryInfo {
            retry_delay: Some(rpc::Duration {
                seconds: 2,
                nanos: 500_000_000,
            }),
        };
        let details = rpc::Status {
            code: Code::ResourceExhausted as i32,
            message: "full".into(),
            details: vec![rpc::Any {
                type_url: rpc::RETRY_INFO_TYPE.into(),
                value: retry.encode_to_vec(),
            }],
        };
        let status = Status::with_details(
            Code::ResourceExhausted,
            "full",
            Bytes::from(details.encode_to_vec()),
        );
        assert!(matches!(
            grpc_outcome(&status),
            Outcome::Retry { after: Some(d), .. } if d == Duration::from_millis(2500)
        ));
        for code in [Code::Unavailable, Code::DeadlineExceeded, Code::Aborted] {
            assert!(matches!(
                grpc_outcome(&Status::new(code, "x")),
                Outcome::Retry { .. }
            ));
        }
        for code in [
            Code::InvalidArgument,
            Code::Unauthenticated,
            Code::Unimplemented,
        ] {
            assert!(matches!(
                grpc_outcome(&Status::new(code, "x")),
                Outcome::Permanent { .. }
            ));
        }
    }
}
