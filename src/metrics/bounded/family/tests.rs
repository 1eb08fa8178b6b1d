use prometheus_client::metrics::counter::Counter;

use super::super::{OverflowCounter, OverflowLabels};
use super::*;

fn family(limit: usize) -> Family<Counter> {
    Family::new(
        "test_requests",
        "Requests.",
        None,
        vec!["model".to_owned(), "type".to_owned()],
        &["type"],
        limit,
        Counter::default,
    )
}

/// The count of the series of `values` as `/metrics` renders it: from the family's map,
/// not through a thread's index, so that a series recorded into but not in the map shows.
fn value(f: &Family<Counter>, values: &[&str]) -> u64 {
    let map = f.map.lock().unwrap();
    map.buckets
        .values()
        .flatten()
        .filter(|s| s.is(values))
        .map(|s| s.metric.get())
        .sum()
}

fn overflowed(o: &OverflowCounter) -> u64 {
    o.0.get_or_create(&OverflowLabels::for_family("test_requests"))
        .get()
}

#[test]
fn threads_recording_into_shared_series_lose_no_increment() {
    let f = family(100);
    let o = OverflowCounter::default();
    std::thread::scope(|s| {
        for t in 0..4 {
            let (f, o) = (&f, &o);
            s.spawn(move || {
                for i in 0..20_000u64 {
                    let model = format!("m{}", (i + t) % 10);
                    f.with(&[&model, "input"], 1, o, |c| {
                        c.inc();
                    });
                }
            });
        }
    });
    let total: u64 = (0..10)
        .map(|m| value(&f, &[&format!("m{m}"), "input"]))
        .sum();
    assert_eq!(total, 80_000);
    assert_eq!(f.len(), 10);
    assert_eq!(overflowed(&o), 0);
}

#[test]
fn past_the_limit_open_labels_fold_and_every_fold_is_counted() {
    let f = family(2);
    let o = OverflowCounter::default();
    for model in ["a", "b", "c", "c", "d"] {
        f.with(&[model, "input"], 1, &o, |c| {
            c.inc();
        });
    }
    // c, c and d went to `other`, keeping their closed `type`; each fold counted, the
    // second c too (a folded value is never remembered as its own series).
    assert_eq!(overflowed(&o), 3);
    assert_eq!(f.len(), 3);
    assert_eq!(value(&f, &[OTHER, "input"]), 3);
    assert_eq!(value(&f, &["a", "input"]), 1);
    // A value with its own series, recorded again through the thread's index, is no fold.
    f.with(&["a", "input"], 1, &o, |c| {
        c.inc();
    });
    assert_eq!(value(&f, &["a", "input"]), 2);
    assert_eq!(overflowed(&o), 3);
}

#[test]
fn an_expired_series_is_made_afresh_on_every_thread_that_had_it() {
    let f = family(100);
    let o = OverflowCounter::default();
    let record = |now| {
        f.with(&["a", "input"], now, &o, |c| {
            c.inc();
        })
    };
    // Two threads index the series.
    record(1);
    std::thread::scope(|s| {
        s.spawn(|| record(1));
    });
    assert_eq!(value(&f, &["a", "input"]), 2);
    // Recorded at 1, so gone when the oldest kept is 2.
    f.expire(2);
    assert_eq!(f.len(), 0);
    record(3);
    std::thread::scope(|s| {
        s.spawn(|| record(3));
    });
    assert_eq!(f.len(), 1);
    assert_eq!(value(&f, &["a", "input"]), 2);
    // Recorded at 3: kept.
    f.expire(3);
    assert_eq!(f.len(), 1);
}

#[test]
fn under_concurrent_expiry_every_increment_is_in_a_held_or_an_expired_series() {
    // Recorders stamp each increment with a clock the expirer moves on, and the expirer
    // keeps only what was touched in the last tick, so series go and come back all the
    // time. Every increment must land in a series still held or in one expiry removed
    // (whose counts go with it, as they always have): none into a series nobody has.
    let f = family(1000);
    let o = OverflowCounter::default();
    let clock = AtomicU64::new(1);
    let counted = AtomicU64::new(0);
    let removed: Mutex<Vec<Arc<Series<Counter>>>> = Mutex::default();
    let done = std::sync::atomic::AtomicBool::new(false);
    let all = |f: &Family<Counter>| -> Vec<Arc<Series<Counter>>> {
        let map = f.map.lock().unwrap();
        map.buckets.values().flatten().cloned().collect()
    };
    std::thread::scope(|s| {
        let recorders: Vec<_> = (0..2u64)
            .map(|t| {
                let (f, o, clock, counted) = (&f, &o, &clock, &counted);
                s.spawn(move || {
                    for i in 0..50_000u64 {
                        let model = format!("m{}", (i * 7 + t) % 5);
                        let now = clock.load(Ordering::Acquire);
                        f.with(&[&model, "input"], now, o, |c| {
                            c.inc();
                        });
                        counted.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        let (f, clock, removed, done) = (&f, &clock, &removed, &done);
        s.spawn(move || {
            while !done.load(Ordering::Acquire) {
                let now = clock.fetch_add(1, Ordering::AcqRel) + 1;
                let gone = f.take_expired(now - 1);
                removed.lock().unwrap().extend(gone);
                std::thread::yield_now();
            }
        });
        for r in recorders {
            r.join().unwrap();
        }
        done.store(true, Ordering::Release);
    });
    let removed = removed.into_inner().unwrap();
    assert!(!removed.is_empty(), "the expirer never removed a series");
    let held = |f: &Family<Counter>| all(f).iter().map(|s| s.metric.get()).sum::<u64>();
    let gone: u64 = removed.iter().map(|s| s.metric.get()).sum();
    assert_eq!(held(&f) + gone, counted.load(Ordering::Relaxed));
    // After the last expiry, what is recorded is held again.
    let now = clock.load(Ordering::Acquire) + 10;
    f.expire(now);
    assert_eq!(f.len(), 0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for m in 0..5 {
                    f.with(&[&format!("m{m}"), "input"], now, &o, |c| {
                        c.inc();
                    });
                }
            });
        }
    });
    assert_eq!(held(&f), 10);
}
