//! [`SeriesBounds`]: how many series a processor's families keep, and for how long, shared
//! by every processor that derives metrics (`genai`, `health`, `chat_analytics`), with its
//! defaults and its check in one place.
//!
//! The two keys sit beside the processor's own (`series_limit: 500` in `processors.genai`,
//! not under a sub-key). serde's `flatten` would do that but loses `deny_unknown_fields`'
//! paths, so a processor config instead derives its own fields with
//! `#[serde(remote = "Self")]`, skips its `series` field, and implements `Deserialize`
//! through [`deserialize_bounded`]: that takes the two keys out of the mapping as it is
//! read, and hands every other key, unchanged, to the derived code. An unknown or badly
//! typed key keeps its full path (`processors.genai.series_limit: invalid type …`).

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, Visitor};

/// `series_limit` and `series_ttl` of a processor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeriesBounds {
    /// Series per family; values past it fold into `other`.
    pub series_limit: usize,
    /// Series idle this long disappear from `/metrics`.
    pub series_ttl: Duration,
}

impl Default for SeriesBounds {
    fn default() -> SeriesBounds {
        SeriesBounds {
            series_limit: 2000,
            series_ttl: Duration::from_secs(3600),
        }
    }
}

impl SeriesBounds {
    /// Problems, as (key, message).
    pub fn check(&self) -> Vec<(String, String)> {
        if self.series_limit == 0 {
            return vec![("series_limit".to_owned(), "must be at least 1".to_owned())];
        }
        Vec::new()
    }

    /// The TTL in whole seconds, at least 1.
    pub fn ttl_secs(&self) -> u64 {
        self.series_ttl.as_secs().max(1)
    }
}

/// A processor config that embeds [`SeriesBounds`].
pub trait Bounded: Sized {
    /// Whether the config takes `series_ttl` (a processor whose series never expire
    /// takes only `series_limit`, and `series_ttl` is an unknown key there).
    const TTL: bool;

    /// The derived deserializer of the config's other fields (`#[serde(remote = "Self")]`).
    fn deserialize_rest<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error>;

    /// Stores the bounds read beside the other fields.
    fn set_bounds(&mut self, bounds: SeriesBounds);
}

/// Deserializes a [`Bounded`] config: the series keys are taken out of its mapping, the
/// rest goes to its derived deserializer with paths and unknown-key errors intact.
pub fn deserialize_bounded<'de, T: Bounded, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
    d.deserialize_map(BoundedVisitor(PhantomData))
}

struct BoundedVisitor<T>(PhantomData<T>);

impl<'de, T: Bounded> Visitor<'de> for BoundedVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping of processor settings")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        let mut filter = Filter {
            inner: map,
            ttl: T::TTL,
            limit: None,
            ttl_value: None,
        };
        let mut cfg = T::deserialize_rest(de::value::MapAccessDeserializer::new(&mut filter))?;
        let mut bounds = SeriesBounds::default();
        if let Some(limit) = filter.limit {
            bounds.series_limit = limit;
        }
        if let Some(ttl) = filter.ttl_value {
            bounds.series_ttl = ttl;
        }
        cfg.set_bounds(bounds);
        Ok(cfg)
    }
}

/// A mapping with the series keys taken out as they pass.
struct Filter<A> {
    inner: A,
    ttl: bool,
    limit: Option<usize>,
    ttl_value: Option<Duration>,
}

/// A key of the mapping: one of the series keys, or another, already given to the derived
/// code's key seed (so an unknown key fails inside the tracked key read, with its path).
enum Key<K> {
    Limit,
    Ttl,
    Other(K),
}

struct KeySeed<'a, S> {
    seed: &'a mut Option<S>,
    ttl: bool,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for KeySeed<'_, S> {
    type Value = Key<S::Value>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        let key = String::deserialize(d)?;
        match key.as_str() {
            "series_limit" => Ok(Key::Limit),
            "series_ttl" if self.ttl => Ok(Key::Ttl),
            _ => match self.seed.take() {
                Some(seed) => seed.deserialize(key.into_deserializer()).map(Key::Other),
                None => Err(de::Error::custom("a key was read twice")),
            },
        }
    }
}

/// `series_ttl` in the config's duration units.
#[derive(Deserialize)]
#[serde(transparent)]
struct Ttl(#[serde(deserialize_with = "super::units::deserialize_duration")] Duration);

impl<'de, A: MapAccess<'de>> MapAccess<'de> for &mut Filter<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        // The seed is used only by a key that is not a series key; a series key is
        // consumed here, and the loop reads the next one.
        let mut seed = Some(seed);
        loop {
            let key = self.inner.next_key_seed(KeySeed {
                seed: &mut seed,
                ttl: self.ttl,
            })?;
            match key {
                None => return Ok(None),
                Some(Key::Other(value)) => return Ok(Some(value)),
                Some(Key::Limit) => {
                    if self.limit.replace(self.inner.next_value()?).is_some() {
                        return Err(de::Error::duplicate_field("series_limit"));
                    }
                }
                Some(Key::Ttl) => {
                    let Ttl(ttl) = self.inner.next_value()?;
                    if self.ttl_value.replace(ttl).is_some() {
                        return Err(de::Error::duplicate_field("series_ttl"));
                    }
                }
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.inner.next_value_seed(seed)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde::Deserialize;

    use super::{Bounded, SeriesBounds, deserialize_bounded};
    use crate::component::config::{ConfigError, Path, decode_at};

    /// A config like a processor's: one own key, the bounds beside it.
    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(remote = "Self", deny_unknown_fields)]
    struct WithTtl {
        #[serde(default)]
        dimensions: Vec<u32>,
        #[serde(skip)]
        series: SeriesBounds,
    }

    impl<'de> Deserialize<'de> for WithTtl {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            deserialize_bounded(d)
        }
    }

    impl Bounded for WithTtl {
        const TTL: bool = true;
        fn deserialize_rest<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            WithTtl::deserialize(d)
        }
        fn set_bounds(&mut self, bounds: SeriesBounds) {
            self.series = bounds;
        }
    }

    /// The same without `series_ttl`.
    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(remote = "Self", deny_unknown_fields)]
    struct LimitOnly {
        #[serde(skip)]
        series: SeriesBounds,
    }

    impl<'de> Deserialize<'de> for LimitOnly {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            deserialize_bounded(d)
        }
    }

    impl Bounded for LimitOnly {
        const TTL: bool = false;
        fn deserialize_rest<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            LimitOnly::deserialize(d)
        }
        fn set_bounds(&mut self, bounds: SeriesBounds) {
            self.series = bounds;
        }
    }

    fn decode<T: serde::de::DeserializeOwned>(yaml: &str) -> Result<T, Vec<ConfigError>> {
        let value: serde_json::Value = serde_saphyr::from_str(yaml).expect("yaml");
        let mut errors = Vec::new();
        let path = Path::default().join("processors").join("genai");
        decode_at(value, &path, &mut errors).ok_or(errors)
    }

    #[test]
    fn the_keys_sit_beside_the_processors_own() {
        let cfg: WithTtl = decode("{dimensions: [1], series_limit: 5, series_ttl: 2m}").unwrap();
        assert_eq!(cfg.dimensions, [1]);
        assert_eq!(cfg.series.series_limit, 5);
        assert_eq!(cfg.series.series_ttl, Duration::from_secs(120));
        let cfg: WithTtl = decode("{}").unwrap();
        assert_eq!(cfg.series, SeriesBounds::default());
        assert_eq!(cfg.series.series_limit, 2000);
        assert_eq!(cfg.series.ttl_secs(), 3600);
        // Direct serde, as tests and benches use, reads them too.
        let cfg: WithTtl = serde_saphyr::from_str("series_limit: 7").unwrap();
        assert_eq!(cfg.series.series_limit, 7);
    }

    #[test]
    fn errors_keep_their_paths() {
        let errs = decode::<WithTtl>("{series_limit: many}").unwrap_err();
        assert_eq!(errs[0].path, "processors.genai.series_limit", "{errs:?}");
        let errs = decode::<WithTtl>("{series_ttl: soon}").unwrap_err();
        assert_eq!(errs[0].path, "processors.genai.series_ttl", "{errs:?}");
        let errs = decode::<WithTtl>("{series_limit: 1, dimensions: [x]}").unwrap_err();
        assert_eq!(errs[0].path, "processors.genai.dimensions[0]", "{errs:?}");
        let errs = decode::<WithTtl>("{series_limit: 1, serie_ttl: 1m}").unwrap_err();
        assert_eq!(errs[0].path, "processors.genai.serie_ttl", "{errs:?}");
        assert!(
            errs[0].message.starts_with("unknown field `serie_ttl`"),
            "{errs:?}"
        );
        assert!(serde_saphyr::from_str::<WithTtl>("{series_limit: 1, series_limit: 2}").is_err());
    }

    #[test]
    fn a_processor_without_ttl_refuses_it() {
        let cfg: LimitOnly = decode("series_limit: 3").unwrap();
        assert_eq!(cfg.series.series_limit, 3);
        let errs = decode::<LimitOnly>("series_ttl: 1m").unwrap_err();
        assert_eq!(errs[0].path, "processors.genai.series_ttl", "{errs:?}");
        assert!(errs[0].message.starts_with("unknown field"), "{errs:?}");
    }

    #[test]
    fn zero_series_is_refused() {
        let zero = SeriesBounds {
            series_limit: 0,
            ..SeriesBounds::default()
        };
        assert_eq!(
            zero.check(),
            [("series_limit".to_owned(), "must be at least 1".to_owned())]
        );
        assert!(SeriesBounds::default().check().is_empty());
    }
}
