//! Webhooks to the ERP: every document status change, signed, retried, logged, replayable.
//!
//! Three steps, each safe with several gateway instances on one database:
//!
//! 1. **Relay** ([`relay_events`]): status events (written in the same transaction as
//!    each change) become pending deliveries, exactly once per event.
//! 2. **Deliver**: due deliveries are claimed (a lease, so two instances never send the same
//!    one at once), POSTed with an HMAC-SHA256 signature, and acknowledged on a 2xx or retried
//!    with backoff ([`crate::store::webhook_backoff`]: 5 s doubling to 1 h) until
//!    `max_attempts`, after which they are `dead`.
//! 3. **Log and replay**: [`routes`] lists deliveries and replays a delivered or dead one as
//!    a new delivery of the same payload.
//!
//! A delivery is sent at least once (a crash after the ERP's 2xx but before the
//! acknowledgement is stored sends it again), so receivers deduplicate by the payload's
//! `event_id` (a replay repeats it too) or by `X-Invois-Delivery`.
//!
//! Every wait (between passes, the request timeout) is on the injected [`Clock`].

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{MethodRouter, get, post};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use invois_clock::Clock;
use serde::Serialize;
use serde_json::Value;
use sha2::Sha256;
use tokio::sync::watch;
use utoipa::ToSchema;

use crate::document_errors::DocumentError;
use crate::http::{ApiError, ErrorBody};
use crate::next_steps::{NextStep, next_steps};

use crate::store::{
    Announcement, DocumentEvent, DocumentId, DocumentRecord, DocumentState, Store, StoreError,
    WebhookDelivery, WebhookFilter, WebhookId, WebhookLogEntry, WebhookState,
};

/// The header naming the event (`document.valid`, ...).
pub const HEADER_EVENT: &str = "X-Invois-Event";
/// The header carrying the delivery id (differs between a delivery and its replay).
pub const HEADER_DELIVERY: &str = "X-Invois-Delivery";
/// The header carrying the signing time, in Unix seconds.
pub const HEADER_TIMESTAMP: &str = "X-Invois-Timestamp";
/// The header carrying `sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`.
pub const HEADER_SIGNATURE: &str = "X-Invois-Signature";

/// The webhook signing secret. `Debug` and `Display` never print it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> WebhookSecret {
        WebhookSecret(secret.into())
    }

    /// The secret's bytes, for signing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

/// Where and how to deliver.
#[derive(Clone)]
pub struct WebhookConfig {
    /// The ERP's endpoint; every delivery is POSTed here.
    pub url: url::Url,
    /// The HMAC key shared with the ERP.
    pub secret: WebhookSecret,
    /// Attempts before a delivery is `dead` (at least 1).
    pub max_attempts: i64,
    /// How long one POST may take (on the clock) before it counts as failed.
    pub timeout: Duration,
    /// How long to wait between passes when there was nothing to do.
    pub idle: Duration,
    /// Deliveries claimed per pass (sent one after another, oldest first).
    pub batch: u32,
}

impl WebhookConfig {
    /// A configuration with the defaults: 12 attempts (about 2.8 hours of backoff), a 10 s
    /// timeout, a 1 s idle wait and 20 deliveries per pass.
    pub fn new(url: url::Url, secret: WebhookSecret) -> WebhookConfig {
        WebhookConfig {
            url,
            secret,
            max_attempts: 12,
            timeout: Duration::from_secs(10),
            idle: Duration::from_secs(1),
            batch: 20,
        }
    }
}

/// The URL's scheme, host and port only: a webhook URL may carry a token in its path or query.
fn url_origin(url: &url::Url) -> String {
    url.origin().ascii_serialization()
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &url_origin(&self.url))
            .field("secret", &self.secret)
            .field("max_attempts", &self.max_attempts)
            .field("timeout", &self.timeout)
            .field("idle", &self.idle)
            .field("batch", &self.batch)
            .finish()
    }
}

/// What can go wrong running the webhooks.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The configuration is unusable.
    #[error("webhook configuration: {0}")]
    Config(String),
}

/// The event announcing that MyInvois refused a client id's login for good and sending
/// halted (see [`crate::login`]).
pub const EVENT_LOGIN_HALTED: &str = "client.login_halted";
/// The event announcing that the client id's logins are accepted again (or its halt was
/// forgotten because its credentials changed).
pub const EVENT_LOGIN_RESUMED: &str = "client.login_resumed";

/// The attempts a login event's delivery is given (document events get the configured
/// `max_attempts` when relayed; a login event is queued where it happens, which may be
/// before any webhook is configured).
const LOGIN_EVENT_ATTEMPTS: i64 = 12;

/// The JSON body announcing that a client id's logins halted or resumed
/// ([`EVENT_LOGIN_HALTED`], [`EVENT_LOGIN_RESUMED`]). Deduplicate by `X-Invois-Delivery`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LoginPayload {
    /// `client.login_halted` or `client.login_resumed`, as in `X-Invois-Event`.
    pub event: String,
    /// The client id.
    pub client_id: String,
    /// Why, with `client.login_halted` only: LHDN's answer, the fix and the ways to resume.
    pub halt: Option<crate::login::LoginHaltView>,
    /// When the gateway saw the change (RFC 3339, microseconds, UTC).
    #[schema(format = DateTime)]
    pub occurred_at: String,
}

/// The delivery announcing that `client_id`'s logins halted (`halt` given) or resumed.
pub fn login_announcement(
    client_id: &str,
    halt: Option<crate::login::LoginHaltView>,
    at: DateTime<Utc>,
) -> crate::store::NewWebhook {
    let event = if halt.is_some() {
        EVENT_LOGIN_HALTED
    } else {
        EVENT_LOGIN_RESUMED
    };
    let payload = LoginPayload {
        event: event.to_owned(),
        client_id: client_id.to_owned(),
        halt,
        occurred_at: at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    };
    crate::store::NewWebhook {
        document_id: None,
        event: event.to_owned(),
        // Strings, numbers and options only: serializing cannot fail.
        payload: serde_json::to_value(&payload).unwrap_or(Value::Null),
        max_attempts: LOGIN_EVENT_ATTEMPTS,
    }
}

/// The event name of a status change: `document.<state>`.
pub fn event_name(state: DocumentState) -> String {
    format!("document.{}", state.as_str())
}

/// The JSON body announcing a status change: a snapshot of the document when the event was
/// relayed, with the state the event recorded. Never the document's bytes.
///
/// Fields are snake_case, like the REST API. Until the next release every multi-word field
/// is also sent under its old camelCase name ([`LegacyPayloadNames`]), so a receiver written
/// against the camelCase body keeps working while it moves to the snake_case names.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[schema(as = WebhookPayload)]
pub struct WebhookPayload {
    /// The status event's id: deduplicate and order by it (a replay repeats it).
    pub event_id: i64,
    /// `document.<state>`, as in `X-Invois-Event`.
    pub event: String,
    /// The document version's id in the ERP API.
    pub document_id: i64,
    /// The supplier's TIN.
    pub issuer_tin: String,
    /// The e-invoice type code.
    pub type_code: String,
    /// The ERP's internal id.
    pub internal_id: String,
    /// The document's version.
    pub version: i64,
    /// The state the event recorded.
    #[schema(value_type = String)]
    pub state: &'static str,
    /// MyInvois' UUID, once submitted.
    pub uuid: Option<String>,
    /// Only with `valid` and `cancelled`.
    pub long_id: Option<String>,
    /// Only with `valid` and `cancelled`.
    pub validation_link: Option<String>,
    /// Only with `rejected_locally`, `invalid` and `failed`: why, one entry per error, in
    /// the same shape as the document's `errors` in the API.
    pub errors: Option<Vec<DocumentError>>,
    /// What the document allowed when the change happened, each with the ERP API request that
    /// takes it (the same list as the document's `next_steps` in the API).
    pub next_steps: Vec<NextStep>,
    /// When the change happened (RFC 3339, microseconds, UTC).
    #[schema(format = DateTime)]
    pub occurred_at: String,
    /// The same values under the old camelCase names, for one release.
    #[serde(flatten)]
    pub legacy: LegacyPayloadNames,
}

/// [`WebhookPayload`]'s multi-word fields under the camelCase names sent before the API
/// settled on snake_case. Deprecated: read the snake_case names; these go in the next
/// release.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LegacyPayloadNames {
    /// Deprecated: `event_id`.
    #[schema(deprecated)]
    pub event_id: i64,
    /// Deprecated: `document_id`.
    #[schema(deprecated)]
    pub document_id: i64,
    /// Deprecated: `issuer_tin`.
    #[schema(deprecated)]
    pub issuer_tin: String,
    /// Deprecated: `type_code`.
    #[schema(deprecated)]
    pub type_code: String,
    /// Deprecated: `internal_id`.
    #[schema(deprecated)]
    pub internal_id: String,
    /// Deprecated: `long_id`.
    #[schema(deprecated)]
    pub long_id: Option<String>,
    /// Deprecated: `validation_link`.
    #[schema(deprecated)]
    pub validation_link: Option<String>,
    /// Deprecated: `occurred_at`.
    #[schema(deprecated, format = DateTime)]
    pub occurred_at: String,
}

impl WebhookPayload {
    /// The payload as the store keeps it (deliveries hold JSON, whatever their version).
    pub fn to_value(&self) -> Value {
        // Only strings, numbers, options and JSON values: serializing cannot fail.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// The body announcing `event` of `doc`. Validation results appear only with the states they
/// belong to (`long_id` and `validation_link` with valid and cancelled, `errors` with
/// rejected_locally, invalid and failed), so a late relay of an old event does not announce
/// a later result early.
pub fn event_payload(event: &DocumentEvent, doc: &DocumentRecord) -> WebhookPayload {
    let validated = matches!(event.state, DocumentState::Valid | DocumentState::Cancelled);
    let failed = matches!(
        event.state,
        DocumentState::RejectedLocally | DocumentState::Invalid | DocumentState::Failed
    );
    let errors = failed.then(|| DocumentError::of(doc));
    let long_id = doc.long_id.clone().filter(|_| validated);
    let validation_link = doc.validation_link.clone().filter(|_| validated);
    let occurred_at = event
        .created_at
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    WebhookPayload {
        event_id: event.id,
        event: event_name(event.state),
        document_id: doc.id.0,
        issuer_tin: doc.issuer_tin.clone(),
        type_code: doc.type_code.clone(),
        internal_id: doc.internal_id.clone(),
        version: doc.version,
        state: event.state.as_str(),
        uuid: doc.uuid.clone(),
        long_id: long_id.clone(),
        validation_link: validation_link.clone(),
        errors,
        next_steps: next_steps(doc, event.created_at),
        occurred_at: occurred_at.clone(),
        legacy: LegacyPayloadNames {
            event_id: event.id,
            document_id: doc.id.0,
            issuer_tin: doc.issuer_tin.clone(),
            type_code: doc.type_code.clone(),
            internal_id: doc.internal_id.clone(),
            long_id,
            validation_link,
            occurred_at,
        },
    }
}

/// The delivery announcing `event` of `doc`: [`event_name`] and [`event_payload`]. The store's
/// relay calls it inside its transaction, so the store itself knows nothing of webhooks.
pub fn announce(event: &DocumentEvent, doc: &DocumentRecord) -> Announcement {
    Announcement {
        event: event_name(event.state),
        payload: event_payload(event, doc).to_value(),
    }
}

/// One relay pass: up to `limit` status events not yet relayed become pending deliveries
/// ([`announce`]d), each giving up after `max_attempts`, exactly once per event even with
/// several instances relaying. Returns how many were relayed.
pub async fn relay_events(store: &Store, limit: u32, max_attempts: i64) -> Result<u64, StoreError> {
    store.outbox().relay(limit, max_attempts, &announce).await
}

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], timestamp: &str, body: &[u8]) -> HmacSha256 {
    let mut mac = match HmacSha256::new_from_slice(secret) {
        Ok(mac) => mac,
        // `new_from_slice` fails only for fixed-length-key MACs; HMAC takes any key length.
        Err(_) => unreachable!("HMAC-SHA256 accepts keys of every length"),
    };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `X-Invois-Signature` value for `body` signed at `timestamp` (Unix seconds, as sent in
/// `X-Invois-Timestamp`): `sha256=` and the hex HMAC-SHA256 of `"<timestamp>.<body>"`.
pub fn sign(secret: &WebhookSecret, timestamp: &str, body: &[u8]) -> String {
    let tag = mac(secret.expose().as_bytes(), timestamp, body).finalize();
    format!("sha256={}", hex::encode(tag.into_bytes()))
}

/// Whether `header` (the `X-Invois-Signature` value) is the signature of `body` at
/// `timestamp` under `secret`. The comparison is constant-time. Receivers should also refuse
/// timestamps far from their own clock (say more than five minutes) to limit replays.
pub fn verify_signature(secret: &str, timestamp: &str, body: &[u8], header: &str) -> bool {
    let Some(hex_tag) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(tag) = hex::decode(hex_tag) else {
        return false;
    };
    mac(secret.as_bytes(), timestamp, body)
        .verify_slice(&tag)
        .is_ok()
}

/// Relays status events into deliveries and delivers them.
#[derive(Clone)]
pub struct Webhooks {
    store: Arc<Store>,
    clock: Clock,
    config: WebhookConfig,
    http: reqwest::Client,
    worker: String,
    metrics: Option<crate::metrics::Metrics>,
}

impl fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhooks")
            .field("config", &self.config)
            .field("worker", &self.worker)
            .finish_non_exhaustive()
    }
}

/// How one delivery attempt ended.
enum Attempt {
    Delivered,
    Failed(String),
}

impl Webhooks {
    /// Relays and delivers to `config.url`, waiting on `clock`. The worker name (for leases)
    /// is random; set one with [`Webhooks::with_worker`].
    pub fn new(
        store: Arc<Store>,
        clock: Clock,
        config: WebhookConfig,
    ) -> Result<Webhooks, WebhookError> {
        if !matches!(config.url.scheme(), "http" | "https") {
            return Err(WebhookError::Config(format!(
                "url must be http or https, not {}",
                config.url.scheme()
            )));
        }
        if config.max_attempts < 1 {
            return Err(WebhookError::Config(format!(
                "max_attempts must be at least 1, not {}",
                config.max_attempts
            )));
        }
        if config.timeout.is_zero() {
            return Err(WebhookError::Config(
                "timeout must be more than zero".to_owned(),
            ));
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("invois-gateway/", env!("CARGO_PKG_VERSION")))
            // Redirects are not followed: a signed body should reach only the configured URL.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| WebhookError::Config(format!("HTTP client: {}", e.without_url())))?;
        Ok(Webhooks {
            store,
            clock,
            config,
            http,
            worker: format!("webhooks-{}", hex::encode(rand::random::<[u8; 6]>())),
            metrics: None,
        })
    }

    /// Names this deliverer in leases (`locked_by`).
    pub fn with_worker(mut self, worker: impl Into<String>) -> Webhooks {
        self.worker = worker.into();
        self
    }

    /// Counts delivery attempts in `metrics` (`invois_webhook_attempts_total`).
    pub fn with_metrics(mut self, metrics: crate::metrics::Metrics) -> Webhooks {
        self.metrics = Some(metrics);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &WebhookConfig {
        &self.config
    }

    /// Relays every pending status event (and received-document event) into deliveries.
    /// Returns how many were relayed.
    pub async fn relay_once(&self) -> Result<u64, WebhookError> {
        let mut total = 0;
        loop {
            let n = relay_events(&self.store, RELAY_BATCH, self.config.max_attempts).await?;
            total += n;
            if n < u64::from(RELAY_BATCH) {
                break;
            }
        }
        // Received documents' events ([`crate::received_webhooks`]), through the same outbox.
        loop {
            let n = crate::received_webhooks::relay_received_events(
                &self.store,
                RELAY_BATCH,
                self.config.max_attempts,
            )
            .await?;
            total += n;
            if n < u64::from(RELAY_BATCH) {
                return Ok(total);
            }
        }
    }

    /// Claims the due deliveries (up to `batch`) and sends them, oldest first. Returns how
    /// many were attempted.
    pub async fn deliver_once(&self) -> Result<usize, WebhookError> {
        let batch = self.config.batch.max(1);
        // The lease covers every send in the batch timing out, with room to record results.
        let lease = self.config.timeout * (batch + 1) + Duration::from_secs(30);
        let claimed = self
            .store
            .outbox()
            .claim(&self.worker, batch, lease)
            .await?;
        // Sent one by one, oldest first, so that a document's events arrive in order; the
        // deliveries that got through are acknowledged together once the batch is sent.
        let mut delivered = Vec::with_capacity(claimed.len());
        for delivery in &claimed {
            let attempt = self.attempt(delivery).await;
            if let Some(metrics) = &self.metrics {
                metrics.webhook_attempt(matches!(attempt, Attempt::Delivered));
            }
            match attempt {
                Attempt::Delivered => delivered.push(delivery.id),
                Attempt::Failed(error) => {
                    tracing::info!(
                        delivery = delivery.id.0,
                        event = %delivery.event,
                        attempt = delivery.attempts,
                        error = %error,
                        "webhook delivery failed"
                    );
                    let retried = self
                        .store
                        .outbox()
                        .retry(delivery.id, &self.worker, &error)
                        .await;
                    match retried {
                        Ok(_) => {}
                        // Another instance took it over after our lease expired; it owns
                        // the outcome.
                        Err(StoreError::LeaseLost { .. } | StoreError::StaleTransition { .. }) => {
                            tracing::warn!(delivery = delivery.id.0, "webhook lease lost");
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
        let acked = self
            .store
            .outbox()
            .ack_many(&delivered, &self.worker)
            .await?;
        for id in delivered
            .iter()
            .filter(|id| !acked.iter().any(|h| h.id == **id))
        {
            tracing::warn!(delivery = id.0, "webhook lease lost");
        }
        Ok(claimed.len())
    }

    /// One pass: relays every pending event, then sends one batch of due deliveries.
    /// Returns how many deliveries were attempted.
    pub async fn run_once(&self) -> Result<usize, WebhookError> {
        self.relay_once().await?;
        self.deliver_once().await
    }

    /// Runs passes until `shutdown` reads true (or its sender is dropped). A pass that found
    /// work is followed at once by another; otherwise the loop waits `idle` on the clock.
    /// Store errors are logged and retried after `idle`.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(
            url = %url_origin(&self.config.url),
            worker = %self.worker,
            "webhooks running"
        );
        loop {
            if *shutdown.borrow() {
                return;
            }
            let busy = match self.run_once().await {
                Ok(n) => n > 0,
                Err(e) => {
                    tracing::warn!(error = %e, "webhook pass failed");
                    false
                }
            };
            if busy {
                continue;
            }
            tokio::select! {
                _ = self.clock.sleep(self.config.idle) => {}
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
            }
        }
    }

    async fn attempt(&self, delivery: &WebhookDelivery) -> Attempt {
        let body = delivery.payload.to_string();
        let timestamp = self.clock.now().timestamp().to_string();
        let signature = sign(&self.config.secret, &timestamp, body.as_bytes());
        let request = self
            .http
            .post(self.config.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(HEADER_EVENT, &delivery.event)
            .header(HEADER_DELIVERY, delivery.id.0.to_string())
            .header(HEADER_TIMESTAMP, &timestamp)
            .header(HEADER_SIGNATURE, signature)
            .body(body)
            .send();
        let timeout = self.config.timeout;
        tokio::select! {
            response = request => match response {
                Ok(response) if response.status().is_success() => Attempt::Delivered,
                Ok(response) => Attempt::Failed(format!("HTTP {}", response.status().as_u16())),
                // Without the URL: it may carry a token.
                Err(e) => Attempt::Failed(format!("transport error: {}", e.without_url())),
            },
            _ = self.clock.sleep(timeout) => {
                Attempt::Failed(format!("no response within {} s", timeout.as_secs_f64()))
            }
        }
    }
}

/// Events relayed per store transaction.
const RELAY_BATCH: u32 = 200;

// ---- the delivery log API ----

/// One route: method, path template, handler.
type Route = (&'static str, &'static str, MethodRouter<Arc<Store>>);

/// Every route [`routes`] serves, as (method, path template, handler): the router is built
/// from this list and the OpenAPI test reads it, so neither can miss a route.
fn route_table() -> [Route; 2] {
    [
        ("GET", "/v1/webhooks/deliveries", get(list_deliveries)),
        (
            "POST",
            "/v1/webhooks/deliveries/{id}/replay",
            post(replay_delivery),
        ),
    ]
}

/// The (method, path template) of every route [`routes`] serves.
pub fn route_list() -> Vec<(&'static str, &'static str)> {
    route_table().into_iter().map(|(m, p, _)| (m, p)).collect()
}

/// `GET /v1/webhooks/deliveries` (query `state`, `document`, `before`, `limit`; newest first)
/// and `POST /v1/webhooks/deliveries/{id}/replay`. Put the API-key middleware on it.
pub fn routes(store: Arc<Store>) -> Router {
    route_table()
        .into_iter()
        .fold(Router::new(), |router, (_, path, handler)| {
            router.route(path, handler)
        })
        .with_state(store)
}

/// A webhook delivery as the log API shows it: snake_case like the rest of the API, and
/// until the next release the camelCase names it had before ([`LegacyDeliveryNames`]).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DeliveryView {
    /// The delivery's id (`X-Invois-Delivery`).
    pub id: i64,
    /// `document.<state>`.
    pub event: String,
    /// The document it is about, if any.
    pub document_id: Option<i64>,
    /// The status event it announces (a replay has its original's).
    pub event_id: Option<i64>,
    /// The delivery this one replays.
    pub replay_of: Option<i64>,
    /// `pending`, `delivering`, `delivered` or `dead`.
    #[schema(value_type = String)]
    pub state: &'static str,
    /// Attempts so far.
    pub attempts: i64,
    /// Attempts before it is `dead`.
    pub max_attempts: i64,
    /// When the next attempt is due.
    pub next_attempt_at: DateTime<Utc>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// The body sent, as stored: a [`WebhookPayload`] (deliveries relayed before snake_case
    /// have only the camelCase names).
    #[schema(value_type = Object)]
    pub payload: Value,
    /// The same values under the old camelCase names, for one release.
    #[serde(flatten)]
    pub legacy: LegacyDeliveryNames,
}

/// [`DeliveryView`]'s multi-word fields under their old camelCase names. Deprecated: read
/// the snake_case names; these go in the next release.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LegacyDeliveryNames {
    /// Deprecated: `document_id`.
    #[schema(deprecated)]
    pub document_id: Option<i64>,
    /// Deprecated: `event_id`.
    #[schema(deprecated)]
    pub event_id: Option<i64>,
    /// Deprecated: `replay_of`.
    #[schema(deprecated)]
    pub replay_of: Option<i64>,
    /// Deprecated: `max_attempts`.
    #[schema(deprecated)]
    pub max_attempts: i64,
    /// Deprecated: `next_attempt_at`.
    #[schema(deprecated)]
    pub next_attempt_at: DateTime<Utc>,
    /// Deprecated: `last_error`.
    #[schema(deprecated)]
    pub last_error: Option<String>,
    /// Deprecated: `created_at`.
    #[schema(deprecated)]
    pub created_at: DateTime<Utc>,
    /// Deprecated: `updated_at`.
    #[schema(deprecated)]
    pub updated_at: DateTime<Utc>,
}

impl DeliveryView {
    /// The view of one log entry.
    pub fn of(entry: &WebhookLogEntry) -> DeliveryView {
        let d = &entry.delivery;
        let legacy = LegacyDeliveryNames {
            document_id: d.document_id.map(|id| id.0),
            event_id: entry.event_id,
            replay_of: entry.replay_of.map(|id| id.0),
            max_attempts: d.max_attempts,
            next_attempt_at: d.next_attempt_at,
            last_error: d.last_error.clone(),
            created_at: d.created_at,
            updated_at: d.updated_at,
        };
        DeliveryView {
            id: d.id.0,
            event: d.event.clone(),
            document_id: legacy.document_id,
            event_id: legacy.event_id,
            replay_of: legacy.replay_of,
            state: d.state.as_str(),
            attempts: d.attempts,
            max_attempts: d.max_attempts,
            next_attempt_at: d.next_attempt_at,
            last_error: d.last_error.clone(),
            created_at: d.created_at,
            updated_at: d.updated_at,
            payload: d.payload.clone(),
            legacy,
        }
    }
}

/// One page of the delivery log.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DeliveryPage {
    /// Newest first.
    pub items: Vec<DeliveryView>,
    /// Pass as `before` for the next page; null when this page was not full.
    pub next: Option<i64>,
}

/// The query of `GET /v1/webhooks/deliveries` (schema only: [`parse_filter`] reads it, so
/// that an unknown parameter is refused by name).
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(
    dead_code,
    reason = "never built: it describes the query parse_filter reads"
)]
struct DeliveryQuery {
    /// `pending`, `delivering`, `delivered` or `dead`.
    state: Option<String>,
    /// Only deliveries about this document id.
    document: Option<i64>,
    /// The previous page's `next`.
    before: Option<i64>,
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// Parses the list query, naming the field and rule on bad input.
fn parse_filter(query: &HashMap<String, String>) -> Result<WebhookFilter, ApiError> {
    let bad = |field: &str, rule: &str| ApiError::bad_request(field, format!("`{field}` {rule}"));
    let mut filter = WebhookFilter::default();
    for (key, value) in query {
        match key.as_str() {
            "state" => {
                filter.state = Some(WebhookState::parse(value).ok_or_else(|| {
                    bad("state", "must be pending, delivering, delivered or dead")
                })?)
            }
            "document" => {
                filter.document_id = Some(DocumentId(
                    value
                        .parse()
                        .map_err(|_| bad("document", "must be a document id"))?,
                ))
            }
            "before" => {
                filter.before = Some(WebhookId(
                    value
                        .parse()
                        .map_err(|_| bad("before", "must be a delivery id"))?,
                ))
            }
            "limit" => {
                let limit: u32 = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=1_000).contains(n))
                    .ok_or_else(|| bad("limit", "must be between 1 and 1000"))?;
                filter.limit = limit;
            }
            other => {
                return Err(bad(
                    other,
                    "is not a known parameter (state, document, before, limit)",
                ));
            }
        }
    }
    Ok(filter)
}

/// `GET /v1/webhooks/deliveries`.
#[utoipa::path(
    get,
    path = "/v1/webhooks/deliveries",
    operation_id = "listWebhookDeliveries",
    tag = "webhooks",
    params(DeliveryQuery),
    responses(
        (status = 200, description = "One page of the delivery log, newest first.",
         body = DeliveryPage),
        (status = 400, description = "A bad query parameter.", body = ErrorBody),
    ),
)]
pub(crate) async fn list_deliveries(
    State(store): State<Arc<Store>>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<DeliveryPage>, ApiError> {
    let filter = parse_filter(&query)?;
    let limit = if filter.limit == 0 { 100 } else { filter.limit };
    let items = store.outbox().list(&filter).await?;
    // A full page may have more behind it: pass the last id as `before`.
    let next = if items.len() == limit as usize {
        items.last().map(|e| e.delivery.id.0)
    } else {
        None
    };
    Ok(Json(DeliveryPage {
        items: items.iter().map(DeliveryView::of).collect(),
        next,
    }))
}

/// `POST /v1/webhooks/deliveries/{id}/replay`.
#[utoipa::path(
    post,
    path = "/v1/webhooks/deliveries/{id}/replay",
    operation_id = "replayWebhookDelivery",
    tag = "webhooks",
    params(("id" = i64, Path, description = "The delivery to replay.")),
    responses(
        (status = 201, description = "A new pending delivery of the same payload, due now.",
         body = DeliveryView),
        (status = 400, description = "The id is not a delivery id.", body = ErrorBody),
        (status = 404, description = "No such delivery.", body = ErrorBody),
        (status = 409, description = "The delivery is still pending or delivering.",
         body = ErrorBody),
    ),
)]
pub(crate) async fn replay_delivery(
    State(store): State<Arc<Store>>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<DeliveryView>), ApiError> {
    let Ok(id) = id.parse::<i64>() else {
        return Err(ApiError::bad_request("id", "`id` must be a delivery id"));
    };
    let entry = store.outbox().replay(WebhookId(id)).await?;
    Ok((StatusCode::CREATED, Json(DeliveryView::of(&entry))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_round_trips_and_rejects_tampering() {
        let secret = WebhookSecret::new("whsec_test");
        let sig = sign(&secret, "1700000000", b"{\"a\":1}");
        assert!(sig.starts_with("sha256="));
        assert_eq!(sig.len(), "sha256=".len() + 64);
        assert!(verify_signature(
            "whsec_test",
            "1700000000",
            b"{\"a\":1}",
            &sig
        ));
        assert!(!verify_signature(
            "whsec_other",
            "1700000000",
            b"{\"a\":1}",
            &sig
        ));
        assert!(!verify_signature(
            "whsec_test",
            "1700000001",
            b"{\"a\":1}",
            &sig
        ));
        assert!(!verify_signature(
            "whsec_test",
            "1700000000",
            b"{\"a\":2}",
            &sig
        ));
        assert!(!verify_signature(
            "whsec_test",
            "1700000000",
            b"{\"a\":1}",
            &sig[7..]
        ));
        assert!(!verify_signature(
            "whsec_test",
            "1700000000",
            b"{\"a\":1}",
            "sha256=zz"
        ));
    }

    #[test]
    fn signature_matches_an_independent_hmac() {
        // Computed with Python: hmac.new(b"whsec_test", b'1700000000.{"a":1}', sha256).
        let secret = WebhookSecret::new("whsec_test");
        assert_eq!(
            sign(&secret, "1700000000", br#"{"a":1}"#),
            "sha256=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
    }

    #[test]
    fn secret_and_url_token_stay_out_of_debug() {
        let config = WebhookConfig::new(
            url::Url::parse("https://erp.example/hooks?token=urltoken123").unwrap(),
            WebhookSecret::new("whsec_supersecret"),
        );
        let text = format!("{config:?}");
        assert!(!text.contains("supersecret"), "{text}");
        assert!(!text.contains("urltoken123"), "{text}");
        assert!(text.contains("https://erp.example"), "{text}");
    }

    #[tokio::test]
    async fn unusable_configuration_is_refused_naming_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store: Arc<Store> = Arc::new(
            crate::store::Store::open(&url, Clock::real())
                .await
                .unwrap(),
        );
        let good = WebhookConfig::new(
            url::Url::parse("https://erp.example/hooks").unwrap(),
            WebhookSecret::new("s3cr3t-value"),
        );
        assert!(Webhooks::new(store.clone(), Clock::real(), good.clone()).is_ok());
        let mut c = good.clone();
        c.url = url::Url::parse("ftp://erp.example/hooks").unwrap();
        let e = Webhooks::new(store.clone(), Clock::real(), c).unwrap_err();
        assert!(e.to_string().contains("url must be http or https"), "{e}");
        let mut c = good.clone();
        c.max_attempts = 0;
        let e = Webhooks::new(store.clone(), Clock::real(), c).unwrap_err();
        assert!(e.to_string().contains("max_attempts"), "{e}");
        let mut c = good;
        c.timeout = Duration::ZERO;
        let e = Webhooks::new(store, Clock::real(), c).unwrap_err();
        assert!(e.to_string().contains("timeout"), "{e}");
        assert!(!e.to_string().contains("s3cr3t"), "{e}");
    }

    /// The webhook log answers a store failure like every other route: 503
    /// `store_unavailable` in the one envelope (it was once a 500 of its own).
    #[tokio::test]
    async fn a_store_failure_is_503_in_the_one_envelope() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let sql = crate::store::Store::open(&url, Clock::real())
            .await
            .unwrap();
        sql.close().await;
        let store: Arc<Store> = Arc::new(sql);
        let e = list_deliveries(State(store.clone()), Query(HashMap::new()))
            .await
            .unwrap_err();
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.body().error.code, "store_unavailable");
        let e = replay_delivery(State(store), Path("1".to_owned()))
            .await
            .unwrap_err();
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn list_query_errors_name_the_field() {
        let q = |k: &str, v: &str| HashMap::from([(k.to_owned(), v.to_owned())]);
        assert!(parse_filter(&q("state", "dead")).is_ok());
        for (k, v) in [
            ("state", "gone"),
            ("limit", "0"),
            ("limit", "5000"),
            ("before", "x"),
            ("document", "-"),
            ("colour", "red"),
        ] {
            assert!(parse_filter(&q(k, v)).is_err(), "{k}={v} should be refused");
        }
    }
}
