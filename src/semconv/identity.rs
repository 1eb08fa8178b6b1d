//! The one table of user, session and conversation id keys, across every emitter.
//!
//! [`identity_kind`] answers for a key from the table first (OTel, OpenAI, Traceloop,
//! OpenInference, Langfuse, the Vercel AI SDK 6 and 7, LiteLLM; genai-semconv.md §4), then
//! from a case-insensitive pattern rule, so that an emitter nobody listed still has its
//! user id pseudonymised rather than leaked: a key whose last segment is `user_id`,
//! `userId`, `end_user_id`, `endUserId` or `user-id` (any case), a key ending in `.user.id`,
//! or an `enduser.*` key ending in `id`. Sessions and conversations follow the same shapes
//! with `session` and `conversation`.
//!
//! The rule never matches keys that only mention a user: `user.name`, `user.email`,
//! `user.agent`, `user_count`, `gen_ai.usage.input_tokens`, `thread.id`.

/// What an identity key names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IdentityKind {
    /// An end user of the app.
    User,
    /// A session (of a user, a browser, a device).
    Session,
    /// A conversation or chat thread with the model.
    Conversation,
}

/// The keys of every known emitter, exactly as they write them.
const TABLE: &[(&str, IdentityKind)] = &[
    // OpenTelemetry general and GenAI semantic conventions.
    ("user.id", IdentityKind::User),
    ("enduser.id", IdentityKind::User),
    ("enduser.pseudo.id", IdentityKind::User),
    ("session.id", IdentityKind::Session),
    ("session.previous_id", IdentityKind::Session),
    ("gen_ai.conversation.id", IdentityKind::Conversation),
    // OpenAI's `user` request parameter, as instrumentations record it.
    ("gen_ai.user", IdentityKind::User),
    ("gen_ai.request.user", IdentityKind::User),
    ("gen_ai.openai.request.user", IdentityKind::User),
    // OpenInference.
    ("llm.user", IdentityKind::User),
    // Traceloop / OpenLLMetry association properties.
    (
        "traceloop.association.properties.user_id",
        IdentityKind::User,
    ),
    (
        "traceloop.association.properties.userId",
        IdentityKind::User,
    ),
    (
        "traceloop.association.properties.session_id",
        IdentityKind::Session,
    ),
    (
        "traceloop.association.properties.sessionId",
        IdentityKind::Session,
    ),
    (
        "traceloop.association.properties.conversation_id",
        IdentityKind::Conversation,
    ),
    // Langfuse.
    ("langfuse.user.id", IdentityKind::User),
    (
        "langfuse.trace.metadata.langfuse_user_id",
        IdentityKind::User,
    ),
    (
        "langfuse.observation.metadata.langfuse_user_id",
        IdentityKind::User,
    ),
    ("langfuse.session.id", IdentityKind::Session),
    (
        "langfuse.trace.metadata.langfuse_session_id",
        IdentityKind::Session,
    ),
    (
        "langfuse.observation.metadata.langfuse_session_id",
        IdentityKind::Session,
    ),
    // Vercel AI SDK 6 (`experimental_telemetry.metadata`, user-chosen keys) and 7
    // (`ai.settings.context`).
    ("ai.telemetry.metadata.userId", IdentityKind::User),
    ("ai.telemetry.metadata.user_id", IdentityKind::User),
    ("ai.telemetry.metadata.sessionId", IdentityKind::Session),
    ("ai.telemetry.metadata.session_id", IdentityKind::Session),
    (
        "ai.telemetry.metadata.conversationId",
        IdentityKind::Conversation,
    ),
    ("ai.settings.context.userId", IdentityKind::User),
    ("ai.settings.context.user_id", IdentityKind::User),
    ("ai.settings.context.sessionId", IdentityKind::Session),
    ("ai.settings.context.session_id", IdentityKind::Session),
    (
        "ai.settings.context.conversationId",
        IdentityKind::Conversation,
    ),
    // LiteLLM.
    ("litellm.end_user.id", IdentityKind::User),
    ("metadata.user_api_key_user_id", IdentityKind::User),
    ("metadata.user_api_key_end_user_id", IdentityKind::User),
    ("litellm.session.id", IdentityKind::Session),
    // Bare keys apps set themselves.
    ("user_id", IdentityKind::User),
    ("userId", IdentityKind::User),
    ("session.user_id", IdentityKind::User),
    ("session_id", IdentityKind::Session),
    ("conversation_id", IdentityKind::Conversation),
];

/// What `key` names, if it is a user, session or conversation id.
pub fn identity_kind(key: &str) -> Option<IdentityKind> {
    if let Some((_, kind)) = TABLE.iter().find(|(k, _)| *k == key) {
        return Some(*kind);
    }
    pattern_kind(key)
}

/// The case-insensitive pattern rule, for keys no table lists.
fn pattern_kind(key: &str) -> Option<IdentityKind> {
    if key.len() > 256 {
        return None;
    }
    let lower = key.to_ascii_lowercase();
    if lower.starts_with("enduser.") && lower.ends_with("id") {
        return Some(IdentityKind::User);
    }
    [
        ("user", IdentityKind::User),
        ("enduser", IdentityKind::User),
        ("end_user", IdentityKind::User),
        ("session", IdentityKind::Session),
        ("conversation", IdentityKind::Conversation),
    ]
    .into_iter()
    .find(|(word, _)| names_id_of(&lower, word))
    .map(|(_, kind)| kind)
}

/// Whether the lowercase `key` ends with `<word>_id`, `<word>id`, `<word>-id` or
/// `<word>.id`, with `<word>` starting a segment (after `.`, `_`, `-` or at the start).
fn names_id_of(key: &str, word: &str) -> bool {
    ["_id", "id", "-id", ".id"].iter().any(|suffix| {
        let Some(stem) = key.strip_suffix(suffix) else {
            return false;
        };
        let Some(before) = stem.strip_suffix(word) else {
            return false;
        };
        before.is_empty() || before.ends_with(['.', '_', '-'])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_emitters_keys_are_in_the_table() {
        for key in [
            "user.id",
            "enduser.id",
            "ai.settings.context.userId",
            "ai.telemetry.metadata.user_id",
            "ai.telemetry.metadata.userId",
            "langfuse.user.id",
            "litellm.end_user.id",
            "metadata.user_api_key_end_user_id",
            "traceloop.association.properties.user_id",
        ] {
            assert_eq!(identity_kind(key), Some(IdentityKind::User), "{key}");
        }
        assert_eq!(
            identity_kind("ai.settings.context.sessionId"),
            Some(IdentityKind::Session)
        );
        assert_eq!(
            identity_kind("gen_ai.conversation.id"),
            Some(IdentityKind::Conversation)
        );
    }

    #[test]
    fn the_pattern_rule_catches_unknown_emitters() {
        for key in [
            "myapp.customer.user_id",
            "app.UserId",
            "x.USER_ID",
            "acme.user.id",
            "acme.end_user_id",
            "acme.endUserId",
            "enduser.hashed_id",
            "user-id",
            "meta.user-id",
        ] {
            assert_eq!(identity_kind(key), Some(IdentityKind::User), "{key}");
        }
        assert_eq!(identity_kind("app.sessionId"), Some(IdentityKind::Session));
        assert_eq!(
            identity_kind("chat.conversation_id"),
            Some(IdentityKind::Conversation)
        );
    }

    #[test]
    fn keys_that_are_not_ids_are_left_alone() {
        for key in [
            "user.name",
            "user.email",
            "user_agent.original",
            "user_count",
            "gen_ai.usage.input_tokens",
            "thread.id",
            "superuser_idle",
            "poweruserid",
            "users_id_list",
            "enduser.role",
            "session.duration",
            "gen_ai.response.id",
            "service.instance.id",
        ] {
            assert_eq!(identity_kind(key), None, "{key}");
        }
    }
}
