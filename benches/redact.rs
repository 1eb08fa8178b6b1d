//! Throughput of the PII scanner over chatbot-sized free text (performance.md §6 prompts,
//! ~500 B): clean text, which must cost one allocation-free pass, clean text with digits,
//! which the full automaton reads, and text with PII.
//!
//! Run with `cargo bench --bench redact`. Throughput is in bytes.

use divan::counter::BytesCount;
use divan::{Bencher, black_box};
use llmwatch::redact::Scanner;

fn main() {
    divan::main();
}

const CLEAN: &str = "please summarise the quarterly report and list three risks for our marketing campaign budget next week, then draft an email to the team that explains the plan in plain words, keeps it under two hundred words, mentions the deadline on friday and the review meeting, and asks everyone to send their numbers before the end of the day so that finance can close the month without surprises or late changes to the forecast for the next quarter";
/// Clean text with digits and a colon, which the full automaton must read.
const CLEAN_WITH_TRIGGERS: &str = "please summarise the 2026 quarterly report and list 3 risks for our marketing campaign budget next week, then draft an email to the team that explains the plan in plain words: keep it under 200 words, mention the deadline on friday at 5pm and the review meeting, and ask everyone to send their numbers before the end of the day so that finance can close the month without surprises or late changes to the forecast for Q3";
const PII: &str = "hi, I'm jane, reach me at jane.doe@example.com or +1 415 555 0132; my card 4111 1111 1111 1111 was charged twice, IBAN DE89 3704 0044 0532 0130 00, and the api key sk-proj-abcdefghijklmnopqrstuvwxyz0123456789 leaked from 10.1.2.3";

#[divan::bench]
fn scan_clean_text(bencher: Bencher) {
    let scanner = Scanner::all().unwrap_or_else(|e| panic!("{e}"));
    let mut found = Vec::with_capacity(16);
    bencher
        .counter(BytesCount::new(CLEAN.len()))
        .bench_local(|| {
            found.clear();
            scanner.scan(black_box(CLEAN), &mut found);
            found.len()
        });
}

#[divan::bench]
fn scan_clean_text_with_triggers(bencher: Bencher) {
    let scanner = Scanner::all().unwrap_or_else(|e| panic!("{e}"));
    let mut found = Vec::with_capacity(16);
    bencher
        .counter(BytesCount::new(CLEAN_WITH_TRIGGERS.len()))
        .bench_local(|| {
            found.clear();
            scanner.scan(black_box(CLEAN_WITH_TRIGGERS), &mut found);
            found.len()
        });
}

#[divan::bench]
fn scan_and_mask_pii(bencher: Bencher) {
    let scanner = Scanner::all().unwrap_or_else(|e| panic!("{e}"));
    let mut found = Vec::with_capacity(16);
    bencher.counter(BytesCount::new(PII.len())).bench_local(|| {
        found.clear();
        scanner.scan(black_box(PII), &mut found);
        llmwatch::redact::mask(PII, &found).map(|s| s.len())
    });
}

/// National phone numbers of six regions, each validated against the 20 default regions'
/// metadata (the candidates that cost most).
const PHONES: &str = "call me on 030 12345678 or 020 7946 0958, my mobile is 0170/8434260, the office is (415) 555-0142, Paris 01 42 68 53 00 and Tokyo 03-1234-5678";

#[divan::bench]
fn scan_and_mask_phones(bencher: Bencher) {
    let scanner = Scanner::all().unwrap_or_else(|e| panic!("{e}"));
    let mut found = Vec::with_capacity(16);
    bencher
        .counter(BytesCount::new(PHONES.len()))
        .bench_local(|| {
            found.clear();
            scanner.scan(black_box(PHONES), &mut found);
            llmwatch::redact::mask(PHONES, &found).map(|s| s.len())
        });
}

/// Hostile text: 32 KiB of distinct phone-shaped runs after a keyword (`tel 415 023 5829, `),
/// fresh for every iteration so that no answer kept per thread is reused. Each run is
/// validated against the 20 default regions' metadata: the costliest text per byte.
#[divan::bench(sample_count = 20, sample_size = 1)]
fn scan_dense_phone_shaped_text(bencher: Bencher) {
    let scanner = Scanner::all().unwrap_or_else(|e| panic!("{e}"));
    let mut seed: u64 = 1;
    let mut found = Vec::new();
    bencher
        .counter(BytesCount::new(32usize << 10))
        .with_inputs(|| {
            let mut text = String::with_capacity(33 << 10);
            while text.len() < 32 << 10 {
                seed = seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let d = seed >> 20;
                let (a, b, c) = (d % 1000, (d / 1000) % 1000, (d / 1_000_000) % 10_000);
                text.push_str(&format!("tel {a:03} {b:03} {c:04}, "));
            }
            text
        })
        .bench_local_values(|text| {
            found.clear();
            scanner.scan(&text, &mut found);
            found.len()
        });
}

/// Decode → redact → encode of the performance.md §6 request (100 spans, 16 attributes
/// each, a ~500 B prompt with PII in one span in ten), on one core.
#[divan::bench]
fn decode_redact_encode_100_spans(bencher: Bencher) {
    use llmwatch::pipeline::Processor;
    use prost::Message;
    let body = llmwatch::bench::reference_traces(100, 42).encode_to_vec();
    let config: llmwatch::redact::RedactionConfig =
        match serde_saphyr::from_str("insecure_dev_key: true") {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
    let redactor = config
        .build(&llmwatch::redact::RedactionCounter::default(), &|_| None)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut out = Vec::with_capacity(body.len());
    bencher
        .counter(divan::counter::ItemsCount::new(100usize))
        .bench_local(|| {
            let payload = llmwatch::decode::decode_protobuf(
                llmwatch::model::Signal::Traces,
                black_box(&body),
            )
            .unwrap_or_else(|e| panic!("{e}"));
            let mut batch = llmwatch::model::Batch::new(
                payload,
                llmwatch::model::Transport::Grpc,
                body.len() as u64,
            );
            let _ = redactor.process(&mut batch);
            out.clear();
            if let llmwatch::model::Payload::Traces(req) = &batch.payload {
                let _ = req.encode(&mut out);
            }
            out.len()
        });
}

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
