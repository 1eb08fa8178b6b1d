//! Checking one driven emitter run: the fake OpenAI server it talks to, waiting for
//! llmwatch to drain, the expected metrics from the wire and the served-call log compared
//! with `/metrics`, and the corpus record. Shared by the JavaScript and Python emitter
//! tests and the corpus replay.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use serde_json::{Value, json};

use super::emitter_checks::{self, Check, Layout};
use super::support::{Llmwatch, lines, metric_value, spawn_announcing_port, tool};

/// llmwatch as the emitter tests run it: redaction, then the derive stages.
pub(super) const CONFIG: &str = r#"
receivers:
  otlp:
    protocols:
      grpc: { endpoint: "127.0.0.1:0" }
      http: { endpoint: "127.0.0.1:0" }
processors:
  redaction: { insecure_dev_key: true }
  genai: {}
  chat_analytics: {}
exporters:
  prometheus: { endpoint: "127.0.0.1:0" }
  file: { path: "{dir}/out.jsonl" }
service:
  pipelines:
    traces: { receivers: [otlp], processors: [redaction, genai, chat_analytics], exporters: [prometheus, file] }
    logs: { receivers: [otlp], processors: [redaction, genai, chat_analytics], exporters: [prometheus, file] }
"#;

/// The fake OpenAI server, logging every served call; stopped when dropped.
pub(super) struct FakeOpenAi {
    child: Child,
    pub(super) port: u16,
}

impl FakeOpenAi {
    pub(super) fn start(log: &Path) -> FakeOpenAi {
        // Standard library only: the SDK venv's interpreter, else python3 on PATH.
        let mut cmd = Command::new(tool("LLMWATCH_PYTHON", "python3"));
        cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/fake_openai.py"))
            .arg("--log")
            .arg(log);
        let (child, port) = spawn_announcing_port(&mut cmd, "the fake server");
        FakeOpenAi { child, port }
    }
}

impl Drop for FakeOpenAi {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Fails the test, with the driver's output, unless it exited successfully.
pub(super) fn driver_succeeded(service: &str, out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{service}: driver failed\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Waits (bounded) until every accepted item went through the pipeline.
pub(super) fn drained(lw: &Llmwatch) -> String {
    lw.metrics_when(Duration::from_secs(30), |text| {
        let count = |name, signal, extra: &[(&str, &str)]| {
            let labels: Vec<(&str, &str)> = [("signal", signal)]
                .into_iter()
                .chain(extra.iter().copied())
                .collect();
            metric_value(text, name, &labels)
        };
        count("llmwatch_receiver_accepted_items_total", "traces", &[]) > 0.0
            && ["traces", "logs"].iter().all(|s| {
                count("llmwatch_receiver_accepted_items_total", s, &[])
                    == count(
                        "llmwatch_exporter_sent_items_total",
                        s,
                        &[("exporter", "file")],
                    )
            })
    })
}

/// The served-call log entries of one run.
pub(super) fn served(log: &Path, run: &str) -> Vec<Value> {
    lines(log)
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).expect("served log line"))
        .filter(|v| v["run"] == run)
        .collect()
}

fn usage_totals<'a>(usages: impl Iterator<Item = (f64, f64, f64, f64)> + 'a) -> Value {
    let (mut calls, mut i, mut c, mut o, mut r) = (0, 0.0, 0.0, 0.0, 0.0);
    for u in usages {
        calls += 1;
        i += u.0;
        c += u.1;
        o += u.2;
        r += u.3;
    }
    json!({"calls_with_usage": calls, "input": i, "cache_read": c, "output": o, "reasoning": r})
}

/// What one emitter run is checked as.
pub(super) struct Subject<'a> {
    /// The corpus directory.
    pub name: &'a str,
    pub versions: &'a str,
    pub layout: Layout,
    /// (check, defect): checks that issue 15's defects break today.
    pub defects: &'a [(&'a str, &'a str)],
    pub reports: Reports,
}

/// How much of what the provider served an emitter puts on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Coverage {
    All,
    /// Some calls only (more than none, less than all).
    Partial,
    None,
}

/// What an emitter reports of the served calls (the README's "what it cannot report"),
/// checked against the served-call log on every run.
#[derive(Clone, Copy, Debug)]
pub(super) struct Reports {
    pub cache_read: Coverage,
    pub reasoning: Coverage,
    pub embeddings: Coverage,
    pub errors: Coverage,
}

impl Reports {
    pub(super) const ALL: Reports = Reports {
        cache_read: Coverage::All,
        reasoning: Coverage::All,
        embeddings: Coverage::All,
        errors: Coverage::All,
    };
}

fn covers(what: &str, coverage: Coverage, wire: f64, served: f64) {
    let ok = match coverage {
        Coverage::All => wire == served,
        Coverage::Partial => wire > 0.0 && wire < served,
        Coverage::None => wire == 0.0,
    };
    assert!(
        ok,
        "{what}: the wire has {wire} of the {served} served, not {coverage:?}"
    );
}

/// The served totals that `reports` describes, against the wire's.
fn assert_reports(
    service: &str,
    reports: Reports,
    served: &[Value],
    calls: &[emitter_checks::Call],
) {
    let sum = |key: &str| -> f64 { served.iter().filter_map(|v| v["usage"][key].as_f64()).sum() };
    let wire = |f: fn(&(f64, f64, f64, f64)) -> f64| -> f64 {
        calls.iter().filter_map(|c| c.usage.as_ref().map(f)).sum()
    };
    let count = |pred: &dyn Fn(&Value) -> bool| served.iter().filter(|v| pred(v)).count() as f64;
    let embeddings = count(&|v| v["kind"] == "embeddings" && v["status"] == 200);
    let errors = count(&|v| v["status"] != 200);
    let wire_embeddings = calls
        .iter()
        .filter(|c| c.operation == "embeddings" && !c.error)
        .count() as f64;
    let wire_errors = calls.iter().filter(|c| c.error).count() as f64;
    covers(
        &format!("{service} cache reads"),
        reports.cache_read,
        wire(|u| u.1),
        sum("cached"),
    );
    covers(
        &format!("{service} reasoning"),
        reports.reasoning,
        wire(|u| u.3),
        sum("reasoning"),
    );
    covers(
        &format!("{service} embeddings"),
        reports.embeddings,
        wire_embeddings,
        embeddings,
    );
    covers(
        &format!("{service} failed calls"),
        reports.errors,
        wire_errors,
        errors,
    );
}

/// Checks a finished run of `subject` (its driver exited after flushing) against
/// `/metrics`; with `record` and `LLMWATCH_RECORD_CORPUS` set, writes it to the corpus.
pub(super) fn verify(
    subject: &Subject<'_>,
    transport: &str,
    service: &str,
    lw: &Llmwatch,
    log: &Path,
    record: bool,
) {
    let text = drained(lw);
    let out = lw.dir.path("out.jsonl");
    let wire = lines(&out).join("\n");
    assert!(!wire.contains("jane.doe"), "{service}: PII forwarded");
    let served = served(log, service);
    let calls = emitter_checks::calls(subject.layout, &emitter_checks::spans(&out));
    assert_served(service, &served, &calls);
    assert_reports(service, subject.reports, &served, &calls);
    let statuses: BTreeMap<String, u16> = served
        .iter()
        .filter(|v| v["status"] != 200)
        .map(|v| {
            let status = v["status"].as_u64().unwrap_or(0);
            (
                v["model"].as_str().unwrap_or("").to_owned(),
                u16::try_from(status).unwrap_or(0),
            )
        })
        .collect();
    let checks = emitter_checks::expected(service, &calls, &statuses);
    let results = evaluate(subject.defects, service, &checks, &text);
    if record && std::env::var_os("LLMWATCH_RECORD_CORPUS").is_some() {
        let served_usage = served.iter().filter_map(|v| {
            let u = &v["usage"];
            Some((
                u["input"].as_f64()?,
                u["cached"].as_f64()?,
                u["output"].as_f64()?,
                u["reasoning"].as_f64()?,
            ))
        });
        let record = json!({
            "emitter": subject.name,
            "versions": subject.versions,
            "transport": transport,
            "service": service,
            "served": {
                "calls": served.len(),
                "errors": statuses.len(),
                "usage": usage_totals(served_usage),
            },
            "wire": {
                "calls": calls.len(),
                "errors": calls.iter().filter(|c| c.error).count(),
                "usage": usage_totals(calls.iter().filter_map(|c| c.usage)),
            },
            "checks": results,
        });
        write_corpus(subject.name, &wire, &record);
    }
}

/// Every response id on the wire was served to this run (`chatcmpl-<id>`, `resp_<id>`).
fn assert_served(service: &str, served: &[Value], calls: &[emitter_checks::Call]) {
    let ids: BTreeSet<&str> = served.iter().filter_map(|v| v["id"].as_str()).collect();
    for c in calls {
        if let Some(id) = &c.response_id {
            let bare = id.rsplit_once('_').map_or(id.as_str(), |(_, b)| b);
            let bare = bare.strip_prefix("chatcmpl-").unwrap_or(bare);
            assert!(
                ids.contains(bare),
                "{service}: {id} was not served in this run"
            );
        }
    }
}

/// Compares every check with `/metrics`; fails on a mismatch that is not a listed defect.
fn evaluate(defects: &[(&str, &str)], service: &str, checks: &[Check], text: &str) -> Vec<Value> {
    let mut failures = Vec::new();
    let mut results = Vec::new();
    for c in checks {
        let got = emitter_checks::observed(text, c);
        let defect = defects
            .iter()
            .find(|(what, _)| *what == c.what)
            .map(|(_, d)| *d);
        let ok = emitter_checks::matches(c, got);
        println!(
            "{service}: {} = {got} (expected {}){}",
            c.what,
            c.expected,
            match (ok, defect) {
                (true, Some(_)) => " [listed defect no longer shows]",
                (false, Some(_)) => " [known defect]",
                _ => "",
            }
        );
        if !ok && defect.is_none() {
            failures.push(format!("{}: expected {}, got {got}", c.what, c.expected));
        }
        results.push(emitter_checks::to_json(c, text, defect));
    }
    assert!(
        failures.is_empty(),
        "{service}: {}\n{text}",
        failures.join("\n")
    );
    results
}

fn write_corpus(name: &str, wire: &str, record: &Value) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("wire.jsonl"), format!("{wire}\n")).unwrap();
    std::fs::write(
        dir.join("expected.json"),
        serde_json::to_string_pretty(record).unwrap() + "\n",
    )
    .unwrap();
}
