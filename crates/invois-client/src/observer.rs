//! An observer of what the client does, for metrics (the gateway's Prometheus counters, a
//! benchmark's report). Every method has a no-op default; none is given a secret or token.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use invois_api::{Endpoint, RateClass};

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallOutcome {
    /// An HTTP response with this status.
    Status(u16),
    /// No response (connect failure, timeout, reset).
    Transport(crate::error::TransportKind),
}

/// One HTTP attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallEvent {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// How it ended.
    pub outcome: CallOutcome,
    /// Real time the attempt took.
    pub elapsed: Duration,
    /// The response's `correlationId`.
    pub correlation_id: Option<String>,
}

/// Receives client events. Called inline: keep it cheap.
pub trait ClientObserver: Send + Sync + fmt::Debug {
    /// An HTTP attempt finished (token requests included).
    fn on_call(&self, _event: &CallEvent) {}
    /// A token request is about to be sent.
    fn on_login(&self, _client_id: &str, _on_behalf_of: Option<&str>) {}
    /// A call waits for its class's budget until `until` (clock time).
    fn on_rate_wait(&self, _class: RateClass, _until: DateTime<Utc>) {}
    /// A 429 paused `class` for `retry_after`.
    fn on_throttled(&self, _class: RateClass, _retry_after: Duration) {}
    /// A call is retried after a transient failure.
    fn on_retry(&self, _endpoint: Endpoint, _attempt: u32) {}
}

/// The default observer: does nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopObserver;

impl ClientObserver for NoopObserver {}
