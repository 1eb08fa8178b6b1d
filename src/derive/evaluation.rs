//! Reading one `gen_ai.evaluation.result` event.

use opentelemetry_proto::tonic::common::v1::KeyValue;

use crate::model::attrs;
use crate::semconv::evaluation::{NAME, SCORE_LABEL, SCORE_VALUE};

/// One evaluation result.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// The evaluation's name (`unknown` without one); a label only through a value limit.
    pub name: String,
    /// The score, when numeric and finite.
    pub score: Option<f64>,
    /// The score's label, as sent.
    pub label: Option<String>,
}

/// The evaluation the attributes of a `gen_ai.evaluation.result` event carry.
pub fn from_attributes(attributes: &[KeyValue]) -> Evaluation {
    let text = |key| {
        attrs::get(attributes, key)
            .and_then(attrs::text)
            .filter(|s| !s.is_empty())
    };
    Evaluation {
        name: text(NAME).unwrap_or_else(|| "unknown".to_owned()),
        score: attrs::get(attributes, SCORE_VALUE).and_then(attrs::number),
        label: text(SCORE_LABEL),
    }
}
