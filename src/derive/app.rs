//! What an application span is: its component as far as the wire tells (an LLM call, a
//! database query, a client call, a server operation), its operation name with ids
//! taken out, its duration and how it failed. What needs configuration (which hosts
//! are third-party platforms, which services are browsers, which failures are expected)
//! is the `health` recorder's.

use std::borrow::Cow;

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;

use super::llm::{error_class, exception_class, http_class};
use crate::model::attrs::first_ref;
use crate::model::text::cap;
use crate::semconv::app::{
    DB_OPERATION, DB_QUERY, DB_SYSTEM, DB_TARGET, ERROR_TYPE, HTTP_METHOD, HTTP_ROUTE, HTTP_STATUS,
    PEER_SERVICE, SDK_LANGUAGE, SERVER_HOST, URL_FULL, URL_PATH, WEBJS,
};

/// What kind of operation a span is, as far as the wire tells.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpKind {
    /// An LLM call (`component="ai"`), with its `gen_ai.operation.name`.
    Ai(String),
    /// A database query: system, operation and target.
    Database(String),
    /// A call to another service; a platform when the recorder's rules know its host.
    Client {
        /// `server.address`, or the host of the URL (span first, then resource).
        host: Option<String>,
        /// `peer.service`.
        peer: Option<String>,
        /// `METHOD path`, or the span name.
        operation: String,
    },
    /// An operation this service served.
    Server(String),
    /// Anything else (internal spans).
    Other,
}

/// One application operation.
#[derive(Clone, Debug, PartialEq)]
pub struct AppOp {
    /// What it is.
    pub kind: OpKind,
    /// The span name with ids taken out: the operation of a browser span.
    pub name: String,
    /// Whether the resource says browser telemetry (`telemetry.sdk.language: webjs`).
    pub browser: bool,
    /// Seconds, when the span has both times.
    pub duration: Option<f64>,
    /// The HTTP status code.
    pub status: Option<u16>,
    /// `error.type`, as a class.
    pub error_type: Option<String>,
    /// The span's status is an error.
    pub status_error: bool,
    /// The class of its exception event, if any.
    pub exception: Option<String>,
}

fn lookup<'a>(layers: &[&'a [KeyValue]], keys: &[&str]) -> Option<Cow<'a, str>> {
    first_ref(layers, keys)
}

/// The host of a URL, without port or credentials.
pub fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host.starts_with('[') {
        host.split_once(']')
            .map_or(host, |(h, _)| h.trim_start_matches('['))
    } else {
        host.split(':').next().unwrap_or(host)
    };
    (!host.is_empty()).then_some(host)
}

/// Replaces path segments that are ids (numbers, UUIDs, long hex or mixed tokens) by
/// `{id}`, drops the query, and cuts the result to 64 bytes: operation names stay few.
pub fn normalise_operation(name: &str) -> String {
    // Every id-like segment has a digit: a name without one, query or fragment is its own
    // normal form (most span names), and skips the segment walk.
    if !name
        .bytes()
        .any(|b| b.is_ascii_digit() || b == b'?' || b == b'#')
    {
        return cap(name, 64).to_owned();
    }
    normalise_segments(name)
}

/// [`normalise_operation`], segment by segment.
fn normalise_segments(name: &str) -> String {
    let name = name.split(['?', '#']).next().unwrap_or(name);
    let id_like = |seg: &str| {
        let digits = seg.bytes().filter(u8::is_ascii_digit).count();
        let hex = seg.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
        !seg.is_empty()
            && (digits == seg.len()
                || (hex && seg.len() >= 8 && digits > 0)
                || (digits >= 3 && seg.len() >= 12))
    };
    let mut out = String::with_capacity(name.len().min(64));
    for (i, seg) in name.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        // `GET /users/42`: the method and the first segment share a piece; Google's
        // `properties/123456:runReport` puts the method after a colon.
        let (seg, method) = match seg.split_once(':') {
            Some((id, m)) if !id.is_empty() => (id, Some(m)),
            _ => (seg, None),
        };
        match seg.rsplit_once(' ') {
            Some((head, last)) if id_like(last) => {
                out.push_str(head);
                out.push_str(" {id}");
            }
            _ if id_like(seg) => out.push_str("{id}"),
            _ => out.push_str(seg),
        }
        if let Some(m) = method {
            out.push(':');
            out.push_str(m);
        }
    }
    let end = cap(&out, 64).len();
    out.truncate(end);
    out
}

fn database(a: &[KeyValue]) -> Option<String> {
    let system = lookup(&[a], DB_SYSTEM)?;
    let op = lookup(&[a], DB_OPERATION)
        .or_else(|| {
            lookup(&[a], DB_QUERY).and_then(|q| {
                q.split_whitespace()
                    .next()
                    .map(|w| Cow::Owned(w.to_ascii_uppercase()))
            })
        })
        .unwrap_or(Cow::Borrowed("query"));
    Some(match lookup(&[a], DB_TARGET) {
        Some(t) => format!("{system} {op} {t}"),
        None => format!("{system} {op}"),
    })
}

fn client(span: &Span, resource: &[KeyValue], method: Option<Cow<'_, str>>) -> OpKind {
    let layers = [&span.attributes[..], resource];
    let a = &span.attributes[..];
    let host = lookup(&layers, SERVER_HOST)
        .map(Cow::into_owned)
        .or_else(|| lookup(&layers, URL_FULL).and_then(|u| url_host(&u).map(str::to_owned)));
    let path = lookup(&[a], URL_PATH)
        .map(Cow::into_owned)
        .or_else(|| {
            lookup(&[a], URL_FULL).and_then(|u| {
                let rest = u.split_once("://")?.1;
                Some(rest.find('/').map_or("/", |i| &rest[i..]).to_owned())
            })
        })
        .unwrap_or_default();
    let operation = match method {
        Some(m) => format!("{m} {path}"),
        None => span.name.clone(),
    };
    OpKind::Client {
        host,
        peer: lookup(&layers, PEER_SERVICE).map(Cow::into_owned),
        operation: normalise_operation(operation.trim()),
    }
}

fn kind(span: &Span, resource: &[KeyValue], ai: Option<&str>) -> OpKind {
    let a = &span.attributes[..];
    if let Some(op) = ai {
        return OpKind::Ai(op.to_owned());
    }
    if let Some(operation) = database(a) {
        return OpKind::Database(normalise_operation(&operation));
    }
    let method = lookup(&[a], HTTP_METHOD);
    let k = span.kind;
    if k == SpanKind::Client as i32 || k == SpanKind::Producer as i32 {
        return client(span, resource, method);
    }
    if k == SpanKind::Server as i32 || k == SpanKind::Consumer as i32 {
        let operation = match (method, lookup(&[a], HTTP_ROUTE)) {
            (Some(m), Some(r)) => format!("{m} {r}"),
            _ => span.name.clone(),
        };
        return OpKind::Server(normalise_operation(&operation));
    }
    OpKind::Other
}

/// The operation a span describes; `ai` is the operation of the LLM call it describes.
pub fn from_span(span: &Span, resource: &[KeyValue], ai: Option<&str>) -> AppOp {
    let a = &span.attributes[..];
    let kind = kind(span, resource, ai);
    let browser = lookup(&[resource], SDK_LANGUAGE).is_some_and(|l| l == WEBJS);
    AppOp {
        name: if browser || kind == OpKind::Other {
            normalise_operation(&span.name)
        } else {
            String::new()
        },
        kind,
        browser,
        duration: (span.end_time_unix_nano > span.start_time_unix_nano
            && span.start_time_unix_nano > 0)
            .then(|| (span.end_time_unix_nano - span.start_time_unix_nano) as f64 / 1e9),
        status: lookup(&[a], HTTP_STATUS).and_then(|s| s.parse::<u16>().ok()),
        error_type: lookup(&[a], &[ERROR_TYPE]).map(Cow::into_owned),
        status_error: span
            .status
            .as_ref()
            .is_some_and(|s| s.code == StatusCode::Error as i32),
        exception: exception_class(span),
    }
}

impl AppOp {
    /// The error class and status code when the operation failed as `component`: OTel
    /// counts 4xx as errors of client spans, not of server spans.
    pub fn failure(&self, component: &str) -> Option<(String, Option<u16>)> {
        let failed_status = self
            .status
            .is_some_and(|s| s >= 500 || (s >= 400 && component != "server"));
        if !(failed_status || self.error_type.is_some() || self.status_error) {
            return None;
        }
        let class = self
            .error_type
            .as_deref()
            .map(error_class)
            .or_else(|| self.exception.clone())
            .or_else(|| {
                self.status
                    .filter(|s| *s >= 400)
                    .map(|s| http_class(s).to_owned())
            })
            .unwrap_or_else(|| "error".to_owned());
        Some((class, self.status))
    }
}

#[cfg(test)]
mod tests {
    use super::{normalise_operation, normalise_segments};

    #[test]
    fn a_name_without_digits_is_its_own_normal_form_as_the_segment_walk_says() {
        let names = [
            "POST /api/chat",
            "GET /users/{id}/orders",
            "chat gpt-four",
            "properties/abc:runReport",
            ":colon/first",
            "/",
            "",
            "a b c/d e:f/ g",
            "ünïcödé/pâth/ñame with spaces",
            "db.query SELECT users",
            &"segment/".repeat(20),
            &"é".repeat(40),
            "deadbeef-cafe-babe/abcdefabcdef",
        ];
        for name in names {
            assert_eq!(
                normalise_operation(name),
                normalise_segments(name),
                "{name:?}"
            );
            assert!(normalise_operation(name).len() <= 64);
        }
        // With a digit, a query or a fragment, the walk runs.
        assert_eq!(normalise_operation("GET /users/42"), "GET /users/{id}");
        assert_eq!(normalise_operation("GET /search?q=x"), "GET /search");
        assert_eq!(normalise_operation("GET /page#top"), "GET /page");
    }
}
