//! The `reports:` section: scheduled reports, where they go, and the secrets to get there.
//!
//! ```yaml
//! reports:
//!   prometheus: http://prometheus:9090
//!   state_dir: /var/lib/llmwatch        # last-sent times, so a restart sends a missed run once
//!   smtp: { host: smtp.example.com, port: 587, username: reports@example.com,
//!           password_env: LLMWATCH_SMTP_PASSWORD, from: "llmwatch <reports@example.com>" }
//!   webhooks:
//!     eng-chat: { url_env: LLMWATCH_ENG_WEBHOOK_URL }
//!   schedules:
//!     daily:
//!       period: day
//!       schedule: daily 08:00
//!       timezone: Europe/Berlin
//!       format: html                    # the e-mail's: html, or pdf (attached to an html body)
//!       audiences:
//!         engineering: { webhooks: [eng-chat], email: [eng@example.com] }
//! ```
//!
//! Secrets are named by environment variable (`*_env`) and read when the config loads, so
//! `llmwatch validate` reports a missing one; their values never reach logs or `Debug`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::Format;
use super::period::PeriodKind;
use super::schedule::Schedule;
use crate::component::config::{ConfigError, Path, decode_at};
use crate::component::units;

/// A secret read from the environment: shown as `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The validated section.
#[derive(Clone, Debug)]
pub struct ReportsConfig {
    /// Prometheus's base URL.
    pub prometheus: String,
    /// Where `reports-state.json` (the last-sent times) is kept; without it, a run missed
    /// while llmwatch was down is not sent after a restart.
    pub state_dir: Option<PathBuf>,
    /// The mail server, when any audience has e-mail.
    pub smtp: Option<SmtpConfig>,
    /// Incoming webhooks by name, with their URLs.
    pub webhooks: BTreeMap<String, Secret>,
    /// Scheduled reports by name.
    pub schedules: BTreeMap<String, ScheduledReport>,
    /// Delivery retries.
    pub retry: RetryConfig,
}

/// The mail server.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// Host name (also the name its certificate must carry).
    pub host: String,
    /// Port; 587 (submission with STARTTLS) by default.
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    /// `starttls` (default; the connection must upgrade) or `tls` (implicit TLS, port 465).
    #[serde(default)]
    pub security: SmtpSecurity,
    /// User name for AUTH; none means no authentication.
    #[serde(default)]
    pub username: Option<String>,
    /// The environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// The password, read from `password_env`.
    #[serde(skip)]
    pub password: Option<Secret>,
    /// The From address.
    pub from: String,
    /// A PEM file of CA certificates to trust instead of the system's.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

fn default_smtp_port() -> u16 {
    587
}

/// How the SMTP connection is secured. Plain text is not offered: passwords and reports
/// must not cross the network in the clear.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// STARTTLS is required.
    #[default]
    Starttls,
    /// TLS from the first byte.
    Tls,
}

/// One scheduled report.
#[derive(Clone, Debug)]
pub struct ScheduledReport {
    /// The period it covers, ending at the scheduled instant.
    pub period: PeriodKind,
    /// When it runs.
    pub schedule: Schedule,
    /// The e-mail's format (chat always gets the Markdown summary).
    pub format: Format,
    /// Spend dimensions.
    pub dimensions: Vec<String>,
    /// Recipients by audience.
    pub audiences: BTreeMap<String, Audience>,
}

/// Where one audience gets the report.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Audience {
    /// Webhook names.
    #[serde(default)]
    pub webhooks: Vec<String>,
    /// E-mail addresses.
    #[serde(default)]
    pub email: Vec<String>,
}

/// Retries of a failed delivery: `attempts` in all, waiting `initial`, then twice as
/// long each time, at most `max`.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Attempts in all.
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// First wait.
    #[serde(
        default = "default_initial",
        deserialize_with = "units::deserialize_duration"
    )]
    pub initial: Duration,
    /// Longest wait.
    #[serde(
        default = "default_max",
        deserialize_with = "units::deserialize_duration"
    )]
    pub max: Duration,
}

fn default_attempts() -> u32 {
    6
}
fn default_initial() -> Duration {
    Duration::from_secs(30)
}
fn default_max() -> Duration {
    Duration::from_secs(600)
}

impl Default for RetryConfig {
    fn default() -> RetryConfig {
        RetryConfig {
            attempts: default_attempts(),
            initial: default_initial(),
            max: default_max(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReports {
    prometheus: String,
    #[serde(default)]
    state_dir: Option<PathBuf>,
    #[serde(default)]
    smtp: Option<SmtpConfig>,
    #[serde(default)]
    webhooks: BTreeMap<String, RawWebhook>,
    #[serde(default)]
    schedules: BTreeMap<String, RawSchedule>,
    #[serde(default)]
    retry: RetryConfig,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhook {
    url_env: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    period: PeriodKind,
    schedule: String,
    #[serde(default = "default_timezone")]
    timezone: String,
    #[serde(default = "default_format")]
    format: Format,
    #[serde(default)]
    dimensions: Vec<String>,
    audiences: BTreeMap<String, Audience>,
}

fn default_timezone() -> String {
    "UTC".to_owned()
}
fn default_format() -> Format {
    Format::Html
}

fn error(path: &Path, at: &str, message: String) -> ConfigError {
    ConfigError {
        path: format!("{path}.{at}"),
        message,
    }
}

/// Reads a secret from `var`, or records why it cannot.
fn secret(
    var: &str,
    env: &dyn Fn(&str) -> Option<String>,
    path: &Path,
    at: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<Secret> {
    match env(var) {
        Some(v) if !v.is_empty() => Some(Secret(v)),
        _ => {
            errors.push(error(
                path,
                at,
                format!("the secret's environment variable {var} is not set"),
            ));
            None
        }
    }
}

impl ReportsConfig {
    /// Decodes and checks `reports:` at `path`, reading secrets from `env`.
    pub fn decode(
        value: Value,
        path: &Path,
        errors: &mut Vec<ConfigError>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Option<ReportsConfig> {
        let raw: RawReports = decode_at(value, path, errors)?;
        let before = errors.len();
        if let Err(e) = raw.prometheus.parse::<http::Uri>() {
            errors.push(error(
                path,
                "prometheus",
                format!("{:?} is not a URL: {e}", raw.prometheus),
            ));
        }
        let mut webhooks = BTreeMap::new();
        for (name, w) in &raw.webhooks {
            if let Some(url) = secret(
                &w.url_env,
                env,
                path,
                &format!("webhooks.{name}.url_env"),
                errors,
            ) {
                webhooks.insert(name.clone(), url);
            }
        }
        let smtp = raw.smtp.map(|mut s| {
            if let Some(var) = &s.password_env {
                s.password = secret(var, env, path, "smtp.password_env", errors);
            }
            if s.username.is_some() != s.password_env.is_some() {
                errors.push(error(
                    path,
                    "smtp",
                    "username and password_env go together".to_owned(),
                ));
            }
            s
        });
        let mut schedules = BTreeMap::new();
        for (name, r) in raw.schedules {
            let at = format!("schedules.{name}");
            if let Some(s) = check_schedule(r, &raw.webhooks, smtp.is_some(), path, &at, errors) {
                schedules.insert(name, s);
            }
        }
        if raw.retry.attempts == 0 {
            errors.push(error(
                path,
                "retry.attempts",
                "must be at least 1".to_owned(),
            ));
        }
        (errors.len() == before).then_some(ReportsConfig {
            prometheus: raw.prometheus,
            state_dir: raw.state_dir,
            smtp,
            webhooks,
            schedules,
            retry: raw.retry,
        })
    }
}

fn check_schedule(
    r: RawSchedule,
    webhooks: &BTreeMap<String, RawWebhook>,
    has_smtp: bool,
    path: &Path,
    at: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<ScheduledReport> {
    let before = errors.len();
    let schedule = Schedule::parse(&r.schedule, &r.timezone)
        .map_err(|(field, m)| errors.push(error(path, &format!("{at}.{field}"), m)))
        .ok();
    if r.audiences.is_empty() {
        errors.push(error(
            path,
            &format!("{at}.audiences"),
            "a report needs at least one audience".to_owned(),
        ));
    }
    check_audiences(&r.audiences, webhooks, has_smtp, path, at, errors);
    if r.format == Format::Json || r.format == Format::Markdown {
        errors.push(error(
            path,
            &format!("{at}.format"),
            "the e-mail's format is html or pdf".to_owned(),
        ));
    }
    for d in r
        .dimensions
        .iter()
        .filter(|d| !super::catalogue::is_label_name(d))
    {
        errors.push(error(
            path,
            &format!("{at}.dimensions"),
            format!("{d:?} is not a label name"),
        ));
    }
    let schedule = schedule?;
    (errors.len() == before).then(|| ScheduledReport {
        period: r.period,
        schedule,
        format: r.format,
        dimensions: r.dimensions,
        audiences: r.audiences,
    })
}

/// Every audience's webhooks exist, its e-mail has SMTP and its addresses parse.
fn check_audiences(
    audiences: &BTreeMap<String, Audience>,
    webhooks: &BTreeMap<String, RawWebhook>,
    has_smtp: bool,
    path: &Path,
    at: &str,
    errors: &mut Vec<ConfigError>,
) {
    for (name, a) in audiences {
        for w in a.webhooks.iter().filter(|w| !webhooks.contains_key(*w)) {
            errors.push(error(
                path,
                &format!("{at}.audiences.{name}.webhooks"),
                format!("no webhook named {w:?} under reports.webhooks"),
            ));
        }
        if !a.email.is_empty() && !has_smtp {
            errors.push(error(
                path,
                &format!("{at}.audiences.{name}.email"),
                "e-mail needs reports.smtp".to_owned(),
            ));
        }
        for e in a
            .email
            .iter()
            .filter(|e| e.parse::<lettre::Address>().is_err())
        {
            errors.push(error(
                path,
                &format!("{at}.audiences.{name}.email"),
                format!("{e:?} is not an e-mail address"),
            ));
        }
    }
}
