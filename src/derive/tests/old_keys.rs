//! The one table of attribute keys the `genai` processor reads, across every convention in
//! `shared/reference/genai-semconv.md`, with their aliases and precedence.
//!
//! Within a field, a key listed earlier wins over one listed later when a span carries
//! both: the current OTel name first, then deprecated OTel names, then vendor names. The
//! conventions agree on values whenever they overlap (a span with `gen_ai.usage.input_tokens`
//! and `gen_ai.usage.prompt_tokens` holds the same number twice), so precedence picks one
//! and nothing is ever summed across aliases.

use std::collections::HashMap;
use std::sync::LazyLock;

use foldhash::fast::FixedState;

/// What an attribute tells about an LLM call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Field {
    /// The provider, in any spelling; normalised by [`super::extract::provider`].
    Provider,
    /// The operation (`chat`, `embeddings`, …), or a convention's span-kind marker.
    Operation,
    /// The model that was asked for.
    RequestModel,
    /// The model that answered: what the call is priced by.
    ResponseModel,
    /// Input tokens. Whether cached tokens are inside depends on [`Key::input_excludes_cache`].
    Input,
    /// Input tokens that were neither read from nor written to a cache.
    UncachedInput,
    /// Output tokens, reasoning included.
    Output,
    /// Input tokens read from a prompt cache.
    CacheRead,
    /// Input tokens written to a prompt cache.
    CacheWrite,
    /// Output tokens spent on reasoning.
    Reasoning,
    /// Time to the first streamed chunk; the value is multiplied by [`Key::scale`] to
    /// give seconds.
    TimeToFirstToken,
    /// Whether the response was streamed.
    Streaming,
    /// Why generation stopped: a string or an array of strings.
    FinishReasons,
    /// The error class.
    ErrorType,
    /// The provider's id of the response, which identifies one call across spans.
    ResponseId,
    /// The end user (a pseudonym once the redaction processor ran).
    User,
    /// The session or conversation.
    Session,
    /// A cost the app computed itself, in USD.
    ReportedCost,
    /// An HTTP status code.
    HttpStatus,
    /// A JSON object of usage details (Langfuse), read key by key.
    UsageJson,
    /// A JSON object of cost details (Langfuse), whose `total` is a reported cost.
    CostJson,
    /// A JSON object of request parameters (OpenInference), whose `model` is the
    /// requested model.
    ParamsJson,
}

/// One attribute key.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Key {
    pub(crate) name: &'static str,
    pub(crate) field: Field,
    /// For [`Field::TimeToFirstToken`]: the factor to seconds.
    pub(crate) scale: f64,
    /// For [`Field::Input`]: the value counts only uncached input, as Anthropic's API
    /// and Langfuse's usage details do.
    pub(crate) input_excludes_cache: bool,
}

const fn key(name: &'static str, field: Field) -> Key {
    Key {
        name,
        field,
        scale: 1.0,
        input_excludes_cache: false,
    }
}

const fn ms(name: &'static str) -> Key {
    Key {
        name,
        field: Field::TimeToFirstToken,
        scale: 1e-3,
        input_excludes_cache: false,
    }
}

use Field::*;

/// Every key, grouped by field, in precedence order within a field.
pub(crate) const KEYS: &[Key] = &[
    // Provider. `ai.model.provider` is the Vercel AI SDK's `openai.chat` form.
    key("gen_ai.provider.name", Provider),
    key("gen_ai.system", Provider),
    key("llm.provider", Provider),
    key("llm.system", Provider),
    key("ai.model.provider", Provider),
    // Operation, or the convention's marker of what kind of span this is.
    key("gen_ai.operation.name", Operation),
    key("llm.request.type", Operation),
    key("openinference.span.kind", Operation),
    key("langfuse.observation.type", Operation),
    key("traceloop.span.kind", Operation),
    // Models.
    key("gen_ai.request.model", RequestModel),
    key("ai.model.id", RequestModel),
    key("llm.request.model_name", RequestModel),
    key("langfuse.observation.model.name", RequestModel),
    key("llm.invocation_parameters", ParamsJson),
    key("gen_ai.response.model", ResponseModel),
    key("llm.model_name", ResponseModel),
    key("llm.response.model_name", ResponseModel),
    key("ai.response.model", ResponseModel),
    key("embedding.model_name", ResponseModel),
    // Tokens.
    key("gen_ai.usage.input_tokens", Input),
    key("gen_ai.usage.prompt_tokens", Input),
    key("llm.token_count.prompt", Input),
    key("ai.usage.inputTokens", Input),
    key("ai.usage.promptTokens", Input),
    // issue 15: the AI SDK's embedding tokens.
    key("ai.usage.tokens", Input),
    key("ai.usage.inputTokenDetails.noCacheTokens", UncachedInput),
    key("gen_ai.usage.output_tokens", Output),
    key("gen_ai.usage.completion_tokens", Output),
    key("llm.token_count.completion", Output),
    key("ai.usage.outputTokens", Output),
    key("ai.usage.completionTokens", Output),
    key("gen_ai.usage.cache_read.input_tokens", CacheRead),
    key("gen_ai.usage.cache_read_input_tokens", CacheRead),
    key(
        "gen_ai.usage.prompt_tokens_details.cached_tokens",
        CacheRead,
    ),
    key("llm.token_count.prompt_details.cache_read", CacheRead),
    key("ai.usage.inputTokenDetails.cacheReadTokens", CacheRead),
    key("ai.usage.cachedInputTokens", CacheRead),
    key("gen_ai.usage.cache_write.input_tokens", CacheWrite),
    key("gen_ai.usage.cache_creation.input_tokens", CacheWrite),
    key("gen_ai.usage.cache_creation_input_tokens", CacheWrite),
    key(
        "gen_ai.usage.prompt_tokens_details.cache_creation_tokens",
        CacheWrite,
    ),
    key("llm.token_count.prompt_details.cache_write", CacheWrite),
    key("ai.usage.inputTokenDetails.cacheWriteTokens", CacheWrite),
    key("gen_ai.usage.reasoning.output_tokens", Reasoning),
    key("gen_ai.usage.reasoning_tokens", Reasoning),
    key(
        "gen_ai.usage.completion_tokens_details.reasoning_tokens",
        Reasoning,
    ),
    key("llm.token_count.completion_details.reasoning", Reasoning),
    key("llm.usage.reasoning_tokens", Reasoning),
    key("ai.usage.outputTokenDetails.reasoningTokens", Reasoning),
    key("ai.usage.reasoningTokens", Reasoning),
    key("langfuse.observation.usage_details", UsageJson),
    // Timing and streaming.
    // issue 15: semconv 1.41's time to first chunk.
    key(
        "gen_ai.client.operation.time_to_first_chunk",
        TimeToFirstToken,
    ),
    key("gen_ai.response.time_to_first_chunk", TimeToFirstToken),
    ms("ai.response.msToFirstChunk"),
    ms("ai.stream.msToFirstChunk"),
    key("gen_ai.request.stream", Streaming),
    key("gen_ai.is_streaming", Streaming),
    key("llm.is_streaming", Streaming),
    key("litellm.request.streaming", Streaming),
    // Outcome.
    key("gen_ai.response.finish_reasons", FinishReasons),
    key("gen_ai.response.finish_reason", FinishReasons),
    key("llm.response.finish_reason", FinishReasons),
    key("llm.finish_reason", FinishReasons),
    key("ai.response.finishReason", FinishReasons),
    key("error.type", ErrorType),
    key("http.response.status_code", HttpStatus),
    key("http.status_code", HttpStatus),
    key("gen_ai.response.id", ResponseId),
    // Who: the same keys the redaction processor pseudonymises.
    key("user.id", User),
    key("enduser.id", User),
    key("enduser.pseudo.id", User),
    key("langfuse.user.id", User),
    key("gen_ai.user", User),
    key("gen_ai.request.user", User),
    key("llm.user", User),
    key("traceloop.association.properties.user_id", User),
    key("langfuse.trace.metadata.langfuse_user_id", User),
    key("langfuse.observation.metadata.langfuse_user_id", User),
    key("ai.telemetry.metadata.userId", User),
    key("litellm.end_user.id", User),
    key("metadata.user_api_key_end_user_id", User),
    key("metadata.user_api_key_user_id", User),
    key("gen_ai.conversation.id", Session),
    key("session.id", Session),
    key("langfuse.session.id", Session),
    key("traceloop.association.properties.session_id", Session),
    key("ai.telemetry.metadata.sessionId", Session),
    // Costs the app reported, USD.
    key("langfuse.observation.cost_details", CostJson),
    key("gen_ai.usage.cost", ReportedCost),
    key("llm.cost.total", ReportedCost),
    key("litellm.cost.total", ReportedCost),
];

/// The keys inside Langfuse's `usage_details` JSON, by field. Langfuse keeps its usage
/// categories disjoint, so its `input` excludes cached tokens.
pub(crate) const USAGE_JSON_KEYS: &[Key] = &[
    Key {
        name: "input",
        field: Input,
        scale: 1.0,
        input_excludes_cache: true,
    },
    Key {
        name: "prompt_tokens",
        field: Input,
        scale: 1.0,
        input_excludes_cache: true,
    },
    key("output", Output),
    key("completion_tokens", Output),
    key("cache_read_input_tokens", CacheRead),
    key("input_cached_tokens", CacheRead),
    key("cache_read", CacheRead),
    key("cache_creation_input_tokens", CacheWrite),
    key("input_cache_creation", CacheWrite),
    key("cache_write", CacheWrite),
    key("output_reasoning_tokens", Reasoning),
    key("reasoning", Reasoning),
];

/// Each key's field and rank (its position in [`KEYS`]: lower wins).
pub(crate) static INDEX: LazyLock<HashMap<&'static str, (Key, u16), FixedState>> =
    LazyLock::new(|| {
        KEYS.iter()
            .enumerate()
            .map(|(i, k)| (k.name, (*k, u16::try_from(i).unwrap_or(u16::MAX))))
            .collect()
    });

/// Operations that are one call to a model, the calls llmwatch counts and prices.
pub(crate) const INFERENCE_OPERATIONS: &[&str] = &[
    "chat",
    "text_completion",
    "generate_content",
    "embeddings",
    "completion",
];

/// Normalises the operation or span-kind marker of a convention to an OTel operation
/// name, or `None` for a span that is not one model call (agents, tools, chains,
/// workflows, retrievers), whose usage, when present, sums its children's.
pub(crate) fn operation(marker: &str) -> Option<&'static str> {
    Some(match marker.to_ascii_lowercase().as_str() {
        "chat" | "llm" | "generation" => "chat",
        "text_completion" | "completion" => "text_completion",
        "generate_content" => "generate_content",
        "embeddings" | "embedding" => "embeddings",
        "rerank" | "reranker" => "rerank",
        _ => return None,
    })
}
