//! Sends a built report: the Markdown summary to Slack-compatible incoming webhooks
//! (Slack, Mattermost, Discord's `/slack` endpoint all take `{"text": …}`), and the HTML
//! (with the PDF attached when the format is `pdf`) by e-mail over SMTP with STARTTLS or
//! TLS and AUTH, through lettre on rustls.
//!
//! Each attempt says whether a retry can help: connection failures, timeouts, HTTP 429
//! and 5xx, and SMTP 4xx replies can; other refusals cannot.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::config::{SmtpConfig, SmtpSecurity};
use super::prom::{error_chain, https_connector};

/// A failed delivery.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{reason}")]
pub struct DeliveryError {
    /// Whether another attempt may succeed.
    pub retryable: bool,
    /// What happened (no secret: URLs are not included).
    pub reason: String,
}

fn retryable(reason: String) -> DeliveryError {
    DeliveryError {
        retryable: true,
        reason,
    }
}

fn permanent(reason: String) -> DeliveryError {
    DeliveryError {
        retryable: false,
        reason,
    }
}

/// Posts `text` to an incoming webhook.
pub async fn webhook(url: &str, text: &str, timeout: Duration) -> Result<(), DeliveryError> {
    let connector = https_connector(timeout).map_err(permanent)?;
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
    let body = serde_json::json!({ "text": text }).to_string();
    let request = http::Request::post(url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        // The URL is the secret: never put it in an error.
        .map_err(|_| permanent("the webhook URL is not a valid URL".to_owned()))?;
    let response = tokio::time::timeout(timeout, client.request(request))
        .await
        .map_err(|_| retryable(format!("no answer within {timeout:?}")))?
        .map_err(|e| retryable(format!("webhook: {}", error_chain(&e))))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body = tokio::time::timeout(timeout, Limited::new(response.into_body(), 1024).collect())
        .await
        .ok()
        .and_then(Result::ok)
        .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
        .unwrap_or_default();
    let reason = format!("webhook answered HTTP {status}: {}", body.trim());
    if status == http::StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        Err(retryable(reason))
    } else {
        Err(permanent(reason))
    }
}

/// An e-mail's content.
pub struct Mail<'a> {
    /// Subject.
    pub subject: &'a str,
    /// The plain-text alternative (the Markdown).
    pub text: &'a str,
    /// The HTML body.
    pub html: &'a str,
    /// An attachment: file name, content type, bytes.
    pub attachment: Option<(&'a str, &'a str, &'a [u8])>,
}

/// Sends `mail` to `to` through `smtp`.
pub async fn email(
    smtp: &SmtpConfig,
    to: &[String],
    mail: &Mail<'_>,
    timeout: Duration,
) -> Result<(), DeliveryError> {
    let message = message(smtp, to, mail).map_err(permanent)?;
    let transport = transport(smtp, timeout).map_err(permanent)?;
    match transport.send(message).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_permanent() => Err(permanent(format!("smtp: {}", error_chain(&e)))),
        Err(e) => Err(retryable(format!("smtp: {}", error_chain(&e)))),
    }
}

fn message(smtp: &SmtpConfig, to: &[String], mail: &Mail<'_>) -> Result<Message, String> {
    let from: Mailbox = smtp.from.parse().map_err(|e| format!("smtp.from: {e}"))?;
    let mut builder = Message::builder().from(from).subject(mail.subject);
    for address in to {
        builder = builder.to(address.parse().map_err(|e| format!("{address:?}: {e}"))?);
    }
    let alternative = MultiPart::alternative()
        .singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_PLAIN)
                .body(mail.text.to_owned()),
        )
        .singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_HTML)
                .body(mail.html.to_owned()),
        );
    let body = match mail.attachment {
        Some((name, content_type, bytes)) => MultiPart::mixed().multipart(alternative).singlepart(
            Attachment::new(name.to_owned()).body(
                bytes.to_vec(),
                ContentType::parse(content_type).map_err(|e| e.to_string())?,
            ),
        ),
        None => alternative,
    };
    builder.multipart(body).map_err(|e| e.to_string())
}

fn transport(
    smtp: &SmtpConfig,
    timeout: Duration,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let mut tls = TlsParameters::builder(smtp.host.clone());
    if let Some(ca) = &smtp.ca_file {
        let pem = std::fs::read(ca).map_err(|e| format!("reading {}: {e}", ca.display()))?;
        let cert = Certificate::from_pem(&pem).map_err(|e| format!("{}: {e}", ca.display()))?;
        tls = tls.add_root_certificate(cert);
    }
    let tls = tls.build_rustls().map_err(|e| format!("TLS: {e}"))?;
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
        .port(smtp.port)
        .timeout(Some(timeout))
        .tls(match smtp.security {
            SmtpSecurity::Starttls => Tls::Required(tls),
            SmtpSecurity::Tls => Tls::Wrapper(tls),
        });
    if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
        builder = builder.credentials(Credentials::new(user.clone(), password.0.clone()));
    }
    Ok(builder.build())
}
