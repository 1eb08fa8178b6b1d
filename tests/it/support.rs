//! Starting and stopping llmwatch, and the small clients the tests use.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "llmwatch-it-{tag}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running llmwatch process.
pub struct Llmwatch {
    child: Child,
    pub dir: TempDir,
    pub grpc: Option<SocketAddr>,
    pub http: Option<SocketAddr>,
    pub admin: SocketAddr,
    logs: Arc<Mutex<Vec<String>>>,
}

/// The path of the llmwatch binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_llmwatch")
}

impl Llmwatch {
    /// Starts llmwatch with `yaml`, in which `{dir}` is replaced by the temp directory.
    /// Waits (at most 30 s) until it logs that it is ready.
    pub fn start(yaml: &str) -> Llmwatch {
        Self::start_with(yaml, &[], "debug")
    }

    pub fn start_with(yaml: &str, env: &[(&str, &str)], log_level: &str) -> Llmwatch {
        Self::launch(Some(yaml), env, log_level)
    }

    /// Starts llmwatch with its embedded default configuration.
    pub fn start_default(env: &[(&str, &str)]) -> Llmwatch {
        Self::launch(None, env, "info")
    }

    fn launch(yaml: Option<&str>, env: &[(&str, &str)], log_level: &str) -> Llmwatch {
        let dir = TempDir::new("run");
        let mut child = command(&dir, yaml, env, log_level)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn llmwatch");
        let stderr = child.stderr.take().expect("stderr");
        let (logs, rx) = collect_logs(stderr);
        let (grpc, http, admin) = wait_ready(&mut child, &rx, &logs);
        Llmwatch {
            child,
            dir,
            grpc,
            http,
            admin: admin.expect("admin address"),
            logs,
        }
    }
}

/// The llmwatch command: `yaml` (with `{dir}` replaced) as its config, or the embedded
/// one, JSON logs at `log_level`, its state in `dir`, and `env`.
fn command(dir: &TempDir, yaml: Option<&str>, env: &[(&str, &str)], log_level: &str) -> Command {
    let mut cmd = Command::new(binary());
    if let Some(yaml) = yaml {
        let config = dir.path("config.yaml");
        std::fs::write(&config, yaml.replace("{dir}", &dir.0.display().to_string()))
            .expect("write config");
        cmd.arg("--config").arg(&config);
    }
    cmd.args(["--log-format", "json", "--log-level", log_level]);
    cmd.env_remove("RUST_LOG");
    // The redaction key generated at first start goes to the test's own directory.
    cmd.env("LLMWATCH_STATE_DIR", &dir.0);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Keeps every line of `stderr`, and sends each to the receiver returned.
fn collect_logs(
    stderr: std::process::ChildStderr,
) -> (Arc<Mutex<Vec<String>>>, mpsc::Receiver<String>) {
    let logs = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel::<String>();
    {
        let logs = Arc::clone(&logs);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                logs.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
    }
    (logs, rx)
}

/// The listening addresses (gRPC, HTTP, admin) llmwatch logs before it is ready; kills it
/// and fails if it is not ready within 30 s.
fn wait_ready(
    child: &mut std::process::Child,
    rx: &mpsc::Receiver<String>,
    logs: &Mutex<Vec<String>>,
) -> (Option<SocketAddr>, Option<SocketAddr>, Option<SocketAddr>) {
    let (mut grpc, mut http, mut admin) = (None, None, None);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match rx.recv_timeout(left) {
            Ok(line) => line,
            Err(_) => {
                // Stop it before failing, so that no process outlives the test.
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "llmwatch did not become ready; logs:\n{}",
                    logs.lock().unwrap().join("\n")
                )
            }
        };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let message = v["message"].as_str().unwrap_or("");
        if message == "listening" {
            let addr: SocketAddr = v["address"]
                .as_str()
                .expect("address")
                .parse()
                .expect("socket address");
            match v["component"].as_str().unwrap_or("") {
                "admin" => admin = Some(addr),
                c if c.ends_with("/grpc") => grpc = Some(addr),
                c if c.ends_with("/http") => http = Some(addr),
                _ => {}
            }
        } else if message == "ready" {
            break;
        }
    }
    (grpc, http, admin)
}

impl Llmwatch {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn grpc(&self) -> SocketAddr {
        self.grpc.expect("grpc receiver")
    }

    pub fn http(&self) -> SocketAddr {
        self.http.expect("http receiver")
    }

    /// Everything llmwatch logged so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// The Prometheus text exposition.
    pub fn metrics_text(&self) -> String {
        let r = http_request(self.admin, "GET", "/metrics", &[], b"");
        assert_eq!(r.status, 200);
        String::from_utf8(r.body).expect("utf-8 metrics")
    }

    /// Scrapes `/metrics` until `ready` holds for two scrapes in a row, for at most
    /// `timeout`, and returns the second; fails the test with the last scrape otherwise.
    pub fn metrics_when(&self, timeout: Duration, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        let mut held = false;
        loop {
            let text = self.metrics_text();
            if ready(&text) {
                // A scrape renders one family after another: the counters `ready` reads
                // (the exporters', rendered after the `llm_*` families) can take in a batch
                // recorded while the families before them were rendered. A scrape begun
                // after one where `ready` held has all of it.
                if held {
                    return text;
                }
                held = true;
                continue;
            }
            held = false;
            assert!(
                Instant::now() < deadline,
                "/metrics not ready within {timeout:?}:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sums the samples of `name` whose labels include every pair in `labels`.
    pub fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        metric_value(&self.metrics_text(), name, labels)
    }

    /// Peak resident memory (VmHWM) in bytes.
    pub fn peak_rss(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("proc status");
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM");
        kb * 1024
    }

    /// Waits for a process that was killed from outside.
    pub fn reap(&mut self) {
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits (at most `timeout`) for the exit status.
    pub fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                // Let the log reader drain.
                std::thread::sleep(Duration::from_millis(20));
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "llmwatch did not exit within {timeout:?}; logs:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Llmwatch {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Sums the samples of `name` whose labels include every pair in `labels`.
pub fn metric_value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut sum = 0.0;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = match line.rsplit_once(' ') {
            Some(x) => x,
            None => continue,
        };
        let (metric, label_text) = match series.split_once('{') {
            Some((m, rest)) => (m, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        if metric != name {
            continue;
        }
        if labels.iter().all(|(k, v)| {
            label_text
                .split(',')
                .any(|pair| pair == format!("{k}=\"{v}\""))
        }) {
            sum += value.parse::<f64>().expect("sample value");
        }
    }
    sum
}

/// A response from [`http_request`].
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTP/1.1 request over a fresh connection, with a 30 s timeout.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    // The server may answer (413) before reading the whole body; a failed write is fine.
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> HttpResponse {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    HttpResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&data[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[eol + 2..eol + 2 + size]);
        data = &data[eol + 2 + size + 2..];
    }
    out
}

// === a raw gRPC client ===

#[derive(Clone, Default)]
pub struct RawCodec;

pub struct RawEncoder;
pub struct RawDecoder;

impl Encoder for RawEncoder {
    type Item = Bytes;
    type Error = tonic::Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        use bytes::BufMut;
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, tonic::Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

pub const TRACES_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
pub const LOGS_PATH: &str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
pub const METRICS_PATH: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";

/// Sends `body` as-is as one unary gRPC message; `gzip` compresses it on the wire.
pub async fn grpc_raw(
    addr: SocketAddr,
    path: &'static str,
    body: Vec<u8>,
    gzip: bool,
    token: Option<&str>,
) -> Result<Bytes, tonic::Status> {
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .expect("connect grpc");
    let mut client = tonic::client::Grpc::new(channel).max_decoding_message_size(64 << 20);
    if gzip {
        client = client.send_compressed(tonic::codec::CompressionEncoding::Gzip);
    }
    client.ready().await.expect("grpc ready");
    let mut request = tonic::Request::new(Bytes::from(body));
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    client
        .unary(
            request,
            http::uri::PathAndQuery::from_static(path),
            RawCodec,
        )
        .await
        .map(tonic::Response::into_inner)
}

/// Runs a future on a fresh current-thread runtime.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Finds a required external tool: `$ENV_VAR`, else `name` on PATH.
pub fn tool(env_var: &str, name: &str) -> PathBuf {
    if let Ok(p) = std::env::var(env_var) {
        return PathBuf::from(p);
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("{name} is required: run scripts/check, which installs it, or set {env_var}")
    })
}

/// Reads a file's lines (missing file: none).
pub fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .map(|s| s.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Fails the test unless `promtool check metrics` accepts `text`.
pub fn assert_promtool_accepts(text: &str) {
    use std::io::Write;
    let mut promtool = Command::new(tool("LLMWATCH_PROMTOOL", "promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    promtool
        .stdin
        .take()
        .expect("promtool stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let out = promtool.wait_with_output().expect("promtool output");
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A real Prometheus on 127.0.0.1 scraping llmwatch instances every second (job
/// `llmwatch`) and evaluating `rule_files` every second; stopped on drop.
pub struct Prometheus {
    child: Child,
    pub addr: SocketAddr,
    _dir: TempDir,
}

impl Prometheus {
    /// Starts it and waits (at most 30 s) until it is ready.
    pub fn start(targets: &[SocketAddr], rule_files: &[PathBuf]) -> Prometheus {
        Prometheus::launch(TempDir::new("prometheus"), targets, rule_files, &[])
    }

    /// Starts it on a database backfilled with `openmetrics` (samples with timestamps) by
    /// `promtool tsdb create-blocks-from openmetrics`, keeping 100 days of it.
    pub fn start_with_history(
        targets: &[SocketAddr],
        rule_files: &[PathBuf],
        openmetrics: &str,
    ) -> Prometheus {
        let dir = TempDir::new("prometheus");
        let input = dir.path("history.om");
        std::fs::write(&input, openmetrics).unwrap();
        let out = Command::new(tool("LLMWATCH_PROMTOOL", "promtool"))
            .args(["tsdb", "create-blocks-from", "openmetrics", "--quiet"])
            .arg(&input)
            .arg(dir.path("data"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool refused the history: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Prometheus::launch(
            dir,
            targets,
            rule_files,
            &["--storage.tsdb.retention.time=100d"],
        )
    }

    fn launch(
        dir: TempDir,
        targets: &[SocketAddr],
        rule_files: &[PathBuf],
        args: &[&str],
    ) -> Prometheus {
        let config = dir.path("prometheus.yml");
        let rules: Vec<String> = rule_files
            .iter()
            .map(|p| format!("{:?}", p.display().to_string()))
            .collect();
        let targets: Vec<String> = targets.iter().map(|a| format!("\"{a}\"")).collect();
        std::fs::write(
            &config,
            format!(
                "global: {{ scrape_interval: 1s, evaluation_interval: 1s }}\nrule_files: [{}]\nscrape_configs:\n  - job_name: llmwatch\n    static_configs: [{{ targets: [{}] }}]\n",
                rules.join(", "),
                targets.join(", ")
            ),
        )
        .unwrap();
        let port = free_port();
        let child = Command::new(tool("LLMWATCH_PROMETHEUS", "prometheus"))
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let prometheus = Prometheus {
            child,
            addr,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if TcpStream::connect(addr).is_ok()
                && http_request(addr, "GET", "/-/ready", &[], b"").status == 200
            {
                return prometheus;
            }
            assert!(
                Instant::now() < deadline,
                "Prometheus was not ready within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The `data.result` of an instant query, or `None` when the query failed.
    pub fn query(&self, promql: &str) -> Option<Vec<serde_json::Value>> {
        let r = http_request(
            self.addr,
            "GET",
            &format!("/api/v1/query?query={}", url_encode(promql)),
            &[],
            b"",
        );
        let v: serde_json::Value = serde_json::from_slice(&r.body).ok()?;
        (v["status"] == "success")
            .then(|| v["data"]["result"].as_array().cloned().unwrap_or_default())
    }

    /// The alerts Prometheus holds now, pending or firing.
    pub fn alerts(&self) -> Vec<serde_json::Value> {
        let r = http_request(self.addr, "GET", "/api/v1/alerts", &[], b"");
        serde_json::from_slice::<serde_json::Value>(&r.body)
            .ok()
            .and_then(|v| v["data"]["alerts"].as_array().cloned())
            .unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago (for tools that take a port, not a
/// listener).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Spawns `cmd` (a test server that prints the port it listens on as its first line of
/// stdout, and stops when its stdin closes), and returns it with that port.
pub fn spawn_announcing_port(cmd: &mut Command, what: &str) -> (Child, u16) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{what} said {line:?}"));
    (child, port)
}

/// Percent-encodes a query parameter.
pub fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
