//! The key-rule cache: attribute keys repeat in every span, so the globs run once per key.
//! Bounded in bytes: a key longer than [`MAX_KEY_BYTES`] is never cached, and once the keys
//! held reach [`MAX_BYTES`] new ones are computed each time, so hostile key names cannot
//! grow it. foldhash with a per-process seed: SipHash was 6% of a redaction pass.
//!
//! Each thread keeps its own caches ([`PerThread`]), one per redactor it ran: a lookup
//! takes no lock and writes no shared cache line. Behind one `RwLock`, the reader count
//! bounced between the two cores on every attribute (5% of the full pipeline's samples).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use foldhash::fast::RandomState;

use super::processor::KeyRule;

/// The most redactors a thread keeps caches for; the one it ran longest ago is dropped
/// for a new one (a config reload builds new redactors; the old ones' caches go this way).
const REDACTORS_PER_THREAD: usize = 4;

thread_local! {
    static CACHES: RefCell<Vec<(u64, RuleCache)>> = const { RefCell::new(Vec::new()) };
}

/// One redactor's rule caches, one per thread that runs it: at most [`MAX_BYTES`] of keys
/// per thread, and the threads that run processors are the pipeline workers.
pub(crate) struct PerThread {
    id: u64,
}

impl Default for PerThread {
    fn default() -> PerThread {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        PerThread {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
        }
    }
}

impl PerThread {
    /// The rule of `key` from this thread's cache, else `compute`d and remembered.
    pub(super) fn get_or(&self, key: &str, compute: impl FnOnce() -> KeyRule) -> KeyRule {
        CACHES.with(|caches| {
            let mut caches = caches.borrow_mut();
            let at = match caches.iter().rposition(|(id, _)| *id == self.id) {
                Some(at) => at,
                None => {
                    if caches.len() >= REDACTORS_PER_THREAD {
                        caches.remove(0);
                    }
                    caches.push((self.id, RuleCache::default()));
                    caches.len() - 1
                }
            };
            // The most recently used last: it is found first next time, and dropped last.
            let last = caches.len() - 1;
            if at != last {
                let entry = caches.remove(at);
                caches.push(entry);
            }
            let cache = &mut caches[last].1;
            if let Some(rule) = cache.get(key) {
                return rule;
            }
            let rule = compute();
            cache.insert(key, rule);
            rule
        })
    }
}

/// The longest key that is cached.
pub(super) const MAX_KEY_BYTES: usize = 256;
/// The most key bytes (plus a per-entry overhead) the cache holds.
pub(super) const MAX_BYTES: usize = 256 * 1024;
/// What one entry costs besides its key's bytes: the map slot and the `String` header.
const ENTRY_OVERHEAD: usize = 48;

/// Rules by key, bounded in bytes.
#[derive(Default)]
pub(crate) struct RuleCache {
    rules: HashMap<String, KeyRule, RandomState>,
    bytes: usize,
}

impl RuleCache {
    pub(super) fn get(&self, key: &str) -> Option<KeyRule> {
        self.rules.get(key).copied()
    }

    /// Remembers `rule` for `key`, when the key is short enough and the cache has room.
    pub(super) fn insert(&mut self, key: &str, rule: KeyRule) {
        let cost = key.len() + ENTRY_OVERHEAD;
        if key.len() > MAX_KEY_BYTES || self.bytes + cost > MAX_BYTES {
            return;
        }
        if self.rules.insert(key.to_owned(), rule).is_none() {
            self.bytes += cost;
        }
    }

    /// The bytes the cached keys take, overhead included.
    #[cfg(test)]
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_keys_are_not_cached_and_the_total_is_bounded() {
        let mut cache = RuleCache::default();
        cache.insert(&"k".repeat(MAX_KEY_BYTES + 1), KeyRule::Scan);
        assert_eq!(cache.bytes(), 0);
        assert!(cache.get(&"k".repeat(MAX_KEY_BYTES + 1)).is_none());
        for i in 0..100_000 {
            cache.insert(&format!("{i:0>200}"), KeyRule::Scan);
        }
        assert!(cache.bytes() <= MAX_BYTES, "{}", cache.bytes());
        assert!(cache.bytes() > MAX_BYTES - MAX_KEY_BYTES - ENTRY_OVERHEAD);
        cache.insert("user.id", KeyRule::UserId);
        assert!(cache.bytes() <= MAX_BYTES);
    }

    #[test]
    fn each_redactor_has_its_own_cache_on_each_thread_and_a_thread_keeps_a_few() {
        let caches: Vec<PerThread> = (0..REDACTORS_PER_THREAD + 1)
            .map(|_| PerThread::default())
            .collect();
        let computed = std::cell::Cell::new(0);
        let rule = |c: &PerThread, r: KeyRule| {
            c.get_or("user.id", || {
                computed.set(computed.get() + 1);
                r
            })
        };
        assert_eq!(rule(&caches[0], KeyRule::UserId), KeyRule::UserId);
        assert_eq!(rule(&caches[1], KeyRule::Scan), KeyRule::Scan);
        // Remembered per redactor: the second answer is not computed, nor mixed up.
        assert_eq!(rule(&caches[0], KeyRule::Block), KeyRule::UserId);
        assert_eq!(rule(&caches[1], KeyRule::Block), KeyRule::Scan);
        assert_eq!(computed.get(), 2);
        // Another thread computes its own.
        std::thread::scope(|s| {
            s.spawn(|| {
                assert_eq!(
                    caches[0].get_or("user.id", || KeyRule::Allow),
                    KeyRule::Allow
                )
            });
        });
        // A fifth redactor on this thread drops the cache used longest ago (`caches[0]`'s).
        for c in &caches[2..] {
            rule(c, KeyRule::Scan);
        }
        assert_eq!(rule(&caches[1], KeyRule::Allow), KeyRule::Scan);
        assert_eq!(rule(&caches[0], KeyRule::Block), KeyRule::Block);
        assert_eq!(computed.get(), 2 + REDACTORS_PER_THREAD - 1 + 1);
        CACHES.with(|c| assert_eq!(c.borrow().len(), REDACTORS_PER_THREAD));
    }
}
