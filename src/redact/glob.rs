//! Key globs, compiled once: `*` stands for any run of characters.

use crate::model::glob::glob;

/// A key glob, compiled once: `*` stands for any run of characters.
#[derive(Clone, Debug)]
pub(super) enum Glob {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Contains(String),
    General(String),
}

impl Glob {
    pub(super) fn new(pattern: &str) -> Glob {
        let stars = pattern.matches('*').count();
        let inner = pattern.trim_matches('*');
        match (stars, pattern.starts_with('*'), pattern.ends_with('*')) {
            (0, _, _) => Glob::Exact(pattern.to_owned()),
            (1, false, true) => Glob::Prefix(inner.to_owned()),
            (1, true, false) => Glob::Suffix(inner.to_owned()),
            (2, true, true) if !inner.contains('*') => Glob::Contains(inner.to_owned()),
            _ => Glob::General(pattern.to_owned()),
        }
    }

    pub(super) fn matches(&self, key: &str) -> bool {
        match self {
            Glob::Exact(p) => key == p,
            Glob::Prefix(p) => key.starts_with(p.as_str()),
            Glob::Suffix(p) => key.ends_with(p.as_str()),
            Glob::Contains(p) => key.contains(p.as_str()),
            Glob::General(p) => glob(p, key),
        }
    }
}
