//! Glob matching for config patterns (`*` stands for any run of characters).

/// Whether `value` matches `pattern`, where each `*` stands for any run of characters
/// (none included) and everything else matches itself.
pub fn glob(pattern: &str, value: &str) -> bool {
    let Some((head, rest)) = pattern.split_once('*') else {
        return pattern == value;
    };
    let Some(mut tail) = value.strip_prefix(head) else {
        return false;
    };
    // The last part is anchored at the end; the ones between stars match leftmost, in
    // order, without allocating.
    let (middle, last) = rest.rsplit_once('*').unwrap_or(("", rest));
    for part in middle.split('*').filter(|p| !p.is_empty()) {
        match tail.find(part) {
            Some(at) => tail = &tail[at + part.len()..],
            None => return false,
        }
    }
    tail.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn stars_match_any_run_and_the_rest_matches_itself() {
        assert!(glob("RateLimit*", "RateLimitError"));
        assert!(glob("*Error", "RateLimitError"));
        assert!(glob("*Limit*", "RateLimitError"));
        assert!(glob("a*b*c", "a-b-c"));
        assert!(glob("*", ""));
        assert!(!glob("a*b*c", "a-c-b"));
        assert!(!glob("Rate", "RateLimitError"));
        // The tail does not reuse what the head matched.
        assert!(!glob("ab*ba", "aba"));
    }
}
