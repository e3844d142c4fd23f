//! The pipeline that moves stored documents to MyInvois and back (DESIGN.md, "How a document
//! travels"):
//!
//! 1. [`prepare`](Pipeline::prepare_once): local validation, then signing (1.1/1.3) when a
//!    certificate is configured; a document over 300 KB is rejected here, never sent.
//! 2. [`submit`](Pipeline::submit_once): a batch of at most 100 documents and 5 MB; the intent
//!    and the payload's hash are stored *before* the POST, which is made once, through the
//!    client's rate limiter.
//! 3. [`reconcile`](Pipeline::reconcile_once): an unknown outcome or a `422
//!    DuplicateSubmission` is settled from Search Documents by internal id before anything
//!    else is sent; documents MyInvois never received go back to be batched again.
//! 4. [`poll`](Pipeline::poll_once): Get Submission only, paced per submission (first wait
//!    sized to the batch, then every 3-5 s), every page; Get Document Details only for
//!    Invalid documents.
//!
//! Beside them, [`received`](Pipeline::received_once) keeps the documents other taxpayers
//! issued to the gateway's taxpayer, found with Search Documents (direction Received) when
//! a notification or the schedule says so.
//!
//! Every step is a guarded store transition, so any number of pipelines (in one process or
//! in several on one PostgreSQL) can run side by side and a process can die at any point:
//! whatever it held comes back through lease expiry, and a submission whose POST may have
//! left is reconciled, never resent.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use invois_clock::Clock;
use invois_model::{CodeTables, ValidationContext};
use invois_sign::Signer;
use tokio::sync::watch;

use crate::clients::ClientPool;
use crate::store::{Store, StoreError};

mod adopt;
mod poll;
mod prepare;
mod received;
mod reconcile;
mod submit;

pub use prepare::{PrepareOutcome, PrepareRules, prepare_document};
pub use received::{ReceivedConfig, ReceivedPass};
pub use submit::SubmitOutcome;

/// What can stop a pipeline step. Every one is logged and retried by [`Pipeline::run`]; a
/// document is never lost to one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The client configuration is unusable (for example a bad `onbehalfof`).
    #[error(transparent)]
    Config(#[from] invois_client::ConfigError),
    /// A month could not be consolidated.
    #[error(transparent)]
    Consolidation(#[from] Box<crate::consolidation::ConsolidationError>),
    /// A call to MyInvois failed in a way the step cannot settle now.
    #[error(transparent)]
    Api(#[from] invois_client::Error),
}

/// Limits and pacing. [`PipelineConfig::default`] is LHDN's published limits.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// This process's worker id (claims and leases are held under it).
    pub worker: String,
    /// Documents per submission (LHDN: 100).
    pub max_documents: usize,
    /// Bytes per submission request body (LHDN: 5 MB).
    pub max_submission_bytes: usize,
    /// Bytes per document, after signing (LHDN: 300 KB).
    pub max_document_bytes: usize,
    /// How long a worker holds documents it claimed (preparing or batching).
    pub claim_lease: Duration,
    /// How long a worker may take between recording an intent and recording the outcome.
    /// It covers waiting for rate budget and the request; past it, the attempt is treated as
    /// an unknown outcome and reconciled.
    pub submit_lease: Duration,
    /// How long after an unknown outcome "not found by search" is believed (a request still
    /// being processed is not yet searchable).
    pub reconcile_grace: Duration,
    /// How far before the intent the reconciling search starts (clock skew with MyInvois).
    pub reconcile_slack: Duration,
    /// Submissions in flight at once.
    pub submit_concurrency: usize,
    /// Documents prepared per claim.
    pub prepare_batch: u32,
    /// Pause when a loop found nothing to do.
    pub idle: Duration,
    /// How long a partial batch waits for documents still being prepared.
    pub batch_linger: Duration,
    /// Polling cadence after the first poll: a uniform pick in this range.
    pub poll_interval: (Duration, Duration),
    /// Large code tables for local validation (empty: membership not checked).
    pub codes: Arc<CodeTables>,
    /// Whether arithmetic findings block a document (see [`PrepareRules`]).
    pub strict_arithmetic: bool,
    /// The MyInvois documents are sent to: its dated rules in force on the clock's day are
    /// applied before sending, so nothing it would refuse for them is sent. LHDN's sandbox
    /// starts new rules before production.
    pub environment: invois_model::Environment,
    /// The month-end consolidation loop (receipts into consolidated e-invoices).
    pub consolidation: crate::consolidation::ConsolidationConfig,
    /// Where the pipeline counts what it does (submissions by outcome, polls, preparations).
    pub metrics: crate::metrics::Metrics,
    /// The received-documents loop.
    pub received: ReceivedConfig,
}

impl Default for PipelineConfig {
    fn default() -> PipelineConfig {
        PipelineConfig {
            worker: default_worker_id(),
            max_documents: invois_api::submission::MAX_DOCUMENTS_PER_SUBMISSION,
            max_submission_bytes: invois_api::submission::MAX_SUBMISSION_BYTES,
            max_document_bytes: invois_api::submission::MAX_DOCUMENT_BYTES,
            claim_lease: Duration::from_secs(120),
            submit_lease: Duration::from_secs(300),
            reconcile_grace: Duration::from_secs(30),
            reconcile_slack: Duration::from_secs(60),
            submit_concurrency: 4,
            prepare_batch: 64,
            idle: Duration::from_millis(250),
            batch_linger: Duration::from_secs(2),
            poll_interval: (Duration::from_secs(3), Duration::from_secs(5)),
            codes: Arc::new(CodeTables::empty()),
            strict_arithmetic: false,
            environment: invois_model::Environment::Production,
            metrics: crate::metrics::Metrics::new(),
            received: ReceivedConfig::default(),
            consolidation: crate::consolidation::ConsolidationConfig::default(),
        }
    }
}

/// A worker id unique to this process: host-independent, so it never leaks a hostname.
pub fn default_worker_id() -> String {
    format!("gw-{}-{:08x}", std::process::id(), rand::random::<u32>())
}

/// A shutdown signal shared by every loop of a gateway.
#[derive(Debug, Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

/// The sending half of [`Shutdown`].
#[derive(Debug)]
pub struct ShutdownTrigger {
    tx: watch::Sender<bool>,
}

impl Shutdown {
    /// A signal and its trigger.
    pub fn new() -> (ShutdownTrigger, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (ShutdownTrigger { tx }, Shutdown { rx })
    }

    /// The underlying channel, for loops that take a `watch::Receiver<bool>`.
    pub fn receiver(&self) -> watch::Receiver<bool> {
        self.rx.clone()
    }

    /// Whether shutdown was asked for.
    pub fn is_set(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves once shutdown is asked for.
    pub async fn wait(&mut self) {
        while !*self.rx.borrow_and_update() {
            if self.rx.changed().await.is_err() {
                // The trigger is gone: nobody can ask any more, so treat it as asked.
                return;
            }
        }
    }

    /// Sleeps on `clock` for `d`, or less if shutdown is asked for. Returns false on shutdown.
    pub async fn sleep(&mut self, clock: &Clock, d: Duration) -> bool {
        if self.is_set() {
            return false;
        }
        tokio::select! {
            () = clock.sleep(d) => !self.is_set(),
            () = self.wait() => false,
        }
    }
}

impl ShutdownTrigger {
    /// Asks every loop to stop after its current step.
    pub fn trigger(&self) {
        let _ = self.tx.send(true);
    }
}

/// The pipeline: one per gateway process. Cheap to clone (shared state).
#[derive(Debug, Clone)]
pub struct Pipeline {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<Store>,
    clients: ClientPool,
    signer: Option<Arc<Signer>>,
    config: PipelineConfig,
    clock: Clock,
    /// Documents per submission, halved after `MaximumSizeExceeded` (and grown back one at a
    /// time after each accepted submission), so a batch MyInvois finds too large is split.
    batch_documents: AtomicUsize,
    /// Bytes of prepared documents per submission, adapted alike.
    batch_bytes: AtomicUsize,
    /// When a partial batch started waiting, and when the last one was sent.
    batching: tokio::sync::Mutex<submit::Batching>,
    /// Batches being sent now (see [`submit::Batching`]).
    batches_sending: AtomicUsize,
    /// How far the client's poller has got with each submission being polled (404s
    /// tolerated, rounds spent waiting for a longId). In memory: after a restart the counts
    /// start again, which costs at most a few extra polls.
    poll_progress: std::sync::Mutex<
        std::collections::HashMap<crate::store::SubmissionId, invois_client::PollProgress>,
    >,
    /// One reconciliation at a time per process, and when each unsettled submission may be
    /// looked at again (Search Documents has a small budget: 12 RPM).
    reconcile: tokio::sync::Mutex<
        std::collections::HashMap<crate::store::SubmissionId, chrono::DateTime<chrono::Utc>>,
    >,
}

/// How often leases whose holder vanished are looked for.
const RECOVER_EVERY: Duration = Duration::from_secs(5);

impl Pipeline {
    /// A pipeline over `store`, submitting with `clients`, signing with `signer` (if any).
    pub fn new(
        store: Arc<Store>,
        clients: ClientPool,
        signer: Option<Arc<Signer>>,
        config: PipelineConfig,
    ) -> Pipeline {
        let clock = clients.base().clock().clone();
        let bytes = submit::raw_bytes_budget(&config);
        Pipeline {
            inner: Arc::new(Inner {
                batch_documents: AtomicUsize::new(config.max_documents.max(1)),
                batch_bytes: AtomicUsize::new(bytes),
                reconcile: tokio::sync::Mutex::new(std::collections::HashMap::new()),
                batching: tokio::sync::Mutex::new(submit::Batching::default()),
                batches_sending: AtomicUsize::new(0),
                poll_progress: std::sync::Mutex::new(std::collections::HashMap::new()),
                store,
                clients,
                signer,
                config,
                clock,
            }),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.inner.store
    }

    /// The clients.
    pub fn clients(&self) -> &ClientPool {
        &self.inner.clients
    }

    /// The configuration.
    pub fn config(&self) -> &PipelineConfig {
        &self.inner.config
    }

    /// The clock every wait reads.
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    fn validation_context(&self) -> ValidationContext {
        ValidationContext::at(self.inner.clock.now())
            .in_environment(self.inner.config.environment)
            .with_codes(Arc::clone(&self.inner.config.codes))
    }

    /// Runs every loop until `shutdown`: preparation, `submit_concurrency` submitters (each
    /// reconciling first), the poller, lease recovery and, with a taxpayer's own credentials,
    /// received documents.
    pub async fn run(&self, shutdown: Shutdown) {
        let mut tasks = tokio::task::JoinSet::new();
        {
            let p = self.clone();
            let s = shutdown.clone();
            tasks.spawn(async move {
                p.loop_step("prepare", s, p.inner.config.idle, |p| p.prepare_step())
                    .await
            });
        }
        for _ in 0..self.inner.config.submit_concurrency.max(1) {
            let p = self.clone();
            let s = shutdown.clone();
            tasks.spawn(async move {
                p.loop_step("submit", s, p.inner.config.idle, |p| p.submit_step())
                    .await
            });
        }
        {
            let p = self.clone();
            let s = shutdown.clone();
            tasks.spawn(async move {
                p.loop_step("poll", s, p.inner.config.idle, |p| p.poll_step())
                    .await
            });
        }
        if self.inner.config.consolidation.enabled {
            // Closed months into consolidated e-invoices, and deadline warnings: the stored
            // documents then go through the loops above like any other.
            let consolidator = crate::consolidation::Consolidator::new(
                Arc::clone(&self.inner.store),
                &self.inner.clients,
                self.inner.config.consolidation.clone(),
            )
            .with_metrics(self.inner.config.metrics.clone());
            let p = self.clone();
            let s = shutdown.clone();
            let every = self.inner.config.consolidation.every;
            tasks.spawn(async move {
                p.loop_step("consolidate", s, every, move |_| {
                    let c = consolidator.clone();
                    async move {
                        c.run_once()
                            .await
                            .map(|_| false)
                            .map_err(|e| PipelineError::from(Box::new(e)))
                    }
                })
                .await
            });
        }
        {
            let p = self.clone();
            let s = shutdown.clone();
            // Leases are minutes long; checking every few seconds is plenty.
            let every = RECOVER_EVERY;
            tasks
                .spawn(async move { p.loop_step("recover", s, every, |p| p.recover_step()).await });
        }
        if self.receives() {
            let p = self.clone();
            let s = shutdown.clone();
            let every = self.inner.config.received.notifications_every;
            tasks.spawn(async move {
                p.loop_step("received", s, every, |p| p.received_step())
                    .await
            });
        }
        while tasks.join_next().await.is_some() {}
    }

    async fn prepare_step(self) -> Result<bool, PipelineError> {
        Ok(self.prepare_once().await? > 0)
    }

    async fn submit_step(self) -> Result<bool, PipelineError> {
        Ok(matches!(
            self.submit_once().await?,
            Some(outcome) if outcome != SubmitOutcome::WaitingForReconciliation
        ))
    }

    async fn poll_step(self) -> Result<bool, PipelineError> {
        Ok(self.poll_once().await? > 0)
    }

    async fn recover_step(self) -> Result<bool, PipelineError> {
        let r = self.inner.store.release_expired_leases().await?;
        if r != Default::default() {
            tracing::warn!(
                received = r.received_released,
                batched = r.batched_released,
                submissions_unknown = r.submissions_unknown,
                webhooks = r.webhooks_released,
                "recovered work whose worker vanished"
            );
        }
        Ok(false)
    }

    /// Repeats `step` until shutdown: at once while it finds work, after `idle` when it finds
    /// none, and after a growing pause (at most a minute) while it fails. Every pause ends
    /// early on shutdown.
    async fn loop_step<F, Fut>(
        &self,
        name: &'static str,
        mut shutdown: Shutdown,
        idle: Duration,
        step: F,
    ) where
        F: Fn(Pipeline) -> Fut,
        Fut: std::future::Future<Output = Result<bool, PipelineError>>,
    {
        let clock = self.inner.clock.clone();
        let mut failures: u32 = 0;
        while !shutdown.is_set() {
            let pause = match step(self.clone()).await {
                Ok(true) => {
                    failures = 0;
                    continue;
                }
                Ok(false) => {
                    failures = 0;
                    idle
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let pause = Duration::from_millis(500)
                        .saturating_mul(1 << failures.min(7))
                        .min(Duration::from_secs(60));
                    tracing::warn!(step = name, error = %e, retry_in = ?pause, "pipeline step failed");
                    pause
                }
            };
            if !shutdown.sleep(&clock, pause).await {
                break;
            }
        }
    }

    /// Runs the steps in this task until every stored document is in a final state (or
    /// `shutdown`): what `invois submit` does.
    pub async fn run_until_settled(&self, mut shutdown: Shutdown) -> Result<(), PipelineError> {
        let clock = self.inner.clock.clone();
        loop {
            if shutdown.is_set() {
                return Ok(());
            }
            let mut busy = false;
            busy |= self.prepare_once().await? > 0;
            busy |= matches!(
                self.submit_once().await?,
                Some(o) if o != SubmitOutcome::WaitingForReconciliation
            );
            busy |= self.poll_once().await? > 0;
            let recovered = self.inner.store.release_expired_leases().await?;
            busy |= recovered != Default::default();
            let counts = self.inner.store.documents().count_by_state().await?;
            if counts.keys().all(|s| s.is_final()) {
                return Ok(());
            }
            if !busy && !shutdown.sleep(&clock, self.inner.config.idle).await {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_ids_differ() {
        assert_ne!(default_worker_id(), default_worker_id());
    }

    #[tokio::test]
    async fn shutdown_cuts_a_sleep_short() {
        let clock = Clock::real();
        let (trigger, mut shutdown) = Shutdown::new();
        let sleeper =
            tokio::spawn(async move { shutdown.sleep(&clock, Duration::from_secs(3600)).await });
        trigger.trigger();
        assert!(!sleeper.await.expect("task"));
    }
}
