//! Issue 7 (the integration-practices report), the gateway's half: the gateway pipeline and
//! its ERP API, run through a full submit, poll and cancel cycle against the real sandbox over
//! HTTP, produce no finding at all in the sandbox's report.

use std::time::Duration;

use invois_api::RateProfile;
use invois_client::{Client, RateLimits};
use invois_clock::Clock;
use invois_gateway::clients::{ClientPool, LoginMode};
use invois_gateway::http::{self, ApiState};
use invois_gateway::pipeline::{Pipeline, PipelineConfig, Shutdown};
use invois_gateway::store::{DocumentFormat, DocumentState, NewDocument};
use invois_sandbox::report::render;
use invois_testkit::{TestSandbox, samples};
use serde_json::{Value, json};

/// Runs the gateway (pipeline + ERP API) over `documents` documents (one of them sent through
/// the API and then cancelled through it) on a clock `scale` times real time, and checks the
/// sandbox's report of its calls.
async fn full_cycle_produces_no_finding(documents: usize, scale: f64) {
    assert!(documents >= 1);
    let clock = Clock::scaled(scale);
    let sandbox = TestSandbox::builder()
        .clock(clock.clone())
        .profile(RateProfile::Production)
        .validation_delay(Duration::from_secs(3))
        .with_admin()
        .start()
        .await
        .unwrap();
    let (store, _dir) = crate::common::sqlite_store(clock.clone()).await;
    let who = sandbox.supplier();
    let buyer = sandbox.buyer();
    let client = Client::builder()
        .api_base(sandbox.base_url())
        .portal_base("https://preprod.myinvois.hasil.gov.my")
        .credentials(who.client_id.clone(), who.client_secret.as_str())
        .clock(clock.clone())
        .rate_limits(RateLimits::profile(RateProfile::Production))
        .request_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let client_id = client.client_id().to_owned();
    let pool = ClientPool::new(client, LoginMode::Taxpayer);

    // The ERP API, as the gateway serves it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let api = http::router(ApiState::new(store.clone(), pool.clone(), clock.clone()));
    tokio::spawn(async move { axum::serve(listener, api).await.unwrap() });
    let (_, key) = store.api_keys().create("erp").await.unwrap();
    let erp = reqwest::Client::new();
    let post = |path: String, body: Value| {
        erp.post(format!("{base}{path}"))
            .bearer_auth(key.expose())
            .json(&body)
            .send()
    };

    let template =
        invois_testkit::fixture_json(invois_testkit::Version::V1_0, invois_testkit::Kind::Invoice);
    let invoice = |id: &str| {
        let mut doc = template.clone();
        let issued = clock.now() - chrono::Duration::minutes(5);
        samples::adapt_json(&mut doc, id, issued, &who.tin, &buyer.tin);
        doc
    };
    // One document through the ERP API (it is the one cancelled below)...
    let resp = post("/v1/documents".to_owned(), invoice("R-API"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let api_doc = resp.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    // ...and the rest straight into the outbox, as a bulk import would.
    for i in 1..documents {
        let id = format!("R-{i:06}");
        store
            .documents()
            .insert(NewDocument {
                issuer_tin: who.tin.clone(),
                type_code: "01".to_owned(),
                internal_id: id.clone(),
                version: 1,
                format: DocumentFormat::Json,
                client_id: client_id.clone(),
                on_behalf_of: None,
                received: samples::minified(&invoice(&id)),
            })
            .await
            .unwrap();
    }

    let pipeline = Pipeline::new(
        store.clone(),
        pool,
        None,
        PipelineConfig {
            idle: Duration::from_millis(500),
            ..PipelineConfig::default()
        },
    );
    let (trigger, shutdown) = Shutdown::new();
    let runner = {
        let p = pipeline.clone();
        tokio::spawn(async move { p.run(shutdown).await })
    };
    let counts = loop {
        let counts = store.documents().count_by_state().await.unwrap();
        if counts.keys().all(|s| s.is_final()) {
            break counts;
        }
        clock.sleep(Duration::from_secs(1)).await;
    };
    assert_eq!(
        counts.get(&DocumentState::Valid).copied().unwrap_or(0) as usize,
        documents,
        "{counts:?}"
    );

    // Cancel through the ERP API, while the pipeline keeps running.
    let resp = post(
        format!("/v1/documents/{api_doc}/cancel"),
        json!({ "reason": "wrong buyer" }),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["state"], "cancelled", "{body}");
    // A few more poll cycles pass before the report is read, so anything the pipeline would
    // still do is in it.
    clock.sleep(Duration::from_secs(15)).await;
    trigger.trigger();
    runner.await.unwrap();

    let report = sandbox.sandbox().report(Some(&client_id)).unwrap();
    assert!(
        report.finding_count() == 0,
        "the gateway should produce no finding:\n{}",
        render::text(&report)
    );
    let mine = report
        .clients
        .iter()
        .find(|c| c.client_id == client_id)
        .expect("the report saw the gateway's calls");
    assert!(mine.findings.is_empty());
    let calls = |name: &str| {
        mine.endpoints
            .iter()
            .find(|e| e.endpoint == name)
            .map_or(0, |e| e.calls)
    };
    // The cycle really happened, at the sandbox: every document submitted once, polled, one
    // cancelled; one token; nothing refused with 429.
    let submissions = documents.div_ceil(100) as u64;
    assert!(
        calls("Submit Documents") >= submissions,
        "{:?}",
        mine.endpoints
    );
    assert!(
        calls("Get Submission") >= submissions,
        "{:?}",
        mine.endpoints
    );
    assert_eq!(calls("Cancel Document"), 1, "{:?}", mine.endpoints);
    // One token per lifetime (60 minutes; the client renews a few minutes early): a long run
    // on a fast clock may span more than one.
    let first = mine.endpoints.iter().map(|e| e.first_at).min().unwrap();
    let last = mine.endpoints.iter().map(|e| e.last_at).max().unwrap();
    let tokens = calls("Login as Taxpayer System");
    let lifetimes = 1 + (last - first).num_minutes() as u64 / 50;
    assert!(
        (1..=lifetimes).contains(&tokens),
        "{tokens} tokens over {} minutes: {:?}",
        (last - first).num_minutes(),
        mine.endpoints
    );
    assert!(
        mine.endpoints
            .iter()
            .all(|e| !e.statuses.contains_key(&429)),
        "{:?}",
        mine.endpoints
    );
    let copies = sandbox.sandbox().with_store(|s| s.documents().count());
    assert_eq!(copies, documents, "each document reached MyInvois once");
    let summary: Vec<(&str, u64)> = mine
        .endpoints
        .iter()
        .map(|e| (e.endpoint.as_str(), e.calls))
        .collect();
    println!(
        "{documents} documents, {} scaled minutes, no finding: {summary:?}",
        (last - first).num_minutes()
    );
}

/// The CI-sized run: 2,000 documents (20 submissions). In a debug build on two cores it took
/// about 25 s (1,000 documents took 10 s idle and 37 s while other builds ran).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_through_submit_poll_cancel_produces_no_finding() {
    full_cycle_produces_no_finding(2_000, 60.0).await;
}

/// The 20,000-document run of issue 7 (at least 200 submissions, two scaled minutes of
/// Submit budget). At 10× real time rather than 60×: preparing 20,000 documents takes the
/// machine real seconds, and at 60× the 2-second batch linger is so short that batches leave
/// a few documents at a time (still without a finding, but ten times the submissions).
/// Slow: run it in release,
/// `cargo test --release -p invois-gateway --test practices_report -- --ignored`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "20,000 documents: minutes in a debug build; run in release"]
async fn twenty_thousand_documents_produce_no_finding() {
    full_cycle_produces_no_finding(20_000, 10.0).await;
}
