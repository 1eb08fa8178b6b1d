//! TLS on the receivers and the admin port, with certificates made by openssl: the Python
//! SDK's own exporters deliver over TLS (HTTP) and mutual TLS (gRPC), a client without a
//! certificate is refused and counted, and a replaced certificate is served without a
//! restart.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::forward::certificates;
use super::python_clients::python;
use super::support::{Llmwatch, TempDir, metric_value};

fn config(dir: &Path) -> String {
    let p = |name: &str| dir.join(name).display().to_string();
    format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: "127.0.0.1:0"
        tls: {{ cert_file: "{cert}", key_file: "{key}", client_ca_file: "{ca}", min_version: "1.2" }}
      http:
        endpoint: "127.0.0.1:0"
        tls: {{ cert_file: "{cert}", key_file: "{key}", reload_interval: 100ms }}
exporters:
  prometheus:
    endpoint: "127.0.0.1:0"
    tls: {{ cert_file: "{cert}", key_file: "{key}" }}
service:
  pipelines:
    traces: {{ receivers: [otlp], exporters: [prometheus] }}
"#,
        cert = p("server.pem"),
        key = p("server.key"),
        ca = p("ca.pem"),
    )
}

fn emit(args: &[String]) -> std::process::Output {
    Command::new(python(false))
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/emit_tls.py"))
        .args(args)
        // requests prefers these to the exporter's own `certificate_file`.
        .env_remove("REQUESTS_CA_BUNDLE")
        .env_remove("CURL_CA_BUNDLE")
        .output()
        .expect("run emit_tls.py")
}

/// `/metrics` over TLS, trusting the test CA.
fn scrape(lw: &Llmwatch, ca: &Path) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(ca)
        .arg(format!("https://127.0.0.1:{}/metrics", lw.admin.port()))
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The SHA-256 fingerprint of the certificate a TLS server presents.
fn served_fingerprint(port: u16) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect 127.0.0.1:{port} </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256"
        ))
        .output()
        .expect("openssl");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn file_fingerprint(path: &Path) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(path)
        .output()
        .expect("openssl");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Asserts that the emitter succeeded.
fn ok(out: std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Waits (20 s at most) until the 12 spans sent are accepted and the handshake without a
/// client certificate is counted as refused.
fn wait_accepted_and_refused(lw: &Llmwatch, ca: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let m = scrape(lw, ca);
        let accepted = metric_value(&m, "llmwatch_receiver_accepted_items_total", &[]);
        let handshakes = metric_value(
            &m,
            "llmwatch_receiver_refused_connections_total",
            &[("protocol", "grpc"), ("reason", "tls_handshake")],
        );
        if accepted == 12.0 && handshakes >= 1.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "accepted {accepted}, refused handshakes {handshakes}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Makes new certificates in place and waits (10 s at most) until `port` serves the new
/// server certificate.
fn replace_certificate_and_wait(certs: &TempDir, port: u16) {
    let before = served_fingerprint(port);
    assert_eq!(before, file_fingerprint(&certs.path("server.pem")));
    certificates(certs);
    let after = file_fingerprint(&certs.path("server.pem"));
    assert_ne!(before, after, "openssl made the same certificate twice");
    let deadline = Instant::now() + Duration::from_secs(10);
    while served_fingerprint(port) != after {
        assert!(
            Instant::now() < deadline,
            "the new certificate was never served"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_python_sdk_exports_over_tls_and_mutual_tls_and_certificates_reload() {
    let certs = TempDir::new("tls");
    certificates(&certs);
    let lw = Llmwatch::start(&config(&certs.0));
    let ca = certs.path("ca.pem").display().to_string();
    let (client, key) = (
        certs.path("client.pem").display().to_string(),
        certs.path("client.key").display().to_string(),
    );
    // HTTP over TLS, gRPC over mutual TLS.
    ok(emit(&[
        "http".into(),
        format!("https://127.0.0.1:{}", lw.http().port()),
        ca.clone(),
        "5".into(),
    ]));
    ok(emit(&[
        "grpc".into(),
        format!("127.0.0.1:{}", lw.grpc().port()),
        ca.clone(),
        "7".into(),
        client,
        key,
    ]));
    // Without a client certificate, the mutual-TLS listener refuses the handshake.
    let refused = emit(&[
        "grpc".into(),
        format!("127.0.0.1:{}", lw.grpc().port()),
        ca.clone(),
        "1".into(),
    ]);
    assert!(!refused.status.success());
    wait_accepted_and_refused(&lw, &certs.path("ca.pem"));
    // Replace the certificate in place: new connections get the new one.
    replace_certificate_and_wait(&certs, lw.http().port());
    ok(emit(&[
        "http".into(),
        format!("https://127.0.0.1:{}", lw.http().port()),
        ca,
        "1".into(),
    ]));
}
