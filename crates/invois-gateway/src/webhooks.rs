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
//! `eventId` (a replay repeats it too) or by `X-Invois-Delivery`.
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
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hmac::{Hmac, Mac};
use invois_clock::Clock;
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::watch;

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

/// The event name of a status change: `document.<state>`.
pub fn event_name(state: DocumentState) -> String {
    format!("document.{}", state.as_str())
}

/// The JSON body announcing `event`: a snapshot of the document when the event was relayed,
/// with the state the event recorded. Validation results appear only with the states they
/// belong to (`longId` and `validationLink` with valid and cancelled, `errors` with
/// rejected_locally, invalid and failed), so a late relay of an old event does not announce
/// a later result early. Never the document's bytes.
pub fn event_payload(event: &DocumentEvent, doc: &DocumentRecord) -> Value {
    let validated = matches!(event.state, DocumentState::Valid | DocumentState::Cancelled);
    let failed = matches!(
        event.state,
        DocumentState::RejectedLocally | DocumentState::Invalid | DocumentState::Failed
    );
    let errors = if failed {
        match (&doc.errors, event.state) {
            (Some(errors), _) => errors.clone(),
            (None, DocumentState::Failed) => doc
                .last_error
                .as_ref()
                .map(|e| json!({ "message": e }))
                .unwrap_or(Value::Null),
            (None, _) => Value::Null,
        }
    } else {
        Value::Null
    };
    json!({
        "eventId": event.id,
        "event": event_name(event.state),
        "documentId": doc.id.0,
        "issuerTin": doc.issuer_tin,
        "typeCode": doc.type_code,
        "internalId": doc.internal_id,
        "version": doc.version,
        "state": event.state.as_str(),
        "uuid": doc.uuid,
        "longId": if validated { json!(doc.long_id) } else { Value::Null },
        "validationLink": if validated { json!(doc.validation_link) } else { Value::Null },
        "errors": errors,
        "occurredAt": event.created_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    })
}

/// The delivery announcing `event` of `doc`: [`event_name`] and [`event_payload`]. The store's
/// relay calls it inside its transaction, so the store itself knows nothing of webhooks.
pub fn announce(event: &DocumentEvent, doc: &DocumentRecord) -> Announcement {
    Announcement {
        event: event_name(event.state),
        payload: event_payload(event, doc),
    }
}

/// One relay pass: up to `limit` status events not yet relayed become pending deliveries
/// ([`announce`]d), each giving up after `max_attempts`, exactly once per event even with
/// several instances relaying. Returns how many were relayed.
pub async fn relay_events(
    store: &dyn Store,
    limit: u32,
    max_attempts: i64,
) -> Result<u64, StoreError> {
    store.relay_events(limit, max_attempts, &announce).await
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
    store: Arc<dyn Store>,
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
        store: Arc<dyn Store>,
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

    /// Relays every pending status event into deliveries. Returns how many were relayed.
    pub async fn relay_once(&self) -> Result<u64, WebhookError> {
        let mut total = 0;
        loop {
            let n = relay_events(&*self.store, RELAY_BATCH, self.config.max_attempts).await?;
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
            .claim_webhooks(&self.worker, batch, lease)
            .await?;
        for delivery in &claimed {
            let attempt = self.attempt(delivery).await;
            if let Some(metrics) = &self.metrics {
                metrics.webhook_attempt(matches!(attempt, Attempt::Delivered));
            }
            let result = match attempt {
                Attempt::Delivered => self
                    .store
                    .ack_webhook(delivery.id, &self.worker)
                    .await
                    .map(|_| ()),
                Attempt::Failed(error) => {
                    tracing::info!(
                        delivery = delivery.id.0,
                        event = %delivery.event,
                        attempt = delivery.attempts,
                        error = %error,
                        "webhook delivery failed"
                    );
                    self.store
                        .retry_webhook(delivery.id, &self.worker, &error)
                        .await
                        .map(|_| ())
                }
            };
            match result {
                Ok(()) => {}
                // Another instance took it over after our lease expired; it owns the outcome.
                Err(StoreError::LeaseLost { .. } | StoreError::StaleTransition { .. }) => {
                    tracing::warn!(delivery = delivery.id.0, "webhook lease lost");
                }
                Err(e) => return Err(e.into()),
            }
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

/// `GET /v1/webhooks/deliveries` (query `state`, `document`, `before`, `limit`; newest first)
/// and `POST /v1/webhooks/deliveries/{id}/replay`. Put the API-key middleware on it.
pub fn routes(store: Arc<dyn Store>) -> Router {
    Router::new()
        .route("/v1/webhooks/deliveries", get(list_deliveries))
        .route("/v1/webhooks/deliveries/{id}/replay", post(replay_delivery))
        .with_state(store)
}

/// The delivery as the API shows it.
pub fn delivery_json(entry: &WebhookLogEntry) -> Value {
    let d = &entry.delivery;
    json!({
        "id": d.id.0,
        "event": d.event,
        "documentId": d.document_id.map(|id| id.0),
        "eventId": entry.event_id,
        "replayOf": entry.replay_of.map(|id| id.0),
        "state": d.state.as_str(),
        "attempts": d.attempts,
        "maxAttempts": d.max_attempts,
        "nextAttemptAt": d.next_attempt_at,
        "lastError": d.last_error,
        "createdAt": d.created_at,
        "updatedAt": d.updated_at,
        "payload": d.payload,
    })
}

fn error_response(status: StatusCode, code: &str, message: String) -> Response {
    (
        status,
        Json(json!({ "error": { "code": code, "message": message } })),
    )
        .into_response()
}

fn store_error(e: StoreError) -> Response {
    match e {
        StoreError::NotFound(m) => error_response(StatusCode::NOT_FOUND, "not_found", m),
        StoreError::Conflict(m) => error_response(StatusCode::CONFLICT, "conflict", m),
        e => {
            tracing::error!(error = %e, "webhook log request failed");
            error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the store failed; see the gateway log".to_owned(),
            )
        }
    }
}

fn bad_request(field: &str, rule: &str) -> Response {
    error_response(
        StatusCode::BAD_REQUEST,
        "bad_request",
        format!("`{field}` {rule}"),
    )
}

/// A query parameter that is not acceptable: the field and the rule it breaks.
#[derive(Debug)]
struct BadParam(String, &'static str);

/// Parses the list query, naming the field and rule on bad input.
fn parse_filter(query: &HashMap<String, String>) -> Result<WebhookFilter, BadParam> {
    let bad = |field: &str, rule: &'static str| BadParam(field.to_owned(), rule);
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

async fn list_deliveries(
    State(store): State<Arc<dyn Store>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let filter = match parse_filter(&query) {
        Ok(f) => f,
        Err(BadParam(field, rule)) => return bad_request(&field, rule),
    };
    let limit = if filter.limit == 0 { 100 } else { filter.limit };
    match store.list_webhook_deliveries(&filter).await {
        Ok(items) => {
            // A full page may have more behind it: pass the last id as `before`.
            let next = if items.len() == limit as usize {
                items.last().map(|e| e.delivery.id.0)
            } else {
                None
            };
            let items: Vec<Value> = items.iter().map(delivery_json).collect();
            Json(json!({ "items": items, "next": next })).into_response()
        }
        Err(e) => store_error(e),
    }
}

async fn replay_delivery(State(store): State<Arc<dyn Store>>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return bad_request("id", "must be a delivery id");
    };
    match store.replay_webhook(WebhookId(id)).await {
        Ok(entry) => (StatusCode::CREATED, Json(delivery_json(&entry))).into_response(),
        Err(e) => store_error(e),
    }
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
        let store: Arc<dyn Store> = Arc::new(
            crate::store::SqlStore::open(&url, Clock::real())
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
