//! `processors.redaction`: the settings, their checks, and building the processor.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;

use crate::component::factory::{BuildContext, Factory, ProcessorSettings, decode_checked};
use crate::derive::Stage;

use super::counter::RedactionCounter;
use super::detect::CustomPattern;
use super::glob::Glob;
use super::processor::Redactor;
use super::{Detector, Scanner};

/// What happens to a finding.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Replace with a typed placeholder, `[EMAIL]`.
    #[default]
    Mask,
    /// Replace with a keyed-hash placeholder, `[EMAIL:3f9a1c]`: equal values still correlate.
    Hash,
    /// Drop the attribute that holds it (in a log body or a name: mask).
    Drop,
}

/// What happens to prompt and completion content.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ContentPolicy {
    /// Keep content, redacted like every other string.
    #[default]
    Keep,
    /// Drop content attributes, content span events and the bodies of content log events.
    Drop,
    /// Keep only metadata: `<key>.length` (characters) and `<key>.pii` (the detectors that
    /// fired in it) instead of the content.
    Metadata,
}

/// One user-defined pattern.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatternConfig {
    /// Lowercase letters, digits and `_`; the placeholder is its uppercase in brackets.
    pub name: String,
    /// A regex in Rust `regex` syntax.
    pub regex: String,
    /// The action for its findings; the processor's `action` when absent.
    #[serde(default)]
    pub action: Option<Action>,
}

/// `processors.redaction`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactionConfig {
    /// Detectors to run, by name; all of them by default.
    #[serde(default)]
    pub detectors: Option<Vec<String>>,
    /// The action for every detector without an override.
    #[serde(default)]
    pub action: Action,
    /// Per-detector actions, e.g. `{ email: hash, private_key: drop }`.
    #[serde(default)]
    pub actions: BTreeMap<String, Action>,
    /// User-defined patterns: `[{ name: employee_id, regex: "EMP-[0-9]{6}", action: hash }]`.
    #[serde(default)]
    pub patterns: Vec<PatternConfig>,
    /// Attribute keys never scanned (globs with `*`): ids, counts, model names.
    #[serde(default = "RedactionConfig::default_allow_keys")]
    pub allow_keys: Vec<String>,
    /// Attribute keys whose values are always replaced by `[REDACTED]` (globs with `*`).
    #[serde(default = "RedactionConfig::default_block_keys")]
    pub block_keys: Vec<String>,
    /// What to do with prompt and completion content.
    #[serde(default)]
    pub content: ContentPolicy,
    /// Attribute keys that hold content (globs with `*`), across GenAI conventions.
    #[serde(default = "RedactionConfig::default_content_keys")]
    pub content_keys: Vec<String>,
    /// Span event and log event names whose payload is content.
    #[serde(default = "RedactionConfig::default_content_events")]
    pub content_events: Vec<String>,
    /// Attributes that mark telemetry as opted out of user-level analytics (for example a
    /// Do-Not-Track flag), on the resource or the item, with the value `true`, `"true"` or 1.
    /// Such telemetry keeps counting in error and health metrics, but its user ids are
    /// removed instead of pseudonymised.
    #[serde(default = "RedactionConfig::default_opt_out_keys")]
    pub opt_out_keys: Vec<String>,
    /// Scan span names too.
    #[serde(default = "RedactionConfig::yes")]
    pub span_names: bool,
    /// Add `redaction.masked.count` and `redaction.masked.types` to every span and log
    /// record that had something redacted, for audits.
    #[serde(default)]
    pub summary: bool,
    /// Attribute keys holding user ids, replaced by a keyed hash, besides those of
    /// `identity_keys`.
    #[serde(default = "RedactionConfig::default_user_id_keys")]
    pub user_id_keys: Vec<String>,
    /// Pseudonymise the user ids of every emitter's key and of the pattern rule
    /// (`semconv::identity`: `*user_id`, `*userId`, `*.user.id`, `enduser.*id`, …).
    #[serde(default = "RedactionConfig::yes")]
    pub identity_keys: bool,
    /// Regions (ISO 3166-1 alpha-2) whose national phone formats are recognised; numbers
    /// written with `+` and a country code are recognised for every country.
    #[serde(default = "RedactionConfig::default_phone_regions")]
    pub phone_regions: Vec<String>,
    /// The environment variable holding the hashing key (at least 16 bytes).
    #[serde(default = "RedactionConfig::default_key_env")]
    pub hash_key_env: String,
    /// A file holding the hashing key (at least 16 bytes): how a fleet shares one key.
    #[serde(default)]
    pub hash_key_file: Option<std::path::PathBuf>,
    /// Use a fixed, public development key when none is set, instead of generating one.
    /// Pseudonyms made with it can be reversed by anyone who guesses the ids: tests only.
    #[serde(default)]
    pub insecure_dev_key: bool,
}

/// The BLAKE3 key-derivation context of pseudonyms.
const PSEUDONYM_CONTEXT: &str = "llmwatch redaction 2026-11 pseudonyms";

impl RedactionConfig {
    fn yes() -> bool {
        true
    }
    pub(super) fn default_allow_keys() -> Vec<String> {
        [
            // Ids known to be random or opaque; a catch-all like `*.id` would also skip a
            // `customer.id` that holds an e-mail address.
            "trace_id",
            "span_id",
            "gen_ai.response.id",
            "gen_ai.conversation.id",
            "session.id",
            "service.instance.id",
            "gen_ai.usage.*",
            "gen_ai.request.model",
            "gen_ai.response.model",
            "gen_ai.system",
            "gen_ai.provider.name",
            "gen_ai.operation.name",
            "gen_ai.response.finish_reasons",
            "server.port",
            "http.response.status_code",
            "telemetry.sdk.*",
            "service.name",
            "service.version",
        ]
        .map(String::from)
        .to_vec()
    }
    fn default_block_keys() -> Vec<String> {
        [
            "*password*",
            "*passwd*",
            "*secret*",
            "*api-key*",
            "*api_key*",
            "*apikey*",
            "*access_token*",
            "*access-token*",
            "*refresh_token*",
            "*refresh-token*",
            "http.request.header.authorization",
            "http.request.header.cookie",
            "db.connection_string",
        ]
        .map(String::from)
        .to_vec()
    }
    /// The user-id keys of every convention in genai-semconv.md: OTel, OpenAI, Traceloop,
    /// OpenInference, Langfuse, the Vercel AI SDK and LiteLLM.
    pub(super) fn default_user_id_keys() -> Vec<String> {
        [
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
            "litellm.end_user.id",
            "metadata.user_api_key_user_id",
            "metadata.user_api_key_end_user_id",
            "user_id",
            "session.user_id",
        ]
        .map(String::from)
        .to_vec()
    }
    fn default_content_keys() -> Vec<String> {
        [
            "gen_ai.input.messages",
            "gen_ai.output.messages",
            "gen_ai.system_instructions",
            "gen_ai.prompt*",
            "gen_ai.completion*",
            "llm.input_messages*",
            "llm.output_messages*",
            "input.value",
            "output.value",
            "ai.prompt*",
            "ai.response.text",
            "ai.response.object",
            "traceloop.entity.input",
            "traceloop.entity.output",
            "langfuse.observation.input",
            "langfuse.observation.output",
        ]
        .map(String::from)
        .to_vec()
    }
    fn default_content_events() -> Vec<String> {
        [
            "gen_ai.content.prompt",
            "gen_ai.content.completion",
            "gen_ai.system.message",
            "gen_ai.user.message",
            "gen_ai.assistant.message",
            "gen_ai.tool.message",
            "gen_ai.choice",
            "gen_ai.client.inference.operation.details",
        ]
        .map(String::from)
        .to_vec()
    }
    fn default_opt_out_keys() -> Vec<String> {
        ["user.analytics_opt_out", "user.dnt", "app.do_not_track"]
            .map(String::from)
            .to_vec()
    }
    fn default_phone_regions() -> Vec<String> {
        super::phone::DEFAULT_REGIONS.map(String::from).to_vec()
    }
    fn default_key_env() -> String {
        "LLMWATCH_REDACTION_KEY".to_owned()
    }

    fn needs_key(&self) -> bool {
        self.identity_keys
            || !self.user_id_keys.is_empty()
            || self.action == Action::Hash
            || self.actions.values().any(|a| *a == Action::Hash)
    }

    fn detectors(&self) -> Result<Vec<Detector>, String> {
        let Some(names) = &self.detectors else {
            return Ok(Detector::ALL.to_vec());
        };
        names
            .iter()
            .map(|n| {
                Detector::ALL
                    .into_iter()
                    .find(|d| d.name() == n)
                    .ok_or_else(|| format!("unknown detector {n:?}"))
            })
            .collect()
    }

    /// Keys the GenAI metrics stage reads: a redaction rule that removes or rewrites them
    /// silently breaks token and cost metrics.
    const DERIVE_NEEDS: [&'static str; 7] = [
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens",
        "gen_ai.request.model",
        "gen_ai.response.model",
        "gen_ai.provider.name",
        "gen_ai.system",
        "gen_ai.operation.name",
    ];

    /// Settings that are valid but probably not meant: rules that hide keys the GenAI
    /// metrics need.
    pub fn warnings(&self) -> Vec<String> {
        let block: Vec<Glob> = self.block_keys.iter().map(|g| Glob::new(g)).collect();
        let content: Vec<Glob> = self.content_keys.iter().map(|g| Glob::new(g)).collect();
        Self::DERIVE_NEEDS
            .iter()
            .filter_map(|key| {
                if block.iter().any(|g| g.matches(key)) {
                    Some(format!(
                        "block_keys hides {key}, which the GenAI metrics read"
                    ))
                } else if self.content != ContentPolicy::Keep
                    && content.iter().any(|g| g.matches(key))
                {
                    Some(format!(
                        "content_keys covers {key}, which the GenAI metrics read"
                    ))
                } else {
                    None
                }
            })
            .collect()
    }

    /// Problems that would stop the processor from building, with the environment given.
    pub fn check(&self, env: &dyn Fn(&str) -> Option<String>) -> Vec<(String, String)> {
        let mut errors = Vec::new();
        if let Err(e) = self.detectors() {
            errors.push((
                "detectors".to_owned(),
                format!(
                    "{e}; known: {}",
                    Detector::ALL.map(Detector::name).join(", ")
                ),
            ));
        }
        for (i, p) in self.patterns.iter().enumerate() {
            let valid_name = !p.name.is_empty()
                && p.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !valid_name
                || Detector::ALL.iter().any(|d| d.name() == p.name)
                || self.patterns[..i].iter().any(|q| q.name == p.name)
            {
                errors.push((format!("patterns[{i}].name"), format!("{:?} must be unique, not a built-in detector's, and use lowercase letters, digits and _", p.name)));
            }
            match regex_automata::meta::Regex::new(&p.regex) {
                Err(e) => errors.push((
                    format!("patterns[{i}].regex"),
                    format!("invalid regex: {e}"),
                )),
                Ok(r) if r.is_match("") => errors.push((
                    format!("patterns[{i}].regex"),
                    "matches the empty string".to_owned(),
                )),
                Ok(_) => {}
            }
        }
        if let Err(e) = super::phone::parse_regions(&self.phone_regions) {
            errors.push(("phone_regions".to_owned(), e));
        }
        for name in self.actions.keys() {
            if !Detector::ALL.iter().any(|d| d.name() == name) {
                errors.push((format!("actions.{name}"), "not a detector name".to_owned()));
            }
        }
        if let Some(k) = env(&self.hash_key_env)
            && k.len() < 16
        {
            errors.push((
                "hash_key_env".to_owned(),
                format!("the key in {} is shorter than 16 bytes", self.hash_key_env),
            ));
        }
        errors
    }

    /// The pseudonyms this config's processor gives, for `POST /admin/forget`.
    pub fn pseudonymiser(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<super::processor::Pseudonymiser, String> {
        let material = super::key::material(self, env)?;
        Ok(super::processor::Pseudonymiser(blake3::derive_key(
            PSEUDONYM_CONTEXT,
            &material,
        )))
    }

    /// Builds the processor, counting into `counter`.
    pub fn build(
        &self,
        counter: &RedactionCounter,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Redactor, String> {
        let detectors = self.detectors()?;
        let patterns: Vec<CustomPattern> = self
            .patterns
            .iter()
            .map(|p| CustomPattern {
                name: p.name.clone(),
                regex: p.regex.clone(),
            })
            .collect();
        let scanner = Scanner::with_patterns(&detectors, &patterns)
            .map_err(|e| e.to_string())?
            .with_phone_regions(super::phone::parse_regions(&self.phone_regions)?);
        let material = if self.needs_key() {
            super::key::material(self, env)?
        } else {
            Vec::new()
        };
        Ok(Redactor {
            scanner,
            actions: Detector::ALL
                .map(|d| self.actions.get(d.name()).copied().unwrap_or(self.action)),
            custom_actions: self
                .patterns
                .iter()
                .map(|p| p.action.unwrap_or(self.action))
                .collect(),
            allow: self.allow_keys.iter().map(|g| Glob::new(g)).collect(),
            // Block keys match in any case: `X-Api-Key` as well as `x-api-key`.
            block: self
                .block_keys
                .iter()
                .map(|g| Glob::new(&g.to_ascii_lowercase()))
                .collect(),
            user_ids: self.user_id_keys.clone(),
            identity_keys: self.identity_keys,
            span_names: self.span_names,
            summary: self.summary,
            opt_out: self.opt_out_keys.clone(),
            content: self.content,
            content_keys: self.content_keys.iter().map(|g| Glob::new(g)).collect(),
            content_events: self.content_events.clone(),
            key: blake3::derive_key(PSEUDONYM_CONTEXT, &material),
            counter: counter.family(),
            rules: Default::default(),
        })
    }
}

/// The `redaction` processor type, for the registry.
pub const FACTORY: Factory<Arc<dyn ProcessorSettings<Stage>>> = Factory {
    type_name: "redaction",
    decode: |value, path, errors, env| {
        let cfg = decode_checked(value, path, errors, |c: &RedactionConfig| c.check(env))?;
        Some(Arc::new(cfg) as Arc<dyn ProcessorSettings<Stage>>)
    },
    register: |shared, registry| shared.insert(RedactionCounter::register(registry)),
};

impl ProcessorSettings<Stage> for RedactionConfig {
    fn build(&self, ctx: &BuildContext<'_>) -> Result<Stage, String> {
        let processor = RedactionConfig::build(self, &ctx.get()?, ctx.env)?;
        Ok(Stage::Rewrite(Arc::new(processor)))
    }

    fn warnings(&self) -> Vec<String> {
        RedactionConfig::warnings(self)
    }
}
