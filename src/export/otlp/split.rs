//! Turns a processed payload into encoded export requests no larger than a batch.
//!
//! A request within both limits is encoded as it is. A larger one is cut between items,
//! each part keeping its resource and scope, so nothing about an item changes. A metric is
//! never cut inside: its data points travel together, so one metric with more points than
//! `max_items` makes a request of its own.
//!
//! Encoded requests can be concatenated into one: each holds only the repeated field 1
//! (`resource_spans`, `resource_logs` or `resource_metrics`), and protobuf merges repeated
//! fields by appending. The sender relies on that to batch queued requests without decoding.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

use crate::model::{Payload, data_point_count};

/// One encoded request and the items in it.
#[derive(Debug, PartialEq)]
pub(super) struct Part {
    /// The encoded `Export*ServiceRequest`.
    pub(super) bytes: Vec<u8>,
    /// Spans, log records or data points in it.
    pub(super) items: u64,
}

/// Encodes `payload` as requests of at most `max_items` items and about `max_bytes` bytes.
pub(super) fn split(payload: &Payload, max_items: u64, max_bytes: usize) -> Vec<Part> {
    let whole = payload.item_count();
    if whole <= max_items {
        // The common case: encode once, and cut only what turns out too large.
        let bytes = match payload {
            Payload::Traces(req) => req.encode_to_vec(),
            Payload::Logs(req) => req.encode_to_vec(),
            Payload::Metrics(req) => req.encode_to_vec(),
        };
        if bytes.len() <= max_bytes {
            return vec![Part {
                bytes,
                items: whole,
            }];
        }
    }
    cut_payload(payload, max_items, max_bytes)
}

/// Cuts `payload` along resources, scopes and items into parts within the limits.
fn cut_payload(payload: &Payload, max_items: u64, max_bytes: usize) -> Vec<Part> {
    match payload {
        Payload::Traces(req) => cut(
            &req.resource_spans,
            Level {
                scopes: |r| &r.scope_spans,
                scopes_mut: |r| &mut r.scope_spans,
                items: |s| &s.spans,
                items_mut: |s| &mut s.spans,
                count: |_| 1,
            },
            max_items,
            max_bytes,
        )
        .into_iter()
        .map(|(resource_spans, n)| part(&ExportTraceServiceRequest { resource_spans }, n))
        .collect(),
        Payload::Logs(req) => cut(
            &req.resource_logs,
            Level {
                scopes: |r| &r.scope_logs,
                scopes_mut: |r| &mut r.scope_logs,
                items: |s| &s.log_records,
                items_mut: |s| &mut s.log_records,
                count: |_| 1,
            },
            max_items,
            max_bytes,
        )
        .into_iter()
        .map(|(resource_logs, n)| part(&ExportLogsServiceRequest { resource_logs }, n))
        .collect(),
        Payload::Metrics(req) => cut(
            &req.resource_metrics,
            Level {
                scopes: |r| &r.scope_metrics,
                scopes_mut: |r| &mut r.scope_metrics,
                items: |s| &s.metrics,
                items_mut: |s| &mut s.metrics,
                count: |m| data_point_count(m.data.as_ref()),
            },
            max_items,
            max_bytes,
        )
        .into_iter()
        .map(|(resource_metrics, n)| part(&ExportMetricsServiceRequest { resource_metrics }, n))
        .collect(),
    }
}

fn part(request: &impl Message, items: u64) -> Part {
    Part {
        bytes: request.encode_to_vec(),
        items,
    }
}

/// How to reach the scopes of a resource and the items of a scope, for one signal.
struct Level<R, S, I> {
    scopes: fn(&R) -> &Vec<S>,
    scopes_mut: fn(&mut R) -> &mut Vec<S>,
    items: fn(&S) -> &Vec<I>,
    items_mut: fn(&mut S) -> &mut Vec<I>,
    count: fn(&I) -> u64,
}

/// Encoded overhead of a length-delimited field: its tag and length prefix, at most.
const FIELD_OVERHEAD: usize = 6;

/// Cuts resources into groups of at most `max_items` items and about `max_bytes` bytes.
fn cut<R, S, I>(
    resources: &[R],
    level: Level<R, S, I>,
    max_items: u64,
    max_bytes: usize,
) -> Vec<(Vec<R>, u64)>
where
    R: Message + Clone,
    S: Message + Clone,
    I: Message + Clone,
{
    let mut out = Vec::new();
    let mut current: Vec<R> = Vec::new();
    let (mut items, mut bytes) = (0u64, 0usize);
    for resource in resources {
        let mut shell = resource.clone();
        (level.scopes_mut)(&mut shell).clear();
        let shell_len = shell.encoded_len() + FIELD_OVERHEAD;
        for scope in (level.scopes)(resource) {
            let mut scope_shell = scope.clone();
            (level.items_mut)(&mut scope_shell).clear();
            let scope_len = scope_shell.encoded_len() + FIELD_OVERHEAD;
            // Whether the last resource and scope in `current` are this one's copies.
            let mut open = false;
            for item in (level.items)(scope) {
                let n = (level.count)(item);
                let len = item.encoded_len() + FIELD_OVERHEAD;
                let extra = if open { 0 } else { shell_len + scope_len };
                let full = items > 0 && (items + n > max_items || bytes + len + extra > max_bytes);
                if full {
                    out.push((std::mem::take(&mut current), items));
                    (items, bytes, open) = (0, 0, false);
                }
                if !open {
                    let mut r = shell.clone();
                    (level.scopes_mut)(&mut r).push(scope_shell.clone());
                    current.push(r);
                    bytes += shell_len + scope_len;
                    open = true;
                }
                if let Some(s) = current
                    .last_mut()
                    .and_then(|r| (level.scopes_mut)(r).last_mut())
                {
                    (level.items_mut)(s).push(item.clone());
                }
                items += n;
                bytes += len;
            }
        }
    }
    if items > 0 {
        out.push((current, items));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{i, kv, s, traces};
    use opentelemetry_proto::tonic::trace::v1::Span;

    fn spans(n: usize) -> Payload {
        let spans = (0..n)
            .map(|n| Span {
                name: format!("span-{n}"),
                attributes: vec![kv("i", i(n as i64))],
                ..Default::default()
            })
            .collect();
        traces(vec![kv("service.name", s("checkout"))], spans).payload
    }

    fn decode(part: &Part) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest::decode(part.bytes.as_slice()).expect("decodes")
    }

    #[test]
    fn a_request_within_the_limits_is_encoded_whole() {
        let payload = spans(10);
        let parts = split(&payload, 100, 1 << 20);
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].items, 10);
        let Payload::Traces(req) = &payload else {
            unreachable!()
        };
        assert_eq!(&decode(&parts[0]), req);
    }

    #[test]
    fn a_large_request_is_cut_between_items_keeping_resource_and_scope() {
        let payload = spans(25);
        let parts = split(&payload, 10, 1 << 20);
        assert_eq!(
            parts.iter().map(|p| p.items).collect::<Vec<_>>(),
            vec![10, 10, 5]
        );
        let Payload::Traces(req) = &payload else {
            unreachable!()
        };
        let mut names = Vec::new();
        for part in &parts {
            let got = decode(part);
            assert_eq!(got.resource_spans.len(), 1);
            assert_eq!(
                got.resource_spans[0].resource,
                req.resource_spans[0].resource
            );
            assert_eq!(
                got.resource_spans[0].scope_spans[0].scope,
                req.resource_spans[0].scope_spans[0].scope
            );
            names.extend(
                got.resource_spans[0].scope_spans[0]
                    .spans
                    .iter()
                    .map(|s| s.name.clone()),
            );
        }
        let want: Vec<_> = (0..25).map(|i| format!("span-{i}")).collect();
        assert_eq!(names, want, "every span once, in order");
    }

    #[test]
    fn parts_stay_under_the_byte_limit_and_concatenate_back_to_the_whole() {
        let payload = spans(200);
        let whole = match &payload {
            Payload::Traces(r) => r.encoded_len(),
            _ => unreachable!(),
        };
        let limit = whole / 7;
        let parts = split(&payload, 10_000, limit);
        assert!(parts.len() >= 7, "{} parts", parts.len());
        for p in &parts {
            assert!(p.bytes.len() <= limit, "{} > {limit}", p.bytes.len());
        }
        let joined: Vec<u8> = parts.iter().flat_map(|p| p.bytes.clone()).collect();
        let merged = ExportTraceServiceRequest::decode(joined.as_slice()).expect("decodes");
        let n: usize = merged
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        assert_eq!(n, 200);
    }
}
