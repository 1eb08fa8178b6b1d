use std::io::Write;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point;
use prost::Message;

use super::*;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn sample_traces() -> Vec<u8> {
    crate::bench::reference_traces(5, 7).encode_to_vec()
}

#[test]
fn reads_content_types() {
    assert_eq!(
        Format::from_content_type(Some("application/x-protobuf")).unwrap(),
        Format::Protobuf
    );
    assert_eq!(
        Format::from_content_type(Some("Application/JSON; charset=utf-8")).unwrap(),
        Format::Json
    );
    let err = Format::from_content_type(Some("text/plain")).unwrap_err();
    assert_eq!(err.reason(), RefusalReason::UnsupportedContentType);
    assert!(err.to_string().contains("\"text/plain\""), "{err}");
    assert!(Format::from_content_type(None).is_err());
}

#[test]
fn echoed_header_values_are_printable_and_short() {
    let hostile = format!("text/\u{1b}[31m{}", "x".repeat(500));
    let message = Format::from_content_type(Some(&hostile))
        .unwrap_err()
        .to_string();
    assert!(!message.contains('\u{1b}'));
    assert!(message.len() < 200, "{message}");
}

#[test]
fn reads_encodings() {
    assert_eq!(Encoding::from_header(None).unwrap(), Encoding::Identity);
    assert_eq!(Encoding::from_header(Some("gzip")).unwrap(), Encoding::Gzip);
    assert_eq!(Encoding::from_header(Some("zstd")).unwrap(), Encoding::Zstd);
    assert_eq!(
        Encoding::from_header(Some("br")).unwrap_err().reason(),
        RefusalReason::UnsupportedEncoding
    );
}

#[test]
fn decompresses_gzip_and_zstd() {
    let body = sample_traces();
    assert_eq!(
        &*decompress(&gzip(&body), Encoding::Gzip, 1 << 20).unwrap(),
        &body[..]
    );
    let z = zstd::encode_all(&body[..], 3).unwrap();
    assert_eq!(
        &*decompress(&z, Encoding::Zstd, 1 << 20).unwrap(),
        &body[..]
    );
}

#[test]
fn gzip_bomb_stops_at_the_limit() {
    let bomb = gzip(&vec![0u8; 32 << 20]);
    assert!(
        bomb.len() < 1 << 20,
        "a bomb is small on the wire: {}",
        bomb.len()
    );
    let err = decompress(&bomb, Encoding::Gzip, 1 << 20).unwrap_err();
    assert!(
        matches!(err, DecodeError::DecompressedTooLarge { limit } if limit == 1 << 20),
        "{err}"
    );
    assert_eq!(err.reason(), RefusalReason::DecompressedTooLarge);
}

#[test]
fn zstd_bomb_stops_at_the_limit() {
    let bomb = zstd::encode_all(&vec![0u8; 32 << 20][..], 3).unwrap();
    let err = decompress(&bomb, Encoding::Zstd, 1 << 20).unwrap_err();
    assert_eq!(err.reason(), RefusalReason::DecompressedTooLarge);
}

#[test]
fn identity_body_over_limit_is_refused() {
    let err = decompress(&[0u8; 100], Encoding::Identity, 99).unwrap_err();
    assert_eq!(err.reason(), RefusalReason::DecompressedTooLarge);
}

#[test]
fn corrupt_gzip_is_invalid_compression() {
    let mut data = gzip(&sample_traces());
    let mid = data.len() / 2;
    data[mid..].iter_mut().for_each(|b| *b ^= 0x5a);
    let err = decompress(&data, Encoding::Gzip, 1 << 20).unwrap_err();
    assert_eq!(err.reason(), RefusalReason::InvalidCompression, "{err}");
    let err = decompress(b"definitely not gzip", Encoding::Gzip, 1 << 20).unwrap_err();
    assert_eq!(err.reason(), RefusalReason::InvalidCompression, "{err}");
}

#[test]
fn garbage_and_truncated_protobuf_are_malformed() {
    let err = decode(
        Signal::Traces,
        Format::Protobuf,
        b"\xff\xff\xff\xff garbage",
    )
    .unwrap_err();
    assert_eq!(err.reason(), RefusalReason::Malformed);
    assert!(
        err.to_string()
            .starts_with("invalid protobuf ExportTraceServiceRequest"),
        "{err}"
    );
    let body = sample_traces();
    let err = decode(Signal::Traces, Format::Protobuf, &body[..body.len() / 2]).unwrap_err();
    assert_eq!(err.reason(), RefusalReason::Malformed);
}

#[test]
fn invalid_utf8_in_a_string_field_is_malformed() {
    let mut req = crate::bench::reference_traces(1, 1);
    req.resource_spans[0].scope_spans[0].spans[0].name = "MARKERMARKER".into();
    let mut body = req.encode_to_vec();
    let pos = body.windows(12).position(|w| w == b"MARKERMARKER").unwrap();
    body[pos] = 0xff;
    body[pos + 1] = 0xfe;
    let err = decode(Signal::Traces, Format::Protobuf, &body).unwrap_err();
    assert_eq!(err.reason(), RefusalReason::Malformed);
    assert!(err.to_string().contains("UTF-8"), "{err}");
}

#[test]
fn protobuf_round_trips() {
    let body = sample_traces();
    let Payload::Traces(req) = decode(Signal::Traces, Format::Protobuf, &body).unwrap() else {
        panic!()
    };
    assert_eq!(req, ExportTraceServiceRequest::decode(&body[..]).unwrap());
}

// === OTLP/JSON: the probe cases of tooling.md §1c, kept as regression tests ===

fn json(signal: Signal, text: &str) -> Result<Payload, DecodeError> {
    decode(signal, Format::Json, text.as_bytes())
}

const SPAN_JSON: &str = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"chat"}}]},
  "scopeSpans":[{"spans":[{"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"eee19b7ec3c1b174",
  "parentSpanId":"eee19b7ec3c1b173","name":"chat","kind":3,"startTimeUnixNano":"1544712660000000000","endTimeUnixNano":1544712661000000000,
  "unknownField":{"ignored":true},
  "attributes":[{"key":"s","value":{"stringValue":"x"}},{"key":"b","value":{"boolValue":true}},{"key":"i","value":{"intValue":"42"}},
    {"key":"i2","value":{"intValue":42}},{"key":"d","value":{"doubleValue":0.2}},{"key":"by","value":{"bytesValue":"aGk="}},
    {"key":"a","value":{"arrayValue":{"values":[{"stringValue":"stop"}]}}},{"key":"kv","value":{"kvlistValue":{"values":[{"key":"k","value":{"intValue":"1"}}]}}}],
  "links":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b175"}]}]}]}]}"#;

#[test]
fn json_spans_decode_every_field_form() {
    let Payload::Traces(req) = json(Signal::Traces, SPAN_JSON).unwrap() else {
        panic!()
    };
    let span = &req.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(
        span.trace_id,
        vec![
            0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f,
            0xc6, 0x0c
        ]
    );
    assert_eq!(span.kind, 3);
    assert_eq!(span.start_time_unix_nano, 1_544_712_660_000_000_000);
    assert_eq!(span.end_time_unix_nano, 1_544_712_661_000_000_000);
    assert_eq!(span.attributes.len(), 8);
    assert_eq!(span.links[0].span_id.len(), 8);
}

#[test]
fn json_invalid_hex_id_is_refused() {
    let bad = SPAN_JSON.replace("eee19b7ec3c1b174", "zzz19b7ec3c1b174");
    assert_eq!(
        json(Signal::Traces, &bad).unwrap_err().reason(),
        RefusalReason::Malformed
    );
}

#[test]
fn json_enum_by_name_is_refused_not_dropped() {
    // tooling.md §1c FAIL 1: OTLP/JSON requires integer enums.
    let bad = SPAN_JSON.replace("\"kind\":3", "\"kind\":\"SPAN_KIND_SERVER\"");
    assert_eq!(
        json(Signal::Traces, &bad).unwrap_err().reason(),
        RefusalReason::Malformed
    );
}

#[test]
fn json_null_repeated_and_nan_double_are_refused() {
    // tooling.md §1c FAIL 2 and 3: refused with 400 rather than misread.
    assert!(json(Signal::Traces, r#"{"resourceSpans":null}"#).is_err());
    let nan = SPAN_JSON.replace("\"doubleValue\":0.2", "\"doubleValue\":\"NaN\"");
    assert!(json(Signal::Traces, &nan).is_err());
}

#[test]
fn invalid_json_is_malformed() {
    let err = json(Signal::Traces, "{\"resourceSpans\":[").unwrap_err();
    assert_eq!(err.reason(), RefusalReason::Malformed);
    assert!(err.to_string().starts_with("invalid OTLP/JSON"), "{err}");
    assert!(json(Signal::Logs, "\u{0}\u{1}").is_err());
    let err = decode(
        Signal::Logs,
        Format::Json,
        b"{\"resourceLogs\":[{\"x\":\"\xff\xfe\"}]}",
    )
    .unwrap_err();
    assert!(err.to_string().contains("not valid UTF-8"), "{err}");
    assert_eq!(err.reason(), RefusalReason::Malformed);
}

#[test]
fn json_logs_keep_event_name_and_kvlist_body() {
    let text = r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"1","eventName":"gen_ai.client.inference.operation.details",
      "severityNumber":9,"body":{"kvlistValue":{"values":[{"key":"role","value":{"stringValue":"user"}}]}}}]}]}]}"#;
    let Payload::Logs(req) = json(Signal::Logs, text).unwrap() else {
        panic!()
    };
    let rec = &req.resource_logs[0].scope_logs[0].log_records[0];
    assert_eq!(rec.event_name, "gen_ai.client.inference.operation.details");
    assert!(rec.body.is_some());
}

fn metric_json(data: &str) -> String {
    format!(r#"{{"resourceMetrics":[{{"scopeMetrics":[{{"metrics":[{{"name":"m",{data}}}]}}]}}]}}"#)
}

#[test]
fn json_metrics_of_every_type_decode() {
    let cases = [
        r#""gauge":{"dataPoints":[{"asInt":"7"},{"asInt":7},{"asDouble":1.5}]}"#,
        r#""sum":{"aggregationTemporality":2,"isMonotonic":true,"dataPoints":[{"asInt":"3"}]}"#,
        r#""histogram":{"aggregationTemporality":1,"dataPoints":[{"count":"3","sum":2.5,"bucketCounts":["1",2],"explicitBounds":[1.0]}]}"#,
        r#""exponentialHistogram":{"aggregationTemporality":2,"dataPoints":[{"count":2,"scale":1,"zeroCount":"0","positive":{"offset":1,"bucketCounts":["2"]}}]}"#,
        r#""summary":{"dataPoints":[{"count":"4","sum":10.0,"quantileValues":[{"quantile":0.5,"value":2.0}]}]}"#,
    ];
    for data in cases {
        let payload =
            json(Signal::Metrics, &metric_json(data)).unwrap_or_else(|e| panic!("{data}: {e}"));
        assert!(payload.item_count() >= 1, "{data}");
    }
}

#[test]
fn json_metric_temporality_by_name_is_refused_not_dropped() {
    // tooling.md §1c FAIL 4: serde drops the whole `data` to None without an error.
    let text = metric_json(
        r#""sum":{"aggregationTemporality":"AGGREGATION_TEMPORALITY_CUMULATIVE","dataPoints":[{"asInt":"3"}]}"#,
    );
    let err = json(Signal::Metrics, &text).unwrap_err();
    assert_eq!(err.reason(), RefusalReason::Malformed);
    let message = err.to_string();
    assert!(
        message.contains("resourceMetrics[0].scopeMetrics[0].metrics[0].sum"),
        "{message}"
    );
    assert!(message.contains("aggregationTemporality"), "{message}");
}

#[test]
fn json_malformed_number_values_are_refused_not_dropped() {
    let cases = [
        (
            r#""gauge":{"dataPoints":[{"asInt":"seven"}]}"#,
            "dataPoints[0]",
        ),
        (
            r#""gauge":{"dataPoints":[{"asInt":"1"},{"asDouble":"x"}]}"#,
            "dataPoints[1]",
        ),
        (
            r#""sum":{"aggregationTemporality":2,"dataPoints":[{"asInt":"1","exemplars":[{"asInt":"bad"}]}]}"#,
            "exemplars[0]",
        ),
        (
            r#""histogram":{"aggregationTemporality":2,"dataPoints":[{"count":"1","exemplars":[{"asDouble":"bad"}]}]}"#,
            "exemplars[0]",
        ),
        (
            r#""gauge":{"dataPoints":[{"asInt":"1","attributes":[{"key":"k","value":{"intValue":"x"}}]}]}"#,
            "metrics[0]",
        ),
    ];
    for (data, at) in cases {
        match json(Signal::Metrics, &metric_json(data)) {
            Err(e) => assert!(e.to_string().contains(at), "{data}: {e}"),
            Ok(p) => panic!("{data}: accepted, lost data: {p:?}"),
        }
    }
}

#[test]
fn json_doubles_round_trip_exactly() {
    // Regression: without serde_json's float_roundtrip, 1.9000000000000001 read as 1.9
    // (found by the Python SDK end-to-end test).
    let text = metric_json(r#""gauge":{"dataPoints":[{"asDouble":1.9000000000000001}]}"#);
    let Payload::Metrics(req) = json(Signal::Metrics, &text).unwrap() else {
        panic!()
    };
    let Some(Data::Gauge(g)) = &req.resource_metrics[0].scope_metrics[0].metrics[0].data else {
        panic!()
    };
    assert_eq!(
        g.data_points[0].value,
        Some(number_data_point::Value::AsDouble(1.900_000_000_000_000_1))
    );
    assert_ne!(1.900_000_000_000_000_1f64, 1.9f64);
}

// === partial success ===

#[test]
fn invalid_span_ids_are_dropped_and_counted() {
    let mut req = crate::bench::reference_traces(4, 3);
    let spans = &mut req.resource_spans[0].scope_spans[0].spans;
    spans[0].trace_id = vec![0; 16];
    spans[1].span_id = vec![1; 7];
    let mut payload = Payload::Traces(req);
    let rejected = drop_invalid_items(&mut payload);
    assert_eq!(rejected.items, 2);
    assert!(
        rejected.message.starts_with("rejected 2 spans"),
        "{}",
        rejected.message
    );
    assert_eq!(payload.item_count(), 2);
}

#[test]
fn valid_payloads_are_untouched() {
    let mut payload = Payload::Traces(crate::bench::reference_traces(10, 3));
    let before = payload.clone();
    assert_eq!(drop_invalid_items(&mut payload), Rejected::default());
    assert_eq!(payload, before);
}
