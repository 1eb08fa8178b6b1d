//! Turns an OTLP request body into a [`Payload`]: content negotiation, capped
//! decompression, protobuf or JSON decoding, and the checks that opentelemetry-proto's
//! decoders leave out.
//!
//! Synchronous and free of I/O, so it is unit-tested and benchmarked without a runtime.
//! It never looks at attribute values beyond what decoding needs.

mod json;
mod validate;

use std::borrow::Cow;
use std::io::Read;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

pub use self::validate::{Rejected, drop_invalid_items};
pub use crate::model::RefusalReason;
use crate::model::{Payload, Signal};

/// The body formats OTLP/HTTP defines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `application/x-protobuf`.
    Protobuf,
    /// `application/json`.
    Json,
}

impl Format {
    /// Reads the format from a `Content-Type` header value, ignoring parameters and case.
    pub fn from_content_type(value: Option<&str>) -> Result<Format, DecodeError> {
        let raw = value.unwrap_or("");
        let essence = raw.split(';').next().unwrap_or("").trim();
        if essence.eq_ignore_ascii_case("application/x-protobuf")
            || essence.eq_ignore_ascii_case("application/protobuf")
        {
            Ok(Format::Protobuf)
        } else if essence.eq_ignore_ascii_case("application/json") {
            Ok(Format::Json)
        } else {
            Err(DecodeError::UnsupportedContentType {
                found: printable(raw),
            })
        }
    }

    /// The `Content-Type` a response to a request in this format carries.
    pub const fn content_type(self) -> &'static str {
        match self {
            Format::Protobuf => "application/x-protobuf",
            Format::Json => "application/json",
        }
    }
}

/// A `Content-Encoding` llmwatch can undo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// No compression.
    Identity,
    /// gzip (RFC 1952), including multi-member streams.
    Gzip,
    /// Zstandard.
    Zstd,
}

impl Encoding {
    /// Reads a `Content-Encoding` header value; a missing header means identity.
    pub fn from_header(value: Option<&str>) -> Result<Encoding, DecodeError> {
        let raw = value.unwrap_or("").trim();
        if raw.is_empty() || raw.eq_ignore_ascii_case("identity") {
            Ok(Encoding::Identity)
        } else if raw.eq_ignore_ascii_case("gzip") || raw.eq_ignore_ascii_case("x-gzip") {
            Ok(Encoding::Gzip)
        } else if raw.eq_ignore_ascii_case("zstd") {
            Ok(Encoding::Zstd)
        } else {
            Err(DecodeError::UnsupportedEncoding {
                found: printable(raw),
            })
        }
    }

    const fn as_str(self) -> &'static str {
        match self {
            Encoding::Identity => "identity",
            Encoding::Gzip => "gzip",
            Encoding::Zstd => "zstd",
        }
    }
}

/// Why a request body could not be turned into a payload.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The `Content-Type` is not one OTLP/HTTP defines.
    #[error("unsupported content type {found:?}: send application/x-protobuf or application/json")]
    UnsupportedContentType {
        /// What the request said, made printable and shortened.
        found: String,
    },
    /// The `Content-Encoding` is not gzip, zstd or identity.
    #[error("unsupported content encoding {found:?}: send gzip, zstd or no encoding")]
    UnsupportedEncoding {
        /// What the request said, made printable and shortened.
        found: String,
    },
    /// The body on the wire is larger than allowed.
    #[error("request body exceeds the limit of {limit} bytes")]
    BodyTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// The body inflates past the decompressed-size limit (a compression bomb, or just big).
    #[error("decompressed request body exceeds the limit of {limit} bytes")]
    DecompressedTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// The compressed stream is corrupt.
    #[error("invalid {encoding} body: {source}")]
    Decompress {
        /// The encoding that failed.
        encoding: &'static str,
        /// The decoder's error.
        #[source]
        source: std::io::Error,
    },
    /// The protobuf is malformed, truncated, or has invalid UTF-8 in a string field.
    #[error("invalid protobuf {message}: {source}")]
    Protobuf {
        /// The message type that failed to decode.
        message: &'static str,
        /// prost's error, which names the field.
        #[source]
        source: prost::DecodeError,
    },
    /// The JSON is malformed or does not fit the OTLP/JSON schema.
    #[error("invalid OTLP/JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// The JSON parsed, but part of it could not be represented and would have been lost.
    #[error("invalid OTLP/JSON at {path}: {detail}")]
    JsonDataLost {
        /// Where in the document, e.g. `resourceMetrics[0].scopeMetrics[0].metrics[2]`.
        path: String,
        /// What was wrong there.
        detail: String,
    },
}

impl DecodeError {
    /// The reason label this error is counted under.
    pub fn reason(&self) -> RefusalReason {
        match self {
            DecodeError::UnsupportedContentType { .. } => RefusalReason::UnsupportedContentType,
            DecodeError::UnsupportedEncoding { .. } => RefusalReason::UnsupportedEncoding,
            DecodeError::BodyTooLarge { .. } => RefusalReason::BodyTooLarge,
            DecodeError::DecompressedTooLarge { .. } => RefusalReason::DecompressedTooLarge,
            DecodeError::Decompress { .. } => RefusalReason::InvalidCompression,
            DecodeError::Protobuf { .. }
            | DecodeError::Json(_)
            | DecodeError::JsonDataLost { .. } => RefusalReason::Malformed,
        }
    }
}

/// Undoes `encoding`, refusing to produce more than `limit` bytes.
///
/// The cap is enforced while inflating, so a compression bomb costs at most `limit + 1`
/// bytes of memory before it is refused.
pub fn decompress(
    body: &[u8],
    encoding: Encoding,
    limit: usize,
) -> Result<Cow<'_, [u8]>, DecodeError> {
    let reader: Box<dyn Read + '_> = match encoding {
        Encoding::Identity => {
            if body.len() > limit {
                return Err(DecodeError::DecompressedTooLarge { limit });
            }
            return Ok(Cow::Borrowed(body));
        }
        Encoding::Gzip => Box::new(flate2::read::MultiGzDecoder::new(body)),
        Encoding::Zstd => {
            let decoder = zstd::stream::read::Decoder::with_buffer(body).map_err(|source| {
                DecodeError::Decompress {
                    encoding: encoding.as_str(),
                    source,
                }
            })?;
            Box::new(decoder)
        }
    };
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(limit));
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|source| DecodeError::Decompress {
            encoding: encoding.as_str(),
            source,
        })?;
    if out.len() > limit {
        return Err(DecodeError::DecompressedTooLarge { limit });
    }
    Ok(Cow::Owned(out))
}

/// Decodes an uncompressed body of `signal` in `format`.
pub fn decode(signal: Signal, format: Format, body: &[u8]) -> Result<Payload, DecodeError> {
    match format {
        Format::Protobuf => decode_protobuf(signal, body),
        Format::Json => json::decode(signal, body),
    }
}

/// Decodes an uncompressed protobuf body of `signal`.
pub fn decode_protobuf(signal: Signal, body: &[u8]) -> Result<Payload, DecodeError> {
    fn err(message: &'static str) -> impl FnOnce(prost::DecodeError) -> DecodeError {
        move |source| DecodeError::Protobuf { message, source }
    }
    Ok(match signal {
        Signal::Traces => Payload::Traces(
            ExportTraceServiceRequest::decode(body).map_err(err("ExportTraceServiceRequest"))?,
        ),
        Signal::Logs => Payload::Logs(
            ExportLogsServiceRequest::decode(body).map_err(err("ExportLogsServiceRequest"))?,
        ),
        Signal::Metrics => Payload::Metrics(
            ExportMetricsServiceRequest::decode(body)
                .map_err(err("ExportMetricsServiceRequest"))?,
        ),
    })
}

/// Makes a client-supplied header value safe to echo in an error message: printable ASCII,
/// at most 64 characters.
fn printable(raw: &str) -> String {
    raw.chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
