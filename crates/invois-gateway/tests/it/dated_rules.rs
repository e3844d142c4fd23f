//! The gateway applies the dated rules of the MyInvois it sends to, on its clock's day,
//! before sending: a document that environment would refuse is kept back, one it still
//! accepts goes through. Against a sandbox standing for the same environment.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use invois_api::RateProfile;
use invois_client::{Client, RateLimits};
use invois_clock::Clock;
use invois_gateway::clients::{ClientPool, LoginMode};
use invois_gateway::document_errors::ErrorStage;
use invois_gateway::pipeline::{Pipeline, PipelineConfig, Shutdown};
use invois_gateway::store::{DocumentFilter, DocumentFormat, DocumentState, NewDocument};
use invois_model::Environment;
use invois_testkit::{TestSandbox, samples};

/// Sends one invoice with a 51-character number (the 10 Dec 2025 rule allows 50: in LHDN's
/// sandbox from 15 Dec 2025, in production from 15 Aug 2026) on 10 Jan 2026, to a sandbox
/// and through a gateway both standing for `environment`; returns the document's final state
/// and whether the sandbox ever saw it.
async fn send_on_10_january_2026(environment: Environment) -> (DocumentState, Vec<String>, bool) {
    let noon_kl = Utc.with_ymd_and_hms(2026, 1, 10, 4, 0, 0).unwrap();
    let clock = Clock::starting_at(noon_kl, 60.0);
    let profile = match environment {
        Environment::Sandbox => RateProfile::Sandbox,
        Environment::Production => RateProfile::Production,
    };
    let sandbox = TestSandbox::builder()
        .clock(clock.clone())
        .profile(profile)
        .validation_delay(Duration::from_secs(3))
        .start()
        .await
        .unwrap();
    let (store, _file) = crate::common::sqlite_store(clock.clone()).await;
    let who = sandbox.supplier();
    let client = Client::builder()
        .api_base(sandbox.base_url())
        .credentials(who.client_id, who.client_secret.as_str())
        .clock(clock.clone())
        .rate_limits(RateLimits::profile(profile))
        .build()
        .unwrap();
    let id = "N".repeat(51);
    let mut doc =
        invois_testkit::fixture_json(invois_testkit::Version::V1_0, invois_testkit::Kind::Invoice);
    samples::adapt_json(
        &mut doc,
        &id,
        clock.now() - chrono::Duration::minutes(5),
        &who.tin,
        &sandbox.buyer().tin,
    );
    store
        .documents()
        .insert(NewDocument {
            issuer_tin: who.tin.clone(),
            type_code: "01".to_owned(),
            internal_id: id.clone(),
            version: 1,
            format: DocumentFormat::Json,
            client_id: client.client_id().to_owned(),
            on_behalf_of: None,
            received: samples::minified(&doc),
        })
        .await
        .unwrap();
    let config = PipelineConfig {
        environment,
        idle: Duration::from_millis(200),
        ..PipelineConfig::default()
    };
    let pipeline = Pipeline::new(
        Arc::clone(&store),
        ClientPool::new(client, LoginMode::Taxpayer),
        None,
        config,
    );
    let (_trigger, shutdown) = Shutdown::new();
    tokio::time::timeout(
        Duration::from_secs(60),
        pipeline.run_until_settled(shutdown),
    )
    .await
    .expect("settles")
    .expect("no pipeline error");
    let stored = store
        .documents()
        .list(&DocumentFilter {
            limit: 10,
            ..DocumentFilter::default()
        })
        .await
        .unwrap()
        .items
        .remove(0);
    let local: Vec<String> = stored
        .errors
        .iter()
        .filter(|e| e.stage == ErrorStage::LocalValidation)
        .map(|e| e.code.clone())
        .collect();
    let seen = sandbox
        .sandbox()
        .with_store(|s| s.documents().any(|d| d.summary().internal_id == id));
    (stored.state, local, seen)
}

#[tokio::test]
async fn a_rule_in_force_in_the_target_environment_keeps_the_document_back() {
    let (state, local, seen) = send_on_10_january_2026(Environment::Sandbox).await;
    assert_eq!(state, DocumentState::RejectedLocally);
    assert_eq!(local, ["CF002"]);
    assert!(!seen, "a document the sandbox refuses was sent");
}

#[tokio::test]
async fn a_rule_not_yet_in_force_there_does_not() {
    let (state, local, seen) = send_on_10_january_2026(Environment::Production).await;
    assert_eq!(state, DocumentState::Valid, "{local:?}");
    assert!(seen);
}
