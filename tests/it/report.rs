//! `llmwatch report` against a real Prometheus that scrapes llmwatch fed by
//! `llmwatch demo` and evaluates the shipped rules, on a database backfilled by promtool
//! with the previous periods' history:
//! - the JSON's spend, calls, error rate and DAU equal PromQL written here, evaluated at
//!   the same instant, for a day, a week and a month;
//! - the previous periods equal the backfilled history, computed from its slopes;
//! - DAU equals llmwatch's own in-process estimate (another code path than the rules);
//! - every format is written, and says the same numbers;
//! - an empty Prometheus and an unreachable one give their exit codes and no number.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::dashboards::{Demo, LOCAL, default_config, rule_files};
use super::support::{Llmwatch, Prometheus, TempDir, binary, tool};

/// Slopes of the backfilled counters, per second.
const COST_PER_S: f64 = 0.002;
const SUCCESS_PER_S: f64 = 0.05;
const ERRORS_PER_S: f64 = 0.004;
/// The backfilled DAU at the end of each previous period.
const PAST_DAU: f64 = 37.0;

const PERIODS: [(&str, u64); 3] = [
    ("day", 86_400),
    ("week", 7 * 86_400),
    ("month", 30 * 86_400),
];

/// History for the previous periods: linear counters with a sample 60 s inside each edge
/// of every previous period (so `increase` over it is exactly slope × length), and the
/// fleet DAU recording rule's output just before each period's start.
fn history(end: u64) -> String {
    let mut times: Vec<u64> = Vec::new();
    for (_, r) in PERIODS {
        times.extend([end - 2 * r + 60, end - r - 60]);
    }
    times.sort_unstable();
    let first = times[0] - 3600;
    let counter = |name: &str, labels: &str, slope: f64| -> String {
        times
            .iter()
            .map(|t| {
                format!(
                    "{name}{{{labels}}} {} {t}\n",
                    1000.0 + slope * (t - first) as f64
                )
            })
            .collect()
    };
    let mut om = String::from("# TYPE llm_cost_usd counter\n");
    om += &counter(
        "llm_cost_usd_total",
        r#"job="history",model="gpt-4o",cost_source="computed""#,
        COST_PER_S,
    );
    om += "# TYPE llm_requests counter\n";
    om += &counter(
        "llm_requests_total",
        r#"job="history",model="gpt-4o",outcome="success""#,
        SUCCESS_PER_S,
    );
    om += &counter(
        "llm_requests_total",
        r#"job="history",model="gpt-4o",outcome="error""#,
        ERRORS_PER_S,
    );
    om += "# TYPE window_segment:chat_users:estimate gauge\n";
    for (_, r) in PERIODS {
        om += &format!(
            "window_segment:chat_users:estimate{{segment=\"all\",window=\"1d\"}} {PAST_DAU} {}\n",
            end - r - 60
        );
    }
    om + "# EOF\n"
}

pub(super) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub(super) fn rfc3339(unix: u64) -> String {
    let out = Command::new("date")
        .args(["-u", "-d", &format!("@{unix}"), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn report(prometheus: &str, period: &str, end: &str, format: &str, out: &Path) -> Output {
    Command::new(binary())
        .args([
            "report",
            "--period",
            period,
            "--end",
            end,
            "--prometheus",
            prometheus,
        ])
        .args(["--format", format, "--out"])
        .arg(out)
        .output()
        .unwrap()
}

/// One number from an instant query at `at` (the sum of its samples), or None.
fn scalar(prometheus: &Prometheus, promql: &str, at: u64) -> Option<f64> {
    let r = super::support::http_request(
        prometheus.addr,
        "GET",
        &format!(
            "/api/v1/query?query={}&time={at}",
            super::support::url_encode(promql)
        ),
        &[],
        b"",
    );
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["status"], "success", "{promql}: {v}");
    let result = v["data"]["result"].as_array().unwrap();
    let values: Vec<f64> = result
        .iter()
        .map(|s| s["value"][1].as_str().unwrap().parse::<f64>().unwrap())
        .filter(|x| x.is_finite())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

fn figure<'a>(json: &'a Value, id: &str) -> &'a Value {
    json["sections"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["figures"].as_array().unwrap())
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("no figure {id}"))
}

fn table<'a>(json: &'a Value, id: &str) -> &'a Value {
    json["sections"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["tables"].as_array().unwrap())
        .find(|t| t["id"] == id)
        .unwrap_or_else(|| panic!("no table {id}"))
}

#[track_caller]
fn assert_close(got: f64, want: f64, what: &str) {
    assert!(
        (got - want).abs() <= 1e-9 * want.abs().max(1.0),
        "{what}: report says {got}, expected {want}"
    );
}

/// Waits (at most 150 s) until Prometheus holds data newer than `end` and the demo's
/// conversations, users and the normal-traffic alerts are in.
fn wait_for_data(prometheus: &Prometheus, end: u64) {
    let ready = [
        "timestamp(up)",
        "sum(chat_conversations_total)",
        r#"window_segment:chat_users:estimate{window="1d"} > 0"#,
        r#"ALERTS{alertstate="firing",alertname="IntegrationTokensExpiring"}"#,
    ];
    let deadline = Instant::now() + Duration::from_secs(150);
    loop {
        let newest = scalar(prometheus, "max(timestamp(up))", now()).unwrap_or(0.0);
        let missing: Vec<&str> = ready
            .iter()
            .copied()
            .filter(|q| scalar(prometheus, q, end).is_none())
            .collect();
        if newest > end as f64 + 1.0 && missing.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no data by the end of the period: {missing:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// This period's figures equal PromQL written here, at the same instant, and hold the
/// demo's traffic; returns the spend.
fn check_this_period(prometheus: &Prometheus, json: &Value, range: &str, end: u64) -> f64 {
    // This period: PromQL written here, at the same instant.
    let q = |promql: String, at: u64| scalar(prometheus, &promql, at).unwrap();
    let spend = q(format!("sum(increase(llm_cost_usd_total[{range}]))"), end);
    let calls = q(format!("sum(increase(llm_requests_total[{range}]))"), end);
    let errors = q(
        format!(r#"sum(increase(llm_requests_total{{outcome="error"}}[{range}]))"#),
        end,
    );
    let dau = q(
        r#"window_segment:chat_users:estimate{segment="all",window="1d"}"#.into(),
        end,
    );
    assert_close(
        figure(json, "spend.total")["value"].as_f64().unwrap(),
        spend,
        "spend",
    );
    assert_close(
        figure(json, "usage.calls")["value"].as_f64().unwrap(),
        calls,
        "calls",
    );
    assert_close(
        figure(json, "usage.error_rate")["value"].as_f64().unwrap(),
        errors / calls,
        "error rate",
    );
    assert_close(
        figure(json, "product.dau")["value"].as_f64().unwrap(),
        dau,
        "DAU",
    );
    assert!(
        spend > COST_PER_S * 60.0 && errors > 0.0,
        "the demo's traffic is in"
    );

    spend
}

/// The previous period's figures come from the backfilled history's slopes, over `r`
/// seconds; the change compares `spend` with it.
fn check_previous_period(json: &Value, r: u64, spend: f64) {
    // The previous period: the backfilled history, from its slopes.
    let prev = |id: &str| figure(json, id)["previous"].as_f64().unwrap();
    let rf = r as f64;
    assert_close(prev("spend.total"), COST_PER_S * rf, "previous spend");
    assert_close(
        prev("usage.calls"),
        (SUCCESS_PER_S + ERRORS_PER_S) * rf,
        "previous calls",
    );
    assert_close(
        prev("usage.error_rate"),
        ERRORS_PER_S / (SUCCESS_PER_S + ERRORS_PER_S),
        "previous error rate",
    );
    assert_close(prev("product.dau"), PAST_DAU, "previous DAU");
    let change = figure(json, "spend.total")["change"].as_f64().unwrap();
    assert_close(
        change,
        (spend - COST_PER_S * rf) / (COST_PER_S * rf),
        "spend change",
    );
}

/// Every figure documents itself; the alerts, top users, objectives and spend by model
/// are there.
fn check_sections(json: &Value) {
    // Every figure documents itself; the alerts and top users are there.
    for s in json["sections"].as_array().unwrap() {
        for f in s["figures"].as_array().unwrap() {
            assert!(
                f["unit"].is_string() && f["description"].as_str().unwrap().len() > 10,
                "{f}"
            );
            assert!(f["query"].as_str().unwrap().contains(['(', '{']), "{f}");
        }
    }
    let alerts = table(json, "alerts.fired")["rows"].as_array().unwrap();
    assert!(
        alerts
            .iter()
            .any(|a| a["labels"]["alertname"] == "IntegrationTokensExpiring"),
        "{alerts:?}"
    );
    assert!(
        !table(json, "users.top_by_cost")["rows"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // The objectives of the default slos: section (issue 18's report_queries): each
    // attainment is a share between 0 and 1, and the demo's calls give some.
    let slo = json["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "slo")
        .expect("an slo section");
    let attained: Vec<f64> = slo["tables"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["id"].as_str().unwrap().ends_with(".attainment"))
        .flat_map(|t| t["rows"].as_array().unwrap().clone())
        .map(|r| r["value"].as_f64().unwrap())
        .collect();
    assert!(
        !attained.is_empty() && attained.iter().all(|v| (0.0..=1.0).contains(v)),
        "{attained:?}"
    );
    assert!(
        !table(json, "spend.by_model")["rows"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

/// No period has a call in its first 20 minutes, so each reads partial and says from
/// when its data starts.
fn check_partial_period(json: &Value, period: &str, r: u64, end: u64) {
    // No period has a call in its first 20 minutes (the backfill has samples only near
    // the previous periods' edges), so each reads partial and says from when.
    assert_eq!(json["status"], "partial");
    let from = json["data_from"].as_str().unwrap();
    assert!(
        from >= rfc3339(end - r + 1200).as_str() && from <= rfc3339(end).as_str(),
        "{from}"
    );
    // The week's first call is the backfilled one two days back, the month's the one
    // 14 days back; the day has only the demo's.
    match period {
        "week" => assert_eq!(from, rfc3339(end - 2 * 86_400 + 60)),
        "month" => assert_eq!(from, rfc3339(end - 14 * 86_400 + 60)),
        _ => assert!(from >= rfc3339(end - 300).as_str(), "{from}"),
    }
}

#[test]
fn the_json_report_equals_promql_and_the_backfilled_history() {
    // The period ends 75 s from now: the demo fills it, the backfill the periods before.
    let end = now() + 75;
    let lw = Llmwatch::start_with(&default_config(None), &LOCAL, "info");
    let dir = TempDir::new("report");
    let prometheus =
        Prometheus::start_with_history(&[lw.admin], &rule_files(&dir, Some("5s")), &history(end));
    let _demo = Demo::start(&lw, None, "8");
    wait_for_data(&prometheus, end);
    let url = format!("http://{}", prometheus.addr);
    let own_dau = lw.metric(
        "chat_users_estimate",
        &[("window", "1d"), ("segment", "all")],
    );

    for (period, r) in PERIODS {
        let range = match period {
            "day" => "1d",
            "week" => "7d",
            _ => "30d",
        };
        let out = dir.path(&format!("{period}.json"));
        let started = Instant::now();
        let run = report(&url, period, &rfc3339(end), "json", &out);
        let took = started.elapsed();
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let json: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
        assert_eq!(json["period"]["kind"], period);
        assert_eq!(json["period"]["seconds"], r);
        assert_eq!(json["period"]["end"], rfc3339(end));
        assert_eq!(json["previous_period"]["end"], rfc3339(end - r));

        let spend = check_this_period(&prometheus, &json, range, end);
        check_previous_period(&json, r, spend);
        check_sections(&json);
        check_partial_period(&json, period, r, end);
        println!("{period} json report: {took:?}, status {}", json["status"]);
    }
    // DAU through the fleet rules equals llmwatch's own estimate (the demo's users all
    // went through this one llmwatch); the gauge moves while the demo runs, so the rule's
    // value at `end` is compared with the gauge read after it, within the users of 15 s.
    let dau = scalar(
        &prometheus,
        r#"window_segment:chat_users:estimate{segment="all",window="1d"}"#,
        end,
    )
    .unwrap();
    assert!(
        own_dau > 0.0 && (own_dau - dau).abs() <= 0.2 * own_dau + 2.0,
        "rules {dau}, llmwatch {own_dau}"
    );

    formats_say_the_same(&url, &rfc3339(end), &dir.0);
    for period in ["day", "month"] {
        pdf_renders_with_poppler(&url, period, &rfc3339(end), &dir.0);
    }
}

/// The PDF: poppler renders every page, the title page names the period, no page is
/// blank, and the HTML embeds the same charts as data URIs with alt text.
fn pdf_renders_with_poppler(url: &str, period: &str, end: &str, dir: &Path) {
    let out = dir.join(format!("{period}.pdf"));
    let started = Instant::now();
    let run = report(url, period, end, "pdf", &out);
    let took = started.elapsed();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let pdf = std::fs::read(&out).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    let pages = page_count(&out);
    check_title_page(&out, period, end);
    let rendered = render_pages(&out, dir, period);
    assert_eq!(rendered.len(), pages);
    for page in &rendered {
        let ink = ink_ratio(page);
        assert!(ink > 0.002, "{} is blank ({ink})", page.display());
    }
    // The README's sample is the first page of the monthly report, at a readable size.
    if period == "month" {
        save_report_sample(&out);
    }
    println!(
        "{period} pdf report: {took:?}, {} bytes, {pages} pages",
        pdf.len()
    );
}

/// The PDF's page count, as pdfinfo reads it: at least four.
fn page_count(out: &Path) -> usize {
    let info = Command::new(tool("LLMWATCH_PDFINFO", "pdfinfo"))
        .arg(out)
        .output()
        .unwrap();
    assert!(
        info.status.success(),
        "{}",
        String::from_utf8_lossy(&info.stderr)
    );
    let info = String::from_utf8_lossy(&info.stdout).into_owned();
    let pages: usize = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(pages >= 4, "{pages} pages: {info}");
    pages
}

/// The title page names the report and its period's end day.
fn check_title_page(out: &Path, period: &str, end: &str) {
    let text = Command::new(tool("LLMWATCH_PDFTOTEXT", "pdftotext"))
        .args(["-f", "1", "-l", "1"])
        .arg(out)
        .arg("-")
        .output()
        .unwrap();
    let first = String::from_utf8_lossy(&text.stdout).into_owned();
    let title = if period == "day" {
        "Daily summary"
    } else {
        "Monthly board report"
    };
    assert!(
        first.contains(title) && first.contains(&end[..10]),
        "title page: {first}"
    );
}

/// Every page rendered by pdftoppm, which must not complain, in page order.
fn render_pages(out: &Path, dir: &Path, period: &str) -> Vec<PathBuf> {
    let prefix = dir.join(format!("{period}-page"));
    let render = Command::new(tool("LLMWATCH_PDFTOPPM", "pdftoppm"))
        .args(["-png", "-r", "60"])
        .arg(out)
        .arg(&prefix)
        .output()
        .unwrap();
    assert!(
        render.status.success(),
        "{}",
        String::from_utf8_lossy(&render.stderr)
    );
    assert!(
        render.stderr.is_empty(),
        "poppler complained: {}",
        String::from_utf8_lossy(&render.stderr)
    );
    let mut rendered: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("{period}-page"))
        })
        .collect();
    rendered.sort();
    rendered
}

/// Saves the first page as the README's sample, and the PDF beside it.
fn save_report_sample(out: &Path) {
    let samples = samples_dir();
    let first_png = Command::new(tool("LLMWATCH_PDFTOPPM", "pdftoppm"))
        .args(["-png", "-r", "50", "-f", "1", "-l", "1", "-singlefile"])
        .arg(out)
        .arg(samples.join("report-sample"))
        .status()
        .unwrap();
    assert!(first_png.success());
    std::fs::copy(out, samples.join("report-sample.pdf")).unwrap();
}

/// Where the test run leaves a sample of each format, for the README (docs/).
fn samples_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/report-samples");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn save_sample(from: &Path, name: &str) {
    std::fs::copy(from, samples_dir().join(name)).unwrap();
}

/// The share of pixels that are not white in a PNG poppler wrote.
fn ink_ratio(png_path: &Path) -> f64 {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png_path).unwrap(),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let pixels = buf[..info.buffer_size()].chunks(channels);
    let total = pixels.len();
    let inked = pixels
        .filter(|p| p.iter().take(3).any(|&v| v < 200))
        .count();
    inked as f64 / total as f64
}

/// Markdown and HTML carry the JSON's numbers, formatted.
fn formats_say_the_same(url: &str, end: &str, dir: &Path) {
    let json_path = dir.join("day.json");
    save_sample(&json_path, "report-sample.json");
    let json: Value = serde_json::from_slice(&std::fs::read(json_path).unwrap()).unwrap();
    let spend = figure(&json, "spend.total")["value"].as_f64().unwrap();
    let shown = usd(spend);
    for (format, file) in [("markdown", "day.md"), ("html", "day.html")] {
        let out: PathBuf = dir.join(file);
        let started = Instant::now();
        let run = report(url, "day", end, format, &out);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let text = std::fs::read_to_string(&out).unwrap();
        save_sample(&out, &format!("report-sample.{}", &file[4..]));
        assert!(text.contains("Daily summary"), "{text}");
        assert!(
            text.contains(&shown),
            "{format} lacks the spend {shown}:\n{text}"
        );
        println!(
            "day {format} report: {:?}, {} bytes",
            started.elapsed(),
            text.len()
        );
    }
}

/// Dollars as the report shows them: two decimals with thousands separators, four below $1.
fn usd(v: f64) -> String {
    if v < 1.0 {
        return format!("${v:.4}");
    }
    let text = format!("{v:.2}");
    let (int, cents) = text.split_once('.').unwrap();
    let digits: Vec<char> = int.chars().collect();
    let groups: Vec<String> = digits
        .rchunks(3)
        .rev()
        .map(|c| c.iter().collect())
        .collect();
    format!("${}.{cents}", groups.join(","))
}

#[test]
fn an_empty_or_unreachable_prometheus_gives_its_exit_code_and_no_number() {
    let dir = TempDir::new("report-empty");
    let prometheus = Prometheus::start(&[], &[]);
    let out = dir.path("empty.md");
    let run = report(
        &format!("http://{}", prometheus.addr),
        "day",
        &rfc3339(now()),
        "markdown",
        &out,
    );
    assert_eq!(
        run.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("**No data:**"), "{text}");
    assert!(!text.contains('$'), "a number without data: {text}");
    let json_out = dir.path("empty.json");
    let run = report(
        &format!("http://{}", prometheus.addr),
        "week",
        &rfc3339(now()),
        "json",
        &json_out,
    );
    assert_eq!(run.status.code(), Some(3));
    let json: Value = serde_json::from_slice(&std::fs::read(&json_out).unwrap()).unwrap();
    assert_eq!(json["status"], "empty");
    assert!(figure(&json, "spend.total")["value"].is_null());
    assert!(
        figure(&json, "usage.error_rate")["value"].is_null(),
        "0/0 is no data"
    );

    // Nothing listens on a port just released.
    let port = super::support::free_port();
    let gone = dir.path("gone.md");
    let run = report(
        &format!("http://127.0.0.1:{port}"),
        "day",
        &rfc3339(now()),
        "markdown",
        &gone,
    );
    assert_eq!(run.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&run.stderr).contains("unreachable"));
    assert!(
        !gone.exists(),
        "no report file when Prometheus is unreachable"
    );
}
