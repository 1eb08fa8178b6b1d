//! Which attribute keys identify a user, a session or a conversation, in every emitter's
//! spelling (genai-semconv.md): OTel, OpenAI, OpenLLMetry/Traceloop, OpenInference,
//! Langfuse, the Vercel AI SDK, LiteLLM.

/// What an identity key identifies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentityKind {
    /// An end user.
    User,
    /// A session (of a user, possibly spanning conversations).
    Session,
    /// One conversation (thread) with the assistant.
    Conversation,
}

/// The kind of identity `key` holds, if any: the exact keys of every emitter, compared
/// ignoring ASCII case.
pub fn identity_kind(key: &str) -> Option<IdentityKind> {
    // Called for every attribute of every item: the exact spelling is one jump table, and
    // only a key with an upper-case letter pays for the case-insensitive scan.
    fn exact(key: &str) -> Option<IdentityKind> {
        Some(match key {
            "user.id"
            | "enduser.id"
            | "enduser.pseudo.id"
            | "gen_ai.user"
            | "gen_ai.request.user"
            | "llm.user"
            | "traceloop.association.properties.user_id"
            | "langfuse.user.id"
            | "langfuse.trace.metadata.langfuse_user_id"
            | "langfuse.observation.metadata.langfuse_user_id"
            | "ai.telemetry.metadata.userid"
            | "litellm.end_user.id"
            | "metadata.user_api_key_end_user_id"
            | "metadata.user_api_key_user_id"
            | "user_id"
            | "session.user_id" => IdentityKind::User,
            "session.id"
            | "langfuse.session.id"
            | "traceloop.association.properties.session_id"
            | "ai.telemetry.metadata.sessionid" => IdentityKind::Session,
            "gen_ai.conversation.id" => IdentityKind::Conversation,
            _ => return None,
        })
    }
    if !key.bytes().any(|b| b.is_ascii_uppercase()) {
        return exact(key);
    }
    // The longest key above; a longer one is none of them.
    if key.len() > 48 {
        return None;
    }
    let mut lower = [0u8; 48];
    let lower = &mut lower[..key.len()];
    lower.copy_from_slice(key.as_bytes());
    lower.make_ascii_lowercase();
    std::str::from_utf8(lower).ok().and_then(exact)
}
