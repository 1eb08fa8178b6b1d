//! Scheduled reports inside `serve`, delivered for real:
//! - a run missed while llmwatch was down (the state file says the last one handled was a
//!   day earlier) is built from a real Prometheus (history backfilled by promtool) and sent
//!   once: the Markdown summary to a Slack-compatible webhook sink, which refuses the first
//!   attempt with 503 (so the retry is exercised), and the HTML with the PDF attached to a
//!   Python aiosmtpd server that requires STARTTLS and AUTH;
//! - `llmwatch_reports_total{report,outcome}` counts the sends and the retry;
//! - after a restart nothing is sent again;
//! - `llmwatch validate` names an unknown time zone, a bad schedule and a missing secret.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::dashboards::{LOCAL, default_config};
use super::forward::certificates;
use super::python_clients::venv_python;
use super::report::{now, rfc3339};
use super::support::{
    Llmwatch, Prometheus, TempDir, binary, free_port, http_request, metric_value,
    spawn_announcing_port,
};

/// An HTTP sink for incoming webhooks: answers 503 to the first `refuse` requests, then
/// 200, and keeps every body.
struct WebhookSink {
    addr: SocketAddr,
    bodies: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl WebhookSink {
    fn start(refuse: usize) -> WebhookSink {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(AtomicUsize::new(0));
        let (b, s) = (Arc::clone(&bodies), Arc::clone(&stop));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if s.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(mut stream) = stream else { continue };
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                let Some(body) = read_request(&mut stream) else {
                    continue;
                };
                let status = if seen.fetch_add(1, Ordering::Relaxed) < refuse {
                    "503 Service Unavailable"
                } else {
                    b.lock().unwrap().push(body);
                    "200 OK"
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                );
            }
        });
        WebhookSink { addr, bodies, stop }
    }
}

impl Drop for WebhookSink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = std::net::TcpStream::connect(self.addr);
    }
}

/// One HTTP/1.1 request's body (by content-length).
fn read_request(stream: &mut std::net::TcpStream) -> Option<String> {
    let mut reader = BufReader::new(stream);
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    String::from_utf8(body).ok()
}

/// aiosmtpd with STARTTLS and AUTH required; stopped on drop.
struct SmtpSink {
    child: Child,
    port: u16,
    out: TempDir,
}

impl SmtpSink {
    fn start(certs: &TempDir) -> SmtpSink {
        let out = TempDir::new("smtp");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/smtp_sink.py");
        let mut cmd = Command::new(venv_python(".venv-smtp", "LLMWATCH_PYTHON_SMTP"));
        cmd.arg(script)
            .arg(certs.path("server.pem"))
            .arg(certs.path("server.key"))
            .args(["reports", "s3cret"])
            .arg(&out.0)
            .stderr(Stdio::inherit());
        let (child, port) = spawn_announcing_port(&mut cmd, "the smtp sink");
        SmtpSink { child, port, out }
    }

    /// The messages received: (metadata, raw message), in order.
    fn messages(&self) -> Vec<(serde_json::Value, String)> {
        (1..)
            .map_while(|n| {
                let meta = std::fs::read(self.out.path(&format!("{n}.json"))).ok()?;
                let eml = std::fs::read_to_string(self.out.path(&format!("{n}.eml"))).ok()?;
                Some((serde_json::from_slice(&meta).unwrap(), eml))
            })
            .collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two days of LLM traffic up to a minute ago, every 10 minutes.
fn history(end: u64) -> String {
    let start = end - 2 * 86_400;
    let mut om = String::from("# TYPE llm_cost_usd counter\n");
    let times: Vec<u64> = (start..end - 60).step_by(600).collect();
    for t in &times {
        om += &format!(
            "llm_cost_usd_total{{job=\"history\",model=\"gpt-4o\"}} {} {t}\n",
            0.01 * (t - start) as f64
        );
    }
    om += "# TYPE llm_requests counter\n";
    for (outcome, rate) in [("success", 0.2), ("error", 0.01)] {
        for t in &times {
            om += &format!(
                "llm_requests_total{{job=\"history\",outcome=\"{outcome}\"}} {} {t}\n",
                rate * (t - start) as f64
            );
        }
    }
    om + "# EOF\n"
}

fn reports_yaml(prometheus: SocketAddr, state: &Path, smtp: u16, ca: &Path, at: &str) -> String {
    format!(
        r#"
reports:
  prometheus: "http://{prometheus}"
  state_dir: "{state}"
  smtp:
    host: 127.0.0.1
    port: {smtp}
    username: reports
    password_env: LLMWATCH_TEST_SMTP_PASSWORD
    from: "llmwatch <reports@example.com>"
    ca_file: "{ca}"
  webhooks:
    eng-chat: {{ url_env: LLMWATCH_TEST_WEBHOOK_URL }}
  retry: {{ attempts: 3, initial: 200ms, max: 1s }}
  schedules:
    daily:
      period: day
      schedule: daily {at}
      timezone: UTC
      format: pdf
      audiences:
        engineering: {{ webhooks: [eng-chat], email: [eng@example.com] }}
        board: {{ email: [board@example.com, ceo@example.com] }}
"#,
        state = state.display(),
        ca = ca.display()
    )
}

fn hh_mm(unix: u64) -> String {
    format!("{:02}:{:02}", unix % 86_400 / 3600, unix % 3600 / 60)
}

/// `llmwatch_reports_total{report="daily",outcome}` in a /metrics text.
fn outcome(text: &str, outcome: &str) -> f64 {
    metric_value(
        text,
        "llmwatch_reports_total",
        &[("report", "daily"), ("outcome", outcome)],
    )
}

/// llmwatch on its default config plus a `reports:` section whose daily run, two minutes
/// ago, was missed: the state file says the day before was the last one handled.
struct MissedRun {
    yaml: String,
    env: Vec<(&'static str, String)>,
    state: TempDir,
    due: u64,
}

impl MissedRun {
    fn new(prometheus: SocketAddr, smtp: u16, ca: &Path, webhook: &WebhookSink) -> MissedRun {
        let due = (now() - 120) / 60 * 60;
        let state = TempDir::new("report-state");
        std::fs::write(
            state.path("reports-state.json"),
            format!(r#"{{"daily": "{}"}}"#, rfc3339(due - 86_400)),
        )
        .unwrap();
        let yaml =
            default_config(None) + &reports_yaml(prometheus, &state.0, smtp, ca, &hh_mm(due));
        let mut env: Vec<(&str, String)> =
            LOCAL.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        env.push(("LLMWATCH_TEST_SMTP_PASSWORD", "s3cret".to_owned()));
        env.push((
            "LLMWATCH_TEST_WEBHOOK_URL",
            format!("http://{}/hooks/eng", webhook.addr),
        ));
        MissedRun {
            yaml,
            env,
            state,
            due,
        }
    }

    fn start(&self) -> Llmwatch {
        let env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Llmwatch::start_with(&self.yaml, &env, "info")
    }
}

/// Chat: the summary of the day that ended at the scheduled instant `due`.
fn check_chat_summary(webhook: &WebhookSink, due: u64) {
    let bodies = webhook.bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let chat: serde_json::Value = serde_json::from_str(&bodies[0]).unwrap();
    let chat = chat["text"].as_str().unwrap();
    assert!(
        chat.contains("Daily summary") && chat.contains(&rfc3339(due)),
        "{chat}"
    );
    assert!(
        chat.contains("• Spend: $") && chat.contains("• LLM calls: "),
        "{chat}"
    );
}

/// E-mail: over STARTTLS, authenticated, one message per audience, the PDF attached.
fn check_emails(messages: &[(serde_json::Value, String)], due: u64) {
    assert_eq!(messages.len(), 2);
    let mut to: Vec<String> = messages
        .iter()
        .flat_map(|(m, _)| {
            m["to"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_owned())
        })
        .collect();
    to.sort();
    assert_eq!(
        to,
        ["board@example.com", "ceo@example.com", "eng@example.com"]
    );
    for (meta, eml) in messages {
        assert_eq!(meta["tls"], true, "STARTTLS");
        assert_eq!(meta["user"], "reports", "AUTH");
        assert_eq!(meta["from"], "reports@example.com");
        assert!(eml.contains("Subject: llmwatch Daily summary"), "{eml}");
        assert!(eml.contains("Content-Type: text/html"));
        assert!(eml.contains("Content-Type: application/pdf"));
        assert!(eml.contains(&format!("llmwatch-day-{}.pdf", &rfc3339(due)[..10])));
        assert!(
            eml.contains("JVBERi0"),
            "the attachment is a PDF (base64 of %PDF-)"
        );
    }
}

#[test]
fn a_missed_daily_report_is_sent_once_to_chat_and_email_after_a_restart() {
    let certs = TempDir::new("report-certs");
    certificates(&certs);
    let smtp = SmtpSink::start(&certs);
    let webhook = WebhookSink::start(1);
    let prometheus = Prometheus::start_with_history(&[], &[], &history(now()));
    let run = MissedRun::new(prometheus.addr, smtp.port, &certs.path("ca.pem"), &webhook);
    let (due, state) = (run.due, &run.state);
    let started = Instant::now();
    let mut lw = run.start();
    let sent = |text: &str| outcome(text, "sent");
    let text = lw.metrics_when(Duration::from_secs(90), |t| sent(t) >= 3.0);
    let took = started.elapsed();
    assert_eq!(sent(&text), 3.0, "one webhook and two e-mails");
    assert_eq!(outcome(&text, "retried"), 1.0);

    check_chat_summary(&webhook, due);
    let messages = smtp.messages();
    check_emails(&messages, due);
    let saved = std::fs::read_to_string(state.path("reports-state.json")).unwrap();
    assert!(saved.contains(&rfc3339(due)), "{saved}");
    println!(
        "missed report built and delivered {took:?} after start ({} bytes of e-mail)",
        messages[0].1.len()
    );

    // A restart does not send it again.
    assert!(lw.terminate(Duration::from_secs(20)).success());
    let lw = run.start();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !lw.logs().contains("report scheduled") {
        assert!(
            Instant::now() < deadline,
            "the scheduler did not start: {}",
            lw.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(sent(&lw.metrics_text()), 0.0);
    assert_eq!(webhook.bodies.lock().unwrap().len(), 1);
    assert_eq!(smtp.messages().len(), 2);
}

#[test]
fn validate_names_a_bad_time_zone_schedule_and_missing_secret() {
    let dir = TempDir::new("report-validate");
    let yaml = default_config(None)
        + r#"
reports:
  prometheus: http://127.0.0.1:9090
  webhooks:
    chat: { url_env: LLMWATCH_TEST_UNSET_WEBHOOK }
  schedules:
    daily:
      period: day
      schedule: daily 8am
      timezone: Europe/Berlin
      audiences: { eng: { webhooks: [chat] } }
    weekly:
      period: week
      schedule: weekly mon 08:00
      timezone: Europe/Berln
      audiences: { eng: { webhooks: [chat, nowhere] } }
"#;
    let path = dir.path("bad.yaml");
    std::fs::write(&path, yaml).unwrap();
    let out = Command::new(binary())
        .arg("--config")
        .arg(&path)
        .arg("validate")
        .env_remove("LLMWATCH_TEST_UNSET_WEBHOOK")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let errors = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "reports.webhooks.chat.url_env: the secret's environment variable LLMWATCH_TEST_UNSET_WEBHOOK is not set",
        r#"reports.schedules.daily.schedule: "daily 8am": the time must be HH:MM"#,
        r#"reports.schedules.weekly.timezone: unknown time zone "Europe/Berln""#,
        r#"reports.schedules.weekly.audiences.eng.webhooks: no webhook named "nowhere""#,
    ] {
        assert!(
            errors.contains(expected),
            "missing {expected:?} in:\n{errors}"
        );
    }
}

#[test]
fn an_unreachable_prometheus_is_a_counted_failure_and_the_pipeline_goes_on() {
    // Nothing listens on a port just released.
    let closed = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let webhook = WebhookSink::start(0);
    let run = MissedRun::new(closed, 1, Path::new("/nonexistent/ca.pem"), &webhook);
    let lw = run.start();
    let text = lw.metrics_when(Duration::from_secs(60), |t| {
        outcome(t, "unreachable") >= 1.0
    });
    // Three attempts: two retries, then given up; nothing sent.
    assert_eq!(outcome(&text, "retried"), 2.0);
    assert_eq!(outcome(&text, "sent"), 0.0);
    assert!(webhook.bodies.lock().unwrap().is_empty());
    assert!(lw.logs().contains("unreachable"), "the reason is logged");
    // The pipeline never noticed: still ready, still accepting OTLP.
    assert_eq!(
        http_request(lw.admin, "GET", "/readyz", &[], b"").status,
        200
    );
    let accepted = http_request(
        lw.http(),
        "POST",
        "/v1/traces",
        &[("content-type", "application/x-protobuf")],
        b"",
    );
    assert_eq!(accepted.status, 200);
}

#[test]
fn a_period_without_data_is_counted_and_not_sent() {
    let empty = Prometheus::start(&[], &[]);
    let webhook = WebhookSink::start(0);
    let run = MissedRun::new(empty.addr, 1, Path::new("/nonexistent/ca.pem"), &webhook);
    let lw = run.start();
    let text = lw.metrics_when(Duration::from_secs(60), |t| outcome(t, "no_data") >= 1.0);
    assert_eq!(outcome(&text, "sent"), 0.0);
    assert!(webhook.bodies.lock().unwrap().is_empty());
    assert!(lw.logs().contains("no data in the period"));
}
