//! The whole path at the ceiling: the ERP posts v1.1 documents to the real `invois gateway`
//! process over its HTTP API, the gateway validates, signs, submits and polls, the sandbox
//! verifies every signature, and the ERP is told of each final state by webhook.
//!
//! ```text
//! cargo bench -p invois-cli --bench whole_path
//! INVOIS_BENCH_DOCS=40000 cargo bench -p invois-cli --bench whole_path
//! ```
//!
//! Everything runs in real time on this machine: the sandbox (LHDN's production budgets, a
//! validation delay of `INVOIS_BENCH_VALIDATION_DELAY_SECS`, 2 s by default), the ERP and its
//! webhook receiver in this process; the gateway in its own, as a deployment runs it (SQLite,
//! `synchronous=FULL`, a test CA's certificate for the sandbox's supplier). The ERP posts one
//! document per request at `INVOIS_BENCH_RATE` documents a minute (10,000, the ceiling:
//! Submit Documents' 100 requests a minute of 100 documents), so intake, validation and
//! signing all happen inside the measured window, which runs from the first POST to the last
//! final-state webhook.
//!
//! It reports:
//! - the sustained share of the ceiling, as `benches/throughput.rs` in invois-gateway defines
//!   it (the documents of submissions 101 to N, per minute between submission 100 and N: the
//!   rate once the first window's free burst is spent), from the gateway's own submission
//!   list, and the raw rate over the window;
//! - 429s the sandbox answered;
//! - latency from each POST to its final-state webhook (p50, p99, max) beside its floor, the
//!   validation delay (a poll and a webhook on this machine take milliseconds);
//! - the gateway process's CPU time per document (user + system, from `/proc`), as a ratio to
//!   one RSA-2048 signature timed in this run, and the kernel's share of it; its context
//!   switches per document (a steadier reading than CPU time on a shared machine); its peak
//!   resident memory (`VmHWM`) and the bytes it wrote per document (`wchar`).
//!
//! The last line printed is the JSON of the figures.
//!
//! Where the gateway's CPU goes, by stage: while a run is going, profile the gateway process
//! and split the samples with `perf_stages.py` beside this file:
//!
//! ```text
//! perf record -F 250 --call-graph dwarf,16384 -p $(pgrep -f 'invois gateway --database') \
//!     -o gw.perf -- sleep 30
//! perf script -i gw.perf | python3 crates/invois-cli/benches/perf_stages.py
//! ```
//!
//! `INVOIS_BENCH_SUBMISSIONS_CSV=PATH` writes each submission's time and size there.
//!
//! `INVOIS_BENCH_GATEWAY_BIN=PATH` runs another build of `invois` as the gateway (a copy of
//! an earlier `target/release/invois`, say), to compare two builds on the same machine state.
//!
//! `INVOIS_BENCH_GATEWAY_LOG` sets the gateway's `RUST_LOG` and shows its log (e.g.
//! `warn,sqlx::query=debug` to count the statements it runs per document).

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use chrono::{DateTime, Utc};
use invois_api::RateProfile;
use invois_sign::{IssuedCertificate, TestCa, TestCertRequest};
use invois_testkit::{Kind, TestSandbox, Version, env_or, samples};

#[path = "../tests/support/gateway_binary.rs"]
mod gateway_binary;
use serde::Deserialize;

/// Documents per minute Submit Documents allows (100 requests × 100 documents).
const CEILING_PER_MINUTE: f64 = 10_000.0;

/// Webhook states after which nothing more happens to a document without the ERP.
const FINAL_STATES: [&str; 4] = ["valid", "invalid", "rejected_locally", "failed"];

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(run());
}

/// The knobs, from the environment.
struct Knobs {
    docs: usize,
    per_minute: f64,
    validation_delay: Duration,
    /// POSTs in flight at once (an ERP's worker pool).
    concurrency: usize,
    /// The `invois` binary to run as the gateway: this build's, or another build's to
    /// compare with on the same machine state.
    gateway_bin: String,
}

impl Knobs {
    fn read() -> Knobs {
        Knobs {
            docs: env_or("INVOIS_BENCH_DOCS", 20_000),
            per_minute: env_or("INVOIS_BENCH_RATE", CEILING_PER_MINUTE),
            validation_delay: Duration::from_secs(env_or("INVOIS_BENCH_VALIDATION_DELAY_SECS", 2)),
            concurrency: env_or("INVOIS_BENCH_CONCURRENCY", 32),
            gateway_bin: std::env::var("INVOIS_BENCH_GATEWAY_BIN")
                .unwrap_or_else(|_| env!("CARGO_BIN_EXE_invois").to_owned()),
        }
    }
}

async fn run() {
    let knobs = Knobs::read();
    let sandbox = TestSandbox::builder()
        .profile(RateProfile::Production)
        .validation_delay(knobs.validation_delay)
        .start()
        .await
        .expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    let documents = documents(&sandbox, knobs.docs);
    let cert = certificate_for(&documents[0].1);
    let floor = rsa_floor(&cert);

    let receiver = Receiver::start().await;
    let db = format!("sqlite://{}", dir.path().join("invois.db").display());
    let key = gateway_binary::create_api_key(&knobs.gateway_bin, &db, "bench");
    let gateway = GatewayProcess::start(
        &knobs.gateway_bin,
        &db,
        &sandbox,
        &cert,
        dir.path(),
        &receiver.url,
    )
    .await;
    let cpu_before = process_cpu(gateway.pid()).expect("the gateway's /proc/<pid>/stat");
    let written_before = process_written(gateway.pid());
    let switches_before = thread_switches(gateway.pid());

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(knobs.concurrency)
        .build()
        .expect("http client");
    let started = Instant::now();
    let posted = feed(&http, &gateway.base, &key, documents, &knobs).await;
    let fed_secs = started.elapsed().as_secs_f64();
    let finals = receiver.wait_for(knobs.docs, &knobs).await;
    let window = started.elapsed();
    let cpu = process_cpu(gateway.pid())
        .expect("the gateway's CPU time")
        .since(cpu_before);
    let switches = thread_switches(gateway.pid()).saturating_sub(switches_before);
    let peak_kib = peak_memory_kib(gateway.pid());
    let written = process_written(gateway.pid())
        .zip(written_before)
        .map(|(after, before)| after - before);

    let submissions = submissions(&http, &gateway.base, &key).await;
    if let Ok(path) = std::env::var("INVOIS_BENCH_SUBMISSIONS_CSV") {
        // Each submission's time and size, to see where a run fell short of full batches.
        let csv: String = submissions
            .iter()
            .map(|(at, n)| format!("{},{n}\n", at.to_rfc3339()))
            .collect();
        std::fs::write(&path, csv).expect("write INVOIS_BENCH_SUBMISSIONS_CSV");
    }
    let client_id = sandbox.supplier().client_id;
    let throttled: u64 = sandbox
        .sandbox()
        .client_counters(&client_id)
        .rate_limited
        .values()
        .sum();
    let submit_calls = sandbox
        .sandbox()
        .report(Some(&client_id))
        .and_then(|r| r.clients.into_iter().find(|c| c.client_id == client_id))
        .and_then(|c| {
            c.endpoints
                .into_iter()
                .find(|e| e.endpoint == "Submit Documents")
        })
        .map_or(0, |e| e.calls);
    gateway.stop();

    let report = Report {
        knobs: &knobs,
        window,
        fed_secs,
        latencies: latencies(&posted, &finals),
        states: finals.states(),
        sustained: sustained_per_minute(&submissions),
        submissions: submissions.len(),
        submit_calls,
        throttled,
        cpu,
        switches,
        floor,
        peak_kib,
        written,
    };
    report.print();
}

/// The ERP's documents: LHDN's Invoice layout as the project's unsigned v1.1 fixture, one
/// internal id each, issued five minutes ago by the sandbox's supplier.
fn documents(sandbox: &TestSandbox, count: usize) -> Vec<(String, Vec<u8>)> {
    let unsigned =
        invois_testkit::unsigned_fixture(Version::V1_1, Kind::Invoice, invois_model::Format::Json);
    let template: serde_json::Value =
        serde_json::from_slice(&unsigned).expect("the fixture is JSON");
    let issued = Utc::now() - chrono::Duration::minutes(5);
    let (supplier, buyer) = (sandbox.supplier().tin, sandbox.buyer().tin);
    (0..count)
        .map(|i| {
            let id = format!("WP-{i:07}");
            let mut doc = template.clone();
            samples::adapt_json(&mut doc, &id, issued, &supplier, &buyer);
            (id, samples::minified(&doc))
        })
        .collect()
}

/// A test CA's certificate for the document's supplier (TIN and BRN), which the sandbox
/// trusts: so its signature step verifies every document for real.
fn certificate_for(document: &[u8]) -> IssuedCertificate {
    let doc = invois_model::Document::parse(document).expect("the document parses");
    let tin = doc.supplier_tin().expect("a supplier TIN").to_owned();
    let brn = doc.supplier_id("BRN").expect("a supplier BRN").to_owned();
    TestCa::well_known()
        .and_then(|ca| ca.issue(&TestCertRequest::new(tin, brn)))
        .expect("a test certificate")
}

/// One RSA-2048 PKCS#1 signature with the same key, in the library invois signs with:
/// the median of 15 batches of 50, taken now, on this machine as it is.
fn rsa_floor(cert: &IssuedCertificate) -> Duration {
    let key = RsaKeyPair::from_pkcs8(cert.key.expose()).expect("the key is PKCS#8");
    let rng = SystemRandom::new();
    let mut sig = vec![0; key.public_modulus_len()];
    let mut batches: Vec<Duration> = (0..15)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..50 {
                key.sign(&RSA_PKCS1_SHA256, &rng, b"the floor", &mut sig)
                    .expect("signs");
            }
            t.elapsed() / 50
        })
        .collect();
    batches.sort();
    batches[batches.len() / 2]
}

/// `invois gateway` in its own process.
struct GatewayProcess {
    child: Child,
    base: String,
}

impl GatewayProcess {
    async fn start(
        binary: &str,
        db: &str,
        sandbox: &TestSandbox,
        cert: &IssuedCertificate,
        dir: &std::path::Path,
        hook: &str,
    ) -> GatewayProcess {
        let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert_path, cert.certificate.to_pem()).expect("cert written");
        std::fs::write(&key_path, cert.key.to_pem()).expect("key written");
        let who = sandbox.supplier();
        let mut child = Command::new(binary)
            .args(["gateway", "--database", db, "--listen", "127.0.0.1:0"])
            .args(["--api-base", sandbox.base_url()])
            .args(["--client-id", &who.client_id])
            .args(["--client-secret", &who.client_secret])
            .args(["--rate-profile", "production"])
            .arg("--cert")
            .arg(&cert_path)
            .arg("--key")
            .arg(&key_path)
            .args(["--webhook-url", hook])
            .env(
                "INVOIS_WEBHOOK_SECRET",
                "whole-path-bench-webhook-secret-0123456789",
            )
            // `INVOIS_BENCH_GATEWAY_LOG=sqlx::query=debug` (say) shows what the gateway does.
            .env(
                "RUST_LOG",
                std::env::var("INVOIS_BENCH_GATEWAY_LOG").unwrap_or("warn".into()),
            )
            .env_remove("INVOIS_DATABASE_URL")
            .env_remove("INVOIS_ENV")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the invois binary starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let verbose = std::env::var_os("INVOIS_BENCH_GATEWAY_LOG").is_some();
        // Warnings are echoed: a bench that hides its gateway's complaints measures nothing.
        let rx = gateway_binary::watch(stderr, move |line| {
            if verbose || line.contains("WARN") || line.contains("ERROR") {
                eprintln!("gateway: {line}");
            }
        });
        let addr = tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .expect("the gateway announces its address within 30 s")
            .expect("the gateway started");
        GatewayProcess {
            child,
            base: format!("http://{addr}"),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The ERP's side of the webhooks: when each document's final state arrived.
#[derive(Clone)]
struct Receiver {
    url: String,
    finals: Arc<Mutex<HashMap<String, (Instant, String)>>>,
}

#[derive(Deserialize)]
struct Hook {
    internal_id: String,
    state: String,
}

impl Receiver {
    async fn start() -> Receiver {
        let finals: Arc<Mutex<HashMap<String, (Instant, String)>>> = Arc::default();
        let record = Arc::clone(&finals);
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |axum::Json(hook): axum::Json<Hook>| {
                let record = Arc::clone(&record);
                async move {
                    if FINAL_STATES.contains(&hook.state.as_str()) {
                        let mut finals = record.lock().unwrap_or_else(|e| e.into_inner());
                        finals
                            .entry(hook.internal_id)
                            .or_insert((Instant::now(), hook.state));
                    }
                    axum::http::StatusCode::NO_CONTENT
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port for the webhook receiver");
        let addr = listener.local_addr().expect("its address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver {
            url: format!("http://{addr}/hook"),
            finals,
        }
    }

    /// Waits until `count` documents reached a final state (or gives up, loudly, after three
    /// times the time the ceiling needs plus a minute).
    async fn wait_for(&self, count: usize, knobs: &Knobs) -> Finals {
        let limit = Duration::from_secs_f64(180.0 * count as f64 / knobs.per_minute + 60.0);
        let started = Instant::now();
        loop {
            let seen = self.finals.lock().unwrap_or_else(|e| e.into_inner()).len();
            if seen >= count {
                break;
            }
            assert!(
                started.elapsed() < limit,
                "only {seen} of {count} documents reached a final state within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Finals(
            self.finals
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
}

/// Final states by internal id, with when their webhook arrived.
struct Finals(HashMap<String, (Instant, String)>);

impl Finals {
    fn states(&self) -> HashMap<String, usize> {
        let mut states = HashMap::new();
        for (_, state) in self.0.values() {
            *states.entry(state.clone()).or_default() += 1;
        }
        states
    }
}

/// Posts every document at the knobs' rate, one per request; returns when each POST left.
async fn feed(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    documents: Vec<(String, Vec<u8>)>,
    knobs: &Knobs,
) -> HashMap<String, Instant> {
    let interval = Duration::from_secs_f64(60.0 / knobs.per_minute);
    let permits = Arc::new(tokio::sync::Semaphore::new(knobs.concurrency));
    let start = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, (id, body)) in documents.into_iter().enumerate() {
        tokio::time::sleep_until(start + interval.mul_f64(i as f64)).await;
        let permit = Arc::clone(&permits)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let request = http
            .post(format!("{base}/v1/documents"))
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body(body);
        tasks.spawn(async move {
            let left = Instant::now();
            let response = request.send().await.expect("the gateway answers");
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            assert!(status.is_success(), "POST {id}: {status} {text}");
            drop(permit);
            (id, left)
        });
    }
    let mut posted = HashMap::new();
    while let Some(done) = tasks.join_next().await {
        let (id, left) = done.expect("a POST task");
        posted.insert(id, left);
    }
    posted
}

#[derive(Deserialize)]
struct SubmissionPage {
    submissions: Vec<SubmissionView>,
    next: Option<i64>,
}

#[derive(Deserialize)]
struct SubmissionView {
    submission_uid: Option<String>,
    document_count: i64,
    created_at: DateTime<Utc>,
}

/// Every submission the gateway made that MyInvois accepted, oldest first, from its API.
async fn submissions(http: &reqwest::Client, base: &str, key: &str) -> Vec<(DateTime<Utc>, i64)> {
    let mut all = Vec::new();
    let mut before: Option<i64> = None;
    loop {
        let mut url = format!("{base}/v1/submissions?limit=1000");
        if let Some(b) = before {
            url.push_str(&format!("&before={b}"));
        }
        let page: SubmissionPage = http
            .get(url)
            .bearer_auth(key)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .expect("GET /v1/submissions")
            .json()
            .await
            .expect("a submission page");
        all.extend(
            page.submissions
                .into_iter()
                .filter(|s| s.submission_uid.is_some())
                .map(|s| (s.created_at, s.document_count)),
        );
        match page.next {
            Some(n) => before = Some(n),
            None => break,
        }
    }
    all.sort();
    all
}

/// The documents of submissions 101..N per minute between submission 100 and N.
fn sustained_per_minute(subs: &[(DateTime<Utc>, i64)]) -> Option<f64> {
    let (hundredth, last) = (subs.get(99)?, subs.last()?);
    let minutes = (last.0 - hundredth.0).num_milliseconds() as f64 / 60_000.0;
    let after_burst: i64 = subs.iter().skip(100).map(|(_, n)| n).sum();
    (subs.len() > 100 && minutes > 0.0).then(|| after_burst as f64 / minutes)
}

/// POST → final webhook, per document, sorted.
fn latencies(posted: &HashMap<String, Instant>, finals: &Finals) -> Vec<Duration> {
    let mut all: Vec<Duration> = finals
        .0
        .iter()
        .filter_map(|(id, (at, _))| {
            posted
                .get(id)
                .map(|left| at.saturating_duration_since(*left))
        })
        .collect();
    all.sort();
    all
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// A process's CPU time, in user space and in the kernel on its behalf.
#[derive(Clone, Copy)]
struct CpuTime {
    user: Duration,
    system: Duration,
}

impl CpuTime {
    fn total(self) -> Duration {
        self.user + self.system
    }

    fn since(self, before: CpuTime) -> CpuTime {
        CpuTime {
            user: self.user.saturating_sub(before.user),
            system: self.system.saturating_sub(before.system),
        }
    }
}

/// User and system CPU time of a process so far (all its threads, living or not).
fn process_cpu(pid: u32) -> Option<CpuTime> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces: state is
    // the first, utime the 12th and stime the 13th.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> Option<Duration> {
        let n = fields.get(i)?.parse::<u64>().ok()?;
        Some(Duration::from_secs_f64(n as f64 / clock_ticks_per_second()))
    };
    Some(CpuTime {
        user: ticks(11)?,
        system: ticks(12)?,
    })
}

/// Context switches, voluntary and not, summed over a process's living threads. Each is a
/// thread put to sleep and woken again, which the kernel charges as system time: the count
/// says how much of the gateway's CPU goes to handing work between threads, and unlike CPU
/// time it hardly moves with the load on a shared machine. (Threads that ended before the
/// reading are not counted; the gateway's workers live as long as it does.)
fn thread_switches(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("status")).ok())
        .map(|status| {
            status
                .lines()
                .filter_map(|l| {
                    l.strip_prefix("voluntary_ctxt_switches:")
                        .or_else(|| l.strip_prefix("nonvoluntary_ctxt_switches:"))
                })
                .filter_map(|v| v.trim().parse::<u64>().ok())
                .sum::<u64>()
        })
        .sum()
}

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// Peak resident memory of a process (`VmHWM`), in KiB.
fn peak_memory_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Bytes a process has written so far (`wchar` in `/proc/<pid>/io`: every `write`, to the
/// database, its WAL and sockets alike, whether or not it reached the disk yet).
fn process_written(pid: u32) -> Option<u64> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    io.lines()
        .find_map(|l| l.strip_prefix("wchar:"))
        .and_then(|v| v.trim().parse().ok())
}

/// What one run measured.
struct Report<'a> {
    knobs: &'a Knobs,
    window: Duration,
    fed_secs: f64,
    latencies: Vec<Duration>,
    states: HashMap<String, usize>,
    sustained: Option<f64>,
    submissions: usize,
    submit_calls: u64,
    throttled: u64,
    cpu: CpuTime,
    switches: u64,
    floor: Duration,
    peak_kib: Option<u64>,
    written: Option<u64>,
}

impl Report<'_> {
    fn print(&self) {
        let docs = self.knobs.docs as f64;
        let raw = docs / (self.window.as_secs_f64() / 60.0);
        let cpu_per_doc = self.cpu.total().as_secs_f64() / docs;
        let system_share = self.cpu.system.as_secs_f64() / self.cpu.total().as_secs_f64();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let (p50, p99) = (
            percentile(&self.latencies, 0.50),
            percentile(&self.latencies, 0.99),
        );
        let max = self.latencies.last().copied().unwrap_or_default();
        let floor_ms = ms(self.knobs.validation_delay);
        println!("invois whole path: ERP API -> validate -> sign -> submit -> poll -> webhook");
        let rows: Vec<(&str, String)> = vec![
            (
                "documents (v1.1, signed by the gateway)",
                self.knobs.docs.to_string(),
            ),
            ("final states", format!("{:?}", self.states)),
            (
                "ERP posting rate (per minute)",
                format!("{:.0}", self.knobs.per_minute),
            ),
            ("posting took (s)", format!("{:.1}", self.fed_secs)),
            (
                "window, first POST -> last final webhook (s)",
                format!("{:.1}", self.window.as_secs_f64()),
            ),
            (
                "accepted submissions / Submit calls",
                format!("{} / {}", self.submissions, self.submit_calls),
            ),
            (
                "documents per minute (raw, whole window)",
                format!("{raw:.0}"),
            ),
            (
                "share of the ceiling (raw)",
                format!("{:.1}%", 100.0 * raw / CEILING_PER_MINUTE),
            ),
            (
                "share of the ceiling (sustained)",
                self.sustained
                    .map_or("n/a (under 101 submissions)".into(), |v| {
                        format!("{:.1}%", 100.0 * v / CEILING_PER_MINUTE)
                    }),
            ),
            ("429 responses", self.throttled.to_string()),
            (
                "latency POST -> final webhook p50 (ms)",
                format!("{:.0}", ms(p50)),
            ),
            ("latency p99 (ms)", format!("{:.0}", ms(p99))),
            ("latency max (ms)", format!("{:.0}", ms(max))),
            (
                "latency floor: validation delay (ms)",
                format!("{floor_ms:.0}"),
            ),
            (
                "gateway CPU per document (ms)",
                format!("{:.3}", cpu_per_doc * 1e3),
            ),
            (
                "of which in the kernel (system time)",
                format!("{:.0}%", 100.0 * system_share),
            ),
            (
                "gateway context switches per document",
                format!("{:.1}", self.switches as f64 / docs),
            ),
            (
                "one RSA-2048 signature, this run (ms)",
                format!("{:.3}", ms(self.floor)),
            ),
            (
                "gateway CPU per document / RSA signature",
                format!("{:.2}x", cpu_per_doc / self.floor.as_secs_f64()),
            ),
            (
                "gateway peak memory (MiB)",
                self.peak_kib
                    .map_or("n/a".into(), |k| format!("{:.1}", k as f64 / 1024.0)),
            ),
            (
                "gateway bytes written per document (KiB)",
                self.written
                    .map_or("n/a".into(), |b| format!("{:.1}", b as f64 / 1024.0 / docs)),
            ),
        ];
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (k, v) in &rows {
            println!("  {k:<width$}  {v}");
        }
        let json = serde_json::json!({
            "documents": self.knobs.docs,
            "finalStates": self.states,
            "postingRatePerMinute": self.knobs.per_minute,
            "windowSecs": self.window.as_secs_f64(),
            "acceptedSubmissions": self.submissions,
            "shareOfCeilingRaw": raw / CEILING_PER_MINUTE,
            "shareOfCeilingSustained": self.sustained.map(|v| v / CEILING_PER_MINUTE),
            "rateLimited429": self.throttled,
            "latencyP50Ms": ms(p50),
            "latencyP99Ms": ms(p99),
            "latencyMaxMs": ms(max),
            "latencyFloorMs": floor_ms,
            "gatewayCpuPerDocumentMs": cpu_per_doc * 1e3,
            "gatewaySystemShare": system_share,
            "gatewaySwitchesPerDocument": self.switches as f64 / docs,
            "rsaSignatureMs": ms(self.floor),
            "gatewayCpuPerDocumentOverRsa": cpu_per_doc / self.floor.as_secs_f64(),
            "gatewayPeakMemoryKiB": self.peak_kib,
            "gatewayBytesWrittenPerDocument": self.written.map(|b| b as f64 / docs),
        });
        println!("{json}");
    }
}
