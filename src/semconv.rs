//! Every attribute key and event name llmwatch reads, with its aliases across conventions
//! (OTel current and deprecated, OpenLLMetry/Traceloop, OpenInference, OpenLIT, the Vercel
//! AI SDK 6 and 7, LiteLLM, Langfuse), one table per concept. See
//! `shared/reference/genai-semconv.md` for the cross-walk.
//!
//! This module holds names and their precedence only; [`crate::derive`] reads the wire
//! with them. It imports nothing of the crate.

pub mod agents;
pub mod app;
pub mod evaluation;
pub mod events;
pub mod genai;
pub mod identity;
pub mod outcome;
pub mod web;
