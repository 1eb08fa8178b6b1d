//! What a component type gives the registry: its [`Factory`] (its `type` name, the decoder
//! of its config, and what every component of the type shares), and the traits of its
//! decoded config ([`ProcessorSettings`]; exporters have theirs in `export`). The registry
//! lists the factories; `config` decodes through them and `app` builds from them, so
//! neither names a component type.
//!
//! Shared state ([`Shared`]) is keyed by type: a factory's `register` puts in what all
//! components of its type share (a metrics family, a slot the first one fills), once and
//! whether or not one is configured, so `/metrics` has the same families either way; a
//! config's `build` takes them out. The context names no component.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use prometheus_client::registry::Registry;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::config::{ConfigError, Path, decode_at};

/// The process environment, as config decoding and building read it.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Decodes and checks one component's section into `C`, recording problems under `path`.
pub type DecodeFn<C> = fn(Value, &Path, &mut Vec<ConfigError>, Env<'_>) -> Option<C>;

/// One component type: everything the registry knows of it.
pub struct Factory<C> {
    /// The `type` part of component ids (`genai` in `genai/eu`).
    pub type_name: &'static str,
    /// Its config decoder.
    pub decode: DecodeFn<C>,
    /// Registers what every component of the type shares; run once at start for every
    /// registered type.
    pub register: fn(&mut Shared, &mut Registry),
}

/// A `register` for a type that shares nothing.
pub fn shares_nothing(_: &mut Shared, _: &mut Registry) {}

/// Decodes a section through the factory of its type; an unknown type gets one error that
/// lists the registered types. `kind` names the section's components (`processor`).
pub fn decode_by_type<C>(
    factories: &[Factory<C>],
    kind: &str,
    type_name: &str,
    value: Value,
    path: &Path,
    errors: &mut Vec<ConfigError>,
    env: Env<'_>,
) -> Option<C> {
    if let Some(factory) = factories.iter().find(|f| f.type_name == type_name) {
        return (factory.decode)(value, path, errors, env);
    }
    let known: Vec<&str> = factories.iter().map(|f| f.type_name).collect();
    errors.push(ConfigError::new(
        path,
        format!(
            "unknown {kind} type {type_name:?}: the registered {kind} types are {}",
            known.join(", ")
        ),
    ));
    None
}

/// Decodes `value` as `T` and runs its check, whose problems (key, message) are recorded
/// under `path`; `None` when either found one.
pub fn decode_checked<T: DeserializeOwned>(
    value: Value,
    path: &Path,
    errors: &mut Vec<ConfigError>,
    check: impl FnOnce(&T) -> Vec<(String, String)>,
) -> Option<T> {
    let cfg: T = decode_at(value, path, errors)?;
    let problems = check(&cfg);
    let ok = problems.is_empty();
    errors.extend(
        problems
            .into_iter()
            .map(|(key, message)| ConfigError::new(&path.join(&key), message)),
    );
    ok.then_some(cfg)
}

/// A processor's decoded config. `Out` is what the pipeline runs (`derive::Stage`).
pub trait ProcessorSettings<Out>: fmt::Debug + Send + Sync + Any {
    /// Builds the runtime processor.
    fn build(&self, ctx: &BuildContext<'_>) -> Result<Out, String>;

    /// Settings that are valid but probably not meant.
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
}

impl<Out: 'static> dyn ProcessorSettings<Out> {
    /// The config as its own type, for the few readers that need one type's settings
    /// (`slo` reads `health`'s thresholds).
    pub fn downcast<T: Any>(&self) -> Option<&T> {
        (self as &dyn Any).downcast_ref()
    }
}

/// What building a component needs besides its config.
pub struct BuildContext<'a> {
    /// The process environment.
    pub env: Env<'a>,
    /// What the components of each type share.
    pub shared: &'a Shared,
}

impl BuildContext<'_> {
    /// The shared value of type `T`, which some factory's `register` put in.
    pub fn get<T: Any + Clone>(&self) -> Result<T, String> {
        self.shared.get().ok_or_else(|| {
            format!(
                "{} was not registered: its factory is missing from the registry",
                std::any::type_name::<T>()
            )
        })
    }
}

/// Values shared between components, one per type.
#[derive(Default)]
pub struct Shared(HashMap<TypeId, Arc<dyn Any + Send + Sync>>);

impl Shared {
    /// Puts in `value`, replacing any of its type.
    pub fn insert<T: Any + Send + Sync>(&mut self, value: T) {
        self.0.insert(TypeId::of::<T>(), Arc::new(value));
    }

    /// The value of type `T`, if one was put in.
    pub fn get<T: Any + Clone>(&self) -> Option<T> {
        self.0.get(&TypeId::of::<T>())?.downcast_ref::<T>().cloned()
    }

    /// The value of type `T`, made and registered by `make` the first time.
    pub fn get_or_register<T: Any + Send + Sync + Clone>(
        &mut self,
        registry: &mut Registry,
        make: impl FnOnce(&mut Registry) -> T,
    ) -> T {
        if let Some(v) = self.get() {
            return v;
        }
        let v = make(registry);
        self.insert(v.clone());
        v
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Shared({} values)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::{Factory, Shared, decode_by_type, shares_nothing};
    use crate::component::config::Path;

    fn decode_one(
        value: serde_json::Value,
        _: &Path,
        _: &mut Vec<crate::component::config::ConfigError>,
        _: super::Env<'_>,
    ) -> Option<u32> {
        value.as_u64().map(|v| v as u32)
    }

    const FACTORIES: &[Factory<u32>] = &[
        Factory {
            type_name: "one",
            decode: decode_one,
            register: shares_nothing,
        },
        Factory {
            type_name: "two",
            decode: decode_one,
            register: shares_nothing,
        },
    ];

    #[test]
    fn a_section_decodes_through_its_type_or_names_the_registered_ones() {
        let path = Path::default().join("processors").join("three/x");
        let mut errors = Vec::new();
        let env = |_: &str| None;
        assert_eq!(
            decode_by_type(
                FACTORIES,
                "processor",
                "two",
                7.into(),
                &path,
                &mut errors,
                &env
            ),
            Some(7)
        );
        assert!(errors.is_empty());
        let got = decode_by_type(
            FACTORIES,
            "processor",
            "three",
            7.into(),
            &path,
            &mut errors,
            &env,
        );
        assert_eq!(got, None);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].path, "processors.three/x");
        assert_eq!(
            errors[0].message,
            "unknown processor type \"three\": the registered processor types are one, two"
        );
    }

    #[test]
    fn shared_values_are_kept_by_type() {
        let mut registry = prometheus_client::registry::Registry::default();
        let mut shared = Shared::default();
        assert_eq!(shared.get::<u8>(), None);
        assert_eq!(shared.get_or_register(&mut registry, |_| 3u8), 3);
        assert_eq!(shared.get_or_register(&mut registry, |_| 4u8), 3);
        shared.insert(5u16);
        assert_eq!(shared.get::<u16>(), Some(5));
        assert_eq!(shared.get::<u8>(), Some(3));
    }
}
