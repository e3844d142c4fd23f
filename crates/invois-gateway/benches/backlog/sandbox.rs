//! Where the backlog bench's sandbox runs.
//!
//! By default it runs in the bench's own process, as every other bench's does. With
//! `INVOIS_BENCH_SANDBOX=process` it runs in a child process: this same bench binary,
//! started again with `INVOIS_BENCH_ROLE=sandbox`. The sandbox keeps every document it is
//! sent, as MyInvois keeps them on its side, so in one process its growth during the drain
//! cannot be told apart from the gateway's; in two, the bench's resident set is the
//! gateway's (and the bench's own small bookkeeping) and the child's is the sandbox's.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use invois_api::RateProfile;
use invois_clock::Clock;
use invois_sandbox::report::Report;
use invois_testkit::TestSandbox;
use serde::{Deserialize, Serialize};

/// The environment variable that makes the bench binary the sandbox's child process.
const ROLE: &str = "INVOIS_BENCH_ROLE";

/// The addresses and logins the bench needs from the sandbox, wherever it runs (a child
/// process prints them on its stdout).
#[derive(Serialize, Deserialize)]
pub(crate) struct Announce {
    pub(crate) base_url: String,
    /// The admin API's base URL; the child's only (the bench reads its report through it).
    admin_url: Option<String>,
    pub(crate) supplier_tin: String,
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    pub(crate) buyer_tin: String,
}

impl Announce {
    fn of(sandbox: &TestSandbox) -> Announce {
        let supplier = sandbox.supplier();
        Announce {
            base_url: sandbox.base_url().to_owned(),
            admin_url: sandbox.admin_url().map(str::to_owned),
            supplier_tin: supplier.tin,
            client_id: supplier.client_id,
            client_secret: supplier.client_secret,
            buyer_tin: sandbox.buyer().tin,
        }
    }
}

/// The sandbox as the bench sees it.
pub(crate) struct SandboxSide {
    pub(crate) who: Announce,
    runs: Runs,
}

/// Where the sandbox runs.
enum Runs {
    InProcess(TestSandbox),
    Child { child: Child, http: reqwest::Client },
}

/// The rest of `/admin/stats` is not needed here.
#[derive(Deserialize)]
struct Stats {
    clients: HashMap<String, Counters>,
}

#[derive(Deserialize)]
struct Counters {
    rate_limited: HashMap<String, u64>,
}

async fn start_in_process(clock: Clock, admin: bool) -> TestSandbox {
    let builder = TestSandbox::builder()
        .clock(clock)
        .profile(RateProfile::Production)
        .validation_delay(Duration::from_secs(2));
    let builder = if admin { builder.with_admin() } else { builder };
    builder.start().await.expect("sandbox")
}

/// When this process was started as the sandbox's child: runs the sandbox until the parent
/// closes its stdin (or dies, which closes it too), and returns true.
pub(crate) fn run_child_if_asked(scale: f64) -> bool {
    if std::env::var(ROLE).as_deref() != Ok("sandbox") {
        return false;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let sandbox = start_in_process(Clock::scaled(scale), true).await;
        let announce = Announce::of(&sandbox);
        println!("{}", serde_json::to_string(&announce).expect("announce"));
        // Blocking read on a thread of its own: the sandbox's tasks keep the runtime.
        tokio::task::spawn_blocking(|| {
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
        })
        .await
        .expect("stdin watcher");
    });
    true
}

/// GET of the child's admin API, its JSON read as a `T`.
async fn admin_get<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    announce: &Announce,
    path: &str,
    query: &[(&str, &str)],
) -> T {
    let admin = announce
        .admin_url
        .as_deref()
        .expect("the child's admin API");
    http.get(format!("{admin}{path}"))
        .query(query)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("GET {path}'s JSON: {e}"))
}

impl SandboxSide {
    /// Starts the sandbox where `INVOIS_BENCH_SANDBOX` says (`process`, or in this process).
    pub(crate) async fn start(clock: Clock, scale: f64) -> SandboxSide {
        if std::env::var("INVOIS_BENCH_SANDBOX").as_deref() != Ok("process") {
            let sandbox = start_in_process(clock, false).await;
            return SandboxSide {
                who: Announce::of(&sandbox),
                runs: Runs::InProcess(sandbox),
            };
        }
        if scale != 1.0 {
            // Two processes' scaled clocks start apart; at real time they agree.
            panic!("INVOIS_BENCH_SANDBOX=process needs INVOIS_BENCH_SCALE=1");
        }
        let mut child = Command::new(std::env::current_exe().expect("this binary"))
            .env(ROLE, "sandbox")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the sandbox's process");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("its stdout"))
            .read_line(&mut line)
            .expect("its announcement");
        SandboxSide {
            who: serde_json::from_str(&line).expect("an announcement"),
            runs: Runs::Child {
                child,
                http: reqwest::Client::new(),
            },
        }
    }

    /// Where it is.
    pub(crate) fn place(&self) -> &'static str {
        match self.runs {
            Runs::InProcess(_) => "in this process",
            Runs::Child { .. } => "in a child process",
        }
    }

    /// 429s the anti-pattern report counted for `client_id`, and its calls by endpoint.
    pub(crate) async fn report(&self, client_id: &str) -> (u64, BTreeMap<String, u64>) {
        let report: Report = match &self.runs {
            Runs::InProcess(s) => s.sandbox().report(Some(client_id)).expect("report"),
            Runs::Child { http, .. } => {
                admin_get(http, &self.who, "/admin/report", &[("clientId", client_id)]).await
            }
        };
        let mut by_endpoint = BTreeMap::new();
        let mut throttled = 0;
        for c in report.clients.iter().filter(|c| c.client_id == client_id) {
            for e in &c.endpoints {
                *by_endpoint.entry(e.endpoint.clone()).or_default() += e.calls;
                throttled += e.statuses.get(&429).copied().unwrap_or(0);
            }
        }
        (throttled, by_endpoint)
    }

    /// 429s by the sandbox's own counters for `client_id`.
    pub(crate) async fn counted_429s(&self, client_id: &str) -> u64 {
        let counters = match &self.runs {
            Runs::InProcess(s) => s.sandbox().client_counters(client_id).rate_limited,
            Runs::Child { http, .. } => {
                let mut stats: Stats = admin_get(http, &self.who, "/admin/stats", &[]).await;
                stats
                    .clients
                    .remove(client_id)
                    .map(|c| c.rate_limited)
                    .unwrap_or_default()
            }
        };
        counters.values().sum()
    }

    /// The child's (peak, current) resident set in kB, when the sandbox has its own process.
    pub(crate) fn child_memory_kb(&self) -> Option<(u64, u64)> {
        match &self.runs {
            Runs::InProcess(_) => None,
            Runs::Child { child, .. } => {
                Some(crate::memory_kb_of(&format!("/proc/{}/status", child.id())))
            }
        }
    }
}

impl Drop for SandboxSide {
    fn drop(&mut self) {
        if let Runs::Child { child, .. } = &mut self.runs {
            // Closing its stdin ends it; kill in case it is stuck.
            drop(child.stdin.take());
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
