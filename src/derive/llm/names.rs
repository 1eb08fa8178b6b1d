//! Normalising what conventions spell differently: provider names, error classes, finish
//! reasons.

use opentelemetry_proto::tonic::common::v1::AnyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value;

use crate::model::attrs;
use crate::semconv::outcome;

/// Normalises a provider name to the `gen_ai.provider.name` spelling.
pub fn provider(raw: &str) -> String {
    // The Vercel AI SDK's `openai.chat` / `anthropic.messages` form.
    let raw = raw.trim().to_ascii_lowercase();
    let base = match raw.split_once('.') {
        Some((head, "chat" | "responses" | "completion" | "messages" | "embedding")) => head,
        _ => raw.as_str(),
    };
    match base {
        "az.ai.openai" | "azure" | "azure-openai" | "azure_openai" => "azure.ai.openai",
        "az.ai.inference" | "azure_ai" => "azure.ai.inference",
        "vertex_ai" | "vertexai" | "google.vertex" | "vertex" => "gcp.vertex_ai",
        "gemini" | "google.generative-ai" | "google" | "google_genai" => "gcp.gemini",
        "xai" => "x_ai",
        "mistralai" | "mistral" => "mistral_ai",
        "aws" | "bedrock" | "amazon-bedrock" | "aws_bedrock" => "aws.bedrock",
        "ibm.watson.ai" | "watsonx" => "ibm.watsonx.ai",
        "togetherai" | "together" => "together_ai",
        other => return other.to_owned(),
    }
    .to_owned()
}

/// Normalises an error to a low-cardinality class: a Python repr like
/// `<class 'openai.RateLimitError'>` becomes `RateLimitError`, a dotted or pathed class
/// name keeps its last segment, and HTTP status codes become classes (`429` is
/// `rate_limited`).
pub fn error_class(raw: &str) -> String {
    let raw = raw.trim();
    if let Ok(code) = raw.parse::<u16>() {
        return http_class(code).to_owned();
    }
    let inner = raw
        .strip_prefix("<class '")
        .and_then(|r| r.strip_suffix("'>"))
        .unwrap_or(raw);
    let last = inner
        .rsplit(['.', ':', '/', '\\'])
        .find(|s| !s.is_empty())
        .unwrap_or(inner);
    let class: String = last
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(64)
        .collect();
    if class.is_empty() {
        "other".to_owned()
    } else {
        class
    }
}

/// The error class of an HTTP status code.
pub fn http_class(code: u16) -> &'static str {
    match code {
        400 | 422 => "invalid_request",
        401 => "authentication",
        403 => "permission",
        404 => "not_found",
        408 | 504 => "timeout",
        413 => "request_too_large",
        429 => "rate_limited",
        500..=599 => "server_error",
        _ => "http_error",
    }
}

/// Finish reasons, lowercased and in the OTel spelling where one exists (`tool-calls` is
/// `tool_call`): a string, an array, or an array as a JSON string.
pub(super) fn finish_reasons(v: &AnyValue) -> Vec<String> {
    match v.value.as_ref() {
        Some(Value::StringValue(s)) => {
            // Some emitters send the array as a JSON string.
            if let Ok(list) = serde_json::from_str::<Vec<String>>(s) {
                list
            } else {
                vec![s.clone()]
            }
        }
        Some(Value::ArrayValue(a)) => a.values.iter().filter_map(attrs::text).collect(),
        _ => Vec::new(),
    }
    .into_iter()
    .map(|r| r.trim().to_ascii_lowercase())
    .filter(|r| !r.is_empty())
    .map(|r| outcome::finish_reason(&r).to_owned())
    .collect()
}
