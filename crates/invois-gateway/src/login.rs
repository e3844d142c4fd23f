//! Logins MyInvois refused for good (issue 16), the gateway's side.
//!
//! The client halts its own logins after a refusal that sending again cannot fix
//! ([`invois_client::LoginHalt`]), and the pipeline claims nothing while it lasts. This module
//! makes the halt visible and durable: [`LoginWatch`] records it in the store
//! ([`crate::store::LoginHalts`]), which `/ready` (503 `login_halted`), the dashboard (a
//! banner) and the webhook outbox (`client.login_halted`, `client.login_resumed`) read, and
//! sets the `invois_login_halted{client_id}` gauge. At start it puts a recorded halt back in
//! force when the login configuration is unchanged, so a restart with the same credentials
//! sends no login before the halt's hour is up; new credentials start afresh.
//!
//! A login is sent again only on a configuration change (a restart with other credentials),
//! an operator's `POST /v1/clients/{client_id}/resume`, or once the halt's hour is up.

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use invois_api::{Endpoint, ErrorEnvelope};
use invois_client::{HttpFailure, LoginHalt};
use serde::Serialize;
use utoipa::ToSchema;

use crate::clients::ClientPool;
use crate::metrics::Metrics;
use crate::pipeline::Shutdown;
use crate::store::{LoginHaltRecord, Store, StoreError};
use crate::webhooks;

/// The route an operator resumes a halted client id's logins with.
pub fn resume_path(client_id: &str) -> String {
    format!("/v1/clients/{client_id}/resume")
}

/// Keeps the store (and the gauge) in step with the client's login halt.
#[derive(Debug, Clone)]
pub struct LoginWatch {
    store: Arc<Store>,
    clients: ClientPool,
    metrics: Option<Metrics>,
}

impl LoginWatch {
    /// A watch over `clients`' halt, recorded in `store`.
    pub fn new(store: Arc<Store>, clients: ClientPool) -> LoginWatch {
        LoginWatch {
            store,
            clients,
            metrics: None,
        }
    }

    /// Also sets `invois_login_halted{client_id}` in `metrics`.
    pub fn with_metrics(mut self, metrics: Metrics) -> LoginWatch {
        self.metrics = Some(metrics);
        self
    }

    /// At start: a halt recorded for this client id applies again when the login
    /// configuration is unchanged; otherwise (new credentials, another identity URL or login
    /// mode) it is forgotten, announcing `client.login_resumed`.
    pub async fn restore(&self) -> Result<(), StoreError> {
        let client_id = self.clients.client_id();
        if let Some(record) = self.store.login_halts().get(client_id).await? {
            if record.fingerprint == self.clients.login_fingerprint() {
                let halt = halt_of(&record);
                tracing::error!(client.id = %client_id, retry_at = %record.retry_at, "logins of client id {client_id} stay halted since the last run: {halt}");
                self.clients.base().restore_login_halt(halt);
            } else {
                tracing::info!(client.id = %client_id, "the login configuration of client id {client_id} changed since its login was refused; logging in again");
                let announce = webhooks::login_announcement(client_id, None, self.now());
                self.store.login_halts().clear(client_id, &announce).await?;
            }
        }
        self.sync().await
    }

    /// Records the client's halt as it is now: a new or renewed halt is stored (a new one
    /// announced), a lifted one forgotten (announced).
    pub async fn sync(&self) -> Result<(), StoreError> {
        let client_id = self.clients.client_id();
        let halt = self.clients.base().login_halt();
        if let Some(metrics) = &self.metrics {
            metrics.login_halted(client_id, halt.is_some());
        }
        let halts = self.store.login_halts();
        match halt {
            Some(halt) => {
                let record = record_of(&halt, self.clients.login_fingerprint());
                let view = LoginHaltView::of(&record);
                let announce = webhooks::login_announcement(client_id, Some(view), self.now());
                if halts.record(&record, &announce).await? {
                    tracing::error!(client.id = %client_id, "sending halted: {}", halt_message(&record));
                }
            }
            None => {
                let announce = webhooks::login_announcement(client_id, None, self.now());
                if halts.clear(client_id, &announce).await? {
                    tracing::info!(client.id = %client_id, "logins of client id {client_id} accepted again; sending resumes");
                }
            }
        }
        Ok(())
    }

    /// Records every change of the halt until `shutdown` (call [`LoginWatch::restore`]
    /// first, before anything logs in).
    pub async fn run(self, mut shutdown: Shutdown) {
        let mut changes = self.clients.base().watch_login_halt();
        loop {
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return },
                () = shutdown.wait() => return,
            }
            if let Err(e) = self.sync().await {
                // The next change syncs again; /ready reads the store, so it may lag.
                tracing::error!(error = %e, "could not record the login halt");
            }
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.clients.base().clock().now()
    }
}

/// The stored form of `halt`, refused under the login configuration `fingerprint`.
pub fn record_of(halt: &LoginHalt, fingerprint: String) -> LoginHaltRecord {
    LoginHaltRecord {
        client_id: halt.client_id.clone(),
        fingerprint,
        on_behalf_of: halt.on_behalf_of.clone(),
        token_url: halt.token_url.clone(),
        status: halt.failure.status,
        correlation_id: halt.failure.correlation_id.clone(),
        body: halt.failure.body_text(),
        halted_at: halt.halted_at,
        refused_at: halt.refused_at,
        retry_at: halt.retry_at,
        refusals: i64::from(halt.refusals),
    }
}

/// The client's form of a stored halt.
pub fn halt_of(record: &LoginHaltRecord) -> LoginHalt {
    let body = Bytes::from(record.body.clone().into_bytes());
    LoginHalt {
        client_id: record.client_id.clone(),
        on_behalf_of: record.on_behalf_of.clone(),
        token_url: record.token_url.clone(),
        failure: HttpFailure {
            endpoint: if record.on_behalf_of.is_some() {
                Endpoint::LoginIntermediary
            } else {
                Endpoint::LoginTaxpayer
            },
            status: record.status,
            correlation_id: record.correlation_id.clone(),
            envelope: ErrorEnvelope::parse(&body),
            body,
            retry_after: None,
        },
        halted_at: record.halted_at,
        refused_at: record.refused_at,
        retry_at: record.retry_at,
        refusals: u32::try_from(record.refusals).unwrap_or(u32::MAX),
    }
}

/// Why sending is halted and what brings it back, in English (for `/ready`, the dashboard
/// and logs).
pub fn halt_message(record: &LoginHaltRecord) -> String {
    format!(
        "sending is halted: {}. A login is sent again when the credentials change (restart \
         with the new ones), on POST {}, or at {} at the earliest",
        halt_of(record),
        resume_path(&record.client_id),
        record
            .retry_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )
}

/// A halted login, as the API, webhooks and `/ready` show it. No secret: LHDN's answer and
/// what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LoginHaltView {
    /// The client id whose logins are halted.
    pub client_id: String,
    /// The `onbehalfof` the refused login sent (intermediaries).
    pub on_behalf_of: Option<String>,
    /// Where the refused login went.
    pub token_url: String,
    /// The HTTP status of the refusal.
    pub status: u16,
    /// The RFC 6749 code (`invalid_client`, `unauthorised_client`, ...), if any.
    pub code: Option<String>,
    /// LHDN's description of the refusal, if any.
    pub description: Option<String>,
    /// The refusal's `correlationId`, to quote to LHDN.
    pub correlation_id: Option<String>,
    /// What to do about it.
    pub fix: String,
    /// The first refusal of this run of refusals.
    pub halted_at: DateTime<Utc>,
    /// The latest refusal.
    pub refused_at: DateTime<Utc>,
    /// The soonest the gateway sends a login again by itself.
    pub retry_at: DateTime<Utc>,
    /// Refused logins in a row.
    pub refusals: i64,
    /// The whole story in one sentence, with the ways to resume.
    pub message: String,
}

impl LoginHaltView {
    /// The view of a stored halt.
    pub fn of(record: &LoginHaltRecord) -> LoginHaltView {
        let halt = halt_of(record);
        LoginHaltView {
            client_id: record.client_id.clone(),
            on_behalf_of: record.on_behalf_of.clone(),
            token_url: record.token_url.clone(),
            status: record.status,
            code: halt.code().map(str::to_owned),
            description: halt.failure.message().map(str::to_owned),
            correlation_id: record.correlation_id.clone(),
            fix: halt.fix().to_owned(),
            halted_at: record.halted_at,
            refused_at: record.refused_at,
            retry_at: record.retry_at,
            refusals: record.refusals,
            message: halt_message(record),
        }
    }
}

/// A client id's login state: `POST /v1/clients/{client_id}/resume`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ClientLogin {
    /// The client id.
    pub client_id: String,
    /// `running` (logins accepted: sending goes on) or `halted`.
    #[schema(value_type = String, example = "running")]
    pub state: &'static str,
    /// Why, while `halted`.
    pub halt: Option<LoginHaltView>,
}
