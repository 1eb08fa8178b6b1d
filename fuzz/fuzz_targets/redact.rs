//! The redaction processor with its default detectors: the input, as text, is a log body and
//! attribute values; decoded as OTLP/protobuf logs, it is also redacted as sent.

use llmwatch::decode::{self, Format};
use llmwatch::model::{Batch, Payload, Signal, Transport};
use llmwatch::pipeline::Processor;
use llmwatch::redact::{RedactionConfig, RedactionCounter};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};

fn text_request(text: &str) -> ExportLogsServiceRequest {
    let value = |s: &str| {
        Some(AnyValue {
            value: Some(any_value::Value::StringValue(s.to_owned())),
        })
    };
    let attribute = |k: &str| KeyValue {
        key: k.to_owned(),
        value: value(text),
        ..Default::default()
    };
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    body: value(text),
                    attributes: vec![attribute("user.email"), attribute("gen_ai.prompt"), attribute("x")],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn main() {
    let config: RedactionConfig =
        serde_json::from_value(serde_json::json!({ "insecure_dev_key": true })).expect("config");
    // A panic ends the run as a crash, so the state it leaves behind is never reused.
    let redactor = std::panic::AssertUnwindSafe(
        config
            .build(&RedactionCounter::default(), &|_| None)
            .expect("redactor"),
    );
    afl::fuzz!(|data: &[u8]| {
        let text = String::from_utf8_lossy(data);
        let mut batch = Batch::new(Payload::Logs(text_request(&text)), Transport::Grpc, 0);
        let _ = redactor.process(&mut batch);
        if let Ok(payload) = decode::decode(Signal::Logs, Format::Protobuf, data) {
            let mut batch = Batch::new(payload, Transport::Grpc, 0);
            let _ = redactor.process(&mut batch);
        }
    });
}
