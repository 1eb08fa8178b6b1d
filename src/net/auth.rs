//! Optional bearer-token authentication for the receivers.
//!
//! Tokens are named and read from environment variables named in the config, never from
//! the config file itself. Every configured token is compared in constant time on every
//! request, so timing reveals neither which token matched nor how much of one did. Token
//! values never reach logs: [`Secret`] prints as `**REDACTED**`.

use std::fmt;

use serde::Deserialize;

use crate::component::config::ConfigError;
use crate::model::RefusalReason;

/// `receivers.otlp.auth`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Accepted tokens; a request must carry one of them.
    pub bearer_tokens: Vec<TokenConfig>,
}

/// One accepted token.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// A name for logs and audits, e.g. the team or app that holds the token.
    pub name: String,
    /// The environment variable that holds the token.
    pub token_env: String,
}

/// Shortest token accepted, so a guessable value cannot be configured by accident.
const MIN_TOKEN_LEN: usize = 16;

impl AuthConfig {
    pub(crate) fn check(
        &self,
        path: &str,
        errors: &mut Vec<ConfigError>,
        env: &dyn Fn(&str) -> Option<String>,
    ) {
        if self.bearer_tokens.is_empty() {
            errors.push(ConfigError {
                path: format!("{path}.bearer_tokens"),
                message: "list at least one token, or remove auth".into(),
            });
        }
        let mut names = std::collections::HashSet::new();
        for (i, t) in self.bearer_tokens.iter().enumerate() {
            let here = format!("{path}.bearer_tokens[{i}]");
            if !names.insert(t.name.as_str()) {
                errors.push(ConfigError {
                    path: format!("{here}.name"),
                    message: format!("duplicate token name {:?}", t.name),
                });
            }
            match env(&t.token_env) {
                None => errors.push(ConfigError {
                    path: format!("{here}.token_env"),
                    message: format!("environment variable {} is not set", t.token_env),
                }),
                Some(v) if v.len() < MIN_TOKEN_LEN => errors.push(ConfigError {
                    path: format!("{here}.token_env"),
                    message: format!(
                        "the token in {} is shorter than {MIN_TOKEN_LEN} characters",
                        t.token_env
                    ),
                }),
                Some(_) => {}
            }
        }
    }

    /// Reads the tokens from `env`. Call after [`AuthConfig::check`] passed.
    pub fn build(&self, env: &dyn Fn(&str) -> Option<String>) -> Auth {
        Auth {
            tokens: self
                .bearer_tokens
                .iter()
                .filter_map(|t| env(&t.token_env).map(|v| (t.name.clone(), Secret(v.into_bytes()))))
                .collect(),
        }
    }
}

/// A secret value that never prints.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("**REDACTED**")
    }
}

/// The accepted tokens, ready to compare.
#[derive(Clone, Debug)]
pub struct Auth {
    tokens: Vec<(String, Secret)>,
}

/// Compares two byte strings in time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

impl Auth {
    /// Checks an `authorization` header value; returns the matching token's name.
    pub fn check(&self, header: Option<&[u8]>) -> Result<&str, RefusalReason> {
        let Some(value) = header else {
            return Err(RefusalReason::MissingToken);
        };
        let token = value
            .strip_prefix(b"Bearer ")
            .or_else(|| value.strip_prefix(b"bearer "))
            .ok_or(RefusalReason::InvalidToken)?;
        // Compare against every token, without stopping early.
        let mut matched = None;
        for (name, secret) in &self.tokens {
            if constant_time_eq(token, &secret.0) && matched.is_none() {
                matched = Some(name.as_str());
            }
        }
        matched.ok_or(RefusalReason::InvalidToken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Auth {
        let cfg = AuthConfig {
            bearer_tokens: vec![
                TokenConfig {
                    name: "web".into(),
                    token_env: "A".into(),
                },
                TokenConfig {
                    name: "worker".into(),
                    token_env: "B".into(),
                },
            ],
        };
        cfg.build(&|name| match name {
            "A" => Some("aaaaaaaaaaaaaaaaaaaa".into()),
            "B" => Some("bbbbbbbbbbbbbbbbbbbb".into()),
            _ => None,
        })
    }

    #[test]
    fn accepts_each_named_token() {
        let a = auth();
        assert_eq!(a.check(Some(b"Bearer aaaaaaaaaaaaaaaaaaaa")), Ok("web"));
        assert_eq!(a.check(Some(b"Bearer bbbbbbbbbbbbbbbbbbbb")), Ok("worker"));
    }

    #[test]
    fn refuses_missing_wrong_and_prefix_tokens() {
        let a = auth();
        assert_eq!(a.check(None), Err(RefusalReason::MissingToken));
        assert_eq!(
            a.check(Some(b"Bearer aaaaaaaaaaaaaaaaaaa")),
            Err(RefusalReason::InvalidToken)
        );
        assert_eq!(
            a.check(Some(b"Bearer aaaaaaaaaaaaaaaaaaaaa")),
            Err(RefusalReason::InvalidToken)
        );
        assert_eq!(
            a.check(Some(b"Basic aaaaaaaaaaaaaaaaaaaa")),
            Err(RefusalReason::InvalidToken)
        );
        assert_eq!(a.check(Some(b"Bearer ")), Err(RefusalReason::InvalidToken));
    }

    #[test]
    fn secret_never_prints() {
        assert_eq!(format!("{:?}", auth()).matches("REDACTED").count(), 2);
        assert!(!format!("{:?}", auth()).contains("aaaa"));
    }

    #[test]
    fn config_reports_missing_and_short_tokens() {
        let cfg = AuthConfig {
            bearer_tokens: vec![
                TokenConfig {
                    name: "x".into(),
                    token_env: "MISSING".into(),
                },
                TokenConfig {
                    name: "x".into(),
                    token_env: "SHORT".into(),
                },
            ],
        };
        let mut errors = Vec::new();
        cfg.check("receivers.otlp.auth", &mut errors, &|n| {
            (n == "SHORT").then(|| "abc".to_owned())
        });
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 3, "{text:?}");
        assert!(text[0].contains("MISSING is not set"));
    }
}
