//! Prometheus metrics, kept and encoded by `prometheus-client` (the Prometheus org's Rust
//! client) in the text exposition format 0.0.4.
//!
//! [`Metrics`] is a cheap, cloneable handle. It observes the MyInvois client
//! ([`invois_client::ClientObserver`]: calls, statuses, 429s, latencies), meters a rate budget
//! ([`Metrics::wrap_budget`]: grants and waits per endpoint class), takes counts from the
//! pipeline ([`Metrics::submission`], [`Metrics::poll`], ...), and at scrape time adds the
//! queue depth by state from the store ([`Metrics::render`]).
//!
//! Series (all prefixed `invois_`):
//!
//! | name | type | labels |
//! |---|---|---|
//! | `client_calls_total` | counter | `endpoint`, `status` (HTTP code, or `transport_connect` / `transport_timeout` / `transport_other`) |
//! | `client_throttled_total` | counter | `endpoint` (429 answers) |
//! | `client_call_duration_seconds` | histogram | `endpoint` |
//! | `client_retries_total` | counter | `endpoint` |
//! | `client_logins_total` | counter | |
//! | `client_rate_waits_total` | counter | `class` (a call waited for its budget) |
//! | `client_throttle_pauses_total` | counter | `class` (a 429 paused the class) |
//! | `rate_budget_grants_total` | counter | `class` |
//! | `rate_budget_waits_total` | counter | `class` (admission answered "wait") |
//! | `rate_budget_errors_total` | counter | `class` (the budget store failed) |
//! | `submissions_total` | counter | `outcome` |
//! | `polls_total` | counter | |
//! | `documents_prepared_total` | counter | |
//! | `documents_rejected_locally_total` | counter | |
//! | `webhook_attempts_total` | counter | `result` (`delivered` or `failed`) |
//! | `documents` | gauge | `state` (every state, zeros included) |
//! | `webhook_deliveries` | gauge | `state` |
//! | `store_up` | gauge | | 1 when the scrape could read the store |
//! | `login_halted` | gauge | `client_id` (1 while MyInvois' refusal halts its logins, else 0) |
//! | `consolidation_months_pending` | gauge | `deadline_state` (`on_time`, `due_soon`, `overdue`): closed months whose consolidated e-invoices have not all reached MyInvois |
//! | `consolidation_deadline_seconds` | gauge | `issuer_tin`, `month`: seconds until each pending month's deadline passes (negative once it has) |
//!
//! prometheus-client appends `_total` to a counter's name itself (and refuses a registered
//! name that already ends in it), so counters are registered without the suffix: the exposed
//! names are the ones above. A labelled counter family with no series yet is left out of the
//! text (HELP and TYPE included), which Prometheus reads the same as absent.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use async_trait::async_trait;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use chrono::{DateTime, Utc};
use heck::ToSnakeCase as _;
use invois_api::{Endpoint, RateClass};
use invois_client::{
    Admission, BudgetError, BudgetKey, CallEvent, CallOutcome, ClientObserver, Quota, RateBudget,
    TransportKind,
};
use prometheus_client::encoding::{EncodeLabelSet, prometheus_text};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::consolidation::{DeadlineState, PendingMonth};
use crate::store::{DocumentState, Store, StoreError, WebhookState};

/// The content type of the exposition (text format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Every series name starts with this and `_`.
const PREFIX: &str = "invois";

/// Latency histogram bucket bounds, in seconds.
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

fn latency_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// `{endpoint, status}` on `client_calls_total`, in that order.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    endpoint: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabel {
    endpoint: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClassLabel {
    class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClientLabel {
    client_id: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeadlineLabel {
    deadline_state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MonthLabel {
    issuer_tin: String,
    month: String,
}

/// The handles the gateway counts with; each is also registered in `Inner::registry`.
#[derive(Debug)]
struct Series {
    calls: Family<CallLabels, Counter>,
    throttled: Family<EndpointLabel, Counter>,
    latency: Family<EndpointLabel, Histogram, fn() -> Histogram>,
    retries: Family<EndpointLabel, Counter>,
    logins: Counter,
    rate_waits: Family<ClassLabel, Counter>,
    throttle_pauses: Family<ClassLabel, Counter>,
    budget_grants: Family<ClassLabel, Counter>,
    budget_waits: Family<ClassLabel, Counter>,
    budget_errors: Family<ClassLabel, Counter>,
    submissions: Family<OutcomeLabel, Counter>,
    webhook_attempts: Family<ResultLabel, Counter>,
    polls: Counter,
    prepared: Counter,
    rejected_locally: Counter,
    login_halted: Family<ClientLabel, Gauge<u64, AtomicU64>>,
    months_pending: Family<DeadlineLabel, Gauge<u64, AtomicU64>>,
    deadline_seconds: Family<MonthLabel, Gauge>,
}

impl Series {
    fn new() -> Series {
        Series {
            calls: Family::default(),
            throttled: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            retries: Family::default(),
            logins: Counter::default(),
            rate_waits: Family::default(),
            throttle_pauses: Family::default(),
            budget_grants: Family::default(),
            budget_waits: Family::default(),
            budget_errors: Family::default(),
            submissions: Family::default(),
            webhook_attempts: Family::default(),
            polls: Counter::default(),
            prepared: Counter::default(),
            rejected_locally: Counter::default(),
            login_halted: Family::default(),
            months_pending: Family::default(),
            deadline_seconds: Family::default(),
        }
    }

    /// A registry holding every series, in the order the exposition lists them. Counter
    /// names are given without `_total`: the encoder appends it.
    fn registry(&self) -> Registry {
        let mut r = Registry::with_prefix(PREFIX);
        r.register(
            "client_calls",
            "MyInvois HTTP attempts by endpoint and status",
            self.calls.clone(),
        );
        r.register(
            "client_throttled",
            "MyInvois 429 answers by endpoint",
            self.throttled.clone(),
        );
        r.register(
            "client_call_duration_seconds",
            "MyInvois HTTP attempt latency by endpoint",
            self.latency.clone(),
        );
        r.register(
            "client_retries",
            "MyInvois calls retried after a transient failure, by endpoint",
            self.retries.clone(),
        );
        r.register("client_logins", "Token requests sent", self.logins.clone());
        for (name, help, family) in [
            (
                "client_rate_waits",
                "Calls that waited for their class's rate budget",
                &self.rate_waits,
            ),
            (
                "client_throttle_pauses",
                "429s that paused an endpoint class",
                &self.throttle_pauses,
            ),
            (
                "rate_budget_grants",
                "Rate-budget admissions granted, by endpoint class",
                &self.budget_grants,
            ),
            (
                "rate_budget_waits",
                "Rate-budget admissions answered with a wait, by endpoint class",
                &self.budget_waits,
            ),
            (
                "rate_budget_errors",
                "Rate-budget store failures, by endpoint class",
                &self.budget_errors,
            ),
        ] {
            r.register(name, help, family.clone());
        }
        r.register(
            "submissions",
            "Submission attempts by outcome",
            self.submissions.clone(),
        );
        r.register(
            "webhook_attempts",
            "Webhook delivery attempts by result (delivered or failed)",
            self.webhook_attempts.clone(),
        );
        for (name, help, counter) in [
            ("polls", "Get Submission polls", &self.polls),
            (
                "documents_prepared",
                "Documents prepared (validated, signed, minified)",
                &self.prepared,
            ),
            (
                "documents_rejected_locally",
                "Documents rejected by local validation",
                &self.rejected_locally,
            ),
        ] {
            r.register(name, help, counter.clone());
        }
        r.register(
            "login_halted",
            "1 while MyInvois' refusal of the login halts this client id's sending",
            self.login_halted.clone(),
        );
        r.register(
            "consolidation_months_pending",
            "Closed months whose consolidated e-invoices have not all reached MyInvois, by \
             deadline state",
            self.months_pending.clone(),
        );
        r.register(
            "consolidation_deadline_seconds",
            "Seconds until each pending month's consolidation deadline passes (negative once \
             it has)",
            self.deadline_seconds.clone(),
        );
        r
    }
}

#[derive(Debug)]
struct Inner {
    series: Series,
    registry: Registry,
    /// Budget answers per endpoint class (granted, waited), for the dashboard's chart: the
    /// same counts as the budget series, kept where they can be read back.
    budget_use: std::sync::Mutex<std::collections::BTreeMap<String, (u64, u64)>>,
    /// The months `consolidation_deadline_seconds` has a series for, so that a month no
    /// longer pending loses its series (and no scrape sees the family emptied meanwhile).
    deadline_months: std::sync::Mutex<Vec<MonthLabel>>,
}

/// The gateway's metrics. Clones share the same counters.
#[derive(Debug, Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        let series = Series::new();
        let registry = series.registry();
        Metrics {
            inner: Arc::new(Inner {
                series,
                registry,
                budget_use: std::sync::Mutex::new(std::collections::BTreeMap::new()),
                deadline_months: std::sync::Mutex::new(Vec::new()),
            }),
        }
    }
}

/// A stable snake-case label for an endpoint (`SubmitDocuments` → `submit_documents`).
pub fn endpoint_label(endpoint: Endpoint) -> String {
    format!("{endpoint:?}").to_snake_case()
}

fn status_label(outcome: &CallOutcome) -> String {
    match outcome {
        CallOutcome::Status(code) => code.to_string(),
        CallOutcome::Transport(TransportKind::Connect) => "transport_connect".to_owned(),
        CallOutcome::Transport(TransportKind::Timeout) => "transport_timeout".to_owned(),
        CallOutcome::Transport(_) => "transport_other".to_owned(),
        _ => "other".to_owned(),
    }
}

/// What the store said at scrape time, each part `Err` when it could not be read.
struct StoreCounts {
    documents: Result<BTreeMap<DocumentState, u64>, StoreError>,
    webhooks: Result<BTreeMap<WebhookState, u64>, StoreError>,
}

impl StoreCounts {
    /// The store calls of a scrape, all here.
    async fn read(store: &Store) -> StoreCounts {
        StoreCounts {
            documents: store.documents().count_by_state().await,
            webhooks: store.outbox().count_by_state().await,
        }
    }

    /// A registry for one scrape: gauges set from these counts. Built anew each scrape (not
    /// refreshed in the shared registry) so that two concurrent scrapes cannot interleave
    /// one's refresh with the other's encoding. A part that could not be read is left out,
    /// and `store_up` says so.
    fn registry(&self) -> Registry {
        let mut r = Registry::with_prefix(PREFIX);
        if let Ok(counts) = &self.documents {
            r.register(
                "documents",
                "Document versions by state (queue depth)",
                state_gauges(
                    DocumentState::ALL
                        .iter()
                        .map(|s| (s.as_str(), counts.get(s))),
                ),
            );
        }
        if let Ok(counts) = &self.webhooks {
            r.register(
                "webhook_deliveries",
                "Webhook deliveries by state",
                state_gauges(
                    WebhookState::ALL
                        .iter()
                        .map(|s| (s.as_str(), counts.get(s))),
                ),
            );
        }
        let up = Gauge::<u64, AtomicU64>::default();
        up.set(u64::from(self.documents.is_ok() && self.webhooks.is_ok()));
        r.register("store_up", "1 when this scrape could read the store", up);
        r
    }
}

/// One gauge per state, zero for a state the store has no row in.
fn state_gauges<'a>(
    states: impl Iterator<Item = (&'static str, Option<&'a u64>)>,
) -> Family<StateLabel, Gauge<u64, AtomicU64>> {
    let family = Family::<StateLabel, Gauge<u64, AtomicU64>>::default();
    for (state, n) in states {
        family
            .get_or_create(&StateLabel { state })
            .set(n.copied().unwrap_or(0));
    }
    family
}

/// Appends `registry` in text format 0.0.4.
fn encode(out: &mut String, registry: &Registry) {
    // The only error the encoder reports is its writer's, and writing to a `String` cannot
    // fail; every label here is a plain string, which encodes without error.
    if let Err(e) = prometheus_text::encode(out, registry) {
        tracing::error!(error = %e, "metrics could not be encoded");
    }
}

impl Metrics {
    /// Empty metrics.
    pub fn new() -> Metrics {
        Metrics::default()
    }

    fn series(&self) -> &Series {
        &self.inner.series
    }

    /// Counts one submission attempt's outcome (`accepted`, `outcome_unknown`, `duplicate`,
    /// `refused`, `split`, ...; the pipeline chooses the words).
    pub fn submission(&self, outcome: &str) {
        self.series()
            .submissions
            .get_or_create(&OutcomeLabel {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Rate-budget answers per endpoint class since start: (class, granted, waited).
    pub fn budget_use(&self) -> Vec<(String, u64, u64)> {
        self.inner
            .budget_use
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(class, (granted, waited))| (class.clone(), *granted, *waited))
            .collect()
    }

    fn count_budget_answer(&self, class: &str, answer: &Result<Admission, BudgetError>) {
        let mut tally = self
            .inner
            .budget_use
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = tally.entry(class.to_owned()).or_default();
        match answer {
            Ok(Admission::Granted) => entry.0 += 1,
            Ok(Admission::WaitUntil(_)) => entry.1 += 1,
            Err(_) => {}
        }
    }

    /// Counts one Get Submission poll.
    pub fn poll(&self) {
        self.series().polls.inc();
    }

    /// Counts documents prepared (validated, signed, minified).
    pub fn documents_prepared(&self, n: u64) {
        self.series().prepared.inc_by(n);
    }

    /// Counts one webhook delivery attempt: acknowledged by a 2xx, or failed.
    pub fn webhook_attempt(&self, delivered: bool) {
        let result = if delivered { "delivered" } else { "failed" };
        self.series()
            .webhook_attempts
            .get_or_create(&ResultLabel { result })
            .inc();
    }

    /// Sets `invois_login_halted{client_id}`: 1 while MyInvois' refusal halts the client
    /// id's logins (see [`crate::login`]), 0 once they are accepted.
    pub fn login_halted(&self, client_id: &str, halted: bool) {
        self.series()
            .login_halted
            .get_or_create(&ClientLabel {
                client_id: client_id.to_owned(),
            })
            .set(u64::from(halted));
    }

    /// Sets the consolidation deadline gauges from one pass of the month-end loop: the
    /// pending months by deadline state (every state, zeros included), and each pending
    /// month's seconds to its deadline; a month no longer pending loses its series.
    pub fn consolidation_deadlines(&self, pending: &[PendingMonth], now: DateTime<Utc>) {
        let s = self.series();
        for state in [
            DeadlineState::OnTime,
            DeadlineState::DueSoon,
            DeadlineState::Overdue,
        ] {
            let n = pending.iter().filter(|p| p.state == state).count();
            s.months_pending
                .get_or_create(&DeadlineLabel {
                    deadline_state: state.as_str(),
                })
                .set(n as u64);
        }
        let labels: Vec<MonthLabel> = pending
            .iter()
            .map(|p| MonthLabel {
                issuer_tin: p.issuer_tin.clone(),
                month: p.month.to_string(),
            })
            .collect();
        for (label, p) in labels.iter().zip(pending) {
            s.deadline_seconds
                .get_or_create(label)
                .set(p.seconds_left(now));
        }
        let mut previous = self
            .inner
            .deadline_months
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for gone in previous.iter().filter(|l| !labels.contains(l)) {
            s.deadline_seconds.remove(gone);
        }
        *previous = labels;
    }

    /// Counts documents rejected by local validation.
    pub fn documents_rejected_locally(&self, n: u64) {
        self.series().rejected_locally.inc_by(n);
    }

    /// A rate budget that counts grants, waits and errors per endpoint class here, and
    /// otherwise behaves exactly like `inner`.
    pub fn wrap_budget(&self, inner: Arc<dyn RateBudget>) -> Arc<dyn RateBudget> {
        Arc::new(MeteredBudget {
            inner,
            metrics: self.clone(),
        })
    }

    /// The exposition text, with queue depth by state read from `store` now. If the store
    /// cannot be read, the gauges from it are left out and `invois_store_up` is 0.
    pub async fn render(&self, store: &Store) -> String {
        let counts = StoreCounts::read(store).await;
        self.text(&counts)
    }

    /// The counters, then the scrape's gauges.
    fn text(&self, counts: &StoreCounts) -> String {
        let mut out = String::with_capacity(4096);
        encode(&mut out, &self.inner.registry);
        encode(&mut out, &counts.registry());
        out
    }
}

impl ClientObserver for Metrics {
    fn on_call(&self, event: &CallEvent) {
        let endpoint = endpoint_label(event.endpoint);
        let s = self.series();
        if event.outcome == CallOutcome::Status(429) {
            s.throttled
                .get_or_create(&EndpointLabel {
                    endpoint: endpoint.clone(),
                })
                .inc();
        }
        s.latency
            .get_or_create(&EndpointLabel {
                endpoint: endpoint.clone(),
            })
            .observe(event.elapsed.as_secs_f64());
        s.calls
            .get_or_create(&CallLabels {
                endpoint,
                status: status_label(&event.outcome),
            })
            .inc();
    }

    fn on_login(&self, _client_id: &str, _on_behalf_of: Option<&str>) {
        self.series().logins.inc();
    }

    fn on_rate_wait(&self, class: RateClass, _until: DateTime<Utc>) {
        let class = class.key();
        self.series()
            .rate_waits
            .get_or_create(&ClassLabel { class })
            .inc();
    }

    fn on_throttled(&self, class: RateClass, _retry_after: std::time::Duration) {
        let class = class.key();
        self.series()
            .throttle_pauses
            .get_or_create(&ClassLabel { class })
            .inc();
    }

    fn on_retry(&self, endpoint: Endpoint, _attempt: u32) {
        let endpoint = endpoint_label(endpoint);
        self.series()
            .retries
            .get_or_create(&EndpointLabel { endpoint })
            .inc();
    }
}

/// A [`RateBudget`] decorator that counts what it answers.
struct MeteredBudget {
    inner: Arc<dyn RateBudget>,
    metrics: Metrics,
}

impl fmt::Debug for MeteredBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MeteredBudget")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl RateBudget for MeteredBudget {
    async fn try_acquire(
        &self,
        key: BudgetKey<'_>,
        quota: Option<Quota>,
        now: DateTime<Utc>,
    ) -> Result<Admission, BudgetError> {
        let answer = self.inner.try_acquire(key, quota, now).await;
        let s = self.metrics.series();
        let family = match &answer {
            Ok(Admission::Granted) => &s.budget_grants,
            Ok(Admission::WaitUntil(_)) => &s.budget_waits,
            Err(_) => &s.budget_errors,
        };
        family
            .get_or_create(&ClassLabel {
                class: key.class.key(),
            })
            .inc();
        self.metrics.count_budget_answer(key.class.key(), &answer);
        answer
    }

    async fn pause(&self, key: BudgetKey<'_>, until: DateTime<Utc>) -> Result<(), BudgetError> {
        self.inner.pause(key, until).await
    }
}

/// `GET /metrics` (no authentication; `text/plain; version=0.0.4`).
pub fn routes(metrics: Metrics, store: Arc<Store>) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state((metrics, store))
}

async fn scrape(State((metrics, store)): State<(Metrics, Arc<Store>)>) -> impl IntoResponse {
    let body = metrics.render(&store).await;
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], body)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts that read as a healthy, empty store.
    fn empty_store() -> StoreCounts {
        StoreCounts {
            documents: Ok(BTreeMap::new()),
            webhooks: Ok(BTreeMap::new()),
        }
    }

    /// One series in every family, through the same calls the gateway makes where they can
    /// be made from here (`CallEvent` is not constructible outside its crate).
    fn touch_everything(m: &Metrics) {
        let s = m.series();
        let endpoint = || EndpointLabel {
            endpoint: "submit_documents".to_owned(),
        };
        s.calls
            .get_or_create(&CallLabels {
                endpoint: "submit_documents".to_owned(),
                status: "202".to_owned(),
            })
            .inc();
        s.throttled.get_or_create(&endpoint()).inc();
        s.latency.get_or_create(&endpoint()).observe(0.2);
        m.on_retry(Endpoint::SubmitDocuments, 1);
        m.on_login("client", None);
        m.on_rate_wait(RateClass::SubmitDocuments, Utc::now());
        m.on_throttled(
            RateClass::SubmitDocuments,
            std::time::Duration::from_secs(1),
        );
        let class = ClassLabel {
            class: RateClass::SubmitDocuments.key(),
        };
        s.budget_grants.get_or_create(&class).inc();
        s.budget_waits.get_or_create(&class).inc();
        s.budget_errors.get_or_create(&class).inc();
        m.submission("accepted");
        m.webhook_attempt(true);
        m.poll();
        m.documents_prepared(2);
        m.documents_rejected_locally(1);
    }

    /// The `# TYPE` lines, in order.
    fn types(text: &str) -> Vec<(&str, &str)> {
        text.lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split_once(' '))
            .collect()
    }

    #[test]
    fn every_series_keeps_its_name_and_type() {
        // The names and types served before prometheus-client (and in docs/gateway.md):
        // dashboards and alerts are built on them.
        let before = [
            ("invois_client_calls_total", "counter"),
            ("invois_client_throttled_total", "counter"),
            ("invois_client_call_duration_seconds", "histogram"),
            ("invois_client_retries_total", "counter"),
            ("invois_client_logins_total", "counter"),
            ("invois_client_rate_waits_total", "counter"),
            ("invois_client_throttle_pauses_total", "counter"),
            ("invois_rate_budget_grants_total", "counter"),
            ("invois_rate_budget_waits_total", "counter"),
            ("invois_rate_budget_errors_total", "counter"),
            ("invois_submissions_total", "counter"),
            ("invois_webhook_attempts_total", "counter"),
            ("invois_polls_total", "counter"),
            ("invois_documents_prepared_total", "counter"),
            ("invois_documents_rejected_locally_total", "counter"),
            ("invois_documents", "gauge"),
            ("invois_webhook_deliveries", "gauge"),
            ("invois_store_up", "gauge"),
        ];
        let m = Metrics::new();
        touch_everything(&m);
        let text = m.text(&empty_store());
        assert_eq!(types(&text), before, "{text}");
        assert!(!text.contains("_total_total"), "{text}");
        // Every sample's name is its family's, or the family's `_bucket`/`_sum`/`_count`
        // for the histogram.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .filter(|f| *f == "invois_client_call_duration_seconds")
                .unwrap_or(name);
            assert!(before.iter().any(|(n, _)| *n == family), "{line}");
        }
        assert!(text.contains(
            "invois_client_calls_total{endpoint=\"submit_documents\",status=\"202\"} 1\n"
        ));
        assert!(text.contains("invois_rate_budget_waits_total{class=\"submit_documents\"} 1\n"));
        assert!(
            text.contains("invois_documents_prepared_total 2\n"),
            "{text}"
        );
        assert!(
            text.contains("invois_documents{state=\"valid\"} 0\n"),
            "{text}"
        );
        assert!(text.contains("invois_store_up 1\n"), "{text}");
    }

    #[test]
    fn an_unreadable_store_leaves_its_gauges_out() {
        let m = Metrics::new();
        let down = StoreCounts {
            documents: Err(StoreError::NotFound("no database".to_owned())),
            webhooks: Ok(BTreeMap::new()),
        };
        let text = m.text(&down);
        assert!(!text.contains("invois_documents{"), "{text}");
        assert!(text.contains("invois_webhook_deliveries{state=\"pending\"} 0\n"));
        assert!(text.contains("invois_store_up 0\n"), "{text}");
    }

    #[test]
    fn endpoint_labels_are_snake_case() {
        assert_eq!(
            endpoint_label(Endpoint::SubmitDocuments),
            "submit_documents"
        );
        assert_eq!(endpoint_label(Endpoint::GetSubmission), "get_submission");
        assert_eq!(endpoint_label(Endpoint::TaxpayerQrCode), "taxpayer_qr_code");
        let all: std::collections::HashSet<String> =
            Endpoint::ALL.iter().map(|e| endpoint_label(*e)).collect();
        assert_eq!(all.len(), Endpoint::ALL.len(), "labels must be distinct");
        // The same labels the hand-written conversion gave: an `_` before every capital.
        for e in Endpoint::ALL.iter() {
            let mut before = String::new();
            for (i, c) in format!("{e:?}").chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    before.push('_');
                }
                before.push(c.to_ascii_lowercase());
            }
            assert_eq!(endpoint_label(*e), before);
        }
    }

    #[test]
    fn label_values_are_escaped() {
        let m = Metrics::new();
        m.submission("a\"b\\c\nd");
        let text = m.text(&empty_store());
        assert!(
            text.contains("invois_submissions_total{outcome=\"a\\\"b\\\\c\\nd\"} 1\n"),
            "{text}"
        );
    }

    #[test]
    fn histogram_buckets_are_cumulative_in_the_text() {
        let m = Metrics::new();
        let h = m.series().latency.get_or_create(&EndpointLabel {
            endpoint: "x".to_owned(),
        });
        h.observe(0.003);
        h.observe(0.2);
        h.observe(100.0);
        drop(h);
        let out = m.text(&empty_store());
        for expected in [
            "invois_client_call_duration_seconds_bucket{endpoint=\"x\",le=\"0.005\"} 1\n",
            "invois_client_call_duration_seconds_bucket{endpoint=\"x\",le=\"0.25\"} 2\n",
            "invois_client_call_duration_seconds_bucket{endpoint=\"x\",le=\"30\"} 2\n",
            "invois_client_call_duration_seconds_bucket{endpoint=\"x\",le=\"+Inf\"} 3\n",
            "invois_client_call_duration_seconds_count{endpoint=\"x\"} 3\n",
        ] {
            assert!(out.contains(expected), "{expected} in {out}");
        }
    }
}
