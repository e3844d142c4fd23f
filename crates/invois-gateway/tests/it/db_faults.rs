//! Database faults under load: 1,000 documents through the whole gateway (`Gateway::run`: the
//! ERP API over HTTP, the pipeline, the sandbox over HTTP on port 0, one scaled clock), while
//! the database fails under it. Every document must end valid exactly once at the gateway
//! and at MyInvois (the sandbox's copies per internal id), with no submission left hanging,
//! no `500` at intake, and nobody stepping in: the faults pass and the gateway carries on.
//!
//! - SQLite, a full disk (`PRAGMA max_page_count` at the current size on the gateway's one
//!   write connection): intake answers `503 store_full` in the envelope, with `Retry-After`;
//!   once space returns, intake and pipeline resume by themselves.
//! - PostgreSQL (only with `TEST_DATABASE_URL`): the gateway's server connections killed
//!   (`pg_terminate_backend`) five times during the run, and the server restarted once while
//!   the gateway works. The restart is real: the test runs a server of its own (`initdb` in a
//!   temporary directory, trust authentication, a free port, its unix socket in that
//!   directory), stops it with `pg_ctl -m fast` (every connection terminated), leaves nothing
//!   listening for two minutes of the gateway's time, and starts it again; the server is
//!   stopped and its directory removed at the end, also when the test fails. A private server
//!   because the one on `TEST_DATABASE_URL` is shared with the other PostgreSQL tests (of this
//!   binary, running concurrently, and of anyone else using it), all of which a restart
//!   would fail. `initdb` and `pg_ctl` are looked for on `PATH`, then in
//!   `/usr/lib/postgresql/*/bin` (Debian's); as root (they refuse to run as root) they run as
//!   the `postgres` user, through `runuser`, which owns the directory.
//!   Where no private server can be run (no binaries, or root without a `postgres` user) the
//!   test says why on stderr and falls back to a schema on `TEST_DATABASE_URL`, with the
//!   restart simulated as the gateway sees it: a TCP proxy in this process drops every
//!   connection and refuses new ones for those two minutes, while the gateway's backends are
//!   terminated on the server.
//!
//! The ERP here sends 50 documents a request and sends again whatever was not stored (a
//! failed request, or an entry answered `503`), as an ERP following the API's advice would.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use invois_api::RateProfile;
use invois_client::{Client, RateLimits};
use invois_clock::Clock;
use invois_gateway::clients::{ClientPool, LoginMode};
use invois_gateway::pipeline::{PipelineConfig, Shutdown};
use invois_gateway::service::Gateway;
use invois_gateway::store::{DocumentState, Store, SubmissionFilter, SubmissionState};
use invois_testkit::db::{PgConnectOptions, PgSchema};
use invois_testkit::{TestSandbox, samples};
use serde_json::{Value, json};
use tokio::sync::watch;

const DOCUMENTS: usize = 1000;
/// Documents per ERP request.
const CHUNK: usize = 50;
/// How long the whole run may take once the faults are over.
const SETTLE: Duration = Duration::from_secs(240);

/// The gateway's side of a run: the store it was given and its address.
struct Running {
    base: String,
    key: String,
    trigger: invois_gateway::pipeline::ShutdownTrigger,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start_gateway(store: Arc<Store>, sandbox: &TestSandbox, clock: &Clock) -> Running {
    let who = sandbox.supplier();
    let client = Client::builder()
        .api_base(sandbox.base_url())
        .portal_base("https://preprod.myinvois.hasil.gov.my")
        .credentials(who.client_id, who.client_secret.as_str())
        .clock(clock.clone())
        .rate_limits(RateLimits::profile(RateProfile::Production))
        .request_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let key = retry_store(clock, || async { store.api_keys().create("erp").await })
        .await
        .1
        .expose()
        .to_owned();
    let gateway = Gateway::new(
        store,
        ClientPool::new(client, LoginMode::Taxpayer),
        None,
        PipelineConfig {
            idle: Duration::from_millis(500),
            reconcile_grace: Duration::from_secs(20),
            ..PipelineConfig::default()
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (trigger, shutdown) = Shutdown::new();
    let task = tokio::spawn(gateway.run(listener, shutdown));
    Running {
        base,
        key,
        trigger,
        task,
    }
}

/// A store call made again (on the clock) until the database answers: for the test's own
/// set-up and reads, which may meet the fault too.
async fn retry_store<T, F, Fut>(clock: &Clock, mut call: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, invois_gateway::store::StoreError>>,
{
    let mut attempts = 0;
    loop {
        match call().await {
            Ok(v) => return v,
            Err(e) if attempts < 200 => {
                attempts += 1;
                tracing::debug!(error = %e, "test store call failed; again");
                clock.sleep(Duration::from_secs(1)).await;
            }
            Err(e) => panic!("the store never answered: {e}"),
        }
    }
}

/// The ERP's documents, as many-document request entries.
fn documents(sandbox: &TestSandbox, clock: &Clock) -> Vec<(String, Value)> {
    samples::gateway_entries(
        "DBF",
        DOCUMENTS,
        clock.now() - chrono::Duration::minutes(5),
        &sandbox.supplier().tin,
        &sandbox.buyer().tin,
    )
}

/// What the ERP saw.
#[derive(Debug, Default)]
struct Fed {
    /// Entries stored for the first time (`created: true`), per internal id.
    created: HashMap<String, usize>,
    /// Entries and requests answered, by status (whole requests that failed before an answer
    /// count under 0).
    statuses: HashMap<u16, usize>,
    /// Entries answered `503 store_full` (with `Retry-After` on the request, when it was the
    /// request's own status).
    store_full: usize,
    /// Requests with at least one entry (or the request itself) answered `store_full`.
    requests_full: usize,
    /// Every error code seen with a 503.
    codes_503: HashMap<String, usize>,
}

/// Feeds every document, sending again what was not stored, until all are; `progress`
/// carries how many are stored so far.
async fn feed(
    run_base: String,
    key: String,
    docs: Vec<(String, Value)>,
    clock: Clock,
    fed: Arc<Mutex<Fed>>,
    progress: watch::Sender<usize>,
) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut pending: Vec<usize> = (0..docs.len()).rev().collect();
    let mut stored = 0usize;
    while !pending.is_empty() {
        let chunk: Vec<usize> = (0..CHUNK.min(pending.len()))
            .filter_map(|_| pending.pop())
            .collect();
        let body = json!({ "documents": chunk.iter().map(|i| &docs[*i].1).collect::<Vec<_>>() });
        let answered = http
            .post(format!("{run_base}/v1/documents"))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await;
        let again = match answered {
            Ok(response) => read_answer(response, &chunk, &docs, &fed).await,
            Err(_) => {
                *fed.lock().unwrap().statuses.entry(0).or_default() += 1;
                chunk.clone()
            }
        };
        stored += chunk.len() - again.len();
        progress.send_replace(stored);
        if !again.is_empty() {
            pending.extend(again.iter().rev());
            // As the 503's Retry-After asks, on the test's clock.
            clock.sleep(Duration::from_secs(5)).await;
        }
    }
}

/// Reads one answer; returns the entries to send again.
async fn read_answer(
    response: reqwest::Response,
    chunk: &[usize],
    docs: &[(String, Value)],
    fed: &Mutex<Fed>,
) -> Vec<usize> {
    let status = response.status().as_u16();
    let retry_after = response.headers().contains_key("retry-after");
    let Ok(body) = response.json::<Value>().await else {
        *fed.lock().unwrap().statuses.entry(0).or_default() += 1;
        return chunk.to_vec();
    };
    let mut fed = fed.lock().unwrap();
    if !matches!(status, 202 | 207) {
        // The whole request failed (the key could not be checked, say): in the envelope.
        *fed.statuses.entry(status).or_default() += 1;
        assert_eq!(status, 503, "{body}");
        assert!(retry_after, "a 503 says when to come back: {body}");
        if note_503(&mut fed, &body["error"]) {
            fed.requests_full += 1;
        }
        return chunk.to_vec();
    }
    let entries = body["documents"].as_array().expect("documents[]");
    assert_eq!(entries.len(), chunk.len(), "{body}");
    let mut again = Vec::new();
    let mut full = false;
    for (entry, index) in entries.iter().zip(chunk) {
        let entry_status = entry["status"].as_u64().unwrap_or_default() as u16;
        *fed.statuses.entry(entry_status).or_default() += 1;
        if entry_status == 202 {
            assert_eq!(entry["internal_id"].as_str(), Some(docs[*index].0.as_str()));
            if entry["created"].as_bool() == Some(true) {
                *fed.created.entry(docs[*index].0.clone()).or_default() += 1;
            }
        } else {
            assert_eq!(entry_status, 503, "{entry}");
            full |= note_503(&mut fed, &entry["error"]);
            again.push(*index);
        }
    }
    if full {
        fed.requests_full += 1;
    }
    again
}

/// Counts a 503's error; whether it was `store_full`.
fn note_503(fed: &mut Fed, error: &Value) -> bool {
    let code = error["code"].as_str().unwrap_or_default().to_owned();
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{error}"
    );
    let full = code == "store_full";
    if full {
        fed.store_full += 1;
    }
    *fed.codes_503.entry(code).or_default() += 1;
    full
}

/// Waits for the feeder's count of stored documents to reach `n`.
async fn stored_at_least(progress: &mut watch::Receiver<usize>, n: usize) {
    tokio::time::timeout(SETTLE, progress.wait_for(|stored| *stored >= n))
        .await
        .unwrap_or_else(|_| panic!("intake never reached {n} documents"))
        .expect("the feeder is alive");
}

/// Waits until every document is final (read with `count`, which may itself meet the fault
/// and is then asked again), and returns the counts.
async fn settled<F, Fut>(clock: &Clock, count: F) -> BTreeMap<DocumentState, u64>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<BTreeMap<DocumentState, u64>>>,
{
    let last = Mutex::new(None);
    let waited = tokio::time::timeout(SETTLE, async {
        loop {
            if let Some(counts) = count().await {
                let total: u64 = counts.values().sum();
                if total == DOCUMENTS as u64 && counts.keys().all(|s| s.is_final()) {
                    return counts;
                }
                *last.lock().unwrap() = Some(counts);
            }
            clock.sleep(Duration::from_secs(2)).await;
        }
    })
    .await;
    waited.unwrap_or_else(|_| {
        panic!(
            "not every document final once the fault was over: {:?}",
            last.lock().unwrap()
        )
    })
}

/// The end of every run: the gateway and the sandbox agree that each document is valid
/// once, the ERP never got a 500 or a document created twice, and no submission hangs.
async fn check_outcome(
    store: &Store,
    sandbox: &TestSandbox,
    fed: &Fed,
    counts: &BTreeMap<DocumentState, u64>,
) {
    assert_eq!(
        counts.get(&DocumentState::Valid),
        Some(&(DOCUMENTS as u64)),
        "{counts:?}"
    );
    let twice: Vec<_> = fed.created.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "created twice: {twice:?}");
    assert!(!fed.statuses.contains_key(&500), "{:?}", fed.statuses);
    let copies = sandbox.sandbox().with_store(|s| {
        let mut copies: HashMap<String, usize> = HashMap::new();
        for d in s.documents() {
            *copies.entry(d.facts.internal_id.clone()).or_default() += 1;
        }
        copies
    });
    assert_eq!(copies.len(), DOCUMENTS, "documents lost at MyInvois");
    let duplicated: Vec<_> = copies.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        duplicated.is_empty(),
        "duplicated at MyInvois: {duplicated:?}"
    );
    let subs = store
        .submissions()
        .list(&SubmissionFilter {
            limit: 10_000,
            ..SubmissionFilter::default()
        })
        .await
        .unwrap();
    let hanging: Vec<_> = subs
        .iter()
        .filter(|s| {
            matches!(
                s.state,
                SubmissionState::Intent
                    | SubmissionState::OutcomeUnknown
                    | SubmissionState::Duplicate
            )
        })
        .collect();
    assert!(hanging.is_empty(), "{hanging:?}");
}

fn sandbox_on(clock: &Clock) -> invois_testkit::TestSandboxBuilder {
    TestSandbox::builder()
        .clock(clock.clone())
        .profile(RateProfile::Production)
        .validation_delay(Duration::from_secs(2))
}

/// A full disk on SQLite: intake answers 503 `store_full` in the envelope (never 500) while
/// it lasts, and intake and the pipeline resume by themselves once space returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_full_disk_is_a_503_and_passes_by_itself() {
    // The gateway's warnings, shown if the test fails: which step met which error.
    let _ = tracing_subscriber::fmt()
        .with_env_filter("invois_gateway=warn")
        .with_ansi(false)
        .with_test_writer()
        .try_init();
    let clock = Clock::scaled(60.0);
    let sandbox = sandbox_on(&clock).start().await.unwrap();
    let (store, _file) = crate::common::sqlite_store(clock.clone()).await;
    let running = start_gateway(Arc::clone(&store), &sandbox, &clock).await;
    let fed = Arc::new(Mutex::new(Fed::default()));
    let (progress, mut stored) = watch::channel(0usize);
    let feeder = tokio::spawn(feed(
        running.base.clone(),
        running.key.clone(),
        documents(&sandbox, &clock),
        clock.clone(),
        Arc::clone(&fed),
        progress,
    ));
    // The disk fills a third of the way through intake, while the pipeline is busy.
    stored_at_least(&mut stored, DOCUMENTS / 3).await;
    let write = store.db().sqlite_pool().expect("a SQLite store").clone();
    // No page more than now. `max_page_count` belongs to a connection, and the gateway closes
    // its write connection when SQLite rolled a transaction back by itself (as it does on a
    // full disk) and opens another, so the limit is put on whichever connection is current,
    // every second of the clock, until space returns.
    let (pages,): (i64,) = sqlx::query_as("PRAGMA page_count")
        .fetch_one(&write)
        .await
        .unwrap();
    let (space, mut full) = watch::channel(false);
    let keeper = {
        let (write, clock) = (write.clone(), clock.clone());
        tokio::spawn(async move {
            while !*full.borrow_and_update() {
                let limit = format!("PRAGMA max_page_count = {pages}");
                let _ = sqlx::query(&limit).execute(&write).await;
                tokio::select! {
                    () = clock.sleep(Duration::from_secs(1)) => {}
                    _ = full.changed() => {}
                }
            }
        })
    };
    // It lasts until the ERP has been told so five times (its retries are 5 s apart on the
    // clock, so the pipeline's loops meet the full disk for about half a minute too).
    tokio::time::timeout(SETTLE, async {
        while fed.lock().unwrap().requests_full < 5 {
            clock.sleep(Duration::from_secs(1)).await;
        }
    })
    .await
    .expect("intake answers store_full while the disk is full");
    let during = stored.borrow().to_owned();
    // Space returns (SQLite's own maximum).
    space.send_replace(true);
    keeper.await.unwrap();
    sqlx::query("PRAGMA max_page_count = 4294967294")
        .execute(&write)
        .await
        .unwrap();
    tokio::time::timeout(SETTLE, feeder)
        .await
        .expect("intake resumes")
        .unwrap();
    let counts = settled(&clock, || async {
        store.documents().count_by_state().await.ok()
    })
    .await;
    running.trigger.trigger();
    running.task.await.unwrap().unwrap();
    let fed = std::mem::take(&mut *fed.lock().unwrap());
    eprintln!(
        "full disk at {pages} pages after {during} stored: ERP statuses {:?}, 503 codes {:?}, \
         {} requests refused",
        fed.statuses, fed.codes_503, fed.requests_full
    );
    assert!(fed.requests_full >= 5, "{fed:?}");
    check_outcome(&store, &sandbox, &fed, &counts).await;
}

/// A PostgreSQL server of the test's own, in a temporary directory (its data, log and unix
/// socket), that can be restarted for real. Stopped, and its directory removed, when dropped,
/// so also when the test panics.
struct PrivateServer {
    dir: tempfile::TempDir,
    /// Where `initdb` and `pg_ctl` are.
    bin: PathBuf,
    /// Running as root: the binaries run as the `postgres` user (they refuse to run as
    /// root), which owns the directory.
    as_postgres: bool,
    port: u16,
}

impl PrivateServer {
    /// The directory holding `pg_ctl` and `initdb`: `pg_ctl`'s on PATH (symlinks followed),
    /// else the newest `/usr/lib/postgresql/<version>/bin` (Debian's, off PATH).
    fn binaries() -> Option<PathBuf> {
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let version = e.file_name().to_str()?.split('.').next()?.parse().ok()?;
                Some((version, e.path().join("bin")))
            })
            .collect();
        versions.sort();
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .filter_map(|dir| {
                let pg_ctl = std::fs::canonicalize(dir.join("pg_ctl")).ok()?;
                pg_ctl.parent().map(Path::to_path_buf)
            })
            .chain(versions.into_iter().rev().map(|(_, bin)| bin))
            .find(|bin| bin.join("pg_ctl").is_file() && bin.join("initdb").is_file())
    }

    /// Initialises a server (trust authentication, superuser `postgres`) and starts it on a
    /// free port. `Err` says why this machine cannot run one (no binaries, or root without a
    /// `postgres` user); a failure of the binaries themselves panics with their output.
    fn start() -> Result<PrivateServer, String> {
        let bin = Self::binaries()
            .ok_or("no initdb and pg_ctl on PATH or in /usr/lib/postgresql/*/bin")?;
        let as_postgres = run(Command::new("id").arg("-u"))?.trim() == "0";
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        if as_postgres {
            run(Command::new("chown").arg("postgres:").arg(dir.path()))
                .map_err(|e| format!("running as root, and no `postgres` user to run as: {e}"))?;
        }
        // A port free now; the server binds it a moment later.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let server = PrivateServer {
            dir,
            bin,
            as_postgres,
            port,
        };
        let data = server.dir.path().join("data");
        let mut initdb = server.tool("initdb");
        initdb.arg("-D").arg(&data);
        initdb.args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
        run(&mut initdb).unwrap_or_else(|e| panic!("initdb failed: {e}"));
        run(&mut server.pg_ctl(&["-w", "start"]))
            .unwrap_or_else(|e| panic!("the private server did not start: {e}"));
        Ok(server)
    }

    /// A binary of the server's, as the user that owns its directory.
    fn tool(&self, name: &str) -> Command {
        let program = self.bin.join(name);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    /// `pg_ctl` on this server's data directory: its log, port and socket directory given,
    /// TCP on localhost only.
    fn pg_ctl(&self, args: &[&str]) -> Command {
        let dir = self.dir.path();
        let mut command = self.tool("pg_ctl");
        command.arg("-D").arg(dir.join("data"));
        command.arg("-l").arg(dir.join("log"));
        command.arg("-o").arg(format!(
            "-p {} -k '{}' -c listen_addresses=127.0.0.1",
            self.port,
            dir.display()
        ));
        command.args(args);
        command
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// A real restart: a fast shutdown (every connection terminated, the server's shutdown
    /// checkpoint), two minutes of the gateway's time with nothing listening, then started
    /// again.
    async fn restart(&self, clock: &Clock) {
        let mut stop = self.pg_ctl(&["-m", "fast", "-w", "stop"]);
        tokio::task::spawn_blocking(move || run(&mut stop))
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("the private server did not stop: {e}"));
        clock.sleep(Duration::from_secs(120)).await;
        let mut start = self.pg_ctl(&["-w", "start"]);
        tokio::task::spawn_blocking(move || run(&mut start))
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("the private server did not start again: {e}"));
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        // Nothing to keep: stopped at once, then the directory goes with `dir`.
        let _ = run(&mut self.pg_ctl(&["-m", "immediate", "-w", "stop"]));
    }
}

/// Runs a command to its end; its stdout, or why it failed (with all it printed).
fn run(command: &mut Command) -> Result<String, String> {
    let out = command
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("{command:?}: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        Err(format!("{command:?}: {}\n{stdout}{stderr}", out.status))
    }
}

/// A TCP proxy in front of PostgreSQL that can go down and come back: a server restart as
/// the gateway sees it (every connection cut, new ones refused, then accepted again), for
/// when no private server can be run.
struct Proxy {
    addr: SocketAddr,
    up: watch::Sender<bool>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (up, _) = watch::channel(true);
        let state = up.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let mut up = state.subscribe();
                if !*up.borrow_and_update() {
                    // Down: the connection is closed at once, as a stopped server's port.
                    drop(client);
                    continue;
                }
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        // Going down cuts every connection.
                        _ = up.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Proxy { addr, up }
    }
}

/// The PostgreSQL run's database, and how its restart is done.
enum PgTarget {
    /// A server of the test's own, restarted for real.
    Private(PrivateServer),
    /// A schema on `TEST_DATABASE_URL`'s shared server, the gateway connected through the
    /// proxy; the restart simulated (see the module docs). `why`: no private server.
    Shared {
        /// Boxed: the connect options it holds are large.
        schema: Box<PgSchema>,
        proxy: Proxy,
        url: String,
        why: String,
    },
}

impl PgTarget {
    /// A private server if this machine can run one, else the shared server behind the proxy;
    /// `None` (and a visible SKIPPED line) without `TEST_DATABASE_URL`.
    async fn new(name: &str) -> Option<PgTarget> {
        let Ok(url) = std::env::var(invois_testkit::db::TEST_DATABASE_URL) else {
            invois_testkit::db::skipped(name);
            return None;
        };
        let why = match tokio::task::spawn_blocking(PrivateServer::start)
            .await
            .unwrap()
        {
            Ok(server) => return Some(PgTarget::Private(server)),
            Err(why) => why,
        };
        eprintln!("no private PostgreSQL server ({why}): the restart is simulated by a proxy");
        let schema = crate::common::pg_schema(name).await?;
        let options = schema.options();
        let upstream = tokio::net::lookup_host((options.get_host(), options.get_port()))
            .await
            .unwrap()
            .next()
            .unwrap();
        let proxy = Proxy::start(upstream).await;
        Some(PgTarget::Shared {
            schema: Box::new(schema),
            proxy,
            url,
            why,
        })
    }

    /// The test's own connections: straight to the server.
    fn url(&self) -> String {
        match self {
            PgTarget::Private(server) => server.url(),
            PgTarget::Shared { url, .. } => url.clone(),
        }
    }

    /// The gateway's connections (through the proxy on the shared server), tagged `tag`.
    fn options(&self, tag: &str) -> PgConnectOptions {
        let options = match self {
            PgTarget::Private(server) => server.url().parse().unwrap(),
            PgTarget::Shared { schema, proxy, .. } => schema
                .options()
                .host(&proxy.addr.ip().to_string())
                .port(proxy.addr.port()),
        };
        options.application_name(tag)
    }

    fn schema(&self) -> &str {
        match self {
            PgTarget::Private(_) => "public",
            PgTarget::Shared { schema, .. } => schema.name(),
        }
    }

    /// The restart; `killer` is connected afresh after it. Returns how many of the
    /// gateway's backends the simulation terminated (none counted for a real one).
    async fn restart(&self, killer: &mut sqlx::PgConnection, tag: &str, clock: &Clock) -> i64 {
        use sqlx::Connection as _;
        match self {
            PgTarget::Private(server) => {
                server.restart(clock).await;
                *killer = sqlx::PgConnection::connect(&server.url()).await.unwrap();
                0
            }
            PgTarget::Shared { proxy, .. } => {
                proxy.up.send_replace(false);
                let n = terminate(killer, tag).await;
                // Down for two minutes of the gateway's time (two real seconds at 60x).
                clock.sleep(Duration::from_secs(120)).await;
                proxy.up.send_replace(true);
                n
            }
        }
    }

    fn describe(&self) -> String {
        match self {
            PgTarget::Private(server) => format!(
                "a real restart of a private server ({})",
                server.bin.display()
            ),
            PgTarget::Shared { why, .. } => format!("a restart simulated by a proxy ({why})"),
        }
    }

    /// Removes what the run made: the private server, or the schema.
    async fn finish(self) {
        match self {
            PgTarget::Private(server) => tokio::task::spawn_blocking(move || drop(server))
                .await
                .unwrap(),
            PgTarget::Shared { schema, .. } => schema.drop_schema().await,
        }
    }
}

/// Terminates every server connection whose `application_name` is `tag` (the gateway's
/// own, so that other tests on the server are left alone); returns how many.
async fn terminate(admin: &mut sqlx::PgConnection, tag: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() \
         AND application_name = $1",
    )
    .bind(tag)
    .fetch_one(admin)
    .await
    .unwrap();
    n
}

/// Document counts by state, read on the test's own connection (the gateway's may be down),
/// connected again when the last one failed (a restart ends it).
async fn pg_counts(
    admin: &Mutex<Option<sqlx::PgConnection>>,
    url: &str,
    schema: &str,
) -> Option<BTreeMap<DocumentState, u64>> {
    use sqlx::Connection as _;
    let held = admin.lock().unwrap().take();
    let mut conn = match held {
        Some(conn) => conn,
        None => sqlx::PgConnection::connect(url).await.ok()?,
    };
    let rows: Vec<(String, i64)> = sqlx::query_as(&format!(
        "SELECT state, count(*) FROM {schema}.documents GROUP BY state"
    ))
    .fetch_all(&mut conn)
    .await
    .ok()?;
    *admin.lock().unwrap() = Some(conn);
    let counts = rows
        .into_iter()
        .filter_map(|(s, n)| Some((DocumentState::parse(&s)?, n as u64)))
        .collect();
    Some(counts)
}

/// PostgreSQL: the gateway's connections killed five times during the run, and the server
/// restarted once (for real on a private server; see the module docs), with nothing lost or
/// duplicated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connections_killed_and_a_restart_lose_nothing() {
    use sqlx::Connection as _;
    let _ = tracing_subscriber::fmt()
        .with_env_filter("invois_gateway=warn")
        .with_ansi(false)
        .with_test_writer()
        .try_init();
    let Some(target) = PgTarget::new("postgres_connections_killed").await else {
        return;
    };
    let url = target.url();
    let tag = format!(
        "invois_db_faults_{}",
        hex::encode(rand::random::<[u8; 4]>())
    );
    let clock = Clock::scaled(60.0);
    let sandbox = sandbox_on(&clock).start().await.unwrap();
    let store = Arc::new(crate::common::pg_store(target.options(&tag), clock.clone()).await);
    let mut killer = sqlx::PgConnection::connect(&url).await.unwrap();
    let admin = Mutex::new(None);
    let running = start_gateway(Arc::clone(&store), &sandbox, &clock).await;
    let fed = Arc::new(Mutex::new(Fed::default()));
    let (progress, mut stored) = watch::channel(0usize);
    let feeder = tokio::spawn(feed(
        running.base.clone(),
        running.key.clone(),
        documents(&sandbox, &clock),
        clock.clone(),
        Arc::clone(&fed),
        progress,
    ));
    let mut killed = Vec::new();
    let mut restart = Duration::ZERO;
    // Kills spread over intake and the pipeline's work; the restart in the middle.
    for (i, at) in [100, 250, 400, 600, 800].into_iter().enumerate() {
        stored_at_least(&mut stored, at).await;
        killed.push(terminate(&mut killer, &tag).await);
        if i == 2 {
            let began = std::time::Instant::now();
            killed.push(target.restart(&mut killer, &tag, &clock).await);
            restart = began.elapsed();
        }
    }
    tokio::time::timeout(SETTLE, feeder)
        .await
        .expect("intake finishes")
        .unwrap();
    // One more kill while the last submissions and polls are under way.
    killed.push(terminate(&mut killer, &tag).await);
    let counts = settled(&clock, || pg_counts(&admin, &url, target.schema())).await;
    running.trigger.trigger();
    running.task.await.unwrap().unwrap();
    let fed = std::mem::take(&mut *fed.lock().unwrap());
    eprintln!(
        "{} at 400 stored, down {restart:?} real; connections killed per round {killed:?}; \
         ERP statuses {:?}, 503 codes {:?}",
        target.describe(),
        fed.statuses,
        fed.codes_503
    );
    assert!(killed.iter().filter(|n| **n > 0).count() >= 5, "{killed:?}");
    check_outcome(&store, &sandbox, &fed, &counts).await;
    store.close().await;
    let conn = admin.lock().unwrap().take();
    if let Some(conn) = conn {
        let _ = conn.close().await;
    }
    let _ = killer.close().await;
    target.finish().await;
}

/// The state a full disk can leave the SQLite write connection in, made on purpose: SQLite
/// ends the transaction by itself (here an explicit `ROLLBACK` inside it; on a full disk,
/// its automatic rollback), so the `ROLLBACK` sqlx sends when the transaction is dropped
/// fails and sqlx still counts the connection as inside a transaction. The store must not
/// keep using that connection: its next transaction works.
#[tokio::test]
async fn sqlite_writer_survives_a_transaction_sqlite_ended_itself() {
    use sqlx::Connection as _;
    let clock = Clock::scaled(60.0);
    let (store, _file) = crate::common::sqlite_store(clock).await;
    let write = store.db().sqlite_pool().expect("a SQLite store");
    {
        let mut conn = write.acquire().await.unwrap();
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.unwrap();
        sqlx::query("ROLLBACK").execute(&mut *tx).await.unwrap();
        // Dropped: sqlx's own ROLLBACK now fails ("no transaction is active").
    }
    // Every write transaction starts with BEGIN IMMEDIATE; before the fix each one failed
    // with "attempted to call begin_with at non-zero transaction depth" from here on.
    for _ in 0..3 {
        store
            .submissions()
            .claim_due_polls(10, Duration::from_secs(5))
            .await
            .expect("a write transaction after SQLite ended one by itself");
        store.api_keys().create("after").await.unwrap();
    }
}
