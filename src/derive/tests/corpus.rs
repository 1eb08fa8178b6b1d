//! The derive stage against the old extraction on what real emitters put on the wire:
//! every span and log record of the recorded emitter corpus
//! (`tests/corpus/<emitter>/wire.jsonl`, OTLP/JSON as llmwatch's file exporter wrote it)
//! must give the call the old extraction gives, except for the bugs issues 14 and 15 name
//! ([`super::expected_from_old`], and the lines marked `issue 15` in the old copy). Once as recorded, then as a property: the same items
//! with any of their span, record and resource attributes dropped and the rest reordered.

use std::path::Path;
use std::sync::LazyLock;

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Span;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::{expected_from_old, llm, old};
use crate::decode::{Format, decode};
use crate::derive::service_name;
use crate::model::{Payload, Signal};
use crate::semconv::events::event_name;

/// One span or log record of the corpus, with its resource's attributes.
#[derive(Clone, Debug)]
enum Item {
    Span(Span),
    Log(LogRecord),
}

#[derive(Clone, Debug)]
struct Entry {
    emitter: String,
    item: Item,
    resource: Vec<KeyValue>,
}

fn entries_of(emitter: &str, payload: Payload) -> Vec<Entry> {
    let entry = |item, resource: &Option<Resource>| Entry {
        emitter: emitter.to_owned(),
        item,
        resource: resource
            .as_ref()
            .map_or_else(Vec::new, |r| r.attributes.clone()),
    };
    match payload {
        Payload::Traces(req) => req
            .resource_spans
            .iter()
            .flat_map(|rs| {
                rs.scope_spans
                    .iter()
                    .flat_map(|s| &s.spans)
                    .map(|s| entry(Item::Span(s.clone()), &rs.resource))
            })
            .collect(),
        Payload::Logs(req) => req
            .resource_logs
            .iter()
            .flat_map(|rl| {
                rl.scope_logs
                    .iter()
                    .flat_map(|s| &s.log_records)
                    .map(|r| entry(Item::Log(r.clone()), &rl.resource))
            })
            .collect(),
        Payload::Metrics(_) => Vec::new(),
    }
}

/// Every span and log record of every emitter's `wire.jsonl`, in file order.
static CORPUS: LazyLock<Vec<Entry>> = LazyLock::new(|| {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.join("wire.jsonl").is_file())
        .collect();
    dirs.sort();
    let mut entries = Vec::new();
    for dir in dirs {
        let emitter = dir
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let wire = std::fs::read_to_string(dir.join("wire.jsonl")).expect("wire.jsonl");
        for (n, line) in wire.lines().filter(|l| !l.trim().is_empty()).enumerate() {
            let signal = if line.contains("\"resourceLogs\"") {
                Signal::Logs
            } else {
                Signal::Traces
            };
            let payload = decode(signal, Format::Json, line.as_bytes())
                .unwrap_or_else(|e| panic!("{emitter} wire.jsonl line {}: {e}", n + 1));
            entries.extend(entries_of(&emitter, payload));
        }
    }
    entries
});

/// Whether the old extraction saw a call in `entry`; fails when the derive stage reads
/// it differently from the old extraction with the named bugs fixed.
fn agrees(entry: &Entry) -> Result<bool, TestCaseError> {
    let resource = &entry.resource[..];
    let service = service_name(resource);
    let (old, new, layers, reads_identity, name) = match &entry.item {
        Item::Span(span) => (
            old::from_span(span, resource, service),
            llm::from_span(span, resource, service),
            [&span.attributes[..], resource],
            true,
            span.name.as_str(),
        ),
        Item::Log(record) => (
            old::from_log(record, resource, service),
            llm::from_log(record, resource, service),
            [&record.attributes[..], resource],
            event_name(record) != Some("gen_ai.choice"),
            event_name(record).unwrap_or(""),
        ),
    };
    let saw_call = old.is_some();
    prop_assert_eq!(
        format!("{new:?}"),
        expected_from_old(old, &layers, reads_identity),
        "{}: {}",
        entry.emitter,
        name
    );
    if let Item::Span(span) = &entry.item {
        // The batch walk gives the same call as the per-span function.
        let under = crate::derive::ResourceFacts {
            attributes: resource,
            service,
            identity: crate::derive::Identity::of(&[resource]),
        };
        let facts = crate::derive::span(span, &under);
        prop_assert_eq!(
            facts.call.map(|c| c.call),
            new,
            "{}: {}",
            entry.emitter,
            name
        );
    }
    Ok(saw_call)
}

#[test]
fn every_corpus_item_derives_the_call_of_the_old_extraction() {
    let mut calls: Vec<(&str, usize)> = Vec::new();
    for entry in CORPUS.iter() {
        let saw_call = agrees(entry).unwrap_or_else(|e| panic!("{e}"));
        match calls.last_mut() {
            Some((emitter, n)) if *emitter == entry.emitter => *n += usize::from(saw_call),
            _ => calls.push((&entry.emitter, usize::from(saw_call))),
        }
    }
    // Not vacuous: the corpus is there, and every emitter in it describes calls.
    assert!(calls.len() >= 10, "emitters in tests/corpus: {calls:?}");
    for (emitter, n) in &calls {
        assert!(*n >= 3, "{emitter}: only {n} calls in its wire");
    }
}

/// `attrs` with those whose bit in `keep` is clear dropped, the rest reordered by `order`.
fn mutated(attrs: &[KeyValue], keep: &[bool], order: &[u16]) -> Vec<KeyValue> {
    let mut kept: Vec<(u16, KeyValue)> = attrs
        .iter()
        .enumerate()
        .filter(|(i, _)| keep.get(*i).copied().unwrap_or(true))
        .map(|(i, kv)| (order.get(i).copied().unwrap_or(0), kv.clone()))
        .collect();
    kept.sort_by_key(|(k, _)| *k);
    kept.into_iter().map(|(_, kv)| kv).collect()
}

/// A corpus item with some of its own and its resource's attributes dropped and the rest
/// reordered.
fn mutated_entry() -> impl Strategy<Value = Entry> {
    let bits = || prop::collection::vec(any::<bool>(), 64);
    let order = || prop::collection::vec(any::<u16>(), 64);
    (0..CORPUS.len(), bits(), order(), bits(), order()).prop_map(|(i, keep, by, rkeep, rby)| {
        let mut entry = CORPUS[i].clone();
        let own = match &mut entry.item {
            Item::Span(span) => &mut span.attributes,
            Item::Log(record) => &mut record.attributes,
        };
        *own = mutated(own, &keep, &by);
        entry.resource = mutated(&entry.resource, &rkeep, &rby);
        entry
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn corpus_items_missing_any_attributes_derive_the_call_of_the_old_extraction(
        entry in mutated_entry()
    ) {
        agrees(&entry)?;
    }
}
