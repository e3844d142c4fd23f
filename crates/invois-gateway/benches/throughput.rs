//! Throughput: the gateway pipeline (in process, SQLite in a temporary directory) against the
//! sandbox with LHDN's production budgets, both on one scaled clock.
//!
//! ```text
//! cargo bench -p invois-gateway --bench throughput
//! INVOIS_BENCH_DOCS=40000 INVOIS_BENCH_SCALE=10 cargo bench -p invois-gateway --bench throughput
//! ```
//!
//! The ceiling is Submit Documents' 100 requests per minute × 100 documents = 10,000
//! documents per minute. Every document is stored and prepared (validated and minified; no
//! signing certificate) *before* the measured window, so the window measures submission,
//! polling and recording only. The window runs from the first Submit Documents call to the
//! last document reaching a final state (sandbox clock).
//!
//! Both budgets are sliding one-minute windows that start empty, so the first minute's 100
//! submissions may go at once. "Raw" per-minute figures over a run of a few minutes include
//! that free burst. The "sustained" share leaves it out: the documents of submissions 101 to
//! N, per minute between submission 100 and submission N. Each of those submissions can only
//! use a slot that one of the first N - 100 freed a window later, so this is the rate a long
//! run settles at, however long the first burst took to leave. A pipeline that reuses every
//! slot the moment it frees scores 100% less the client's one-second window margin (98.4%).
//!
//! `INVOIS_BENCH_SPANS=1` also prints where the time goes: count, mean and maximum wall time
//! of each pipeline, store and client span (real time, measured window only).
//!
//! Results: a table on stdout, and JSON in `$CARGO_TARGET_DIR/invois-bench-throughput.json`
//! (or `target/` when that variable is unset).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use invois_api::RateProfile;
use invois_client::{Client, RateLimits};
use invois_clock::Clock;
use invois_gateway::clients::{ClientPool, LoginMode};
use invois_gateway::pipeline::{Pipeline, PipelineConfig, Shutdown};
use invois_gateway::store::{DocumentFormat, DocumentState, NewDocument, Store};
use invois_testkit::{TestSandbox, env_or, samples};

/// Documents per minute the Submit Documents budget allows (100 RPM × 100 documents).
const CEILING_PER_MINUTE: f64 = 10_000.0;

/// Wall time per span name: a profiler for latency (not CPU), which is what bounds the
/// pipeline when each submission waits on the store, the network and the budget in turn.
mod spans {
    use std::collections::BTreeMap;
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    use tracing::span;
    use tracing_subscriber::layer::Context;
    use tracing_subscriber::registry::LookupSpan;

    #[derive(Default, Clone, Copy)]
    pub(crate) struct Stat {
        pub(crate) count: u64,
        pub(crate) total: Duration,
        pub(crate) max: Duration,
    }

    pub(crate) static STATS: Mutex<BTreeMap<&'static str, Stat>> = Mutex::new(BTreeMap::new());
    pub(crate) static ON: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

    struct Started(Instant);

    pub(crate) struct Timer;

    impl<S> tracing_subscriber::Layer<S> for Timer
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    {
        fn on_new_span(&self, _: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
            if let Some(span) = ctx.span(id) {
                span.extensions_mut().insert(Started(Instant::now()));
            }
        }

        fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
            if !ON.load(std::sync::atomic::Ordering::Relaxed) {
                return;
            }
            let Some(span) = ctx.span(&id) else { return };
            let Some(started) = span.extensions().get::<Started>().map(|s| s.0) else {
                return;
            };
            let took = started.elapsed();
            let mut stats = STATS
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let stat = stats.entry(span.name()).or_default();
            stat.count += 1;
            stat.total += took;
            stat.max = stat.max.max(took);
        }
    }
}

fn main() {
    if std::env::var_os("INVOIS_BENCH_SPANS").is_some() {
        use tracing_subscriber::layer::SubscriberExt as _;
        let subscriber = tracing_subscriber::registry()
            .with(tracing_subscriber::filter::LevelFilter::DEBUG)
            .with(spans::Timer);
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(run());
}

async fn run() {
    let docs: usize = env_or("INVOIS_BENCH_DOCS", 20_000);
    let scale: f64 = env_or("INVOIS_BENCH_SCALE", 10.0);
    let validation_delay = Duration::from_secs(env_or("INVOIS_BENCH_VALIDATION_DELAY_SECS", 2));
    let wall = Instant::now();
    let clock = Clock::scaled(scale);
    let sandbox = TestSandbox::builder()
        .clock(clock.clone())
        .profile(RateProfile::Production)
        .validation_delay(validation_delay)
        .start()
        .await
        .expect("sandbox");
    let who = sandbox.supplier();
    // An experiment knob, off by default: widen the client's Submit and Get Submission windows
    // by this many milliseconds, so a request admitted on the client at the edge of its window
    // cannot arrive inside the sandbox's (which counts arrival times).
    let margin = Duration::from_millis(env_or("INVOIS_BENCH_WINDOW_MARGIN_MS", 0));
    let mut limits = RateLimits::profile(RateProfile::Production);
    if !margin.is_zero() {
        for (class, rpm) in [
            (invois_api::RateClass::SubmitDocuments, 100),
            (invois_api::RateClass::GetSubmission, 300),
        ] {
            limits = limits.with_quota(
                class,
                invois_client::Quota {
                    requests: rpm,
                    window: invois_api::RateClass::WINDOW + margin,
                },
            );
        }
    }
    let client = Client::builder()
        .api_base(sandbox.base_url())
        .portal_base("https://preprod.myinvois.hasil.gov.my")
        .credentials(who.client_id.clone(), who.client_secret.as_str())
        .clock(clock.clone())
        .rate_limits(limits)
        .request_timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let client_id = client.client_id().to_owned();

    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("invois.db").display());
    let store: Arc<Store> = Arc::new(
        Store::open(&url, clock.clone())
            .await
            .expect("sqlite store"),
    );
    // An experiment knob: the store commits with `synchronous=FULL` (every commit fsynced);
    // `INVOIS_BENCH_SQLITE_SYNCHRONOUS=normal` puts its one write connection back to NORMAL
    // (fsync at checkpoints only), to measure what durability on power loss costs.
    let synchronous: String = env_or("INVOIS_BENCH_SQLITE_SYNCHRONOUS", "full".to_owned());
    if synchronous != "full" {
        let write = store.db().sqlite_pool().expect("a SQLite store");
        sqlx::query(&format!("PRAGMA synchronous = {synchronous}"))
            .execute(write)
            .await
            .expect("PRAGMA synchronous");
    }

    // Load: one sample invoice, adapted per internal id.
    let template =
        invois_testkit::fixture_json(invois_testkit::Version::V1_0, invois_testkit::Kind::Invoice);
    let issued = clock.now() - chrono::Duration::minutes(5);
    let load_started = Instant::now();
    for i in 0..docs {
        let id = format!("B-{i:06}");
        let mut doc = template.clone();
        samples::adapt_json(&mut doc, &id, issued, &who.tin, &sandbox.buyer().tin);
        store
            .documents()
            .insert(NewDocument {
                issuer_tin: who.tin.clone(),
                type_code: "01".to_owned(),
                internal_id: id,
                version: 1,
                format: DocumentFormat::Json,
                client_id: client_id.clone(),
                on_behalf_of: None,
                received: samples::minified(&doc),
            })
            .await
            .expect("insert");
    }
    let load_secs = load_started.elapsed().as_secs_f64();

    let config = PipelineConfig::default();
    let pipeline = Pipeline::new(
        Arc::clone(&store),
        ClientPool::new(client, LoginMode::Taxpayer),
        None,
        config.clone(),
    );
    let prepare_started = Instant::now();
    while pipeline.prepare_once().await.expect("prepare") > 0 {}
    let prepare_secs = prepare_started.elapsed().as_secs_f64();
    let counts = store.documents().count_by_state().await.expect("counts");
    let prepared = counts.get(&DocumentState::Prepared).copied().unwrap_or(0);
    assert_eq!(
        prepared as usize, docs,
        "every document prepared: {counts:?}"
    );

    // The measured window.
    spans::ON.store(true, std::sync::atomic::Ordering::Relaxed);
    let run_started = Instant::now();
    let (trigger, shutdown) = Shutdown::new();
    let runner = {
        let p = pipeline.clone();
        tokio::spawn(async move { p.run(shutdown).await })
    };
    let final_counts = loop {
        let counts = store.documents().count_by_state().await.expect("counts");
        if counts.keys().all(|s| s.is_final()) {
            break counts;
        }
        clock.sleep(Duration::from_millis(500)).await;
    };
    trigger.trigger();
    runner.await.expect("pipeline task");
    let run_secs = run_started.elapsed().as_secs_f64();
    spans::ON.store(false, std::sync::atomic::Ordering::Relaxed);

    // When each document reached its final state (store events, sandbox clock).
    let mut last_final = None;
    let mut after = 0;
    loop {
        let events = store
            .documents()
            .events_after(after, 10_000)
            .await
            .expect("events");
        let Some(last) = events.last() else { break };
        after = last.id;
        for e in &events {
            if e.state.is_final() && last_final.is_none_or(|t| e.created_at > t) {
                last_final = Some(e.created_at);
            }
        }
    }

    let report = sandbox
        .sandbox()
        .report(Some(&client_id))
        .expect("recorder");
    let client_report = report
        .clients
        .iter()
        .find(|c| c.client_id == client_id)
        .expect("the client's calls");
    let endpoint = |name: &str| client_report.endpoints.iter().find(|e| e.endpoint == name);
    let submit = endpoint("Submit Documents").expect("submissions were made");
    let polls = endpoint("Get Submission").map_or(0, |e| e.calls);
    let tokens = endpoint("Login as Taxpayer System").map_or(0, |e| e.calls);
    let mut by_endpoint: BTreeMap<String, u64> = BTreeMap::new();
    let mut throttled: u64 = 0;
    for e in &client_report.endpoints {
        by_endpoint.insert(e.endpoint.clone(), e.calls);
        throttled += e.statuses.get(&429).copied().unwrap_or(0);
    }
    let counters_429: u64 = sandbox
        .sandbox()
        .client_counters(&client_id)
        .rate_limited
        .values()
        .sum();
    let submissions = submit.statuses.get(&202).copied().unwrap_or(0);

    // Submit times, for the sustained figure.
    let mut subs = Vec::new();
    let mut filter = invois_gateway::store::SubmissionFilter {
        limit: 1000,
        ..Default::default()
    };
    loop {
        let page = store
            .submissions()
            .list(&filter)
            .await
            .expect("submissions");
        let Some(last) = page.last() else { break };
        filter.before = Some(last.id);
        subs.extend(page);
    }
    let mut submitted_docs: Vec<(chrono::DateTime<chrono::Utc>, i64)> = subs
        .iter()
        .filter(|s| s.submission_uid.is_some())
        .map(|s| (s.created_at, s.document_count))
        .collect();
    submitted_docs.sort();

    let first_submit = submit.first_at;
    let last_submit = submit.last_at;
    let last_final = last_final.expect("final states were recorded");
    let span_min = (last_final - first_submit).num_milliseconds() as f64 / 60_000.0;
    let raw_per_min = docs as f64 / span_min;
    // Documents of submissions 101..N, per minute between submission 100 and submission N
    // (intent times, on the clock both sides share).
    let after_burst: i64 = submitted_docs.iter().skip(100).map(|(_, n)| n).sum();
    let submit_span_min = (last_submit - first_submit).num_milliseconds() as f64 / 60_000.0;
    let sustained_per_min = match (submitted_docs.get(99), submitted_docs.last()) {
        (Some((hundredth, _)), Some((last, _))) if submitted_docs.len() > 100 => {
            let min = (*last - *hundredth).num_milliseconds() as f64 / 60_000.0;
            (min > 0.0).then(|| after_burst as f64 / min)
        }
        _ => None,
    };
    // How long the first window's 100 submissions took to leave (the machine's own pace),
    // and how long the last submission took to reach final states.
    let burst_secs = match (submitted_docs.first(), submitted_docs.get(99)) {
        (Some((a, _)), Some((b, _))) => Some((*b - *a).num_milliseconds() as f64 / 1000.0),
        _ => None,
    };
    let tail_secs = (last_final - last_submit).num_milliseconds() as f64 / 1000.0;
    let valid = final_counts
        .get(&DocumentState::Valid)
        .copied()
        .unwrap_or(0);

    let rows: Vec<(&str, String)> = vec![
        ("documents", docs.to_string()),
        ("valid", valid.to_string()),
        ("time scale (N)", format!("{scale}")),
        ("validation delay (scaled)", format!("{validation_delay:?}")),
        ("client window margin (experiment)", format!("{margin:?}")),
        ("submissions (202)", submissions.to_string()),
        (
            "scaled minutes, first submit -> last final",
            format!("{span_min:.3}"),
        ),
        (
            "scaled minutes, first -> last submit",
            format!("{submit_span_min:.3}"),
        ),
        (
            "documents per scaled minute (raw)",
            format!("{raw_per_min:.0}"),
        ),
        (
            "share of 10,000 ceiling (raw, incl. first-minute burst)",
            format!("{:.1}%", 100.0 * raw_per_min / CEILING_PER_MINUTE),
        ),
        (
            "documents per scaled minute (sustained)",
            sustained_per_min.map_or("n/a (one window)".to_owned(), |v| format!("{v:.0}")),
        ),
        (
            "share of 10,000 ceiling (sustained)",
            sustained_per_min.map_or("n/a".to_owned(), |v| {
                format!("{:.1}%", 100.0 * v / CEILING_PER_MINUTE)
            }),
        ),
        (
            "first 100 submissions took (scaled s)",
            burst_secs.map_or("n/a".to_owned(), |v| format!("{v:.1}")),
        ),
        (
            "last submit -> last final (scaled s)",
            format!("{tail_secs:.1}"),
        ),
        ("429 responses (report)", throttled.to_string()),
        ("429 responses (sandbox counters)", counters_429.to_string()),
        ("Get Submission calls", polls.to_string()),
        (
            "polls per submission",
            format!("{:.2}", polls as f64 / submissions.max(1) as f64),
        ),
        ("token requests", tokens.to_string()),
        ("SQLite synchronous", synchronous.clone()),
        ("load (s, real, not measured)", format!("{load_secs:.1}")),
        (
            "prepare (s, real, not measured)",
            format!("{prepare_secs:.1}"),
        ),
        ("measured run (s, real)", format!("{run_secs:.1}")),
        (
            "wall time incl. setup (s)",
            format!("{:.1}", wall.elapsed().as_secs_f64()),
        ),
    ];
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    println!("invois-gateway throughput (PipelineConfig::default(), SQLite, no signing)");
    for (k, v) in &rows {
        println!("  {k:<width$}  {v}");
    }
    println!("  calls by endpoint: {by_endpoint:?}");
    let stats = spans::STATS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    if !stats.is_empty() {
        println!(
            "  spans (real ms):  {:>8} {:>10} {:>8} {:>8}",
            "count", "total", "mean", "max"
        );
        for (name, s) in &stats {
            println!(
                "    {name:<32} {:>8} {:>10.0} {:>8.2} {:>8.1}",
                s.count,
                s.total.as_secs_f64() * 1e3,
                s.total.as_secs_f64() * 1e3 / s.count.max(1) as f64,
                s.max.as_secs_f64() * 1e3
            );
        }
    }
    println!("  final states: {final_counts:?}");

    let json = serde_json::json!({
        "documents": docs,
        "valid": valid,
        "timeScale": scale,
        "validationDelaySecs": validation_delay.as_secs_f64(),
        "clientWindowMarginMs": margin.as_millis() as u64,
        "submissions": submissions,
        "scaledMinutesFirstSubmitToLastFinal": span_min,
        "scaledMinutesFirstToLastSubmit": submit_span_min,
        "documentsPerScaledMinuteRaw": raw_per_min,
        "shareOfCeilingRaw": raw_per_min / CEILING_PER_MINUTE,
        "documentsPerScaledMinuteSustained": sustained_per_min,
        "shareOfCeilingSustained": sustained_per_min.map(|v| v / CEILING_PER_MINUTE),
        "firstHundredSubmissionsScaledSecs": burst_secs,
        "lastSubmitToLastFinalScaledSecs": tail_secs,
        "rateLimited429": throttled,
        "rateLimited429Counters": counters_429,
        "getSubmissionCalls": polls,
        "pollsPerSubmission": polls as f64 / submissions.max(1) as f64,
        "tokenRequests": tokens,
        "callsByEndpoint": by_endpoint,
        "sqliteSynchronous": synchronous,
        "loadSecs": load_secs,
        "prepareSecs": prepare_secs,
        "measuredRunSecs": run_secs,
        "wallSecs": wall.elapsed().as_secs_f64(),
    });
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".to_owned());
    let path = std::path::Path::new(&target).join("invois-bench-throughput.json");
    match std::fs::write(&path, serde_json::to_vec_pretty(&json).unwrap_or_default()) {
        Ok(()) => println!("  JSON: {}", path.display()),
        Err(e) => println!("  JSON not written to {}: {e}", path.display()),
    }
    println!("{json}");
}
