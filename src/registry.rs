//! The one registry of component types: every receiver, processor and exporter `type`, each
//! as its [`Factory`] (its name, its config decoder, and what all components of the type
//! share). `config` decodes `receivers:`, `processors:` and `exporters:` through it, and an
//! unknown type gets one error that lists the registered ones; `app` registers what the
//! types share and builds every component from it. Neither names a component type, and
//! the pipeline only runs built processors ([`Stage`]: a rewriting
//! [`crate::component::Processor`] or a [`crate::derive::Recorder`]).
//!
//! In the module graph the registry sits above the components it lists (processors import
//! only `component`, `semconv`, `derive` and `metrics`, never each other or this registry)
//! and below `config` and `app`, which read it.
//!
//! Adding a processor: its own folder, whose config implements
//! [`ProcessorSettings`] (`build`, and `warnings` if it has any) and which exposes a
//! `FACTORY` (type name, decoder with its checks, shared state to register), plus its line
//! in [`PROCESSORS`]. Adding an exporter: the same in `export/`, with
//! [`crate::export::ExporterSettings`], and its line in [`EXPORTERS`].

use std::collections::BTreeMap;
use std::sync::Arc;

use prometheus_client::registry::Registry;

use crate::component::factory::{BuildContext, Factory, ProcessorSettings, Shared};
use crate::derive::Stage;
use crate::export::ExporterFactory;
use crate::metrics::bounded::OverflowCounter;
use crate::receive::ReceiverConfig;
use crate::{analytics, export, genai, health, receive, redact};

/// A processor's decoded config, built into a [`Stage`].
pub type ProcessorConfig = Arc<dyn ProcessorSettings<Stage>>;

/// Every processor type, in the order the docs list them (and their shared state is
/// registered).
pub static PROCESSORS: &[Factory<ProcessorConfig>] = &[
    redact::FACTORY,
    genai::FACTORY,
    health::FACTORY,
    analytics::FACTORY,
];

/// Every exporter type.
pub static EXPORTERS: &[ExporterFactory] = &[
    export::PROMETHEUS,
    export::otlp::FACTORY,
    export::FILE,
    export::DEBUG,
    export::NOP,
];

/// Every receiver type.
pub static RECEIVERS: &[Factory<ReceiverConfig>] = &[receive::FACTORY];

/// What every component type shares, registered once in `registry` whether or not a
/// component of the type is configured, so `/metrics` has the same families either way.
/// `overflow` (`llmwatch_metric_overflow_total`) is shared beyond the processors.
pub fn register_shared(registry: &mut Registry, overflow: OverflowCounter) -> Shared {
    let mut shared = Shared::default();
    shared.insert(overflow);
    for factory in PROCESSORS {
        (factory.register)(&mut shared, registry);
    }
    for factory in EXPORTERS {
        (factory.register)(&mut shared, registry);
    }
    for factory in RECEIVERS {
        (factory.register)(&mut shared, registry);
    }
    shared
}

/// Builds every configured processor, by id.
pub fn build_processors<'c>(
    processors: &'c BTreeMap<String, ProcessorConfig>,
    ctx: &BuildContext<'_>,
) -> anyhow::Result<BTreeMap<&'c str, Stage>> {
    processors
        .iter()
        .map(|(id, cfg)| {
            let stage = cfg
                .build(ctx)
                .map_err(|e| anyhow::anyhow!("starting processor {id}: {e}"))?;
            Ok((id.as_str(), stage))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{EXPORTERS, PROCESSORS, RECEIVERS};

    #[test]
    fn type_names_are_unique_and_documented() {
        let readme = include_str!("../README.md");
        for names in [
            PROCESSORS.iter().map(|f| f.type_name).collect::<Vec<_>>(),
            EXPORTERS.iter().map(|f| f.type_name).collect(),
            RECEIVERS.iter().map(|f| f.type_name).collect(),
        ] {
            let mut sorted = names.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), names.len(), "{names:?}");
            for name in names {
                assert!(
                    readme.contains(&format!("`{name}`")),
                    "{name} is not in README"
                );
            }
        }
    }
}
