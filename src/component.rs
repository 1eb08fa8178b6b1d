//! What every component shares, below the pipeline that runs them: the processor and
//! recorder traits and their error. Processors implement these and never import the
//! pipeline; the pipeline re-exports them. And the config primitives every component's
//! config uses ([`config`]: paths and errors; [`units`]), re-exported by `config`, and the
//! bounded [`queue`] between receivers and workers, whose level `metrics` reports.

pub mod config;
pub mod queue;
pub mod units;

use crate::derive::Facts;
use crate::model::Batch;

/// A stage that rewrites batches in place.
pub trait Processor: Send + Sync {
    /// Processes one batch. An error keeps the batch from every exporter.
    fn process(&self, batch: &mut Batch) -> Result<(), ProcessError>;

    /// The processor as a recorder of derived facts, if it is one: the pipeline then
    /// derives the facts of a batch once for every recorder in a row, instead of calling
    /// [`Processor::process`].
    fn recorder(&self) -> Option<&dyn Recorder> {
        None
    }

    /// Saves what must outlive the process; called once at shutdown.
    fn flush(&self) -> Result<(), ProcessError> {
        Ok(())
    }
}

/// A processor that reads the batch only through its derived facts (see
/// [`crate::derive`]). It may write into the facts what recorders after it read (the
/// `genai` recorder writes each call's verdict and cost).
pub trait Recorder: Send + Sync {
    /// Records the facts of one batch.
    fn record(&self, facts: &mut Facts<'_>) -> Result<(), ProcessError>;
}

/// A processor could not handle a batch.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ProcessError(pub String);
