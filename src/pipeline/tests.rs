use std::sync::Mutex;

use prometheus_client::registry::Registry;

use super::*;
use crate::bench::reference_traces;
use crate::decode;
use crate::export::ExportError;
use crate::model::{Payload, Transport};

/// Renames every span: stands in for the redaction processor.
struct Rename;

impl Processor for Rename {
    fn process(&self, batch: &mut Batch) -> Result<(), ProcessError> {
        if let Payload::Traces(req) = &mut batch.payload {
            for span in req
                .resource_spans
                .iter_mut()
                .flat_map(|r| &mut r.scope_spans)
                .flat_map(|s| &mut s.spans)
            {
                span.name = "[renamed]".to_owned();
            }
        }
        Ok(())
    }
}

struct Fails;

impl Processor for Fails {
    fn process(&self, _batch: &mut Batch) -> Result<(), ProcessError> {
        Err(ProcessError("cannot handle this batch".to_owned()))
    }
}

#[derive(Default)]
struct Capture(Mutex<Vec<Payload>>);

impl Exporter for Capture {
    fn export(&self, batch: &Batch) -> Result<Delivery, ExportError> {
        self.0.lock().unwrap().push(batch.payload.clone());
        Ok(Delivery::Sent)
    }
}

fn metrics() -> (Registry, Arc<OwnMetrics>) {
    let mut registry = Registry::default();
    let m = OwnMetrics::register(&mut registry, 10);
    (registry, m)
}

fn render(registry: &Registry) -> String {
    crate::metrics::exposition::render(registry, crate::metrics::exposition::Format::PrometheusText)
        .unwrap()
}

fn batch(spans: usize) -> Batch {
    Batch::new(
        Payload::Traces(reference_traces(spans, 1)),
        Transport::Grpc,
        100,
    )
}

fn names(p: &Payload) -> Vec<String> {
    let Payload::Traces(req) = p else {
        panic!("not traces")
    };
    req.resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| s.name.clone())
        .collect()
}

/// One traces pipeline with `processors`, exporting to a fresh capture.
fn traces_pipeline(
    processors: Vec<(String, Stage)>,
    m: Arc<OwnMetrics>,
) -> (Pipelines, Arc<Capture>) {
    let capture = Arc::new(Capture::default());
    let pipeline = Pipeline {
        name: "traces".into(),
        signal: Signal::Traces,
        processors,
        exporters: vec![("capture".into(), capture.clone())],
    };
    (Pipelines::new(vec![pipeline], m), capture)
}

#[test]
fn processors_run_before_exporters() {
    let (registry, m) = metrics();
    let (pipelines, capture) =
        traces_pipeline(vec![("rename".into(), Stage::Rewrite(Arc::new(Rename)))], m);
    pipelines.handle(batch(3));
    let seen = capture.0.lock().unwrap();
    assert_eq!(names(&seen[0]), vec!["[renamed]"; 3]);
    assert!(
        render(&registry).contains(
            "llmwatch_exporter_sent_items_total{exporter=\"capture\",signal=\"traces\"} 3"
        )
    );
}

#[test]
fn a_failing_processor_keeps_the_batch_from_every_exporter() {
    let (registry, m) = metrics();
    let (pipelines, capture) = traces_pipeline(
        vec![
            ("fails".into(), Stage::Rewrite(Arc::new(Fails))),
            ("rename".into(), Stage::Rewrite(Arc::new(Rename))),
        ],
        m,
    );
    pipelines.handle(batch(4));
    assert!(capture.0.lock().unwrap().is_empty());
    assert!(render(&registry).contains(
        "llmwatch_processor_dropped_items_total{component=\"fails\",signal=\"traces\"} 4"
    ));
}

#[test]
fn each_pipeline_of_a_signal_gets_its_own_copy() {
    let (_registry, m) = metrics();
    let raw = Arc::new(Capture::default());
    let renamed = Arc::new(Capture::default());
    let logs = Arc::new(Capture::default());
    let pipelines = Pipelines::new(
        vec![
            Pipeline {
                name: "traces/raw".into(),
                signal: Signal::Traces,
                processors: vec![],
                exporters: vec![("raw".into(), raw.clone())],
            },
            Pipeline {
                name: "traces/renamed".into(),
                signal: Signal::Traces,
                processors: vec![("rename".into(), Stage::Rewrite(Arc::new(Rename)))],
                exporters: vec![("renamed".into(), renamed.clone())],
            },
            Pipeline {
                name: "logs".into(),
                signal: Signal::Logs,
                processors: vec![],
                exporters: vec![("logs".into(), logs.clone())],
            },
        ],
        m,
    );
    pipelines.handle(batch(2));
    assert_eq!(
        names(&raw.0.lock().unwrap()[0]),
        vec!["chat gpt-4o-mini"; 2]
    );
    assert_eq!(names(&renamed.0.lock().unwrap()[0]), vec!["[renamed]"; 2]);
    assert!(logs.0.lock().unwrap().is_empty());
}

fn job(
    body: Vec<u8>,
) -> (
    Job,
    tokio::sync::oneshot::Receiver<Result<crate::model::Accepted, crate::model::Refusal>>,
) {
    let (reply, answer) = tokio::sync::oneshot::channel();
    let job = Job {
        signal: Signal::Traces,
        transport: Transport::Grpc,
        format: decode::Format::Protobuf,
        encoding: decode::Encoding::Identity,
        body: body.into(),
        max_decompressed: 1 << 20,
        reply,
    };
    (job, answer)
}

#[test]
fn workers_decode_answer_and_export_on_every_core() {
    use prost::Message;
    let (registry, m) = metrics();
    let capture = Arc::new(Capture::default());
    let pipelines = Arc::new(Pipelines::new(
        vec![Pipeline {
            name: "traces".into(),
            signal: Signal::Traces,
            processors: vec![],
            exporters: vec![("capture".into(), capture.clone())],
        }],
        m,
    ));
    let queue = Arc::new(JobQueue::new(1 << 30));
    let workers = spawn_workers(2, Arc::clone(&queue), pipelines).unwrap();
    let mut answers = Vec::new();
    for _ in 0..50 {
        let body = reference_traces(5, 1).encode_to_vec();
        let (j, answer) = job(body);
        let len = j.body.len() as u64;
        queue.push(j, len).map_err(|_| "full").unwrap();
        answers.push(answer);
    }
    let (garbage, garbage_answer) = job(b"\xff\xffnot protobuf".to_vec());
    queue.push(garbage, 16).map_err(|_| "full").unwrap();
    queue.close();
    for w in workers {
        w.join().unwrap();
    }
    for a in answers {
        let accepted = a.blocking_recv().unwrap().unwrap();
        assert_eq!(accepted.rejected_items, 0);
    }
    let refusal = garbage_answer.blocking_recv().unwrap().unwrap_err();
    assert_eq!(refusal.reason, crate::model::RefusalReason::Malformed);
    assert!(
        refusal.message.starts_with("invalid protobuf"),
        "{}",
        refusal.message
    );
    assert_eq!(capture.0.lock().unwrap().len(), 50);
    let text = render(&registry);
    assert!(
        text.contains(
            "llmwatch_exporter_sent_items_total{exporter=\"capture\",signal=\"traces\"} 250"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "llmwatch_receiver_accepted_items_total{signal=\"traces\",transport=\"grpc\"} 250"
        ),
        "{text}"
    );
    assert!(text.contains("llmwatch_receiver_refused_requests_total{signal=\"traces\",transport=\"grpc\",reason=\"malformed\"} 1"), "{text}");
}
