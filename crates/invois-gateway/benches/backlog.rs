//! Backlog: the gateway with up to a million prepared documents queued (a day of MyInvois
//! downtime at the ceiling), on SQLite or PostgreSQL.
//!
//! ```text
//! cargo bench -p invois-gateway --bench backlog
//! INVOIS_BENCH_BACKLOG=100000 INVOIS_BENCH_DRAIN_SECS=120 cargo bench -p invois-gateway --bench backlog
//! INVOIS_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/invois_backlog \
//!     cargo bench -p invois-gateway --bench backlog
//! ```
//!
//! Two parts. First the queue is filled to each size in `INVOIS_BENCH_STEPS` (default
//! 10,000, 100,000, then `INVOIS_BENCH_BACKLOG`, default 1,000,000), and at each size the
//! store operations one submission and one poll make (claim a batch, record the intent, hold
//! it, record the acceptance, claim due polls, read the submission's documents, record the
//! validation results and times), intake of one document, and the HTTP routes an operator
//! uses (the list API, the dashboard) are each timed `INVOIS_BENCH_ITERS` times (median and
//! p99, real time). After each submission the queue is topped up, so every call sees the
//! same number queued. Then, with the largest queue, the gateway's pipeline runs against the
//! sandbox with LHDN's production budgets for `INVOIS_BENCH_DRAIN_SECS` (default 180) on a
//! clock scaled by `INVOIS_BENCH_SCALE` (default 1: real time), while the dashboard and the
//! list API are asked every second; the "sustained" share of the 10,000 documents per minute
//! ceiling is the one `benches/throughput.rs` defines (submissions 101 to N, per minute
//! between submission 100 and submission N).
//!
//! The queue is written with bulk inserts on the store's own pool, not through intake and
//! preparation (a million documents through the pipeline's preparation would take an hour).
//! The rows are byte for byte what the pipeline writes: two documents go through intake and
//! the pipeline's preparation first, and the generated rows for their ids are checked equal
//! to them, column by column.
//!
//! PostgreSQL: the bench works in a fresh schema of the database named (dropped at the end
//! unless `INVOIS_BENCH_KEEP=1`), and runs `VACUUM (ANALYZE)` on its tables after each
//! size's bulk fill, as autovacuum or an operator would after a day of rows arriving
//! (`INVOIS_BENCH_ANALYZE=0` skips it, to measure the planner on stale statistics).
//! SQLite: a file in a temporary directory (`INVOIS_BENCH_DIR` to put it elsewhere).
//!
//! `INVOIS_BENCH_SANDBOX=process` runs the sandbox in a child process (this binary again),
//! so that the drain's resident set is the gateway's alone: the sandbox keeps every
//! document it is sent, as MyInvois does, and in one process its growth hides the
//! gateway's. The drain then prints both processes' resident sets every 15 seconds.
//!
//! Results: a table on stdout; the last line is the JSON.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use invois_api::RateProfile;
use invois_client::{Client, RateLimits};
use invois_clock::Clock;
use invois_gateway::clients::{ClientPool, LoginMode};
use invois_gateway::pipeline::{PipelineConfig, Shutdown};
use invois_gateway::service::Gateway;
use invois_gateway::store::{
    Db, DocumentFormat, DocumentRecord, DocumentState, NewDocument, Store, SubmissionAccepted,
    SubmissionFilter, SubmissionIntent, ValidationOutcome, ValidationUpdate,
};
use invois_testkit::{env_or, samples};
use sha2::{Digest, Sha256};

#[path = "backlog/sandbox.rs"]
mod sandbox;
use sandbox::SandboxSide;

/// Documents per minute the Submit Documents budget allows (100 RPM × 100 documents).
const CEILING_PER_MINUTE: f64 = 10_000.0;
/// The internal id of the template document; every generated id has its length.
const TEMPLATE_ID: &str = "BL-00000000";

fn internal_id(i: u64) -> String {
    format!("BL-{i:08}")
}

/// Peak and current resident set (kB) of this process.
fn memory_kb() -> (u64, u64) {
    memory_kb_of("/proc/self/status")
}

/// `VmHWM` and `VmRSS` (kB) from a `/proc/<pid>/status` file.
fn memory_kb_of(status_file: &str) -> (u64, u64) {
    let status = std::fs::read_to_string(status_file).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// Wall times per operation.
#[derive(Default)]
struct Timings(BTreeMap<&'static str, Vec<Duration>>);

impl Timings {
    fn add(&mut self, op: &'static str, took: Duration) {
        self.0.entry(op).or_default().push(took);
    }

    async fn time<T, F: std::future::Future<Output = T>>(&mut self, op: &'static str, f: F) -> T {
        let started = Instant::now();
        let out = f.await;
        self.add(op, started.elapsed());
        out
    }

    /// (median, p99, max) in milliseconds per operation.
    fn summary(&self) -> BTreeMap<&'static str, (f64, f64, f64)> {
        self.0
            .iter()
            .map(|(op, times)| {
                let mut ms: Vec<f64> = times.iter().map(|d| d.as_secs_f64() * 1e3).collect();
                ms.sort_by(f64::total_cmp);
                let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
                (*op, (at(0.5), at(0.99), ms[ms.len() - 1]))
            })
            .collect()
    }
}

/// The template's rows, and how to write one for any internal id.
struct Generator {
    received: Vec<u8>,
    prepared: Vec<u8>,
    /// Where the template's internal id sits in each.
    received_at: Vec<usize>,
    prepared_at: Vec<usize>,
    template: DocumentRecord,
}

/// One generated row's varying columns.
struct Row {
    internal_id: String,
    received: Vec<u8>,
    received_sha256: String,
    prepared: Vec<u8>,
    document_hash: String,
}

impl Generator {
    fn new(template: DocumentRecord) -> Generator {
        let received = template.received.clone();
        let prepared = template
            .prepared
            .clone()
            .expect("the template was prepared");
        let find = |bytes: &[u8]| -> Vec<usize> {
            bytes
                .windows(TEMPLATE_ID.len())
                .enumerate()
                .filter(|(_, w)| *w == TEMPLATE_ID.as_bytes())
                .map(|(i, _)| i)
                .collect()
        };
        let received_at = find(&received);
        let prepared_at = find(&prepared);
        assert!(
            !prepared_at.is_empty(),
            "the prepared bytes carry the internal id"
        );
        Generator {
            received,
            prepared,
            received_at,
            prepared_at,
            template,
        }
    }

    fn row(&self, i: u64) -> Row {
        let id = internal_id(i);
        let put = |bytes: &[u8], at: &[usize]| {
            let mut out = bytes.to_vec();
            for p in at {
                out[*p..*p + id.len()].copy_from_slice(id.as_bytes());
            }
            out
        };
        let received = put(&self.received, &self.received_at);
        let prepared = put(&self.prepared, &self.prepared_at);
        Row {
            received_sha256: hex::encode(Sha256::digest(&received)),
            document_hash: hex::encode(Sha256::digest(&prepared)),
            internal_id: id,
            received,
            prepared,
        }
    }

    /// The generated row for `doc`'s id is the row the pipeline wrote for it.
    fn check(&self, doc: &DocumentRecord) {
        let i: u64 = doc.internal_id[3..].parse().expect("a generated id");
        let row = self.row(i);
        let t = &self.template;
        assert_eq!(doc.received, row.received, "received bytes");
        assert_eq!(doc.received_sha256, row.received_sha256, "received_sha256");
        assert_eq!(doc.prepared.as_deref(), Some(&row.prepared[..]), "prepared");
        assert_eq!(doc.document_hash.as_deref(), Some(&row.document_hash[..]));
        assert_eq!(doc.state, DocumentState::Prepared);
        assert_eq!(
            (&doc.issuer_tin, &doc.type_code, doc.version, doc.format),
            (&t.issuer_tin, &t.type_code, t.version, t.format)
        );
        assert_eq!(
            (&doc.client_id, &doc.on_behalf_of),
            (&t.client_id, &t.on_behalf_of)
        );
        assert_eq!(
            (doc.attempts, &doc.locked_by, &doc.lease_until),
            (1, &None, &None)
        );
        assert_eq!(
            (&doc.errors, &doc.last_error, &doc.uuid),
            (&t.errors, &None, &None)
        );
    }
}

/// Bulk-inserts prepared documents `from..to` in transactions of 5,000 rows: the columns
/// `mark_prepared` leaves, `attempts` as after one claim.
macro_rules! fill_with {
    ($pool:expr, $db:ty, $gen:expr, $from:expr, $to:expr) => {{
        const PER_STATEMENT: u64 = 250;
        let t = &$gen.template;
        let mut i = $from;
        while i < $to {
            let mut tx = $pool.begin().await.expect("begin");
            let tx_end = (i + 5_000).min($to);
            while i < tx_end {
                let end = (i + PER_STATEMENT).min(tx_end);
                let rows: Vec<Row> = (i..end).map(|n| $gen.row(n)).collect();
                let mut q = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO documents (issuer_tin, type_code, internal_id, version, \
                     format, client_id, on_behalf_of, received_sha256, \
                     prepared_size, document_hash, state, attempts, created_at, updated_at) ",
                );
                q.push_values(&rows, |mut b, r| {
                    let size = r.prepared.len() as i64;
                    b.push_bind(t.issuer_tin.clone())
                        .push_bind(t.type_code.clone())
                        .push_bind(r.internal_id.clone())
                        .push_bind(t.version)
                        .push_bind(t.format.as_lowercase())
                        .push_bind(t.client_id.clone())
                        .push_bind(t.on_behalf_of.clone().unwrap_or_default())
                        .push_bind(r.received_sha256.clone())
                        .push_bind(size)
                        .push_bind(r.document_hash.clone())
                        .push_bind("prepared")
                        .push_bind(1_i64)
                        .push_bind(t.created_at)
                        .push_bind(t.updated_at);
                });
                q.push(" RETURNING id, internal_id");
                let ids: std::collections::HashMap<String, i64> = q
                    .build_query_as::<(i64, String)>()
                    .fetch_all(&mut *tx)
                    .await
                    .expect("bulk insert")
                    .into_iter()
                    .map(|(id, internal_id)| (internal_id, id))
                    .collect();
                // Each document's bytes in their own tables, as the store keeps them.
                for (table, pick) in [
                    (
                        "document_received_bytes",
                        (|r: &Row| r.received.clone()) as fn(&Row) -> Vec<u8>,
                    ),
                    ("document_prepared_bytes", |r: &Row| r.prepared.clone()),
                ] {
                    let mut q = sqlx::QueryBuilder::<$db>::new(format!(
                        "INSERT INTO {table} (document_id, bytes) "
                    ));
                    q.push_values(&rows, |mut b, r| {
                        b.push_bind(ids[&r.internal_id]).push_bind(pick(r));
                    });
                    q.build()
                        .execute(&mut *tx)
                        .await
                        .expect("bulk insert bytes");
                }
                i = end;
            }
            tx.commit().await.expect("commit");
        }
    }};
}

async fn fill(store: &Store, generator: &Generator, from: u64, to: u64) {
    if let Some(pool) = store.db().sqlite_pool() {
        fill_with!(pool, sqlx::Sqlite, generator, from, to);
    } else if let Some(pool) = store.db().pg_pool() {
        fill_with!(pool, sqlx::Postgres, generator, from, to);
    }
}

/// Where the bench's database lives, and how to clean it up.
struct Database {
    url: String,
    _dir: Option<tempfile::TempDir>,
    pg_schema: Option<(String, String)>,
}

async fn open(clock: &Clock) -> (Arc<Store>, Database) {
    let pg = std::env::var("INVOIS_BENCH_DATABASE_URL")
        .or_else(|_| std::env::var("TEST_DATABASE_URL"))
        .ok();
    if let Some(url) = pg {
        let schema = format!("invois_backlog_{}", std::process::id());
        let admin = sqlx::PgPool::connect(&url).await.expect("PostgreSQL");
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&admin)
            .await
            .expect("create schema");
        admin.close().await;
        let options: sqlx::postgres::PgConnectOptions = url.parse().expect("a PostgreSQL URL");
        let options = options.options([("search_path", schema.as_str())]);
        let db = Db::open_postgres(options).await.expect("PostgreSQL store");
        let store = Arc::new(Store::new(db, clock.clone()));
        let shown = invois_gateway::store::redact_url(&url);
        let database = Database {
            url: format!("{shown} (schema {schema})"),
            _dir: None,
            pg_schema: Some((url, schema)),
        };
        return (store, database);
    }
    let dir = match std::env::var("INVOIS_BENCH_DIR") {
        Ok(d) => tempfile::tempdir_in(d),
        Err(_) => tempfile::tempdir(),
    }
    .expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("invois.db").display());
    let store = Arc::new(
        Store::open(&url, clock.clone())
            .await
            .expect("SQLite store"),
    );
    let database = Database {
        url,
        _dir: Some(dir),
        pg_schema: None,
    };
    (store, database)
}

impl Database {
    async fn drop_schema(&self) {
        let Some((url, schema)) = &self.pg_schema else {
            return;
        };
        if std::env::var_os("INVOIS_BENCH_KEEP").is_some() {
            println!("  kept schema {schema}");
            return;
        }
        if let Ok(admin) = sqlx::PgPool::connect(url).await {
            let _ = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                .execute(&admin)
                .await;
            admin.close().await;
        }
    }

    fn backend(&self) -> &'static str {
        if self.pg_schema.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    }
}

/// The world the bench runs in.
struct Bench {
    clock: Clock,
    store: Arc<Store>,
    gateway: Gateway,
    sandbox: SandboxSide,
    client_id: String,
    http: reqwest::Client,
    base: String,
    key: String,
    generator: Generator,
    /// The next internal id to generate.
    next: u64,
}

fn main() {
    if sandbox::run_child_if_asked(env_or("INVOIS_BENCH_SCALE", 1.0)) {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(run());
}

async fn run() {
    let backlog: u64 = env_or("INVOIS_BENCH_BACKLOG", 1_000_000);
    let steps: Vec<u64> = std::env::var("INVOIS_BENCH_STEPS")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10_000, 100_000, backlog])
        .into_iter()
        .filter(|n| *n <= backlog)
        .collect();
    let iters: usize = env_or("INVOIS_BENCH_ITERS", 100);
    let drain_secs: u64 = env_or("INVOIS_BENCH_DRAIN_SECS", 180);
    let scale: f64 = env_or("INVOIS_BENCH_SCALE", 1.0);
    let analyze = env_or("INVOIS_BENCH_ANALYZE", 1) != 0;
    let wall = Instant::now();
    let (mut bench, database) = Bench::start(scale).await;
    println!(
        "invois-gateway backlog ({}, {}, time scale {scale})",
        database.backend(),
        database.url
    );

    let mut by_size = Vec::new();
    for n in &steps {
        let filled = Instant::now();
        let queued = bench.queued().await;
        bench.top_up(n.saturating_sub(queued)).await;
        let fill_secs = filled.elapsed().as_secs_f64();
        if analyze {
            bench.analyze().await;
        }
        let timings = bench.measure(iters).await;
        let (hwm, rss) = memory_kb();
        println!(
            "  {n} queued: filled in {fill_secs:.0} s; peak RSS {} MB, RSS {} MB",
            hwm / 1024,
            rss / 1024
        );
        by_size.push((*n, timings.summary(), hwm, rss));
    }
    print_table(&by_size);

    let drain = bench.drain(Duration::from_secs(drain_secs)).await;
    let (hwm, rss) = memory_kb();
    drain.print(hwm, rss);

    let json = serde_json::json!({
        "backend": database.backend(),
        "timeScale": scale,
        "iterations": iters,
        "sizes": by_size.iter().map(|(n, s, hwm, rss)| serde_json::json!({
            "queued": n,
            "peakRssKb": hwm,
            "rssKb": rss,
            "ms": s.iter().map(|(op, (p50, p99, max))| {
                (op.to_string(), serde_json::json!({"p50": p50, "p99": p99, "max": max}))
            }).collect::<BTreeMap<_, _>>(),
        })).collect::<Vec<_>>(),
        "drain": drain.json(),
        "peakRssKbAfterDrain": hwm,
        "wallSecs": wall.elapsed().as_secs_f64(),
    });
    database.drop_schema().await;
    println!("{json}");
}

impl Bench {
    async fn start(scale: f64) -> (Bench, Database) {
        let clock = Clock::scaled(scale);
        let sandbox = SandboxSide::start(clock.clone(), scale).await;
        println!("  the sandbox runs {}", sandbox.place());
        let client = Client::builder()
            .api_base(&sandbox.who.base_url)
            .portal_base("https://preprod.myinvois.hasil.gov.my")
            .credentials(
                sandbox.who.client_id.clone(),
                sandbox.who.client_secret.as_str(),
            )
            .clock(clock.clone())
            .rate_limits(RateLimits::profile(RateProfile::Production))
            .request_timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        let client_id = client.client_id().to_owned();
        let (store, database) = open(&clock).await;
        let gateway = Gateway::new(
            Arc::clone(&store),
            ClientPool::new(client, LoginMode::Taxpayer),
            None,
            PipelineConfig::default(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let router = gateway.router();
        tokio::spawn(async move { axum::serve(listener, router).await });
        let (_, secret) = store.api_keys().create("bench").await.expect("API key");
        let generator = Bench::template(&store, &gateway, &sandbox, &client_id, &clock).await;
        let bench = Bench {
            clock,
            store,
            gateway,
            sandbox,
            client_id,
            http: reqwest::Client::new(),
            base,
            key: secret.expose().to_owned(),
            generator,
            next: 2,
        };
        (bench, database)
    }

    /// Two documents through intake and the pipeline's preparation: the first is the
    /// template, the second checks that the generator writes what the pipeline does.
    async fn template(
        store: &Store,
        gateway: &Gateway,
        sandbox: &SandboxSide,
        client_id: &str,
        clock: &Clock,
    ) -> Generator {
        let (supplier_tin, buyer_tin) = (&sandbox.who.supplier_tin, &sandbox.who.buyer_tin);
        let json = invois_testkit::fixture_json(
            invois_testkit::Version::V1_0,
            invois_testkit::Kind::Invoice,
        );
        // Issued a little in the past: MyInvois refuses issue times in the future.
        let issued = clock.now() - chrono::Duration::minutes(5);
        let mut ids = Vec::new();
        for i in 0..2 {
            let mut doc = json.clone();
            samples::adapt_json(&mut doc, &internal_id(i), issued, supplier_tin, buyer_tin);
            let inserted = store
                .documents()
                .insert(NewDocument {
                    issuer_tin: supplier_tin.clone(),
                    type_code: "01".to_owned(),
                    internal_id: internal_id(i),
                    version: 1,
                    format: DocumentFormat::Json,
                    client_id: client_id.to_owned(),
                    on_behalf_of: None,
                    received: samples::minified(&doc),
                })
                .await
                .expect("insert");
            ids.push(inserted.document.id);
        }
        while gateway.pipeline().prepare_once().await.expect("prepare") > 0 {}
        let template = store.documents().get(ids[0]).await.expect("template");
        let generator = Generator::new(template);
        let second = store.documents().get(ids[1]).await.expect("second");
        generator.check(&second);
        generator.check(&generator.template);
        generator
    }

    async fn top_up(&mut self, n: u64) {
        fill(&self.store, &self.generator, self.next, self.next + n).await;
        self.next += n;
    }

    /// PostgreSQL only: `VACUUM (ANALYZE)` of every table in the bench's schema, once the
    /// bulk fill of a size is written. Without it the planner plans a million rows on the
    /// statistics of an empty table (the bulk load never ran ANALYZE, and the test server
    /// runs with autovacuum off): the uuid lookup of `record_validated_at` became a
    /// sequential scan of the million (0.8-1.9 s), the submission lookup of `documents_in`
    /// a parallel bitmap scan (50-70 ms). This is what a server does after a day of downtime, not a trick: the
    /// rows arrived over hours, and autovacuum (on by default) analyzes a table once a
    /// tenth of it has changed and vacuums it once a fifth has been inserted or updated; an
    /// operator who bulk-loads runs the same. SQLite is left as it is: the store never runs
    /// ANALYZE there, so the bench measures what production has. `INVOIS_BENCH_ANALYZE=0`
    /// skips it, to measure the stale case.
    async fn analyze(&self) {
        let Some(pool) = self.store.db().pg_pool() else {
            return;
        };
        let started = Instant::now();
        let tables: Vec<(String,)> = sqlx::query_as(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() \
             ORDER BY tablename",
        )
        .fetch_all(pool)
        .await
        .expect("tables");
        for (table,) in &tables {
            // VACUUM cannot run inside a transaction block: the simple query protocol.
            sqlx::raw_sql(&format!("VACUUM (ANALYZE) \"{table}\""))
                .execute(pool)
                .await
                .expect("VACUUM (ANALYZE)");
        }
        println!(
            "  VACUUM (ANALYZE) of {} tables: {:.1} s",
            tables.len(),
            started.elapsed().as_secs_f64()
        );
    }

    async fn queued(&self) -> u64 {
        let counts = self
            .store
            .documents()
            .count_by_state()
            .await
            .expect("counts");
        counts.get(&DocumentState::Prepared).copied().unwrap_or(0)
    }

    async fn get(&self, path: &str) -> usize {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .send()
            .await
            .expect("request");
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.bytes().await.expect("body").len()
    }
}

/// The HTTP routes timed at each size: the list API's first page, filtered by a state with
/// a million rows and by one with none (the worst case for a filtered scan), a page deep in
/// the queue, the dashboard's overview, its search by internal id, and readiness.
fn routes(mid: u64, mid_id: i64) -> Vec<(&'static str, String)> {
    vec![
        ("GET /v1/documents", "/v1/documents".to_owned()),
        (
            "GET /v1/documents?state=prepared",
            "/v1/documents?state=prepared".to_owned(),
        ),
        (
            "GET /v1/documents?state=failed (none)",
            "/v1/documents?state=failed".to_owned(),
        ),
        (
            "GET /v1/documents?after=(middle)",
            format!("/v1/documents?after={mid_id}"),
        ),
        ("GET /dashboard", "/dashboard".to_owned()),
        (
            "GET /dashboard/documents?q=(id)",
            format!("/dashboard/documents?q={}", internal_id(mid)),
        ),
        (
            "GET /dashboard/documents?state=invalid",
            "/dashboard/documents?state=invalid".to_owned(),
        ),
        ("GET /ready", "/ready".to_owned()),
    ]
}

impl Bench {
    /// Times one submission's and one poll's store calls, intake, and the HTTP routes,
    /// `iters` times each, topping the queue up after each submission.
    async fn measure(&mut self, iters: usize) -> Timings {
        let mut t = Timings::default();
        for round in 0..iters {
            let n = self.submission(&mut t).await;
            let docs = self.store.documents();
            t.time(
                "release_expired_leases",
                self.store.release_expired_leases(),
            )
            .await
            .expect("leases");
            t.time("count_by_state", docs.count_by_state())
                .await
                .expect("counts");
            if round % 10 == 0 {
                self.time_before(&mut t, round == 0).await;
            }
            self.intake(&mut t).await;
            self.top_up(n as u64 + 1).await;
        }
        self.time_routes(&mut t, iters).await;
        t
    }

    /// One submission's and its poll's store calls, timed; returns how many documents it
    /// took from the queue.
    async fn submission(&self, t: &mut Timings) -> usize {
        let worker = "bench-worker";
        let lease = Duration::from_secs(300);
        let docs = self.store.documents();
        let subs = self.store.submissions();
        let batch = t
            .time(
                "claim_for_batch (100)",
                docs.claim_for_batch(worker, 100, 4 << 20, lease),
            )
            .await
            .expect("claim")
            .expect("a batch");
        let n = batch.documents.len();
        let payload: Vec<u8> = batch
            .documents
            .iter()
            .flat_map(|d| d.prepared.clone().unwrap_or_default())
            .collect();
        let intent = t
            .time(
                "record_intent",
                subs.record_intent(SubmissionIntent {
                    worker: worker.to_owned(),
                    client_id: batch.client_id.clone(),
                    on_behalf_of: None,
                    document_ids: batch.documents.iter().map(|d| d.id).collect(),
                    payload,
                    lease,
                }),
            )
            .await
            .expect("intent");
        t.time("hold", subs.hold(intent.id, worker, lease))
            .await
            .expect("hold");
        let uuids: Vec<String> = batch
            .documents
            .iter()
            .map(|d| format!("{:0>26}", format!("BENCH{}", d.id.0)))
            .collect();
        let accepted = SubmissionAccepted {
            submission_uid: format!("{:0>26}", format!("SUB{}", intent.id.0)),
            accepted: batch
                .documents
                .iter()
                .zip(&uuids)
                .map(|(d, u)| (d.id, u.clone()))
                .collect(),
            rejected: Vec::new(),
        };
        t.time(
            "record_accepted",
            subs.record_accepted(intent.id, &accepted),
        )
        .await
        .expect("accepted");
        t.time(
            "claim_due_polls",
            subs.claim_due_polls(16, Duration::from_secs(3)),
        )
        .await
        .expect("due polls");
        t.time("documents_in (poll)", subs.documents_in(intent.id))
            .await
            .expect("documents in");
        let updates: Vec<ValidationUpdate> = uuids
            .iter()
            .map(|u| ValidationUpdate {
                uuid: u.clone(),
                outcome: ValidationOutcome::Valid {
                    long_id: Some(format!("LONG{u}")),
                    validation_link: None,
                },
            })
            .collect();
        let changed = t
            .time(
                "record_validation_results",
                subs.record_validation_results(&updates),
            )
            .await
            .expect("validation results");
        assert_eq!(changed as usize, n, "every document valid");
        let times: Vec<_> = uuids
            .iter()
            .map(|u| (u.clone(), self.clock.now()))
            .collect();
        t.time("record_validated_at", docs.record_validated_at(&times))
            .await
            .expect("validated at");
        n
    }

    /// One document through intake (the ERP's POST): it is left `received`.
    async fn intake(&mut self, t: &mut Timings) {
        let row = self.generator.row(self.next);
        self.next += 1;
        let tpl = &self.generator.template;
        let new = NewDocument {
            issuer_tin: tpl.issuer_tin.clone(),
            type_code: tpl.type_code.clone(),
            internal_id: row.internal_id,
            version: 1,
            format: tpl.format,
            client_id: tpl.client_id.clone(),
            on_behalf_of: None,
            received: row.received,
        };
        t.time("insert (intake)", self.store.documents().insert(new))
            .await
            .expect("intake");
    }

    /// The statements the store ran before (a GROUP BY over every document to count them;
    /// a list filtered by a state no document is in, in the generic `$1 IS NULL OR` form,
    /// once per size), for the before/after comparison.
    async fn time_before(&self, t: &mut Timings, list: bool) {
        macro_rules! run {
            ($pool:expr) => {{
                let started = Instant::now();
                let sql = "SELECT state, COUNT(*) AS n FROM documents GROUP BY state";
                let _: Vec<(String, i64)> =
                    sqlx::query_as(sql).fetch_all($pool).await.expect("count");
                t.add("(before) count_by_state: GROUP BY state", started.elapsed());
                if list {
                    let started = Instant::now();
                    let sql = "SELECT id, state FROM documents WHERE ($1 IS NULL OR state = $1) \
                         AND ($2 IS NULL OR issuer_tin = $2) AND id > $3 ORDER BY id LIMIT 101";
                    let _: Vec<(i64, String)> = sqlx::query_as(sql)
                        .bind(Some("failed"))
                        .bind(None::<String>)
                        .bind(0_i64)
                        .fetch_all($pool)
                        .await
                        .expect("list");
                    t.add("(before) list ?state=failed, generic form", started.elapsed());
                }
            }};
        }
        if let Some(pool) = self.store.db().sqlite_pool() {
            run!(pool);
        } else if let Some(pool) = self.store.db().pg_pool() {
            run!(pool);
        }
    }

    async fn time_routes(&self, t: &mut Timings, iters: usize) {
        let mid = self.next / 2;
        let mid_id = self
            .store
            .documents()
            .find(&invois_gateway::store::DocumentKey {
                issuer_tin: self.generator.template.issuer_tin.clone(),
                type_code: self.generator.template.type_code.clone(),
                internal_id: internal_id(mid),
            })
            .await
            .expect("find")
            .map_or(1, |d| d.id.0);
        for (name, path) in routes(mid, mid_id) {
            for _ in 0..iters {
                let started = Instant::now();
                self.get(&path).await;
                t.add(name, started.elapsed());
            }
        }
    }
}

/// One size's figures: documents queued, (median, p99, max) ms per operation, peak and
/// current RSS (kB).
type SizeFigures = (u64, BTreeMap<&'static str, (f64, f64, f64)>, u64, u64);

fn print_table(by_size: &[SizeFigures]) {
    let Some((_, first, _, _)) = by_size.first() else {
        return;
    };
    print!("  {:<44}", "ms, median / p99");
    for (n, _, _, _) in by_size {
        print!(" {:>20}", format!("{n} queued"));
    }
    println!();
    for op in first.keys() {
        print!("  {op:<44}");
        for (_, s, _, _) in by_size {
            let (p50, p99, _) = s.get(op).copied().unwrap_or_default();
            print!(" {:>20}", format!("{p50:.2} / {p99:.2}"));
        }
        println!();
    }
    print!("  {:<44}", "peak RSS (MB)");
    for (_, _, hwm, _) in by_size {
        print!(" {:>20}", hwm / 1024);
    }
    println!();
}

/// What the drain measured.
struct Drain {
    secs: f64,
    queued_before: u64,
    submissions: usize,
    documents_submitted: i64,
    raw_per_min: f64,
    sustained_per_min: Option<f64>,
    throttled: u64,
    counters_429: u64,
    valid: u64,
    by_endpoint: BTreeMap<String, u64>,
    routes: BTreeMap<&'static str, (f64, f64, f64)>,
    rss_samples_mb: (u64, u64),
    /// (seconds into the drain, documents taken from the queue, this process's resident
    /// set in MB, the sandbox's when it has its own process).
    timeline: Vec<(u64, u64, u64, Option<u64>)>,
    /// The sandbox's (peak, current) resident set in kB after the drain, when it has its
    /// own process.
    sandbox_memory_kb: Option<(u64, u64)>,
}

impl Bench {
    /// Runs the pipeline against the sandbox for `window` (real time), asking the dashboard
    /// and the list API every second meanwhile.
    async fn drain(&self, window: Duration) -> Drain {
        let queued_before = self.queued().await;
        let started_at = self.clock.now();
        let (trigger, shutdown) = Shutdown::new();
        let runner = {
            let p = self.gateway.pipeline().clone();
            tokio::spawn(async move { p.run(shutdown).await })
        };
        let mut t = Timings::default();
        let mut rss = (u64::MAX, 0);
        let mut timeline = Vec::new();
        let started = Instant::now();
        while started.elapsed() < window {
            tokio::time::sleep(Duration::from_secs(1)).await;
            for (name, path) in [
                ("during drain: GET /dashboard", "/dashboard"),
                (
                    "during drain: GET /v1/documents?state=prepared",
                    "/v1/documents?state=prepared",
                ),
            ] {
                let s = Instant::now();
                self.get(path).await;
                t.add(name, s.elapsed());
            }
            let (_, now) = memory_kb();
            rss = (rss.0.min(now / 1024), rss.1.max(now / 1024));
            // Every 15 s: whether the resident sets level off or keep growing with the
            // documents sent.
            if timeline.len() < (started.elapsed().as_secs() / 15) as usize {
                let sent = queued_before.saturating_sub(self.queued().await);
                let child = self.sandbox.child_memory_kb().map(|(_, kb)| kb / 1024);
                timeline.push((started.elapsed().as_secs(), sent, now / 1024, child));
            }
        }
        trigger.trigger();
        runner.await.expect("pipeline task");
        let secs = started.elapsed().as_secs_f64();
        let mut subs = Vec::new();
        let mut filter = SubmissionFilter {
            limit: 1000,
            ..Default::default()
        };
        loop {
            let page = self.store.submissions().list(&filter).await.expect("subs");
            let Some(last) = page.last() else { break };
            filter.before = Some(last.id);
            let done = last.created_at < started_at;
            subs.extend(page.into_iter().filter(|s| s.created_at >= started_at));
            if done {
                break;
            }
        }
        let mut submitted: Vec<(chrono::DateTime<chrono::Utc>, i64)> = subs
            .iter()
            .filter(|s| s.submission_uid.is_some())
            .map(|s| (s.created_at, s.document_count))
            .collect();
        submitted.sort();
        let documents_submitted: i64 = submitted.iter().map(|(_, n)| n).sum();
        let scaled_min = secs * self.clock_scale() / 60.0;
        let (throttled, by_endpoint) = self.sandbox.report(&self.client_id).await;
        let counters_429 = self.sandbox.counted_429s(&self.client_id).await;
        let counts = self
            .store
            .documents()
            .count_by_state()
            .await
            .expect("counts");
        Drain {
            secs,
            queued_before,
            submissions: submitted.len(),
            documents_submitted,
            raw_per_min: documents_submitted as f64 / scaled_min,
            sustained_per_min: sustained(&submitted),
            throttled,
            counters_429,
            valid: counts.get(&DocumentState::Valid).copied().unwrap_or(0),
            by_endpoint,
            routes: t.summary(),
            rss_samples_mb: rss,
            timeline,
            sandbox_memory_kb: self.sandbox.child_memory_kb(),
        }
    }

    fn clock_scale(&self) -> f64 {
        env_or("INVOIS_BENCH_SCALE", 1.0)
    }
}

/// Documents of submissions 101..N per minute between submission 100 and submission N
/// (the definition `benches/throughput.rs` gives).
fn sustained(submitted: &[(chrono::DateTime<chrono::Utc>, i64)]) -> Option<f64> {
    if submitted.len() <= 100 {
        return None;
    }
    let after_burst: i64 = submitted.iter().skip(100).map(|(_, n)| n).sum();
    let min =
        (submitted[submitted.len() - 1].0 - submitted[99].0).num_milliseconds() as f64 / 60_000.0;
    (min > 0.0).then(|| after_burst as f64 / min)
}

impl Drain {
    fn print(&self, hwm: u64, rss: u64) {
        let share = |v: f64| format!("{:.1}%", 100.0 * v / CEILING_PER_MINUTE);
        println!("  drain, {} queued at the start:", self.queued_before);
        let rows = [
            ("window (s, real)", format!("{:.0}", self.secs)),
            ("submissions accepted", self.submissions.to_string()),
            ("documents submitted", self.documents_submitted.to_string()),
            (
                "documents valid (store, incl. per-size runs)",
                self.valid.to_string(),
            ),
            (
                "documents per scaled minute (raw, incl. first-minute burst)",
                format!("{:.0} ({})", self.raw_per_min, share(self.raw_per_min)),
            ),
            (
                "documents per scaled minute (sustained)",
                self.sustained_per_min
                    .map_or("n/a (one window)".to_owned(), |v| {
                        format!("{v:.0} ({})", share(v))
                    }),
            ),
            ("429 responses (report)", self.throttled.to_string()),
            (
                "429 responses (sandbox counters)",
                self.counters_429.to_string(),
            ),
            (
                "RSS during drain, min..max (MB)",
                format!("{}..{}", self.rss_samples_mb.0, self.rss_samples_mb.1),
            ),
            ("peak RSS after drain (MB)", (hwm / 1024).to_string()),
            ("RSS after drain (MB)", (rss / 1024).to_string()),
            (
                "the sandbox's process: peak RSS, RSS after drain (MB)",
                self.sandbox_memory_kb
                    .map_or("n/a (in this process)".to_owned(), |(h, r)| {
                        format!("{}, {}", h / 1024, r / 1024)
                    }),
            ),
        ];
        for (k, v) in rows {
            println!("    {k:<60} {v}");
        }
        for (op, (p50, p99, max)) in &self.routes {
            println!("    {op:<60} {p50:.1} / {p99:.1} / {max:.1} ms (median / p99 / max)");
        }
        println!("    calls by endpoint: {:?}", self.by_endpoint);
        println!("    resident set during the drain (MB):");
        println!(
            "      {:>6} {:>12} {:>12} {:>10}",
            "s", "documents", "this", "sandbox"
        );
        for (secs, sent, this, child) in &self.timeline {
            let child = child.map_or("-".to_owned(), |c| c.to_string());
            println!("      {secs:>6} {sent:>12} {this:>12} {child:>10}");
        }
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "windowSecs": self.secs,
            "queuedBefore": self.queued_before,
            "submissions": self.submissions,
            "documentsSubmitted": self.documents_submitted,
            "documentsPerScaledMinuteRaw": self.raw_per_min,
            "shareOfCeilingRaw": self.raw_per_min / CEILING_PER_MINUTE,
            "documentsPerScaledMinuteSustained": self.sustained_per_min,
            "shareOfCeilingSustained": self.sustained_per_min.map(|v| v / CEILING_PER_MINUTE),
            "rateLimited429": self.throttled,
            "rateLimited429Counters": self.counters_429,
            "callsByEndpoint": self.by_endpoint,
            "routesMs": self.routes.iter().map(|(op, (p50, p99, max))| {
                (op.to_string(), serde_json::json!({"p50": p50, "p99": p99, "max": max}))
            }).collect::<BTreeMap<_, _>>(),
            "rssDuringDrainMb": [self.rss_samples_mb.0, self.rss_samples_mb.1],
            "rssTimeline": self.timeline.iter().map(|(secs, sent, this, child)| {
                serde_json::json!({"secs": secs, "documents": sent, "rssMb": this, "sandboxRssMb": child})
            }).collect::<Vec<_>>(),
            "sandboxPeakRssKb": self.sandbox_memory_kb.map(|(h, _)| h),
        })
    }
}
