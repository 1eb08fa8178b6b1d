//! Who an item belongs to: user, session and conversation, read with
//! [`crate::semconv::identity`] from the item's own attributes first, then from what
//! encloses it (its span, its resource).

use std::borrow::Cow;

use opentelemetry_proto::tonic::common::v1::KeyValue;

use crate::model::attrs::text_ref;
use crate::semconv::identity::{IdentityKind, identity_kind};

/// The identity of one item. Values are pseudonyms once the redaction processor ran.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity<'a> {
    /// The end user.
    pub user: Option<Cow<'a, str>>,
    /// The session.
    pub session: Option<Cow<'a, str>>,
    /// The conversation.
    pub conversation: Option<Cow<'a, str>>,
    /// The conversation, else the session, of the first layer that has either: what
    /// conversation metrics group by.
    pub thread: Option<Cow<'a, str>>,
}

/// A scalar as text, borrowed when it is a string; empty strings are none.
fn scalar(kv: &KeyValue) -> Option<Cow<'_, str>> {
    kv.value
        .as_ref()
        .and_then(text_ref)
        .filter(|v| !v.is_empty())
}

impl<'a> Identity<'a> {
    /// Reads `layers`, innermost first: per kind, the first non-empty value of the first
    /// layer that has one.
    pub fn of(layers: &[&'a [KeyValue]]) -> Identity<'a> {
        let mut id = Identity::default();
        for layer in layers {
            let mut found = Identity::default();
            for kv in *layer {
                let slot = match identity_kind(&kv.key) {
                    Some(IdentityKind::User) => &mut found.user,
                    Some(IdentityKind::Session) => &mut found.session,
                    Some(IdentityKind::Conversation) => &mut found.conversation,
                    None => continue,
                };
                if slot.is_none() {
                    *slot = scalar(kv);
                }
            }
            if id.thread.is_none() {
                id.thread = found.conversation.clone().or_else(|| found.session.clone());
            }
            id.user = id.user.or(found.user);
            id.session = id.session.or(found.session);
            id.conversation = id.conversation.or(found.conversation);
        }
        id
    }

    /// This identity, read from an inner layer, completed by `outer`'s: what
    /// [`Identity::of`] gives for the inner layer followed by `outer`'s layers, without
    /// reading those again.
    pub fn within(self, outer: &Identity<'a>) -> Identity<'a> {
        Identity {
            user: self.user.or_else(|| outer.user.clone()),
            session: self.session.or_else(|| outer.session.clone()),
            conversation: self.conversation.or_else(|| outer.conversation.clone()),
            thread: self.thread.or_else(|| outer.thread.clone()),
        }
    }

    /// The conversation, else the session, of the innermost layer that has either.
    pub fn thread(&self) -> Option<&str> {
        self.thread.as_deref()
    }
}
