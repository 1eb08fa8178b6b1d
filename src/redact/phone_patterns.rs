//! libphonenumber's patterns, compiled once per country for ASCII digits.
//!
//! The `phonenumber` crate compiles a metadata pattern on first use into one cache of
//! 100 entries shared behind a mutex, with Unicode classes (`\d` is every script's
//! digits). Validating a national candidate against the 20 default regions asks for more
//! patterns than that, so the cache thrashed: most of the time went to recompiling, about
//! 0.7 ms a candidate, and a compiled pattern took about 120 KiB.
//!
//! Here the cache is sized to hold every pattern parsing and validation read, and before
//! the crate reads a country's metadata its patterns are put in the cache compiled without
//! Unicode (candidates are ASCII digits, so matching is the same; the crate finds them
//! there and compiles none of its own). A candidate then costs about 15 µs, and memory
//! grows only with the countries seen: about 6 MiB for the default regions, 25 MiB once
//! numbers of every country have been validated (1,303 patterns; measured on
//! libphonenumber's example numbers of all 245 regions, national, international and with
//! an `00` prefix, with the same numbers found valid as before).

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use phonenumber::country::Id;
use phonenumber::metadata::{DATABASE, Metadata};
use regex::RegexBuilder;

/// More entries than the metadata has distinct patterns (2,058 in phonenumber 0.3.10, of
/// which 1,303 are read here), so that nothing put here is evicted.
const CAPACITY: usize = 4096;

/// Country calling codes whose patterns are in the cache.
static PREPARED: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// Sizes the crate's pattern cache; call before the first validation.
pub(super) fn size_cache() {
    let cache = DATABASE.cache();
    let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
    if cache.capacity() < CAPACITY {
        cache.set_capacity(CAPACITY);
    }
}

/// Prepares the country of `region`.
pub(super) fn prepare_region(region: Id) {
    if let Some(meta) = DATABASE.by_id(region.as_ref()) {
        prepare_code(meta.country_code());
    }
}

/// Prepares the country whose calling code starts the digits of an international
/// candidate (`+49 30 …`); calling codes are prefix-free, so the first one known is it.
pub(super) fn prepare_international(candidate: &str) {
    let mut code = 0u16;
    for digit in candidate.bytes().filter(u8::is_ascii_digit).take(3) {
        code = code * 10 + u16::from(digit - b'0');
        if DATABASE.by_code(&code).is_some() {
            prepare_code(code);
            return;
        }
    }
}

/// Puts the patterns of every region with calling `code` in the cache, once.
pub(super) fn prepare_code(code: u16) {
    let mut prepared = PREPARED.lock().unwrap_or_else(PoisonError::into_inner);
    if !prepared.get_or_insert_with(HashSet::new).insert(code) {
        return;
    }
    let Some(regions) = DATABASE.by_code(&code) else {
        return;
    };
    let cache = DATABASE.cache();
    let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
    for meta in regions {
        for source in patterns(meta) {
            // A pattern that does not compile for ASCII is left to the crate.
            if let Ok(re) = RegexBuilder::new(source)
                .ignore_whitespace(true)
                .unicode(false)
                .build()
            {
                cache.insert(source.to_owned(), re);
            }
        }
    }
}

/// Every pattern of a region's metadata that parsing and validation read (the formats'
/// patterns are only read to format a number, which llmwatch never does).
fn patterns(meta: &Metadata) -> impl Iterator<Item = &str> {
    let d = meta.descriptors();
    let descriptors = [
        Some(d.general()),
        d.fixed_line(),
        d.mobile(),
        d.toll_free(),
        d.premium_rate(),
        d.shared_cost(),
        d.personal_number(),
        d.voip(),
        d.pager(),
        d.uan(),
        d.emergency(),
        d.voicemail(),
        d.short_code(),
        d.standard_rate(),
        d.carrier(),
        d.no_international(),
    ];
    let single = [
        meta.national_prefix_for_parsing(),
        meta.international_prefix(),
        meta.leading_digits(),
    ];
    descriptors
        .into_iter()
        .flatten()
        .map(|d| d.national_number().as_str())
        .chain(single.into_iter().flatten().map(|r| r.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cached(source: &str) -> bool {
        let cache = DATABASE.cache();
        let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.contains_key(source)
    }

    #[test]
    fn a_country_is_compiled_for_ascii_once_and_stays() {
        size_cache();
        prepare_international("+81 3-1234-5678");
        // Calling codes are prefix-free: `+1 …` is code 1, not 14 or 141.
        prepare_international("+1 415 555 0100");
        let prepared = PREPARED
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let prepared = prepared.unwrap_or_default();
        assert!(prepared.contains(&81) && prepared.contains(&1));
        assert!(!prepared.contains(&14) && !prepared.contains(&8));
        let jp = DATABASE
            .by_id("JP")
            .map(|m| patterns(m).map(str::to_owned).collect::<Vec<_>>());
        let jp = jp.unwrap_or_default();
        assert!(jp.len() > 10, "{}", jp.len());
        assert!(jp.iter().all(|p| cached(p)));
        let cache = DATABASE.cache();
        let before = cache.lock().unwrap_or_else(PoisonError::into_inner).len();
        prepare_code(81);
        assert_eq!(
            cache.lock().unwrap_or_else(PoisonError::into_inner).len(),
            before
        );
        // Matching is the same for ASCII digits: a valid Tokyo number stays valid.
        let number = phonenumber::parse(None, "+81 3-1234-5678");
        assert!(number.is_ok_and(|n| phonenumber::is_valid(&n)));
    }
}
