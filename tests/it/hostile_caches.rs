//! Telemetry that attacks the processors' caches (issue 16, break 3), through the real
//! binary: before the caches were bounded in bytes, the redactor's key cache, the price-match
//! cache and the dedupe record kept whole keys, model names and response ids, and fifty
//! distinct 20 MiB keys held 543 MB. The bound is stated on the test.

use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

use super::support::{Llmwatch, http_request, metric_value};

/// Bodies up to 32 MiB are accepted (the default is 16 MiB), so that each model name and
/// response id of up to 20 MiB arrives whole and goes through the processors.
const CONFIG: &str = r#"
receivers:
  otlp:
    protocols:
      http: { endpoint: "127.0.0.1:0", max_request_body_size: 32MiB }
processors:
  redaction: {}
  genai: {}
exporters:
  prometheus: { endpoint: "127.0.0.1:0" }
service:
  pipelines:
    traces: { receivers: [otlp], processors: [redaction, genai], exporters: [prometheus] }
    logs: { receivers: [otlp], processors: [redaction, genai], exporters: [prometheus] }
"#;

const MIB: usize = 1 << 20;

/// Distinct strings per cache.
const DISTINCT: usize = 50;

/// The bound on peak RSS: the requests in flight, decoded, and what the processors build
/// from them (measured 176-196 MiB in the debug build), but no cache. A cache that kept
/// whole strings would hold 200 MiB of keys, or 525 MiB of model names or of response ids:
/// with one of the three byte caps taken out, the peak was 306, 620 and 662 MiB.
const PEAK_RSS_BOUND: u64 = 256 << 20;

fn kv(k: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: k.to_owned(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn text(k: &str, v: &str) -> KeyValue {
    kv(k, any_value::Value::StringValue(v.to_owned()))
}

/// A distinct string of `len` bytes: `tag`, the index, then filler.
fn distinct(tag: &str, i: usize, len: usize) -> String {
    let mut s = format!("{tag}-{i}-");
    s.push_str(&"x".repeat(len - s.len()));
    s
}

/// The size of each distinct key. The issue's attack used 20 MiB keys; the redactor's key
/// checks run at about 11 MB/s per worker in the debug build the tests use, so 4 MiB keys
/// (200 MiB in all, still far over the bound if kept) hold the test to about 25 s. With 20
/// MiB keys it took 72 s and peaked at 209 MiB.
const KEY_MIB: usize = 4;

/// The largest model name; sizes run from 1 MiB to it in turn.
const MODEL_MAX_MIB: usize = 20;

/// The largest response id; sizes run from 1 MiB to it in turn.
const ID_MAX_MIB: usize = 20;

/// The `i`th size from 1 MiB to `max` MiB, in turn.
fn size(i: usize, max: usize) -> usize {
    (i % max + 1) * MIB
}

fn resource() -> Option<Resource> {
    Some(Resource {
        attributes: vec![text("service.name", "hostile-caches")],
        ..Default::default()
    })
}

/// One span in its own trace: an LLM call with `attributes` added.
fn call_span(i: usize, attributes: Vec<KeyValue>) -> ExportTraceServiceRequest {
    let mut attrs = vec![
        text("gen_ai.operation.name", "chat"),
        text("gen_ai.provider.name", "openai"),
        kv("gen_ai.usage.input_tokens", any_value::Value::IntValue(10)),
        kv("gen_ai.usage.output_tokens", any_value::Value::IntValue(5)),
    ];
    attrs.extend(attributes);
    let mut trace_id = [7u8; 16];
    trace_id[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(),
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: trace_id.to_vec(),
                    span_id: vec![1; 8],
                    name: "chat".into(),
                    start_time_unix_nano: 1_700_000_000_000_000_000,
                    end_time_unix_nano: 1_700_000_001_000_000_000,
                    attributes: attrs,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn log_with_key(key: &str) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(),
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    attributes: vec![text(key, "v")],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Posts the requests `make(i)` for `i` in `0..DISTINCT`, `at_once` at a time (the pipeline
/// has a worker per core), checks each was accepted, and waits (at most 30 s) until the
/// workers have run them through the pipeline before sending the next. `batches` counts the
/// batches run so far.
fn post_all(
    lw: &Llmwatch,
    batches: &mut f64,
    at_once: usize,
    make: impl Fn(usize) -> (&'static str, Vec<u8>),
) {
    let headers = [("content-type", "application/x-protobuf")];
    for group in (0..DISTINCT).collect::<Vec<_>>().chunks(at_once) {
        let requests: Vec<_> = group.iter().map(|&i| make(i)).collect();
        std::thread::scope(|s| {
            for (path, body) in &requests {
                s.spawn(|| {
                    let r = http_request(lw.http(), "POST", path, &headers, body);
                    assert_eq!(r.status, 200, "{}", r.text());
                });
            }
        });
        *batches += requests.len() as f64;
        lw.metrics_when(Duration::from_secs(30), |t| {
            metric_value(t, "llmwatch_pipeline_batch_duration_seconds_count", &[]) >= *batches
        });
    }
}

/// Every item was accepted and processed, none refused or dropped, and every call counted:
/// each span is a call in its own trace, so none is merged.
fn assert_all_processed(lw: &Llmwatch) {
    let text = lw.metrics_text();
    let items = (3 * DISTINCT) as f64;
    let accepted = metric_value(&text, "llmwatch_receiver_accepted_items_total", &[]);
    assert_eq!(accepted, items, "accepted items");
    let refused = metric_value(&text, "llmwatch_receiver_refused_requests_total", &[]);
    assert_eq!(refused, 0.0, "refused requests");
    let dropped = metric_value(&text, "llmwatch_processor_dropped_items_total", &[]);
    assert_eq!(dropped, 0.0, "items a processor dropped");
    let calls = metric_value(&text, "llm_requests_total", &[]);
    assert_eq!(calls, (DISTINCT / 2 + 2 * DISTINCT) as f64, "calls counted");
}

/// Break 3: fifty distinct attribute keys of [`KEY_MIB`] (half on spans, half on log
/// records), fifty distinct model names of 1 to [`MODEL_MAX_MIB`] (half requested, half
/// answering), and fifty distinct response ids of 1 to [`ID_MAX_MIB`]. Bound: every item
/// accepted and processed, every call counted, and peak RSS under [`PEAK_RSS_BOUND`].
#[test]
fn huge_distinct_keys_models_and_ids_stay_bounded_in_bytes() {
    let lw = Llmwatch::start_with(CONFIG, &[], "info");
    let mut batches = 0.0;
    // Two at a time: the redactor's key checks are the slow part in a debug build.
    post_all(&lw, &mut batches, 2, |i| {
        let key = distinct("key", i, KEY_MIB * MIB);
        if i % 2 == 0 {
            (
                "/v1/traces",
                call_span(i, vec![text(&key, "v")]).encode_to_vec(),
            )
        } else {
            ("/v1/logs", log_with_key(&key).encode_to_vec())
        }
    });
    let after_keys = lw.peak_rss() >> 20;
    post_all(&lw, &mut batches, 1, |i| {
        // Priced by the response model when there is one, else by the requested one.
        let key = ["gen_ai.request.model", "gen_ai.response.model"][i % 2];
        let model = distinct("gpt-4o", i, size(i, MODEL_MAX_MIB));
        let req = call_span(DISTINCT + i, vec![text(key, &model)]);
        ("/v1/traces", req.encode_to_vec())
    });
    let after_models = lw.peak_rss() >> 20;
    post_all(&lw, &mut batches, 1, |i| {
        let id = distinct("chatcmpl", i, size(i, ID_MAX_MIB));
        let attrs = vec![
            text("gen_ai.request.model", "gpt-4o"),
            text("gen_ai.response.id", &id),
        ];
        (
            "/v1/traces",
            call_span(2 * DISTINCT + i, attrs).encode_to_vec(),
        )
    });
    assert_all_processed(&lw);
    let rss = lw.peak_rss();
    println!(
        "peak RSS {after_keys} MiB after the keys, {after_models} MiB after the models, {} MiB \
         after the ids",
        rss >> 20
    );
    assert!(
        rss < PEAK_RSS_BOUND,
        "peak RSS {} MiB over the bound of {} MiB",
        rss >> 20,
        PEAK_RSS_BOUND >> 20
    );
}
