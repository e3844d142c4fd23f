#![doc = include_str!("../README.md")]
// Functions a reader can hold (clippy.toml sets 120 lines); tests and benches may run longer.
#![warn(clippy::too_many_lines)]

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post, put};
use chrono::{DateTime, Utc};
use invois_api::{Endpoint, RateClass, RateProfile};
pub use invois_clock::Clock;
use invois_model::ValidationContext;
use parking_lot::Mutex;
use serde::Serialize;
use tokio::net::TcpListener;

mod admin;
mod documents;
pub mod error;
pub mod extract;
pub mod facts;
pub mod fixtures;
pub mod identity;
mod issue;
mod middleware;
mod platform;
mod portal;
pub mod ratelimit;
pub mod report;
pub mod store;
mod submit;
mod taxpayer;
pub mod validate;

pub use error::AppError;
pub use fixtures::Fixtures;
pub use identity::Caller;
pub use issue::{Issue, IssueError, IssuedDocument};
pub use middleware::Faults;
pub use validate::{ValidationInput, Validator};

use ratelimit::{RateDecision, RateLimiter};
use store::Store;

/// How a sandbox behaves.
#[derive(Clone)]
pub struct SandboxConfig {
    /// Official or lower sandbox budgets.
    pub profile: RateProfile,
    /// Budgets that replace the profile's for some classes (requests per minute).
    pub rate_overrides: HashMap<RateClass, u32>,
    /// The clock (scaled, advanceable).
    pub clock: Clock,
    /// Time (on the clock) between acceptance and the end of validation.
    pub validation_delay: Duration,
    /// Taxpayers, clients and intermediaries.
    pub fixtures: Fixtures,
    /// The asynchronous validation steps, in order.
    pub validators: Vec<Arc<dyn Validator>>,
    /// The code tables of the Code step. The default ([`invois_model::CodeTables::empty`]) has
    /// the small tables only, so currencies, countries, units and MSIC codes are checked for
    /// form only and the step says so; `invois sandbox` passes
    /// [`invois_model::CodeTables::embedded`] (all 9 official tables).
    pub codes: Arc<invois_model::CodeTables>,
    /// Trust anchors of the signature step: the invois test CA by default; real CA roots are
    /// added with [`invois_sign::TrustStore::add_pem`].
    pub trust: invois_sign::TrustStore,
    /// Whether the Core Fields step also enforces `invois-model`'s arithmetic rules (line and
    /// document sums). Off by default: LHDN does not document that the server checks sums.
    pub check_arithmetic: bool,
    /// Receives a record of every API call.
    pub observer: Arc<dyn CallObserver>,
    /// Calls kept per client id for the integration report (older ones are folded into
    /// counters); `None` turns the report's recorder off.
    pub report_window: Option<usize>,
}

impl SandboxConfig {
    /// What the sandbox validates a document against at `now` (its clock's time): the rules
    /// in force in the environment its `profile` stands for, with its code tables.
    pub fn validation_context(&self, now: DateTime<Utc>) -> ValidationContext {
        ValidationContext::at(now)
            .in_environment(invois_model::Environment::from(self.profile))
            .with_codes(self.codes.clone())
    }
}

impl std::fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("profile", &self.profile)
            .field("rate_overrides", &self.rate_overrides)
            .field("clock", &self.clock)
            .field("validation_delay", &self.validation_delay)
            .field("fixtures", &self.fixtures)
            .field(
                "validators",
                &self
                    .validators
                    .iter()
                    .map(|v| v.name().to_owned())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            profile: RateProfile::Production,
            rate_overrides: HashMap::new(),
            clock: Clock::real(),
            validation_delay: Duration::from_secs(2),
            fixtures: Fixtures::demo(),
            validators: validate::default_validators(),
            codes: Arc::new(invois_model::CodeTables::empty()),
            // The test CA is built in; failing to build it is a bug, and an empty store then
            // makes every signature untrusted (DS329) rather than taking the server down.
            trust: invois_sign::TrustStore::test_ca().unwrap_or_else(|e| {
                tracing::error!("the invois test CA could not be loaded: {e}");
                invois_sign::TrustStore::empty()
            }),
            check_arithmetic: false,
            observer: Arc::new(NoopObserver),
            report_window: Some(report::DEFAULT_WINDOW),
        }
    }
}

/// What the middleware knows about one API call, reported to a [`CallObserver`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    /// When (sandbox clock).
    pub at: DateTime<Utc>,
    /// The endpoint, if the route is one.
    pub endpoint: Option<Endpoint>,
    /// The client id (from the token, or the login form).
    pub client_id: Option<String>,
    /// `onbehalfof` (intermediaries).
    pub on_behalf_of: Option<String>,
    /// HTTP status returned.
    pub status: u16,
    /// The response's `correlationId`.
    pub correlation_id: String,
    /// SHA-256 of a submission payload.
    pub payload_sha256: Option<String>,
    /// The submission uid (Get Submission) or document uuid (Get Document, Get Document
    /// Details, cancel, reject) the path names.
    pub resource: Option<String>,
    /// For Get Document and Get Document Details: the document's status when it was asked for.
    pub document_status: Option<invois_api::DocumentStatus>,
    /// For Get Recent Documents and Search Documents: submissions of this client id that
    /// were still being validated at the time.
    pub submissions_in_progress: Vec<String>,
    /// For list endpoints: the filter parameters given (paging excluded).
    pub filters: Vec<String>,
    /// The `Retry-After` the response carried, in seconds.
    pub retry_after_secs: Option<u64>,
    /// For token requests blocked for a missing or placeholder credential: which field and
    /// why (never the value).
    pub blocked_credential: Option<String>,
}

/// Receives every API call. Called on the request path: keep it cheap (push to a channel).
pub trait CallObserver: Send + Sync + 'static {
    /// One call finished.
    fn on_call(&self, record: &CallRecord);
}

/// An observer that does nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopObserver;

impl CallObserver for NoopObserver {
    fn on_call(&self, _record: &CallRecord) {}
}

/// What a handler tells the middleware about a call it could not know from the token (login
/// calls, payload hashes). Put in the response's extensions.
#[derive(Debug, Clone, Default)]
pub(crate) struct CallContext {
    pub(crate) endpoint: Option<Endpoint>,
    pub(crate) client_id: Option<String>,
    pub(crate) on_behalf_of: Option<String>,
    pub(crate) payload_sha256: Option<String>,
    pub(crate) blocked_credential: Option<String>,
}

/// Counters kept per client id, for reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ClientCounters {
    /// Logins blocked for missing or placeholder credentials, by field name.
    pub blocked_logins: HashMap<String, u64>,
    /// Logins refused for wrong credentials.
    pub failed_logins: u64,
    /// Calls refused with 429, by rate class key.
    pub rate_limited: HashMap<String, u64>,
}

/// A snapshot for the admin API.
#[derive(Debug, Clone, Serialize)]
pub struct SandboxStats {
    /// Clock time.
    pub now: DateTime<Utc>,
    /// Submissions stored.
    pub submissions: usize,
    /// Documents stored.
    pub documents: usize,
    /// Counters by client id.
    pub clients: HashMap<String, ClientCounters>,
}

/// A sandbox's shared state. Cheap to clone.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

struct Inner {
    config: SandboxConfig,
    fixtures: Fixtures,
    tokens: identity::TokenSigner,
    limiter: RateLimiter,
    store: Mutex<Store>,
    counters: Mutex<HashMap<String, ClientCounters>>,
    faults: Mutex<Faults>,
    generation: AtomicU64,
    recorder: Option<report::Recorder>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    /// A sandbox with `config`.
    pub fn new(config: SandboxConfig) -> Sandbox {
        let limiter = RateLimiter::new(config.profile, config.rate_overrides.clone());
        Sandbox {
            inner: Arc::new(Inner {
                fixtures: config.fixtures.clone(),
                recorder: config.report_window.map(report::Recorder::new),
                config,
                tokens: identity::TokenSigner::new(),
                limiter,
                store: Mutex::new(Store::default()),
                counters: Mutex::new(HashMap::new()),
                faults: Mutex::new(Faults::default()),
                generation: AtomicU64::new(0),
            }),
        }
    }

    /// The clock every time-based rule reads.
    pub fn clock(&self) -> &Clock {
        &self.inner.config.clock
    }

    /// The configuration.
    pub fn config(&self) -> &SandboxConfig {
        &self.inner.config
    }

    /// The fixture in use.
    pub fn fixtures(&self) -> &Fixtures {
        &self.inner.fixtures
    }

    /// Forgets every submission, document, notification, token, rate window and counter.
    pub fn reset(&self) {
        self.inner.generation.fetch_add(1, Ordering::SeqCst);
        *self.inner.store.lock() = Store::default();
        self.inner.counters.lock().clear();
        self.inner.limiter.reset();
        self.inner.tokens.rotate();
        *self.inner.faults.lock() = Faults::default();
        if let Some(r) = &self.inner.recorder {
            r.clear();
        }
    }

    /// The integration report (see [`report`]) for every client id, or one; `None` when the
    /// recorder is off.
    pub fn report(&self, client_id: Option<&str>) -> Option<report::Report> {
        self.inner
            .recorder
            .as_ref()
            .map(|r| r.report(client_id, self.clock().now()))
    }

    /// Sets the injected faults.
    pub fn set_faults(&self, faults: Faults) {
        *self.inner.faults.lock() = faults;
    }

    /// The injected faults.
    pub fn faults(&self) -> Faults {
        self.inner.faults.lock().clone()
    }

    /// Counters and sizes.
    pub fn stats(&self) -> SandboxStats {
        let store = self.inner.store.lock();
        SandboxStats {
            now: self.clock().now(),
            submissions: store.submissions.len(),
            documents: store.documents.len(),
            clients: self.inner.counters.lock().clone(),
        }
    }

    /// Counters of one client id.
    pub fn client_counters(&self, client_id: &str) -> ClientCounters {
        self.inner
            .counters
            .lock()
            .get(client_id)
            .cloned()
            .unwrap_or_default()
    }

    /// Runs `f` with read access to the store (for tests and reports).
    pub fn with_store<R>(&self, f: impl FnOnce(&Store) -> R) -> R {
        f(&self.inner.store.lock())
    }

    fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::SeqCst)
    }

    fn next_correlation_id(&self) -> String {
        // One sequence per process, shared with the answers to requests refused before
        // routing (see `serve`), which have no sandbox to ask.
        invois_serve::correlation_id()
    }

    fn rate_check(&self, client_id: &str, class: RateClass) -> RateDecision {
        let decision = self
            .inner
            .limiter
            .check(client_id, class, self.clock().now());
        if matches!(decision, RateDecision::Limited { .. }) {
            *self
                .inner
                .counters
                .lock()
                .entry(client_id.to_owned())
                .or_default()
                .rate_limited
                .entry(class.key().to_owned())
                .or_default() += 1;
        }
        decision
    }

    fn count_blocked_login(&self, client_id: &str, field: &str) {
        *self
            .inner
            .counters
            .lock()
            .entry(client_id.to_owned())
            .or_default()
            .blocked_logins
            .entry(field.to_owned())
            .or_default() += 1;
    }

    fn count_failed_login(&self, client_id: &str) {
        self.inner
            .counters
            .lock()
            .entry(client_id.to_owned())
            .or_default()
            .failed_logins += 1;
    }
}

/// The MyInvois API (identity and system APIs on one listener), and the portal's validation
/// page that links to its documents open.
pub fn router(sandbox: Sandbox) -> Router {
    let api = Router::new()
        .route(Endpoint::LoginTaxpayer.path(), post(identity::token))
        .route(
            Endpoint::GetDocumentTypes.path(),
            get(platform::document_types),
        )
        .route(
            Endpoint::GetDocumentType.path(),
            get(platform::document_type_one),
        )
        .route(
            Endpoint::GetDocumentTypeVersion.path(),
            get(platform::document_type_version),
        )
        .route(
            Endpoint::GetNotifications.path(),
            get(platform::notifications),
        )
        .route(
            Endpoint::ValidateTaxpayerTin.path(),
            get(taxpayer::validate_tin),
        )
        .route(Endpoint::SubmitDocuments.path(), post(submit::submit))
        .route("/api/v1.0/documentsubmissions/", post(submit::submit))
        .route(
            Endpoint::CancelDocument.path(),
            put(documents::change_state),
        )
        .route(Endpoint::GetRecentDocuments.path(), get(documents::recent))
        .route(Endpoint::GetSubmission.path(), get(submit::get_submission))
        .route(Endpoint::GetDocument.path(), get(documents::raw))
        .route(Endpoint::GetDocumentDetails.path(), get(documents::details))
        .route(Endpoint::SearchDocuments.path(), get(documents::search))
        .route(
            Endpoint::SearchTaxpayerTin.path(),
            get(taxpayer::search_tin),
        )
        .route(Endpoint::TaxpayerQrCode.path(), get(taxpayer::qr_code))
        .route_layer(axum::middleware::from_fn_with_state(
            sandbox.clone(),
            middleware::api_call,
        ))
        // The portal page a validation link opens: public, so outside the API's token check.
        .route(portal::ROUTE, get(portal::share))
        .fallback(middleware::not_found)
        .method_not_allowed_fallback(middleware::method_not_allowed);
    // Later layers wrap earlier ones: `outer` sees everything, including a caught panic, so
    // even that response carries a correlationId.
    api.layer(tower_http::catch_panic::CatchPanicLayer::custom(
        middleware::panic_response,
    ))
    .layer(axum::middleware::from_fn_with_state(
        sandbox.clone(),
        middleware::outer,
    ))
    .with_state(sandbox)
}

/// The admin API (clock, faults, reset, stats); serve it on its own listener.
pub fn admin_router(sandbox: Sandbox) -> Router {
    admin::router(sandbox)
}

/// Serves `router` on `listener` until `shutdown` resolves, then finishes in-flight requests.
///
/// Request heads are checked before hyper reads them (`invois-serve`, with ASP.NET Kestrel's
/// limits, as MyInvois runs on it): a request line over 8 KB gets `414 RequestUriTooLong`,
/// header fields over 32 KB or more than 100 of them `431 RequestHeaderFieldsTooLarge`, and
/// bytes HTTP does not allow `400 BadRequest`, each in the MyInvois envelope with a
/// `correlationId`, where hyper alone would answer with an empty body.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    invois_serve::Server::new(router, middleware::refused)
        .serve(listener, shutdown)
        .await
}

/// Demo credentials (or fixture client ids) printed at start.
#[derive(Clone, PartialEq, Eq)]
pub struct DemoCredentials {
    /// `taxpayer` or `intermediary`.
    pub role: &'static str,
    /// Name.
    pub name: String,
    /// TIN (the taxpayer's, or the intermediary's own).
    pub tin: String,
    /// Client id.
    pub client_id: String,
    /// Client secret (only for the demo fixture).
    pub client_secret: Option<String>,
    /// TINs an intermediary may send in `onbehalfof`.
    pub represents: Vec<String>,
}

impl std::fmt::Debug for DemoCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoCredentials")
            .field("role", &self.role)
            .field("name", &self.name)
            .field("tin", &self.tin)
            .field("client_id", &self.client_id)
            .field("represents", &self.represents)
            .finish_non_exhaustive()
    }
}

impl Fixtures {
    /// The credentials to print at start: secrets only for the demo fixture.
    pub fn credentials(&self) -> Vec<DemoCredentials> {
        let secret = |s: &str| self.is_demo.then(|| s.to_owned());
        let mut out = Vec::new();
        for t in &self.taxpayers {
            for c in &t.clients {
                out.push(DemoCredentials {
                    role: "taxpayer",
                    name: t.name.clone(),
                    tin: t.tin.clone(),
                    client_id: c.client_id.clone(),
                    client_secret: secret(&c.client_secret),
                    represents: vec![],
                });
            }
        }
        for i in &self.intermediaries {
            out.push(DemoCredentials {
                role: "intermediary",
                name: i.name.clone(),
                tin: i.tin.clone(),
                client_id: i.client_id.clone(),
                client_secret: secret(&i.client_secret),
                represents: i.represents.clone(),
            });
        }
        out
    }
}

/// A sandbox running in the background (see [`spawn`]).
#[derive(Debug)]
pub struct RunningSandbox {
    /// The API address.
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT` (both identity and API base URL).
    pub base_url: String,
    /// The admin API base URL, if started.
    pub admin_url: Option<String>,
    /// The state (clock, store, faults).
    pub sandbox: Sandbox,
    /// Credentials to log in with.
    pub credentials: Vec<DemoCredentials>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningSandbox {
    /// The clock.
    pub fn clock(&self) -> &Clock {
        self.sandbox.clock()
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningSandbox {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Starts a sandbox on `127.0.0.1:0` (and its admin API on another port when `with_admin`).
pub async fn spawn(config: SandboxConfig, with_admin: bool) -> std::io::Result<RunningSandbox> {
    let sandbox = Sandbox::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let admin_listener = if with_admin {
        Some(TcpListener::bind("127.0.0.1:0").await?)
    } else {
        None
    };
    let admin_url = match &admin_listener {
        Some(l) => Some(format!("http://{}", l.local_addr()?)),
        None => None,
    };
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let app = router(sandbox.clone());
    let admin = admin_router(sandbox.clone());
    let task = tokio::spawn(async move {
        let (stop_admin_tx, stop_admin_rx) = tokio::sync::oneshot::channel::<()>();
        let admin_task = admin_listener.map(|l| {
            tokio::spawn(async move {
                let _ = serve(l, admin, async {
                    let _ = stop_admin_rx.await;
                })
                .await;
            })
        });
        let _ = serve(listener, app, async {
            let _ = rx.await;
        })
        .await;
        let _ = stop_admin_tx.send(());
        if let Some(t) = admin_task {
            let _ = t.await;
        }
    });
    Ok(RunningSandbox {
        addr,
        base_url: format!("http://{addr}"),
        admin_url,
        credentials: sandbox.fixtures().credentials(),
        sandbox,
        shutdown: Some(tx),
        task: Some(task),
    })
}
