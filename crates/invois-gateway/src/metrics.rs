//! Prometheus metrics (text exposition format 0.0.4), written by hand: a handful of counters,
//! one histogram family and scrape-time gauges do not need a metrics framework.
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
//! | `store_up` | gauge | 1 when the scrape could read the store |

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use chrono::{DateTime, Utc};
use invois_api::{Endpoint, RateClass};
use invois_client::{
    Admission, BudgetError, BudgetKey, CallEvent, CallOutcome, ClientObserver, Quota, RateBudget,
    TransportKind,
};

use crate::store::{DocumentState, Store, WebhookState};

/// The content type of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Latency histogram bucket bounds, in seconds.
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    /// Per bucket (not cumulative); the last slot is +Inf.
    counts: [u64; BUCKETS.len() + 1],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        let slot = BUCKETS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(BUCKETS.len());
        self.counts[slot] += 1;
        self.sum += seconds;
        self.count += 1;
    }
}

#[derive(Debug, Default)]
struct Families {
    calls: BTreeMap<(String, String), u64>,
    throttled: BTreeMap<String, u64>,
    latency: BTreeMap<String, Histogram>,
    retries: BTreeMap<String, u64>,
    rate_waits: BTreeMap<&'static str, u64>,
    throttle_pauses: BTreeMap<&'static str, u64>,
    budget_grants: BTreeMap<&'static str, u64>,
    budget_waits: BTreeMap<&'static str, u64>,
    budget_errors: BTreeMap<&'static str, u64>,
    submissions: BTreeMap<String, u64>,
    webhook_attempts: BTreeMap<&'static str, u64>,
}

#[derive(Debug, Default)]
struct Inner {
    families: Mutex<Families>,
    logins: AtomicU64,
    polls: AtomicU64,
    prepared: AtomicU64,
    rejected_locally: AtomicU64,
}

/// The gateway's metrics. Clones share the same counters.
#[derive(Debug, Default, Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

/// A stable snake-case label for an endpoint (`SubmitDocuments` → `submit_documents`).
pub fn endpoint_label(endpoint: Endpoint) -> String {
    let name = format!("{endpoint:?}");
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
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

impl Metrics {
    /// Empty metrics.
    pub fn new() -> Metrics {
        Metrics::default()
    }

    fn families(&self) -> MutexGuard<'_, Families> {
        // A panic while holding the lock leaves counts that are still counts: keep going.
        self.inner
            .families
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Counts one submission attempt's outcome (`accepted`, `outcome_unknown`, `duplicate`,
    /// `refused`, `split`, ...; the pipeline chooses the words).
    pub fn submission(&self, outcome: &str) {
        *self
            .families()
            .submissions
            .entry(outcome.to_owned())
            .or_default() += 1;
    }

    /// Counts one Get Submission poll.
    pub fn poll(&self) {
        self.inner.polls.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts documents prepared (validated, signed, minified).
    pub fn documents_prepared(&self, n: u64) {
        self.inner.prepared.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts one webhook delivery attempt: acknowledged by a 2xx, or failed.
    pub fn webhook_attempt(&self, delivered: bool) {
        let result = if delivered { "delivered" } else { "failed" };
        *self.families().webhook_attempts.entry(result).or_default() += 1;
    }

    /// Counts documents rejected by local validation.
    pub fn documents_rejected_locally(&self, n: u64) {
        self.inner.rejected_locally.fetch_add(n, Ordering::Relaxed);
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
    pub async fn render(&self, store: &dyn Store) -> String {
        let documents = store.count_documents_by_state().await;
        let webhooks = store.count_webhooks_by_state().await;
        let mut out = String::with_capacity(4096);
        self.render_counters(&mut out);
        let up = documents.is_ok() && webhooks.is_ok();
        if let Ok(counts) = documents {
            family(
                &mut out,
                "invois_documents",
                "gauge",
                "Document versions by state (queue depth).",
            );
            for state in DocumentState::ALL {
                let n = counts.get(state).copied().unwrap_or(0);
                sample(
                    &mut out,
                    "invois_documents",
                    &[("state", state.as_str())],
                    n,
                );
            }
        }
        if let Ok(counts) = webhooks {
            family(
                &mut out,
                "invois_webhook_deliveries",
                "gauge",
                "Webhook deliveries by state.",
            );
            for state in WebhookState::ALL {
                let n = counts.get(state).copied().unwrap_or(0);
                sample(
                    &mut out,
                    "invois_webhook_deliveries",
                    &[("state", state.as_str())],
                    n,
                );
            }
        }
        family(
            &mut out,
            "invois_store_up",
            "gauge",
            "1 when this scrape could read the store.",
        );
        sample(&mut out, "invois_store_up", &[], u64::from(up));
        out
    }

    fn render_counters(&self, out: &mut String) {
        let f = self.families();
        family(
            out,
            "invois_client_calls_total",
            "counter",
            "MyInvois HTTP attempts by endpoint and status.",
        );
        for ((endpoint, status), n) in &f.calls {
            sample(
                out,
                "invois_client_calls_total",
                &[("endpoint", endpoint), ("status", status)],
                *n,
            );
        }
        labelled(
            out,
            "invois_client_throttled_total",
            "MyInvois 429 answers by endpoint.",
            "endpoint",
            f.throttled.iter().map(|(k, v)| (k.as_str(), *v)),
        );
        family(
            out,
            "invois_client_call_duration_seconds",
            "histogram",
            "MyInvois HTTP attempt latency by endpoint.",
        );
        for (endpoint, h) in &f.latency {
            let mut cumulative = 0;
            for (i, bound) in BUCKETS.iter().enumerate() {
                cumulative += h.counts[i];
                let le = format!("{bound}");
                sample(
                    out,
                    "invois_client_call_duration_seconds_bucket",
                    &[("endpoint", endpoint), ("le", &le)],
                    cumulative,
                );
            }
            sample(
                out,
                "invois_client_call_duration_seconds_bucket",
                &[("endpoint", endpoint), ("le", "+Inf")],
                h.count,
            );
            let _ = writeln!(
                out,
                "invois_client_call_duration_seconds_sum{{endpoint=\"{}\"}} {}",
                escape_label(endpoint),
                h.sum
            );
            sample(
                out,
                "invois_client_call_duration_seconds_count",
                &[("endpoint", endpoint)],
                h.count,
            );
        }
        labelled(
            out,
            "invois_client_retries_total",
            "MyInvois calls retried after a transient failure, by endpoint.",
            "endpoint",
            f.retries.iter().map(|(k, v)| (k.as_str(), *v)),
        );
        family(
            out,
            "invois_client_logins_total",
            "counter",
            "Token requests sent.",
        );
        sample(
            out,
            "invois_client_logins_total",
            &[],
            self.inner.logins.load(Ordering::Relaxed),
        );
        for (name, help, map) in [
            (
                "invois_client_rate_waits_total",
                "Calls that waited for their class's rate budget.",
                &f.rate_waits,
            ),
            (
                "invois_client_throttle_pauses_total",
                "429s that paused an endpoint class.",
                &f.throttle_pauses,
            ),
            (
                "invois_rate_budget_grants_total",
                "Rate-budget admissions granted, by endpoint class.",
                &f.budget_grants,
            ),
            (
                "invois_rate_budget_waits_total",
                "Rate-budget admissions answered with a wait, by endpoint class.",
                &f.budget_waits,
            ),
            (
                "invois_rate_budget_errors_total",
                "Rate-budget store failures, by endpoint class.",
                &f.budget_errors,
            ),
        ] {
            labelled(out, name, help, "class", map.iter().map(|(k, v)| (*k, *v)));
        }
        labelled(
            out,
            "invois_submissions_total",
            "Submission attempts by outcome.",
            "outcome",
            f.submissions.iter().map(|(k, v)| (k.as_str(), *v)),
        );
        labelled(
            out,
            "invois_webhook_attempts_total",
            "Webhook delivery attempts by result (delivered or failed).",
            "result",
            f.webhook_attempts.iter().map(|(k, v)| (*k, *v)),
        );
        drop(f);
        for (name, help, value) in [
            (
                "invois_polls_total",
                "Get Submission polls.",
                &self.inner.polls,
            ),
            (
                "invois_documents_prepared_total",
                "Documents prepared (validated, signed, minified).",
                &self.inner.prepared,
            ),
            (
                "invois_documents_rejected_locally_total",
                "Documents rejected by local validation.",
                &self.inner.rejected_locally,
            ),
        ] {
            family(out, name, "counter", help);
            sample(out, name, &[], value.load(Ordering::Relaxed));
        }
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn labelled<'a>(
    out: &mut String,
    name: &str,
    help: &str,
    label: &str,
    values: impl Iterator<Item = (&'a str, u64)>,
) {
    family(out, name, "counter", help);
    for (value, n) in values {
        sample(out, name, &[(label, value)], n);
    }
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: u64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{k}=\"{}\"", escape_label(v));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// Escapes a label value: backslash, double quote and newline.
fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

impl ClientObserver for Metrics {
    fn on_call(&self, event: &CallEvent) {
        let endpoint = endpoint_label(event.endpoint);
        let status = status_label(&event.outcome);
        let mut f = self.families();
        if event.outcome == CallOutcome::Status(429) {
            *f.throttled.entry(endpoint.clone()).or_default() += 1;
        }
        f.latency
            .entry(endpoint.clone())
            .or_default()
            .observe(event.elapsed.as_secs_f64());
        *f.calls.entry((endpoint, status)).or_default() += 1;
    }

    fn on_login(&self, _client_id: &str, _on_behalf_of: Option<&str>) {
        self.inner.logins.fetch_add(1, Ordering::Relaxed);
    }

    fn on_rate_wait(&self, class: RateClass, _until: DateTime<Utc>) {
        *self.families().rate_waits.entry(class.key()).or_default() += 1;
    }

    fn on_throttled(&self, class: RateClass, _retry_after: std::time::Duration) {
        *self
            .families()
            .throttle_pauses
            .entry(class.key())
            .or_default() += 1;
    }

    fn on_retry(&self, endpoint: Endpoint, _attempt: u32) {
        *self
            .families()
            .retries
            .entry(endpoint_label(endpoint))
            .or_default() += 1;
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
        let class = key.class.key();
        let mut f = self.metrics.families();
        let map = match &answer {
            Ok(Admission::Granted) => &mut f.budget_grants,
            Ok(Admission::WaitUntil(_)) => &mut f.budget_waits,
            Err(_) => &mut f.budget_errors,
        };
        *map.entry(class).or_default() += 1;
        answer
    }

    async fn pause(&self, key: BudgetKey<'_>, until: DateTime<Utc>) -> Result<(), BudgetError> {
        self.inner.pause(key, until).await
    }
}

/// `GET /metrics` (no authentication; `text/plain; version=0.0.4`).
pub fn routes(metrics: Metrics, store: Arc<dyn Store>) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state((metrics, store))
}

async fn scrape(State((metrics, store)): State<(Metrics, Arc<dyn Store>)>) -> impl IntoResponse {
    let body = metrics.render(&*store).await;
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_labels_are_snake_case() {
        assert_eq!(
            endpoint_label(Endpoint::SubmitDocuments),
            "submit_documents"
        );
        assert_eq!(endpoint_label(Endpoint::GetSubmission), "get_submission");
        let all: std::collections::HashSet<String> =
            Endpoint::ALL.iter().map(|e| endpoint_label(*e)).collect();
        assert_eq!(all.len(), Endpoint::ALL.len(), "labels must be distinct");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn histogram_buckets_are_cumulative_in_the_text() {
        let m = Metrics::new();
        let mut f = m.families();
        let h = f.latency.entry("x".to_owned()).or_default();
        h.observe(0.003);
        h.observe(0.2);
        h.observe(100.0);
        drop(f);
        let mut out = String::new();
        m.render_counters(&mut out);
        assert!(
            out.contains(
                "invois_client_call_duration_seconds_bucket{endpoint=\"x\",le=\"0.005\"} 1"
            ),
            "{out}"
        );
        assert!(
            out.contains(
                "invois_client_call_duration_seconds_bucket{endpoint=\"x\",le=\"0.25\"} 2"
            ),
            "{out}"
        );
        assert!(
            out.contains("invois_client_call_duration_seconds_bucket{endpoint=\"x\",le=\"30\"} 2"),
            "{out}"
        );
        assert!(
            out.contains(
                "invois_client_call_duration_seconds_bucket{endpoint=\"x\",le=\"+Inf\"} 3"
            ),
            "{out}"
        );
        assert!(
            out.contains("invois_client_call_duration_seconds_count{endpoint=\"x\"} 3"),
            "{out}"
        );
    }
}
