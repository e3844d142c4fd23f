//! The gateway service: the pipeline's loops and the ERP API in one process, stopped together.

use std::net::SocketAddr;
use std::sync::Arc;

use invois_sign::Signer;

use crate::clients::ClientPool;
use crate::http::{self, ApiState};
use crate::pipeline::{Pipeline, PipelineConfig, Shutdown};
use crate::store::Store;

/// Everything a gateway process runs.
#[derive(Debug, Clone)]
pub struct Gateway {
    store: Arc<dyn Store>,
    pipeline: Pipeline,
    api: ApiState,
}

impl Gateway {
    /// A gateway over `store`, submitting with `clients` (and `signer`, if any).
    pub fn new(
        store: Arc<dyn Store>,
        clients: ClientPool,
        signer: Option<Arc<Signer>>,
        config: PipelineConfig,
    ) -> Gateway {
        let clock = clients.base().clock().clone();
        let pipeline = Pipeline::new(Arc::clone(&store), clients.clone(), signer, config);
        let api = ApiState::new(Arc::clone(&store), clients, clock);
        Gateway {
            store,
            pipeline,
            api,
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The pipeline.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// The API's shared state.
    pub fn api_state(&self) -> &ApiState {
        &self.api
    }

    /// The whole HTTP surface: the ERP API (and whatever else is merged into it later).
    pub fn router(&self) -> axum::Router {
        http::router(self.api.clone())
    }

    /// Serves the API on `listener` and runs the pipeline until `shutdown`; in-flight
    /// requests finish, and every loop stops after its current step.
    pub async fn run(
        self,
        listener: tokio::net::TcpListener,
        shutdown: Shutdown,
    ) -> std::io::Result<()> {
        let pipeline = self.pipeline.clone();
        let loops = {
            let s = shutdown.clone();
            tokio::spawn(async move { pipeline.run(s).await })
        };
        let mut stop = shutdown.clone();
        let server = axum::serve(
            listener,
            self.router()
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { stop.wait().await });
        let served = server.await;
        let _ = loops.await;
        served
    }
}
