//! How a call ended, in every emitter's spelling: finish reasons normalised to the OTel
//! values (`stop`, `length`, `content_filter`, `tool_call`, `error`), and the error class
//! of a failure whose exception type says only that an API call failed.
//!
//! The Vercel AI SDK 6 reports a 429 and a 500 alike, as an `AI_APICallError` exception
//! with the provider's message and no status code: the message is then all the wire
//! carries, and a few phrases of the providers' messages tell the class.

/// The OTel spelling of a finish reason, from any provider's or SDK's spelling
/// (lowercased before): `tool-calls` (AI SDK), `tool_calls` (OpenAI), `tool_use`
/// (Anthropic) are all `tool_call`. Reasons without an OTel equivalent are kept as sent.
pub fn finish_reason(lowercase: &str) -> &str {
    match lowercase {
        "tool_calls" | "tool-calls" | "tool-call" | "tool_call" | "tool_use" | "function_call"
        | "function-call" | "tool" => "tool_call",
        "max_tokens" | "max-tokens" | "max_output_tokens" | "length" | "model_length" => "length",
        "content-filter" | "content_filter" | "safety" | "recitation" | "blocklist"
        | "prohibited_content" | "spii" => "content_filter",
        "end_turn" | "stop_sequence" | "eos" | "stop" | "complete" | "finish_reason_stop" => "stop",
        other => other,
    }
}

/// Exception types that name no failure, only that a call to an API failed: their class
/// is read from the message.
pub const GENERIC_ERRORS: &[&str] = &[
    "AI_APICallError",
    "APICallError",
    "AI_RetryError",
    "RetryError",
    "APIError",
    "Error",
    "HTTPError",
    "FetchError",
];

/// Phrases of provider error messages (compared lowercased) and the class each means,
/// the `error_type` values HTTP status codes get (`derive::llm::http_class`).
pub const ERROR_MESSAGES: &[(&str, &str)] = &[
    ("rate limit", "rate_limited"),
    ("ratelimit", "rate_limited"),
    ("too many requests", "rate_limited"),
    ("quota", "rate_limited"),
    ("server had an error", "server_error"),
    ("internal server error", "server_error"),
    ("internal error", "server_error"),
    ("bad gateway", "server_error"),
    ("service unavailable", "server_error"),
    ("overloaded", "server_error"),
    ("timed out", "timeout"),
    ("timeout", "timeout"),
    ("invalid api key", "authentication"),
    ("incorrect api key", "authentication"),
    ("unauthorized", "authentication"),
    ("context length", "invalid_request"),
    ("maximum context", "invalid_request"),
    ("does not exist", "not_found"),
];

/// Whether `class` (as normalised by `derive::llm::error_class`) names no failure.
pub fn is_generic_error(class: &str) -> bool {
    GENERIC_ERRORS.iter().any(|g| g.eq_ignore_ascii_case(class))
}

/// The class an error message tells, if any. Only the first 512 bytes are read.
pub fn error_from_message(message: &str) -> Option<&'static str> {
    let head = message
        .char_indices()
        .take_while(|(i, _)| *i < 512)
        .map(|(_, c)| c.to_ascii_lowercase())
        .collect::<String>();
    ERROR_MESSAGES
        .iter()
        .find(|(phrase, _)| head.contains(phrase))
        .map(|(_, class)| *class)
}
