//! Crash safety of `invois gateway`, end to end: the real binary, killed with SIGKILL at
//! random points while an ERP feeds it 1,000 documents (400 under the 429 storm), restarted
//! on the same SQLite file each time, against a sandbox that lives in this test process (so
//! it outlives every gateway). At the end every document must be valid exactly once in the
//! gateway and accepted exactly once by the sandbox: nothing lost, nothing duplicated,
//! nothing left hanging.
//!
//! The gateway runs with short leases (hidden flags) so a killed worker's claims and intents
//! come back in seconds rather than minutes; the clocks stay real-time on both sides. All
//! three scenarios run in every CI run (`.ci/run`, both of its test runs).
#![cfg(unix)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use invois_api::{DocumentStatus, RateClass, RateProfile};
use invois_clock::Clock;
use invois_gateway::store::{
    DocumentFilter, DocumentRecord, DocumentState, Store, SubmissionFilter, SubmissionRecord,
    SubmissionState,
};
use invois_sandbox::Faults;
use invois_testkit::{TestSandbox, samples};
use serde_json::{Value, json};
use tokio::sync::watch;

/// The ERP's documents in a full-size run.
const DOCUMENTS: usize = 1000;
/// Documents per ERP request.
const CHUNK: usize = 40;

/// A small deterministic generator (splitmix64), so a failing run can be replayed by seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A duration in `[lo, hi)` milliseconds.
    fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.next() % (hi - lo).max(1))
    }
}

/// One running `invois gateway` process.
struct Gateway {
    child: Child,
    base: String,
}

impl Gateway {
    /// Starts the binary and waits for the line naming its ERP API address.
    async fn start(db: &str, sandbox: &TestSandbox, log: &Arc<Mutex<Vec<String>>>) -> Gateway {
        let who = sandbox.supplier();
        let mut child = Command::new(env!("CARGO_BIN_EXE_invois"))
            .args(["gateway", "--database", db, "--listen", "127.0.0.1:0"])
            .args(["--api-base", sandbox.base_url()])
            .args(["--client-id", &who.client_id])
            .args(["--client-secret", &who.client_secret])
            .args(["--rate-profile", "production"])
            // Short leases: a killed worker's work comes back in seconds. The submit lease
            // stays far above what one POST takes here (the sandbox answers in milliseconds,
            // plus at most 300 ms of injected latency).
            .args(["--claim-lease", "3s", "--submit-lease", "5s"])
            // Both clocks are this machine's, so the reconciling search needs little slack;
            // a narrow window keeps its paging (12 RPM) short.
            .args(["--reconcile-grace", "3s", "--reconcile-slack", "2s"])
            .env_remove("INVOIS_DATABASE_URL")
            .env_remove("INVOIS_ENV")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // Its own process group: a signal aimed at the test's group (a terminal's Ctrl-C,
            // a job controller) must not stop it gracefully; only the test's SIGKILLs end it.
            .process_group(0)
            .spawn()
            .expect("the invois binary starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let lines = Arc::clone(log);
        let rx = crate::gateway_binary::watch(stderr, move |line| lines.lock().unwrap().push(line));
        let addr = tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .expect("the gateway announces its address within 30 s")
            .unwrap_or_else(|_| panic!("the gateway exited: {:?}", log_tail(&log.lock().unwrap())));
        Gateway {
            child,
            base: format!("http://{addr}"),
        }
    }

    /// SIGKILL: no shutdown, no flush, no goodbye.
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }
}

fn log_tail(lines: &[String]) -> Vec<String> {
    lines.iter().rev().take(20).rev().cloned().collect()
}

/// The ERP's `count` documents: the v1.0 sample, one unique internal id each, as request
/// entries.
fn documents(sandbox: &TestSandbox, count: usize) -> Vec<(String, Value)> {
    samples::gateway_entries(
        "CRASH",
        count,
        sandbox.clock().now() - chrono::Duration::minutes(5),
        &sandbox.supplier().tin,
        &sandbox.buyer().tin,
    )
}

/// What the ERP side saw.
#[derive(Default, Debug)]
struct FeedStats {
    /// `created: true` per internal id: more than one would be a duplicate intake.
    created: HashMap<String, usize>,
    /// Entries answered `created: false` (a re-post of something already stored).
    not_created: usize,
    /// Requests that failed (gateway down or killed mid-request) and were sent again.
    failed_requests: usize,
    /// Deliberate re-posts of an acknowledged chunk after a restart, all `created: false`.
    reposts_after_restart: usize,
}

/// POSTs one chunk; `None` when the gateway did not answer (it is down or was killed).
async fn post_chunk(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    chunk: &[(String, Value)],
) -> Option<Vec<(String, bool)>> {
    let body = json!({ "documents": chunk.iter().map(|(_, e)| e).collect::<Vec<_>>() });
    let resp = http
        .post(format!("{base}/v1/documents"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .ok()?;
    let status = resp.status();
    let body: Value = resp.json().await.ok()?;
    assert_eq!(status.as_u16(), 202, "{body}");
    let entries = body["documents"].as_array().expect("documents[]");
    assert_eq!(entries.len(), chunk.len(), "{body}");
    Some(
        entries
            .iter()
            .zip(chunk)
            .map(|(e, (id, _))| {
                assert_eq!(e["internal_id"].as_str(), Some(id.as_str()), "{e}");
                (id.clone(), e["created"].as_bool().expect("created"))
            })
            .collect(),
    )
}

/// Feeds every document, following the gateway across restarts (`base` names the live one,
/// `None` while it is down). After each restart the last acknowledged chunk is posted again
/// and must come back entirely `created: false`; a re-post the next kill cuts off is sent
/// again to the gateway after it.
///
/// The feed stops before chunk `hold` until one such re-post has been answered, and says on
/// `progress` how many chunks are acknowledged. A small run can otherwise be fed whole
/// before the first kill and never re-post anything; with the hold, and the last kill
/// waiting until the feed has reached it (see [`run`]), a re-post after a restart happens in
/// every run, whatever the machine's speed.
async fn feed(
    docs: Arc<Vec<(String, Value)>>,
    key: String,
    mut base: watch::Receiver<Option<String>>,
    hold: usize,
    progress: watch::Sender<usize>,
) -> FeedStats {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let mut stats = FeedStats::default();
    let mut acked: Option<usize> = None;
    // The acknowledged chunk to post again to the gateway now running.
    let mut repost: Option<usize> = None;
    let mut seen_base: Option<String> = None;
    let mut next = 0;
    while next * CHUNK < docs.len() {
        let Some(current) = base.borrow_and_update().clone() else {
            base.changed()
                .await
                .expect("the test keeps the gateway's address");
            continue;
        };
        if seen_base.as_ref() != Some(&current) {
            if seen_base.is_some() {
                repost = acked;
            }
            seen_base = Some(current.clone());
        }
        if let Some(prev) = repost {
            let chunk = &docs[prev * CHUNK..((prev + 1) * CHUNK).min(docs.len())];
            let Some(results) = post_chunk(&http, &current, &key, chunk).await else {
                stats.failed_requests += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            assert!(
                results.iter().all(|(_, created)| !created),
                "re-posting identical bytes created documents again: {results:?}"
            );
            stats.reposts_after_restart += 1;
            stats.not_created += results.len();
            repost = None;
        }
        if next == hold && stats.reposts_after_restart == 0 {
            // Held until the next gateway (the re-post above runs on it).
            base.changed()
                .await
                .expect("the test keeps the gateway's address");
            continue;
        }
        let chunk = &docs[next * CHUNK..((next + 1) * CHUNK).min(docs.len())];
        match post_chunk(&http, &current, &key, chunk).await {
            Some(results) => {
                for (id, created) in results {
                    if created {
                        *stats.created.entry(id).or_default() += 1;
                    } else {
                        stats.not_created += 1;
                    }
                }
                acked = Some(next);
                next += 1;
                progress.send_replace(next);
            }
            None => {
                stats.failed_requests += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    stats
}

async fn all_documents(store: &Store) -> Vec<DocumentRecord> {
    let mut out = Vec::new();
    let mut filter = DocumentFilter {
        limit: 1000,
        ..DocumentFilter::default()
    };
    loop {
        let page = store.documents().list(&filter).await.unwrap();
        out.extend(page.items);
        match page.next {
            Some(next) => filter.after = Some(next),
            None => return out,
        }
    }
}

async fn all_submissions(store: &Store) -> Vec<SubmissionRecord> {
    store
        .submissions()
        .list(&SubmissionFilter {
            limit: 10_000,
            ..SubmissionFilter::default()
        })
        .await
        .unwrap()
}

/// How the kills are spread: the first two right after a start, then some mid-flow, and one
/// as soon as a submission intent is on record (the POST is in flight or about to leave).
#[derive(Debug, Clone, Copy)]
enum KillAt {
    /// Within a few hundred milliseconds of the ERP API coming up.
    Early,
    /// After a random while of feeding and submitting.
    Midway,
    /// As soon as the store shows an intent (or after a bound, if none shows).
    AtIntent,
}

/// Four kills: each one leaves unknown outcomes that Search Documents (12 RPM, and a
/// restarted process does not know what its predecessor spent) must settle.
const SHORT_PLAN: &[KillAt] = &[
    KillAt::Early,
    KillAt::AtIntent,
    KillAt::Midway,
    KillAt::Early,
];

const PLAN: &[KillAt] = &[
    KillAt::Early,
    KillAt::Midway,
    KillAt::AtIntent,
    KillAt::Early,
    KillAt::Midway,
    KillAt::AtIntent,
];

/// How long settling may go on without progress before the run counts as stuck. Progress
/// is a document becoming final or a submission settling. The longest quiet stretch of a
/// sound run is a 429 on Search Documents (its class paused up to a minute; a restarted
/// gateway does not know what its predecessor spent) followed by reconciling one unknown
/// outcome, whose search pages through everything submitted around it at 12 pages a
/// minute: one submission settles about every minute, and 110 s went by without progress
/// on a loaded machine. Both are paced by the rate limits, not by the machine's speed.
const STALL: Duration = Duration::from_secs(240);

/// Whether nothing more happens to a submission in `state` itself (its documents may still
/// be polled to their end).
fn is_settled(state: SubmissionState) -> bool {
    !matches!(
        state,
        SubmissionState::Intent | SubmissionState::OutcomeUnknown | SubmissionState::Duplicate
    )
}

/// A bound on the whole settling, for a run that keeps moving but never ends (documents sent
/// again and again). Sound runs settle in 40-120 s on an idle machine.
const SETTLE_CAP: Duration = Duration::from_secs(900);

/// Waits until all `count` documents are final, calling `report` every ten seconds. Gives up
/// (with the reason) once nothing has progressed for [`STALL`], or after [`SETTLE_CAP`]: a
/// loaded machine makes a run slower, not stuck, so a fixed bound on the whole wait failed
/// sound runs (one took over 360 s after a Search 429 while the machine was busy) yet said
/// nothing a stall bound does not.
async fn settle(
    store: &Store,
    count: usize,
    report: impl Fn(&BTreeMap<DocumentState, u64>, &[SubmissionRecord]),
) -> Result<BTreeMap<DocumentState, u64>, String> {
    let started = Instant::now();
    let mut last_report = Instant::now();
    let mut progress = (0, 0);
    let mut progressed_at = Instant::now();
    loop {
        let counts = store.documents().count_by_state().await.unwrap();
        let total: u64 = counts.values().sum();
        if total == count as u64 && counts.keys().all(|s| s.is_final()) {
            return Ok(counts);
        }
        let subs = all_submissions(store).await;
        let now = (
            counts
                .iter()
                .filter(|(s, _)| s.is_final())
                .map(|(_, n)| *n)
                .sum::<u64>(),
            subs.iter().filter(|s| is_settled(s.state)).count(),
        );
        if now != progress {
            progress = now;
            progressed_at = Instant::now();
        }
        if progressed_at.elapsed() > STALL {
            return Err(format!("no progress for {STALL:?}"));
        }
        if started.elapsed() > SETTLE_CAP {
            return Err(format!("still going after {SETTLE_CAP:?}"));
        }
        if last_report.elapsed() > Duration::from_secs(10) {
            last_report = Instant::now();
            report(&counts, &subs);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

struct Scenario {
    seed: u64,
    /// How many documents the ERP sends.
    documents: usize,
    sandbox: TestSandbox,
    /// Lifts the faults (after the kills) so everything can finish.
    lift: Option<fn(&TestSandbox)>,
    /// Where the kills fall.
    plan: &'static [KillAt],
}

async fn run(scenario: Scenario) {
    let started = Instant::now();
    let Scenario {
        seed,
        documents: count,
        sandbox,
        lift,
        plan,
    } = scenario;
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("invois.db").display());
    let key =
        crate::gateway_binary::create_api_key(env!("CARGO_BIN_EXE_invois"), &db, "crash-test");
    // The test's own view of the same file (SQLite in WAL mode: reads never block the
    // gateway's writes).
    let store: Arc<Store> = Arc::new(Store::open(&db, Clock::real()).await.unwrap());
    let docs = Arc::new(documents(&sandbox, count));
    let log = Arc::new(Mutex::new(Vec::new()));

    let (base_tx, base_rx) = watch::channel(None);
    // The feed holds at half its chunks until it has re-posted to a restarted gateway.
    let hold = count.div_ceil(CHUNK).div_ceil(2).max(1);
    let (progress_tx, mut progress) = watch::channel(0);
    let feeder = tokio::spawn(feed(
        Arc::clone(&docs),
        key.clone(),
        base_rx,
        hold,
        progress_tx,
    ));

    let mut kills = Vec::new();
    for (i, &kill_at) in plan.iter().enumerate() {
        let gateway = Gateway::start(&db, &sandbox, &log).await;
        base_tx.send_replace(Some(gateway.base.clone()));
        if i + 1 == plan.len() {
            // The last kill waits until the feed has reached its hold, so that a restart
            // (the final start, at the latest) follows it: the feed's re-post is certain.
            // The feed is normally long past it by now.
            tokio::time::timeout(Duration::from_secs(60), progress.wait_for(|n| *n >= hold))
                .await
                .expect("the ERP feeds half its documents within a minute")
                .expect("the feeder is running");
        }
        let up = Instant::now();
        let intents_seen = match kill_at {
            KillAt::Early => {
                tokio::time::sleep(rng.millis(0, 400)).await;
                false
            }
            KillAt::Midway => {
                tokio::time::sleep(rng.millis(1000, 4000)).await;
                false
            }
            KillAt::AtIntent => {
                let bound = Instant::now() + Duration::from_secs(8);
                let mut seen = false;
                while Instant::now() < bound && !seen {
                    seen = all_submissions(store.as_ref())
                        .await
                        .iter()
                        .any(|s| s.state == SubmissionState::Intent);
                    if !seen {
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                }
                tokio::time::sleep(rng.millis(0, 20)).await;
                seen
            }
        };
        base_tx.send_replace(None);
        gateway.kill();
        let counts = store.documents().count_by_state().await.unwrap();
        kills.push((kill_at, up.elapsed(), intents_seen, counts));
    }
    if let Some(lift) = lift {
        lift(&sandbox);
    }

    // The last start: it keeps running until everything is final.
    let gateway = Gateway::start(&db, &sandbox, &log).await;
    base_tx.send_replace(Some(gateway.base.clone()));
    let fed = tokio::time::timeout(Duration::from_secs(60), feeder)
        .await
        .expect("the ERP feeds all documents within a minute")
        .expect("the feeder did not panic");
    let settled = settle(store.as_ref(), count, |counts, subs| {
        let hanging = subs.iter().filter(|s| !is_settled(s.state)).count();
        eprintln!(
            "seed {seed}: {:.0} s: {counts:?}; {} submissions, {hanging} unsettled; sandbox 429s {:?}",
            started.elapsed().as_secs_f64(),
            subs.len(),
            sandbox.sandbox().client_counters(&sandbox.supplier().client_id).rate_limited,
        );
    })
    .await;
    let final_counts = store.documents().count_by_state().await.unwrap();
    let subs = all_submissions(store.as_ref()).await;
    gateway.kill();
    let settled = settled.unwrap_or_else(|stuck| {
        let by_state: HashMap<SubmissionState, usize> =
            subs.iter().fold(HashMap::new(), |mut m, s| {
                *m.entry(s.state).or_default() += 1;
                m
            });
        panic!(
            "not settled ({stuck}): documents {final_counts:?}, submissions {by_state:?}, \
             gateway log tail {:?}",
            log_tail(&log.lock().unwrap())
        )
    });

    // The gateway: 1,000 documents, one version each, every one valid with a UUID.
    assert_eq!(
        settled.get(&DocumentState::Valid).copied(),
        Some(count as _),
        "{settled:?}"
    );
    let records = all_documents(store.as_ref()).await;
    assert_eq!(records.len(), count);
    let ids: HashSet<&str> = records.iter().map(|d| d.internal_id.as_str()).collect();
    assert_eq!(ids.len(), count, "an internal id stored twice");
    assert!(docs.iter().all(|(id, _)| ids.contains(id.as_str())));
    assert!(records.iter().all(|d| d.version == 1));

    // The ERP side: no document was created twice, whatever was re-posted (one whose answer
    // was lost in a kill was created without the ERP hearing so; the store has it once).
    let twice: Vec<_> = fed.created.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "created twice: {twice:?}");
    assert!(
        fed.reposts_after_restart >= 1,
        "no re-post after a restart was exercised"
    );

    // The sandbox (MyInvois): exactly one accepted copy of each, and it is the one the
    // gateway recorded.
    let copies = sandbox.sandbox().with_store(|s| {
        let mut copies: HashMap<String, Vec<(String, DocumentStatus)>> = HashMap::new();
        for d in s.documents() {
            let summary = d.summary();
            copies
                .entry(summary.internal_id.clone())
                .or_default()
                .push((summary.uuid.clone(), d.status));
        }
        copies
    });
    assert_eq!(
        copies.len(),
        count,
        "documents lost or foreign ones accepted"
    );
    let duplicated: Vec<_> = copies.iter().filter(|(_, c)| c.len() != 1).collect();
    assert!(
        duplicated.is_empty(),
        "duplicated at MyInvois: {duplicated:?}"
    );
    for d in &records {
        let (uuid, status) = &copies[&d.internal_id][0];
        assert_eq!(d.uuid.as_deref(), Some(uuid.as_str()), "{}", d.internal_id);
        assert_eq!(*status, DocumentStatus::Valid, "{}", d.internal_id);
    }

    // No submission is left hanging.
    let hanging: Vec<_> = subs.iter().filter(|s| !is_settled(s.state)).collect();
    assert!(hanging.is_empty(), "{hanging:?}");

    let mut by_state: HashMap<SubmissionState, usize> = HashMap::new();
    for s in &subs {
        *by_state.entry(s.state).or_default() += 1;
    }
    let with_error = subs.iter().filter(|s| s.last_error.is_some()).count();
    let counters = sandbox
        .sandbox()
        .client_counters(&sandbox.supplier().client_id);
    eprintln!(
        "seed {seed}: {count} documents, {} kills + final start ({} restarts) in {:.1} s; \
         kills {kills:?}; ERP: {} failed requests, {} entries answered created:false, {} \
         re-posts after restart; submissions {by_state:?}, {with_error} with an error; \
         sandbox 429s {:?}, {} submissions",
        kills.len(),
        kills.len(),
        started.elapsed().as_secs_f64(),
        fed.failed_requests,
        fed.not_created,
        fed.reposts_after_restart,
        counters.rate_limited,
        sandbox.sandbox().stats().submissions,
    );
}

fn sandbox_builder() -> invois_testkit::TestSandboxBuilder {
    TestSandbox::builder()
        .clock(Clock::real())
        .profile(RateProfile::Production)
        .validation_delay(Duration::from_millis(500))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkilled_gateway_submits_every_document_exactly_once() {
    // Settling usually takes 40-90 s; a restarted gateway can meet a Search 429 (its
    // predecessor's spending is unknown to it) and wait out the pause, which the stall bound
    // allows for.
    let sandbox = sandbox_builder().start().await.unwrap();
    run(Scenario {
        seed: 0x1A2B_3C4D,
        documents: DOCUMENTS,
        sandbox,
        lift: None,
        plan: PLAN,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkilled_gateway_survives_server_errors_dropped_responses_and_latency() {
    let sandbox = sandbox_builder().start().await.unwrap();
    // 5xx before processing, responses cut off after processing (the gateway cannot know
    // the outcome), and latency well under the submit lease.
    sandbox.sandbox().set_faults(Faults {
        error_rate: 0.08,
        drop_rate: 0.08,
        latency_ms: 150,
        ..Faults::default()
    });
    run(Scenario {
        seed: 0x5EED_0FA1,
        documents: DOCUMENTS,
        sandbox,
        lift: Some(|s: &TestSandbox| s.sandbox().set_faults(Faults::default())),
        plan: SHORT_PLAN,
    })
    .await;
}

/// A 429 storm on submit: the sandbox allows 3 submissions a minute while the gateway
/// believes the published 100, so it runs into 429s it was not told to expect. Before the
/// fix in `pipeline/submit.rs` this put documents at MyInvois twice (a worker waiting out
/// a 429's Retry-After past its submit lease POSTed after its intent had been reconciled
/// as "not received" and its documents sent again). With the short test leases every wait
/// for a 429's Retry-After past 80% of the lease becomes an unknown outcome that Search
/// Documents (12 RPM, and a restarted process does not know its predecessor's spend) must
/// settle while nothing new is sent, and a 429 on search pauses it for up to a minute.
/// Sized for every CI run: 1,000 documents at 8 a minute took 85-266 s; 400 at 3 a minute
/// meet as many 429s (one or two per run, and as many unknown outcomes) in about 80 s. At
/// this size the ERP could once be done before the first kill; the feed's hold (see `feed`)
/// makes its re-post after a restart certain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkilled_gateway_survives_a_429_storm() {
    let sandbox = sandbox_builder()
        .rate_limit(RateClass::SubmitDocuments, 3)
        .start()
        .await
        .unwrap();
    run(Scenario {
        seed: 0x0429_0429,
        documents: 400,
        sandbox,
        lift: None,
        plan: PLAN,
    })
    .await;
}
