//! Semantic-convention tables shared by the stages.

pub mod identity;
