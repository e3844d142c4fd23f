//! A login MyInvois refuses for good (issue 16), through the gateway: the real client against
//! the real sandbox over HTTP on port 0, the store on SQLite (and PostgreSQL when
//! `TEST_DATABASE_URL` is set), and a clock moved by hand. Sending halts (nothing claimed,
//! nothing lost), `/ready`, the dashboard, `/metrics` and a webhook say why and what to do,
//! and a login is sent again only after an hour, on an operator's command, or with new
//! credentials.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::post;
use bytes::Bytes;
use invois_client::Client;
use invois_gateway::clients::{ClientPool, LoginMode};
use invois_gateway::metrics::Metrics;
use invois_gateway::pipeline::{PipelineConfig, PipelineError, SubmitOutcome};
use invois_gateway::service::Gateway;
use invois_gateway::store::*;
use invois_gateway::webhooks::{WebhookConfig, WebhookSecret, Webhooks};
use invois_testkit::{TestSandbox, samples};
use serde_json::Value;

use crate::hooks_common::Harness;

const WRONG_SECRET: &str = "not-the-secret-91c2d7";

/// The ERP's webhook endpoint: every (event, body) it got.
#[derive(Clone, Default)]
struct Erp(Arc<Mutex<Vec<(String, Value)>>>);

impl Erp {
    async fn start(&self) -> url::Url {
        let got = self.clone();
        let app = Router::new().route(
            "/hooks",
            post(move |headers: HeaderMap, body: Bytes| async move {
                let event = headers
                    .get("x-invois-event")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                got.0.lock().unwrap().push((event, body));
                axum::http::StatusCode::OK
            }),
        );
        url::Url::parse(&format!("{}/hooks", serve(app).await)).unwrap()
    }

    /// The login events (`client.*`) it got; document events are another test's business.
    fn events(&self) -> Vec<(String, Value)> {
        let got = self.0.lock().unwrap();
        got.iter()
            .filter(|(event, _)| event.starts_with("client."))
            .cloned()
            .collect()
    }
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// A gateway logging in to `sandbox` as its demo supplier with `secret`, on `store`, its
/// HTTP surface served on port 0.
struct Running {
    gateway: Gateway,
    base: String,
    key: String,
}

async fn gateway(h: &Harness, sandbox: &TestSandbox, secret: &str) -> Running {
    let metrics = Metrics::new();
    let who = sandbox.supplier();
    let client = Client::builder()
        .api_base(sandbox.base_url())
        .credentials(who.client_id, secret)
        .clock(h.clock.clone())
        .observer(Arc::new(metrics.clone()))
        .request_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let config = PipelineConfig {
        metrics: metrics.clone(),
        ..PipelineConfig::default()
    };
    let gateway = Gateway::new(
        h.store.clone(),
        ClientPool::new(client, LoginMode::Taxpayer),
        None,
        config,
    );
    let (_, key) = h.store.api_keys().create("ops").await.unwrap();
    let base = serve(gateway.router()).await;
    Running {
        gateway,
        base,
        key: key.expose().to_owned(),
    }
}

impl Running {
    fn client_id(&self) -> String {
        self.gateway.pipeline().clients().client_id().to_owned()
    }

    async fn get(&self, path: &str) -> (u16, String) {
        // The API key opens the dashboard too (and /ready and /metrics ignore it).
        let r = reqwest::Client::new()
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn resume(&self) -> (u16, Value) {
        let r = reqwest::Client::new()
            .post(format!(
                "{}/v1/clients/{}/resume",
                self.base,
                self.client_id()
            ))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    /// One submit step and one poll step, as the pipeline's loops run them.
    async fn step(&self) -> Result<Option<SubmitOutcome>, PipelineError> {
        let p = self.gateway.pipeline();
        p.prepare_once().await.unwrap();
        let outcome = p.submit_once().await;
        p.poll_once().await.unwrap();
        outcome
    }
}

async fn store_invoice(h: &Harness, sandbox: &TestSandbox, id: &str) -> DocumentId {
    let who = sandbox.supplier();
    let mut doc =
        invois_testkit::fixture_json(invois_testkit::Version::V1_0, invois_testkit::Kind::Invoice);
    let issued = h.clock.now() - chrono::Duration::minutes(5);
    samples::adapt_json(&mut doc, id, issued, &who.tin, &sandbox.buyer().tin);
    h.store
        .documents()
        .insert(NewDocument {
            issuer_tin: who.tin.clone(),
            type_code: "01".to_owned(),
            internal_id: id.to_owned(),
            version: 1,
            format: DocumentFormat::Json,
            client_id: who.client_id.clone(),
            on_behalf_of: None,
            received: samples::minified(&doc),
        })
        .await
        .unwrap()
        .document
        .id
}

fn failed_logins(sandbox: &TestSandbox) -> u64 {
    sandbox
        .sandbox()
        .client_counters(&sandbox.supplier().client_id)
        .failed_logins
}

fn gauge(text: &str, client_id: &str) -> Option<f64> {
    let series = format!("invois_login_halted{{client_id=\"{client_id}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(series.as_str()))
        .map(|v| v.trim().parse().unwrap())
}

async fn deliver(h: &Harness, url: &url::Url) {
    let hooks = Webhooks::new(
        h.store.clone(),
        h.clock.clone(),
        WebhookConfig::new(url.clone(), WebhookSecret::new("whsec_login_halt_test")),
    )
    .unwrap();
    hooks.run_once().await.unwrap();
}

pub(super) mod cases {
    use super::*;

    /// A wrong secret: one refused login halts sending and says so everywhere; 59 minutes
    /// later nothing more was sent; after the hour one login is tried; an operator's resume
    /// with the secret still wrong is refused; a restart with the same secret stays halted,
    /// and one with the right secret resumes.
    pub(crate) async fn a_refused_login_halts_sending_until_the_cause_is_fixed(h: Harness) {
        let sandbox = TestSandbox::builder()
            .clock(h.clock.clone())
            .start()
            .await
            .unwrap();
        let erp = Erp::default();
        let hooks_url = erp.start().await;
        let g = gateway(&h, &sandbox, WRONG_SECRET).await;
        let client_id = g.client_id();
        g.gateway.login_watch().restore().await.unwrap();
        let doc = store_invoice(&h, &sandbox, "HALT-1").await;

        // One refused login: the batch goes back to prepared, the submission is not received.
        let err = g.step().await.unwrap_err();
        assert!(
            matches!(
                err,
                PipelineError::Api(invois_client::Error::Login(ref f)) if f.status == 400
            ),
            "{err:?}"
        );
        assert_eq!(failed_logins(&sandbox), 1);
        let d = h.store.documents().get(doc).await.unwrap();
        assert_eq!(d.state, DocumentState::Prepared);
        let subs = h
            .store
            .submissions()
            .list(&SubmissionFilter::default())
            .await
            .unwrap();
        assert_eq!(subs.len(), 1);
        assert_eq!(subs[0].state, SubmissionState::NotReceived);

        // Surfaced: /ready, the dashboard, the gauge and one webhook, none with the secret.
        g.gateway.login_watch().sync().await.unwrap();
        let (status, ready) = g.get("/ready").await;
        assert_eq!(status, 503, "{ready}");
        for part in [
            "login_halted",
            "invalid_client",
            "View and Register ERP",
            "correlationId",
            &format!("/v1/clients/{client_id}/resume"),
        ] {
            assert!(ready.contains(part), "{part} in {ready}");
        }
        let (_, page) = g.get("/dashboard").await;
        assert!(
            page.contains("Sending halted") && page.contains("invalid_client"),
            "{page}"
        );
        let (_, metrics) = g.get("/metrics").await;
        assert_eq!(gauge(&metrics, &client_id), Some(1.0), "{metrics}");
        deliver(&h, &hooks_url).await;
        let events = erp.events();
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].0, "client.login_halted");
        assert_eq!(events[0].1["client_id"], client_id.as_str());
        assert_eq!(events[0].1["halt"]["code"], "invalid_client");
        assert_eq!(events[0].1["halt"]["status"], 400);
        for text in [&ready, &page, &metrics, &events[0].1.to_string()] {
            assert!(!text.contains(WRONG_SECRET));
        }

        // Nothing claimed and no login sent while the clock moves on, short of the hour.
        for _ in 0..3 {
            h.clock.advance(Duration::from_secs(19 * 60 + 50));
            assert_eq!(g.step().await.unwrap(), None);
        }
        assert_eq!(failed_logins(&sandbox), 1);
        assert_eq!(
            h.store.documents().get(doc).await.unwrap().state,
            DocumentState::Prepared
        );

        // The hour is up: one login, refused again; the halt is renewed, not announced again.
        h.clock.advance(Duration::from_secs(30));
        g.step().await.unwrap_err();
        assert_eq!(failed_logins(&sandbox), 2);
        assert_eq!(g.step().await.unwrap(), None);
        assert_eq!(failed_logins(&sandbox), 2);
        g.gateway.login_watch().sync().await.unwrap();
        let halt = h
            .store
            .login_halts()
            .get(&client_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(halt.refusals, 2);

        // An operator resumes, but the secret is still wrong: refused, still halted.
        let (status, body) = g.resume().await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["error"]["code"], "login_refused");
        assert_eq!(failed_logins(&sandbox), 3);
        deliver(&h, &hooks_url).await;
        assert_eq!(
            erp.events().len(),
            1,
            "a renewed halt is not announced again"
        );

        // A restart with the same secret stays halted: no login at all.
        let again = gateway(&h, &sandbox, WRONG_SECRET).await;
        again.gateway.login_watch().restore().await.unwrap();
        assert_eq!(again.step().await.unwrap(), None);
        assert_eq!(again.get("/ready").await.0, 503);
        assert_eq!(failed_logins(&sandbox), 3);

        // A restart with the right secret is a configuration change: sending resumes.
        let fixed = gateway(&h, &sandbox, &sandbox.supplier().client_secret).await;
        fixed.gateway.login_watch().restore().await.unwrap();
        assert!(matches!(
            fixed.step().await.unwrap(),
            Some(SubmitOutcome::Accepted(_))
        ));
        assert_eq!(
            h.store.documents().get(doc).await.unwrap().state,
            DocumentState::Submitted
        );
        assert_eq!(fixed.get("/ready").await.0, 200);
        let (_, metrics) = fixed.get("/metrics").await;
        assert_eq!(gauge(&metrics, &client_id), Some(0.0), "{metrics}");
        deliver(&h, &hooks_url).await;
        let events = erp.events();
        assert_eq!(events.len(), 2, "{events:?}");
        assert_eq!(events[1].0, "client.login_resumed");
        assert_eq!(events[1].1["halt"], Value::Null);
        assert_eq!(failed_logins(&sandbox), 3);
    }

    /// A halt recorded under credentials that are right (LHDN had blocked the ERP user, say)
    /// holds across a restart; once fixed on LHDN's side, the operator's resume sends one
    /// login, which is accepted, and sending goes on.
    pub(crate) async fn an_operator_resumes_a_halt_once_its_cause_is_fixed(h: Harness) {
        let sandbox = TestSandbox::builder()
            .clock(h.clock.clone())
            .start()
            .await
            .unwrap();
        let g = gateway(&h, &sandbox, &sandbox.supplier().client_secret).await;
        let client_id = g.client_id();
        let pool = g.gateway.pipeline().clients();
        let now = h.clock.now();
        let blocked = LoginHaltRecord {
            client_id: client_id.clone(),
            fingerprint: pool.login_fingerprint(),
            on_behalf_of: None,
            token_url: format!("{}/connect/token", sandbox.base_url()),
            status: 400,
            correlation_id: Some("TEST:0001".to_owned()),
            body: r#"{"error":"invalid_client","error_description":"User blocked"}"#.to_owned(),
            halted_at: now,
            refused_at: now,
            retry_at: now + chrono::Duration::hours(1),
            refusals: 1,
        };
        let announce = invois_gateway::webhooks::login_announcement(&client_id, None, now);
        h.store
            .login_halts()
            .record(&blocked, &announce)
            .await
            .unwrap();
        g.gateway.login_watch().restore().await.unwrap();
        let doc = store_invoice(&h, &sandbox, "HALT-2").await;
        assert_eq!(g.step().await.unwrap(), None);
        let (status, ready) = g.get("/ready").await;
        assert_eq!(status, 503);
        assert!(ready.contains("User blocked"), "{ready}");
        let logins = || {
            sandbox
                .sandbox()
                .report(Some(&client_id))
                .map_or(0, |r| r.clients.iter().map(|c| c.calls).sum::<u64>())
        };
        assert_eq!(logins(), 0, "nothing sent while halted");

        let (status, body) = g.resume().await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["state"], "running");
        assert_eq!(logins(), 1);
        assert!(
            h.store
                .login_halts()
                .get(&client_id)
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(g.get("/ready").await.0, 200);
        assert!(matches!(
            g.step().await.unwrap(),
            Some(SubmitOutcome::Accepted(_))
        ));
        assert_eq!(
            h.store.documents().get(doc).await.unwrap().state,
            DocumentState::Submitted
        );
        // Another client id is not this gateway's to resume.
        let r = reqwest::Client::new()
            .post(format!("{}/v1/clients/someone-else/resume", g.base))
            .bearer_auth(&g.key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 404);
    }
}

store_cases!(
    a_refused_login_halts_sending_until_the_cause_is_fixed,
    an_operator_resumes_a_halt_once_its_cause_is_fixed,
);
