//! The processors that read a batch only through its derived facts ([`Recorder`]), and
//! what the pipeline runs ([`Stage`]): a processor that rewrites the batch, or a recorder.
//! They live with the facts they read, above the leaf [`crate::component`] whose
//! [`Processor`] trait they extend, so that the leaf imports nothing of ours but `model`.

use std::sync::Arc;

use super::Facts;
use crate::component::{ProcessError, Processor};

/// A processor that reads the batch only through its derived facts (see
/// [`crate::derive`]). It may write into the facts what recorders after it read (the
/// `genai` recorder writes each call's verdict and cost). Its [`Processor::process`]
/// derives the facts of the batch and records them; the pipeline instead derives the facts
/// of a batch once for every recorder in a row.
pub trait Recorder: Processor {
    /// Records the facts of one batch.
    fn record(&self, facts: &mut Facts<'_>) -> Result<(), ProcessError>;
}

/// A built processor, as the pipeline runs it.
#[derive(Clone)]
pub enum Stage {
    /// Rewrites the batch in place (`redaction`).
    Rewrite(Arc<dyn Processor>),
    /// Reads the batch's derived facts (`genai`, `health`, `chat_analytics`).
    Record(Arc<dyn Recorder>),
}

impl Stage {
    /// The stage as a processor of whole batches.
    pub fn processor(&self) -> &dyn Processor {
        match self {
            Stage::Rewrite(p) => p.as_ref(),
            Stage::Record(r) => r.as_ref(),
        }
    }
}
