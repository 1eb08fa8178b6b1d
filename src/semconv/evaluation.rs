//! The GenAI evaluation event (semconv 1.37+): one result of an evaluation of a model's
//! output, as a log event or a span event.

/// The event name.
pub const EVALUATION_EVENT: &str = "gen_ai.evaluation.result";
/// The evaluation's name (`Relevance`, `Faithfulness`, …).
pub const NAME: &str = "gen_ai.evaluation.name";
/// Its numeric score.
pub const SCORE_VALUE: &str = "gen_ai.evaluation.score.value";
/// Its label (`pass`, `fail`, `relevant`, …).
pub const SCORE_LABEL: &str = "gen_ai.evaluation.score.label";
