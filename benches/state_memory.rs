//! Memory of the analytics state at its configured limits, measured as the growth of
//! this process's resident set while each kind of state is filled (mimalloc, as in the
//! binary). Run with `cargo bench --bench state_memory`; prints one line per kind.

#![allow(clippy::print_stdout)] // The figures are the output.

use std::sync::Arc;

use llmwatch::analytics::state::Shared;
use llmwatch::analytics::{AnalyticsConfig, AnalyticsSlot};
use llmwatch::metrics::bounded::OverflowCounter;
use llmwatch::model::{Batch, Payload, Transport};
use llmwatch::pipeline::Processor;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn kv(k: &str, v: String) -> KeyValue {
    KeyValue {
        key: k.to_owned(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(v)),
        }),
        ..Default::default()
    }
}

fn events(name: &str, users: std::ops::Range<u32>, extra: &dyn Fn(u32) -> Vec<KeyValue>) -> Batch {
    let records = users
        .map(|i| LogRecord {
            event_name: name.to_owned(),
            attributes: [
                vec![kv(
                    "user.id",
                    format!("{:016x}", u64::from(i) * 0x9e37_79b9),
                )],
                extra(i),
            ]
            .concat(),
            ..Default::default()
        })
        .collect();
    Batch::new(
        Payload::Logs(ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                scope_logs: vec![ScopeLogs {
                    log_records: records,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }),
        Transport::Grpc,
        0,
    )
}

/// Runs `f` and prints how much the resident set grew, as `what`.
fn measure_rss(what: &str, f: &mut dyn FnMut()) {
    let before = rss_kib();
    f();
    let after = rss_kib();
    println!("{what:<58} {:>8} KiB", after.saturating_sub(before));
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let shared = Arc::new(Shared::default());
    let config: AnalyticsConfig = serde_saphyr::from_str("{}").unwrap_or_else(|e| panic!("{e}"));
    let p = config
        .build(
            &AnalyticsSlot::default(),
            &OverflowCounter::default(),
            &shared,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    // Unique users: the four default segments (all, authenticated, guest, tier) plus new,
    // each 54 sub-sketches of 1024 registers.
    measure_rss("user sketches, 5 segments at hll_precision 10", &mut || {
        let mut b = events("message_sent", 0..1000, &|i| {
            vec![
                kv("user.is_guest", (i % 2 == 0).to_string()),
                kv("user.tier", "pro".to_owned()),
                kv("user.is_new", "true".to_owned()),
            ]
        });
        let _ = p.process(&mut b);
    });
    measure_rss(
        "conversations, 10,000 open (the default max_conversations)",
        &mut || {
            for chunk in 0..10 {
                let mut b = events("message_sent", chunk * 1000..(chunk + 1) * 1000, &|i| {
                    vec![kv("session.id", format!("conversation-{i:010}"))]
                });
                let _ = p.process(&mut b);
            }
        },
    );
    measure_rss(
        "funnel progress, 10,000 users (the default max_funnel_users)",
        &mut || {
            for chunk in 0..10 {
                let mut b = events(
                    "chat_opened",
                    20_000 + chunk * 1000..20_000 + (chunk + 1) * 1000,
                    &|_| Vec::new(),
                );
                let _ = p.process(&mut b);
            }
        },
    );
    measure_rss(
        "top users, one day's summary at top_k 10 (100 counters)",
        &mut || {
            for i in 0..10_000u32 {
                shared.add_cost(&format!("{:016x}", u64::from(i) * 0x9e37_79b9), 0.001);
            }
        },
    );
    println!("open conversations: {}", shared.open_conversations());
}
