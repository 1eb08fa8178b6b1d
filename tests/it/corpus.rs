//! The recorded corpus: for each tested emitter, what it put on the wire
//! (`tests/corpus/<emitter>/wire.jsonl`: OTLP/JSON as llmwatch's file exporter wrote it,
//! so already redacted) and the metrics expected from it (`expected.json`, written by
//! `js_clients` with `LLMWATCH_RECORD_CORPUS=1`). Each is replayed into the binary over
//! OTLP/HTTP JSON on 127.0.0.1, with no npm, no Python and no fake provider, and every
//! check recorded as `correct` must hold again: a change to the derive stage that breaks
//! one emitter fails here in seconds. The checks recorded as `wrong` are the open defects
//! (issue 15), kept for the fix to assert: `LLMWATCH_CORPUS_ALL=1` asserts them too, and
//! lists those still wrong. Timestamps move to now, durations unchanged.
//!
//! When a fix makes a `wrong` check hold, `LLMWATCH_CORPUS_UPDATE=1` records it as
//! `correct` (with the value observed in the replay), so that the plain run asserts it
//! from then on; it never changes an expected value, and never records a check as wrong.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::emitter_checks::{self, Check};
use super::emitter_verify::{CONFIG, drained};
use super::support::{Llmwatch, http_request, lines};

const TIME_KEYS: [&str; 4] = [
    "startTimeUnixNano",
    "endTimeUnixNano",
    "timeUnixNano",
    "observedTimeUnixNano",
];

fn corpus_dirs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("expected.json").is_file())
        .collect();
    dirs.sort();
    dirs
}

/// Calls `f` on every timestamp field of `v`.
fn each_time(v: &mut Value, f: &mut impl FnMut(&mut Value)) {
    match v {
        Value::Object(map) => {
            for (k, x) in map.iter_mut() {
                if TIME_KEYS.contains(&k.as_str()) {
                    f(x);
                } else {
                    each_time(x, f);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| each_time(x, f)),
        _ => {}
    }
}

fn nanos(v: &Value) -> u64 {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// The recorded requests, with every timestamp moved so that the latest is now.
fn rebased(wire: &Path) -> Vec<Value> {
    let mut requests: Vec<Value> = lines(wire)
        .iter()
        .map(|l| serde_json::from_str(l).expect("corpus line"))
        .collect();
    let mut latest = 0;
    for r in &mut requests {
        each_time(r, &mut |t| latest = latest.max(nanos(t)));
    }
    let now = u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    )
    .unwrap();
    let shift = now.saturating_sub(latest);
    for r in &mut requests {
        each_time(r, &mut |t| {
            let n = nanos(t);
            if n > 0 {
                *t = Value::String((n + shift).to_string());
            }
        });
    }
    requests
}

fn check_of(v: &Value) -> Check {
    Check {
        what: v["what"].as_str().unwrap().to_owned(),
        metric: v["metric"].as_str().unwrap().to_owned(),
        labels: v["labels"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, x)| (k.clone(), x.as_str().unwrap().to_owned()))
            .collect(),
        expected: v["expected"].as_f64().unwrap(),
    }
}

/// Sends the emitter's recorded requests, rebased to now, each over OTLP/HTTP JSON.
fn send_wire(lw: &Llmwatch, name: &str, wire: &Path) {
    for request in rebased(wire) {
        let path = if request.get("resourceLogs").is_some() {
            "/v1/logs"
        } else {
            "/v1/traces"
        };
        let body = serde_json::to_vec(&request).unwrap();
        let r = http_request(
            lw.http(),
            "POST",
            path,
            &[("content-type", "application/json")],
            &body,
        );
        assert_eq!(r.status, 200, "{name}: {path} refused: {}", r.text());
    }
}

/// Replays one emitter; returns how many checks recorded as correct were checked, and
/// the checks that do not hold (`LLMWATCH_CORPUS_ALL`: the wrong ones too).
fn replay(dir: &Path, all: bool) -> (usize, Vec<String>) {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let lw = Llmwatch::start(CONFIG);
    send_wire(&lw, &name, &dir.join("wire.jsonl"));
    let text = drained(&lw);
    let mut failures = agent_failures(&name, &dir.join("wire.jsonl"), &text);
    let mut correct = 0;
    let update = std::env::var_os("LLMWATCH_CORPUS_UPDATE").is_some();
    let mut expected = expected;
    let mut fixed = 0;
    for v in expected["checks"].as_array_mut().unwrap() {
        let was_correct = v["status"] == "correct";
        if !was_correct && !all && !update {
            continue;
        }
        let c = check_of(v);
        let got = emitter_checks::observed(&text, &c);
        let holds = emitter_checks::matches(&c, got);
        if update && holds && !was_correct {
            *v = emitter_checks::to_json(&c, &text, None);
            fixed += 1;
        }
        if !was_correct && !all {
            continue;
        }
        if !holds {
            let how = if was_correct {
                "regressed"
            } else {
                "still wrong"
            };
            failures.push(format!(
                "{name}: {} {how}: expected {}, got {got}\n{}",
                c.what,
                c.expected,
                self_metrics(&text)
            ));
        }
        correct += usize::from(was_correct);
    }
    if fixed > 0 {
        let path = dir.join("expected.json");
        let mut json = serde_json::to_string_pretty(&expected).unwrap();
        json.push('\n');
        std::fs::write(&path, json).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        eprintln!("{name}: {fixed} checks now correct, recorded");
    }
    (correct, failures)
}

/// The self-metrics that say where a call or a conversation went: a failed check
/// prints them, so that a failure seen once can be explained.
fn self_metrics(text: &str) -> String {
    const PREFIXES: [&str; 9] = [
        "llm_requests_total",
        "llmwatch_redactions_total",
        "llmwatch_processor_dropped",
        "llmwatch_identity_inheritance",
        "llmwatch_genai_deduplicated",
        "llmwatch_metric_overflow",
        "llmwatch_receiver_",
        "llmwatch_exporter_sent",
        "chat_conversations",
    ];
    text.lines()
        .filter(|l| PREFIXES.iter().any(|p| l.starts_with(p)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A string attribute of an OTLP/JSON span.
fn attr<'a>(span: &'a Value, key: &str) -> Option<&'a str> {
    span["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)?["value"]["stringValue"]
        .as_str()
}

/// Tool calls and agent invocations (issue 15, item 3), counted from the wire as the
/// emitters document them (`execute_tool` and `invoke_agent` spans, the AI SDK's
/// `ai.toolCall`), by service, family and outcome, against what llmwatch reports.
fn agent_failures(name: &str, wire: &Path, text: &str) -> Vec<String> {
    use std::collections::BTreeMap;
    let mut expected: BTreeMap<(String, &str, &str), f64> = BTreeMap::new();
    for line in lines(wire) {
        let request: Value = serde_json::from_str(&line).unwrap();
        for rs in request["resourceSpans"].as_array().into_iter().flatten() {
            let service = attr(&rs["resource"], "service.name").unwrap_or_default();
            for span in rs["scopeSpans"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|ss| ss["spans"].as_array().into_iter().flatten())
            {
                let family = match (attr(span, "gen_ai.operation.name"), span["name"].as_str()) {
                    (Some("execute_tool"), _) | (None, Some("ai.toolCall")) => {
                        "llm_tool_calls_total"
                    }
                    (Some("invoke_agent"), _) => "llm_agent_invocations_total",
                    _ => continue,
                };
                let outcome = if span["status"]["code"] == 2 {
                    "error"
                } else {
                    "success"
                };
                *expected
                    .entry((service.to_owned(), family, outcome))
                    .or_default() += 1.0;
            }
        }
    }
    let mut failures = Vec::new();
    let services: std::collections::BTreeSet<String> =
        expected.keys().map(|k| k.0.clone()).collect();
    for service in services {
        for family in ["llm_tool_calls_total", "llm_agent_invocations_total"] {
            for outcome in ["success", "error"] {
                let want = expected
                    .get(&(service.clone(), family, outcome))
                    .copied()
                    .unwrap_or(0.0);
                let labels = [("service", service.as_str()), ("outcome", outcome)];
                let got = super::support::metric_value(text, family, &labels);
                if got != want {
                    failures.push(format!(
                        "{name}: {family}{{service={service},outcome={outcome}}}: expected {want}, got {got}"
                    ));
                }
            }
        }
    }
    failures
}

#[test]
fn every_recorded_emitter_replays_to_its_expected_metrics() {
    let dirs = corpus_dirs();
    assert!(!dirs.is_empty(), "tests/corpus holds no emitter");
    let all = std::env::var_os("LLMWATCH_CORPUS_ALL").is_some();
    let mut failures = Vec::new();
    for dir in dirs {
        let (checked, failed) = replay(&dir, all);
        assert!(checked >= 10, "{}: only {checked} checks", dir.display());
        failures.extend(failed);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
