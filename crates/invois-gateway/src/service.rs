//! The gateway service: the pipeline's loops, the webhook relay and deliverer, and the HTTP
//! surface (ERP API, webhook log, metrics, dashboard) in one process, stopped together.

use std::sync::Arc;

use axum::middleware::from_fn_with_state;
use invois_sign::Signer;

use crate::clients::ClientPool;
use crate::http::{self, ApiState};
use crate::login::LoginWatch;
use crate::metrics::Metrics;
use crate::pipeline::{Pipeline, PipelineConfig, Shutdown};
use crate::store::Store;
use crate::webhooks::{WebhookConfig, WebhookError, Webhooks};
use crate::{dashboard, metrics, webhooks};

/// Everything a gateway process runs.
#[derive(Debug, Clone)]
pub struct Gateway {
    store: Arc<Store>,
    pipeline: Pipeline,
    api: ApiState,
    metrics: Metrics,
    webhooks: Option<Webhooks>,
    login: LoginWatch,
}

impl Gateway {
    /// A gateway over `store`, submitting with `clients` (and `signer`, if any). For the
    /// client's calls to show in `/metrics`, build its client with
    /// `.observer(Arc::new(config.metrics.clone()))`.
    pub fn new(
        store: Arc<Store>,
        clients: ClientPool,
        signer: Option<Arc<Signer>>,
        config: PipelineConfig,
    ) -> Gateway {
        let clock = clients.base().clock().clone();
        let metrics = config.metrics.clone();
        let consolidation = config.consolidation.clone();
        let pipeline = Pipeline::new(Arc::clone(&store), clients.clone(), signer, config);
        let login =
            LoginWatch::new(Arc::clone(&store), clients.clone()).with_metrics(metrics.clone());
        let api =
            ApiState::new(Arc::clone(&store), clients, clock).with_consolidation(consolidation);
        Gateway {
            store,
            pipeline,
            api,
            metrics,
            webhooks: None,
            login,
        }
    }

    /// Also notifies the ERP of every status change at `config.url`.
    pub fn with_webhooks(mut self, config: WebhookConfig) -> Result<Gateway, WebhookError> {
        let hooks = Webhooks::new(
            Arc::clone(&self.store),
            self.pipeline.clock().clone(),
            config,
        )?
        .with_worker(self.pipeline.config().worker.clone())
        .with_metrics(self.metrics.clone());
        self.webhooks = Some(hooks);
        Ok(self)
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The pipeline.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// What records a login MyInvois refused for good (see [`crate::login`]).
    pub fn login_watch(&self) -> &LoginWatch {
        &self.login
    }

    /// The API's shared state.
    pub fn api_state(&self) -> &ApiState {
        &self.api
    }

    /// The whole HTTP surface: the ERP API and the webhook log (both behind API keys), and
    /// `/metrics` (read-only, no document content; bind the gateway to a private address)
    /// and the dashboard (behind a session of an API key).
    pub fn router(&self) -> axum::Router {
        let hooks = webhooks::routes(Arc::clone(&self.store)).layer(from_fn_with_state(
            Arc::clone(&self.store),
            http::require_api_key,
        ));
        http::router(self.api.clone())
            .merge(hooks)
            .merge(metrics::routes(
                self.metrics.clone(),
                Arc::clone(&self.store),
            ))
            .merge(dashboard::routes(self.api.clone(), self.metrics.clone()))
            // Outermost, so that a panic's answer gets a correlation id too.
            .layer(tower_http::catch_panic::CatchPanicLayer::custom(
                http::panicked,
            ))
            .layer(axum::middleware::from_fn(http::correlate))
    }

    /// Serves the HTTP surface on `listener` and runs the pipeline (and webhooks) until
    /// `shutdown`; in-flight requests finish, and every loop stops after its current step.
    pub async fn run(
        self,
        listener: tokio::net::TcpListener,
        shutdown: Shutdown,
    ) -> std::io::Result<()> {
        // Before the pipeline starts: a halt recorded under the same credentials holds, so
        // a restart sends no login MyInvois already refused.
        if let Err(e) = self.login.restore().await {
            tracing::error!(error = %e, "could not read the recorded login halt");
        }
        let login = tokio::spawn(self.login.clone().run(shutdown.clone()));
        let pipeline = self.pipeline.clone();
        let loops = {
            let s = shutdown.clone();
            tokio::spawn(async move { pipeline.run(s).await })
        };
        let hooks = self
            .webhooks
            .clone()
            .map(|h| tokio::spawn(h.run(shutdown.receiver())));
        let mut stop = shutdown.clone();
        // invois-serve answers request heads hyper would refuse bare in the envelope too.
        let served = invois_serve::Server::new(self.router(), http::refused)
            .serve(listener, async move { stop.wait().await })
            .await;
        let _ = loops.await;
        let _ = login.await;
        if let Some(h) = hooks {
            let _ = h.await;
        }
        served
    }
}
