//! Item-level checks that decide an OTLP partial success.
//!
//! The OTLP specification requires a span's `trace_id` to be 16 bytes and its `span_id` 8
//! bytes, neither all zero; a log record's ids are optional but, when present, have those
//! sizes too. Items that break this are removed and reported back to the client through
//! `partial_success`, so one bad span does not cost the client the whole request.

use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::trace::v1::Span;

use crate::model::Payload;

/// Items that were removed from a payload, and why.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rejected {
    /// How many items were removed.
    pub items: u64,
    /// A message for the client; empty when nothing was removed.
    pub message: String,
}

fn valid_id(id: &[u8], len: usize) -> bool {
    id.len() == len && id.iter().any(|&b| b != 0)
}

fn valid_span(span: &Span) -> bool {
    valid_id(&span.trace_id, 16) && valid_id(&span.span_id, 8)
}

fn valid_log(log: &LogRecord) -> bool {
    (log.trace_id.is_empty() || valid_id(&log.trace_id, 16))
        && (log.span_id.is_empty() || valid_id(&log.span_id, 8))
}

/// Removes the items that the OTLP specification calls invalid and says how many went.
pub fn drop_invalid_items(payload: &mut Payload) -> Rejected {
    let (items, what) = match payload {
        Payload::Traces(req) => {
            let mut dropped = 0;
            for ss in req
                .resource_spans
                .iter_mut()
                .flat_map(|rs| &mut rs.scope_spans)
            {
                let before = ss.spans.len();
                ss.spans.retain(valid_span);
                dropped += (before - ss.spans.len()) as u64;
            }
            (
                dropped,
                "spans with a trace_id that is not 16 bytes or a span_id that is not 8 bytes, or an all-zero id",
            )
        }
        Payload::Logs(req) => {
            let mut dropped = 0;
            for sl in req
                .resource_logs
                .iter_mut()
                .flat_map(|rl| &mut rl.scope_logs)
            {
                let before = sl.log_records.len();
                sl.log_records.retain(valid_log);
                dropped += (before - sl.log_records.len()) as u64;
            }
            (
                dropped,
                "log records with a trace_id that is not 16 bytes or a span_id that is not 8 bytes, or an all-zero id",
            )
        }
        Payload::Metrics(_) => (0, ""),
    };
    if items == 0 {
        return Rejected::default();
    }
    Rejected {
        items,
        message: format!("rejected {items} {what}"),
    }
}
