//! The price-table key each (provider, model) name resolves to, remembered: names repeat
//! in every span, so matching runs once per name.
//!
//! Sharded by name, so workers pricing different models rarely meet on a lock, and
//! bounded in bytes: names longer than [`NAME_BYTES`] are matched every time and never
//! stored, and each shard keeps at most [`SHARD_NAMES`] names.

use std::hash::BuildHasher;
use std::sync::{PoisonError, RwLock};

use foldhash::fast::FixedState;

/// Shards; a power of two.
const SHARDS: usize = 8;

/// Names remembered per shard.
pub(crate) const SHARD_NAMES: usize = 512;

/// The longest provider or model name remembered.
pub(crate) const NAME_BYTES: usize = 128;

/// The most bytes the cache holds: per entry, the provider and model names and the
/// table key (each at most [`NAME_BYTES`]; table keys are shorter than the names that
/// resolve to them), plus the table's slot and control byte, with its spare buckets.
pub const MAX_BYTES: usize = {
    let buckets = (SHARD_NAMES * 8 / 7).next_power_of_two();
    SHARDS * (buckets * (size_of::<Entry>() + 1) + SHARD_NAMES * 3 * NAME_BYTES)
};

/// (provider, model).
type Names = (Box<str>, Box<str>);
/// One remembered match: the names and the table key, if any.
type Entry = (Names, Option<Box<str>>);
/// (provider, model) → table key.
type Map = std::collections::HashMap<Names, Option<Box<str>>, FixedState>;

/// The remembered matches.
#[derive(Default)]
pub struct Matches {
    shards: [RwLock<Map>; SHARDS],
}

impl Matches {
    fn shard(provider: &str, model: &str) -> usize {
        FixedState::default().hash_one((provider, model)) as usize % SHARDS
    }

    /// The table key of `model` from `provider`, resolved by `resolve` the first time.
    pub fn get_or_resolve(
        &self,
        provider: &str,
        model: &str,
        resolve: impl FnOnce() -> Option<String>,
    ) -> Option<Box<str>> {
        let cacheable = provider.len() <= NAME_BYTES && model.len() <= NAME_BYTES;
        if !cacheable {
            return resolve().map(String::into_boxed_str);
        }
        let shard = &self.shards[Matches::shard(provider, model)];
        let key: Names = (provider.into(), model.into());
        if let Some(hit) = shard
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return hit.clone();
        }
        let found = resolve().map(String::into_boxed_str);
        let short = found.as_ref().is_none_or(|k| k.len() <= NAME_BYTES);
        let mut map = shard.write().unwrap_or_else(PoisonError::into_inner);
        if short && map.len() < SHARD_NAMES {
            map.insert(key, found.clone());
        }
        found
    }

    /// Bytes the cache holds now.
    pub fn bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let map = s.read().unwrap_or_else(PoisonError::into_inner);
                map.capacity() * (size_of::<Entry>() + 1)
                    + map
                        .iter()
                        .map(|((p, m), k)| p.len() + m.len() + k.as_ref().map_or(0, |k| k.len()))
                        .sum::<usize>()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_stays_within_its_byte_bound_and_still_answers() {
        let m = Matches::default();
        let long = "m".repeat(10_000);
        for i in 0..20_000 {
            let model = if i % 2 == 0 {
                format!("{long}{i}")
            } else {
                format!("model-{i}")
            };
            let got = m.get_or_resolve("openai", &model, || Some(format!("key-{}", i % 7)));
            assert_eq!(got.as_deref(), Some(format!("key-{}", i % 7).as_str()));
        }
        let bytes = m.bytes();
        assert!(bytes > 0 && bytes <= MAX_BYTES, "{bytes} > {MAX_BYTES}");
        // A remembered answer is served without resolving again.
        assert_eq!(
            m.get_or_resolve("openai", "model-1", || unreachable!("cached"))
                .as_deref(),
            Some("key-1")
        );
    }
}
