//! What every component shares, below the pipeline that runs them: the processor and
//! exporter traits and their errors, and what a component type gives the registry
//! ([`factory`]). Components implement these and never import the
//! pipeline; the pipeline and `export` re-export them. And the config primitives every
//! component's config uses ([`config`]: paths and errors; [`units`]; the
//! [`series`] bounds of the processors that derive metrics), re-exported by
//! `config`, and the bounded [`queue`] between receivers and workers, whose level `metrics`
//! reports. The leaf of the module graph: it imports nothing of ours but `model`. The
//! processors that read derived facts extend [`Processor`] in `derive`
//! ([`crate::derive::Recorder`]), which sits above this.

pub mod config;
pub mod factory;
pub mod queue;
pub mod series;
pub mod units;

use crate::model::Batch;

/// A stage that rewrites batches in place.
pub trait Processor: Send + Sync {
    /// Processes one batch. An error keeps the batch from every exporter.
    fn process(&self, batch: &mut Batch) -> Result<(), ProcessError>;

    /// Saves what must outlive the process; called once at shutdown.
    fn flush(&self) -> Result<(), ProcessError> {
        Ok(())
    }
}

/// A processor could not handle a batch.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ProcessError(pub String);

/// What an exporter did with a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Delivered to its destination.
    Sent,
    /// Discarded on purpose (the `nop` exporter).
    Discarded,
    /// Taken into the exporter's send queue; its sender counts the delivery.
    Queued,
}

/// A destination for processed batches.
pub trait Exporter: Send + Sync {
    /// Delivers one batch. Called from pipeline workers; may block briefly.
    fn export(&self, batch: &Batch) -> Result<Delivery, ExportError>;

    /// Whether the exporter takes more now. An exporter that pushes back when its queue is
    /// full says no, and the pipeline refuses new requests with the retryable status.
    fn admits(&self) -> bool {
        true
    }

    /// Whether `export` returning `Ok` means the batch is durably stored (a persistent
    /// queue). The pipeline then answers the client only after every durable exporter has
    /// taken the batch, and refuses with the retryable status when one could not.
    fn durable(&self) -> bool {
        false
    }

    /// Writes out anything buffered; called at shutdown.
    fn flush(&self) -> Result<(), ExportError> {
        Ok(())
    }
}

/// An exporter could not deliver a batch.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Writing failed.
    #[error("i/o error on {path}: {source}")]
    Io {
        /// What was being written.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The batch could not be serialized.
    #[error("could not serialize the batch: {0}")]
    Serialize(#[from] serde_json::Error),
}
