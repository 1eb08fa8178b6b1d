//! The one table of user, session and conversation id keys, across every emitter: what the
//! redaction processor pseudonymises and what the derive stage reads identities from.
//!
//! [`identity_kind`] answers for a key from the table first (OTel, OpenAI, Traceloop,
//! OpenInference, Langfuse, the Vercel AI SDK 6 and 7, LiteLLM; genai-semconv.md §4),
//! ignoring ASCII case, then from a case-insensitive pattern rule, so that an emitter
//! nobody listed still has its user id pseudonymised rather than leaked: a key whose last
//! segment is `user_id`, `userId`, `end_user_id`, `endUserId` or `user-id` (any case), a
//! key ending in `.user.id`, or an `enduser.*` key ending in `id`. Sessions and
//! conversations follow the same shapes with `session` and `conversation`.
//!
//! The rule never matches keys that only mention a user: `user.name`, `user.email`,
//! `user.agent`, `user_count`, `gen_ai.usage.input_tokens`, `thread.id`.
//!
//! It is called for every attribute of every item, so it allocates nothing: the table is
//! one `match` (a jump table on length and bytes), and only a key with an upper-case
//! letter is lowered, into a stack buffer; the pattern rule looks only at keys ending in
//! `id`.

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

/// The keys of every known emitter, lowered.
fn table(key: &str) -> Option<IdentityKind> {
    use IdentityKind::{Conversation, Session, User};
    Some(match key {
        // OpenTelemetry general and GenAI semantic conventions.
        "user.id" | "enduser.id" | "enduser.pseudo.id" => User,
        "session.id" | "session.previous_id" => Session,
        "gen_ai.conversation.id" => Conversation,
        // OpenAI's `user` request parameter, as instrumentations record it; OpenInference.
        "gen_ai.user" | "gen_ai.request.user" | "gen_ai.openai.request.user" | "llm.user" => User,
        // Traceloop / OpenLLMetry association properties.
        "traceloop.association.properties.user_id" | "traceloop.association.properties.userid" => {
            User
        }
        "traceloop.association.properties.session_id"
        | "traceloop.association.properties.sessionid" => Session,
        "traceloop.association.properties.conversation_id" => Conversation,
        // Langfuse.
        "langfuse.user.id"
        | "langfuse.trace.metadata.langfuse_user_id"
        | "langfuse.observation.metadata.langfuse_user_id" => User,
        "langfuse.session.id"
        | "langfuse.trace.metadata.langfuse_session_id"
        | "langfuse.observation.metadata.langfuse_session_id" => Session,
        // Vercel AI SDK 6 (`experimental_telemetry.metadata`, user-chosen keys) and 7
        // (`ai.settings.context`).
        "ai.telemetry.metadata.userid"
        | "ai.telemetry.metadata.user_id"
        | "ai.settings.context.userid"
        | "ai.settings.context.user_id" => User,
        "ai.telemetry.metadata.sessionid"
        | "ai.telemetry.metadata.session_id"
        | "ai.settings.context.sessionid"
        | "ai.settings.context.session_id" => Session,
        "ai.telemetry.metadata.conversationid" | "ai.settings.context.conversationid" => {
            Conversation
        }
        // LiteLLM.
        "litellm.end_user.id"
        | "metadata.user_api_key_user_id"
        | "metadata.user_api_key_end_user_id" => User,
        "litellm.session.id" => Session,
        // Bare keys apps set themselves.
        "user_id" | "userid" | "session.user_id" => User,
        "session_id" => Session,
        "conversation_id" => Conversation,
        _ => return None,
    })
}

/// The longest key looked at; a longer one is no identity key.
const MAX_KEY: usize = 256;

/// What `key` names, if it is a user, session or conversation id.
pub fn identity_kind(key: &str) -> Option<IdentityKind> {
    if key.len() > MAX_KEY || !may_name_identity(key.as_bytes()) {
        return None;
    }
    if !key.bytes().any(|b| b.is_ascii_uppercase()) {
        return table(key).or_else(|| pattern_kind(key));
    }
    let mut buf = [0u8; MAX_KEY];
    let lower = &mut buf[..key.len()];
    lower.copy_from_slice(key.as_bytes());
    lower.make_ascii_lowercase();
    // Lowering ASCII letters keeps UTF-8 valid.
    let lower = std::str::from_utf8(lower).ok()?;
    table(lower).or_else(|| pattern_kind(lower))
}

/// Whether `key` ends, in any case, with `id` or `user`, as every key of the table and of
/// the pattern rule does: most keys are told apart by their last bytes alone.
fn may_name_identity(key: &[u8]) -> bool {
    let ends = |suffix: &[u8]| {
        key.len() >= suffix.len() && key[key.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
    };
    ends(b"id") || ends(b"user")
}

/// The pattern rule, for lowered keys no table lists.
fn pattern_kind(lower: &str) -> Option<IdentityKind> {
    if !lower.ends_with("id") {
        return None;
    }
    if lower.starts_with("enduser.") {
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
    .find(|(word, _)| names_id_of(lower, word))
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
