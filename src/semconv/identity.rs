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
    const USER: &[&str] = &[
        "user.id",
        "enduser.id",
        "enduser.pseudo.id",
        "gen_ai.user",
        "gen_ai.request.user",
        "llm.user",
        "traceloop.association.properties.user_id",
        "langfuse.user.id",
        "langfuse.trace.metadata.langfuse_user_id",
        "langfuse.observation.metadata.langfuse_user_id",
        "ai.telemetry.metadata.userId",
        "ai.settings.context.userId",
        "litellm.end_user.id",
        "metadata.user_api_key_end_user_id",
        "metadata.user_api_key_user_id",
        "user_id",
        "session.user_id",
    ];
    const SESSION: &[&str] = &[
        "session.id",
        "langfuse.session.id",
        "traceloop.association.properties.session_id",
        "ai.telemetry.metadata.sessionId",
        "ai.settings.context.sessionId",
    ];
    const CONVERSATION: &[&str] = &["gen_ai.conversation.id"];
    let is = |keys: &[&str]| keys.iter().any(|k| k.eq_ignore_ascii_case(key));
    if is(USER) {
        Some(IdentityKind::User)
    } else if is(SESSION) {
        Some(IdentityKind::Session)
    } else if is(CONVERSATION) {
        Some(IdentityKind::Conversation)
    } else {
        None
    }
}
