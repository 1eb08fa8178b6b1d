//! The key-rule cache: attribute keys repeat in every span, so the globs run once per key.
//! Bounded in bytes: a key longer than [`MAX_KEY_BYTES`] is never cached, and once the keys
//! held reach [`MAX_BYTES`] new ones are computed each time, so hostile key names cannot
//! grow it. foldhash with a per-process seed: SipHash was 6% of a redaction pass.

use std::collections::HashMap;

use foldhash::fast::RandomState;

use super::processor::KeyRule;

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
}
