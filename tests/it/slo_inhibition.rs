//! The shipped Alertmanager config, run by a real Alertmanager: an SLO's fast-burn page
//! mutes its slow-burn ticket for the same slice, and only for that slice. amtool's
//! routing tests (scripts/check) cannot see inhibition, so this test posts the alerts to
//! Alertmanager's API and reads back which are suppressed.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::dashboards::root;
use super::support::{TempDir, free_port, http_request};

/// Alertmanager on 127.0.0.1 with the shipped config (secrets in `dir`); killed on drop.
struct Alertmanager {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn binary() -> PathBuf {
    if let Ok(p) = std::env::var("LLMWATCH_ALERTMANAGER") {
        return PathBuf::from(p);
    }
    let paths = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&paths)
        .flat_map(|d| [d.join("prometheus-alertmanager"), d.join("alertmanager")])
        .find(|p| p.is_file())
        .expect("Alertmanager is required: run scripts/check, which installs it, or set LLMWATCH_ALERTMANAGER")
}

impl Alertmanager {
    fn start(dir: &TempDir) -> Alertmanager {
        let secrets = dir.path("secrets");
        std::fs::create_dir_all(&secrets).unwrap();
        for (file, value) in [
            ("pager-token", "test"),
            ("chat-webhook-url", "http://127.0.0.1:9/not-configured"),
            ("smtp-password", "test"),
        ] {
            std::fs::write(secrets.join(file), value).unwrap();
        }
        let shipped = std::fs::read_to_string(root().join("prometheus/alertmanager.yml")).unwrap();
        let config = dir.path("alertmanager.yml");
        let local = format!("{}/", secrets.display());
        std::fs::write(
            &config,
            shipped.replace("/etc/alertmanager/secrets/", &local),
        )
        .unwrap();
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let child = Command::new(binary())
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", dir.path("data").display()))
            .arg(format!("--web.listen-address={addr}"))
            // No gossip: a single instance.
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let am = Alertmanager { child, addr };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(addr).is_err()
            || http_request(addr, "GET", "/-/ready", &[], b"").status != 200
        {
            assert!(
                Instant::now() < deadline,
                "Alertmanager was not ready within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        am
    }

    fn alerts(&self) -> Vec<Value> {
        let r = http_request(self.addr, "GET", "/api/v2/alerts", &[], b"");
        assert_eq!(r.status, 200);
        serde_json::from_slice(&r.body).unwrap()
    }
}

fn alert(name: &str, severity: &str, slo: &str, slice: (&str, &str)) -> Value {
    json!({"labels": {"alertname": name, "severity": severity, "slo": slo, slice.0: slice.1}})
}

/// `alertname/slo/slice value` of each alert in `state`.
fn in_state(alerts: &[Value], state: &str) -> Vec<String> {
    let mut out: Vec<String> = alerts
        .iter()
        .filter(|a| a["status"]["state"] == state)
        .map(|a| {
            let l = &a["labels"];
            let slice = l["service"]
                .as_str()
                .or(l["platform"].as_str())
                .unwrap_or("");
            format!(
                "{}/{}/{slice}",
                l["alertname"].as_str().unwrap(),
                l["slo"].as_str().unwrap()
            )
        })
        .collect();
    out.sort();
    out
}

/// The firing alerts: name, severity, objective and the slice's label.
type Firing = (
    &'static str,
    &'static str,
    &'static str,
    (&'static str, &'static str),
);

/// Pages and tickets of two objectives' slices.
const FIRING: &[Firing] = &[
    (
        "SLOFastBurn",
        "critical",
        "llm-availability",
        ("service", "chat"),
    ),
    (
        "SLOSlowBurn",
        "medium",
        "llm-availability",
        ("service", "chat"),
    ),
    (
        "SLOSlowBurn",
        "medium",
        "llm-availability",
        ("service", "search"),
    ),
    ("SLOSlowBurn", "medium", "chat-turns", ("service", "chat")),
    (
        "SLOFastBurn",
        "critical",
        "platform-availability",
        ("platform", "meta_graph"),
    ),
    (
        "SLOSlowBurn",
        "medium",
        "platform-availability",
        ("platform", "meta_graph"),
    ),
];

#[test]
fn a_fast_burn_page_mutes_the_slow_burn_ticket_of_its_own_slice_only() {
    let dir = TempDir::new("alertmanager");
    let am = Alertmanager::start(&dir);
    let alerts: Vec<Value> = FIRING
        .iter()
        .map(|&(name, severity, slo, slice)| alert(name, severity, slo, slice))
        .collect();
    let alerts = Value::Array(alerts);
    let r = http_request(
        am.addr,
        "POST",
        "/api/v2/alerts",
        &[("content-type", "application/json")],
        alerts.to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let expected_suppressed = [
        "SLOSlowBurn/llm-availability/chat",
        "SLOSlowBurn/platform-availability/meta_graph",
    ];
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = am.alerts();
        if got.len() == 6 && in_state(&got, "suppressed") == expected_suppressed {
            assert_eq!(
                in_state(&got, "active"),
                [
                    "SLOFastBurn/llm-availability/chat",
                    "SLOFastBurn/platform-availability/meta_graph",
                    "SLOSlowBurn/chat-turns/chat",
                    "SLOSlowBurn/llm-availability/search",
                ]
            );
            return;
        }
        assert!(Instant::now() < deadline, "after 20 s: {got:#?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
