//! Two gateway instances on one PostgreSQL database (issue 6 item 7): they share the work
//! (claims with SKIP LOCKED), never submit a document twice, and together stay within one
//! client id's rate budget (the budget lives in the database). Needs `TEST_DATABASE_URL`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use invois_api::{RateClass, RateProfile};
use invois_client::{Client, RateLimits};
use invois_clock::Clock;
use invois_gateway::budget::PgRateBudget;
use invois_gateway::clients::{ClientPool, LoginMode};
use invois_gateway::pipeline::{Pipeline, PipelineConfig, Shutdown};
use invois_gateway::store::{
    DocumentFormat, DocumentState, NewDocument, Store, SubmissionFilter, SubmissionState,
};
use invois_testkit::{TestSandbox, samples};

const SUBMIT_RPM: u32 = 20;
const POLL_RPM: u32 = 60;

/// One instance: its own store connection pool, its own budget connection pool, its own
/// client (same client id), its own worker id.
async fn instance(
    schema: &crate::common::PgSchema,
    sandbox: &TestSandbox,
    clock: &Clock,
    worker: &str,
) -> (Pipeline, Arc<Store>) {
    let store = crate::common::pg_store(schema.options(), clock.clone()).await;
    let budget = PgRateBudget::from_db(store.db())
        .expect("a PostgreSQL store")
        .shared();
    let who = sandbox.supplier();
    let limits = RateLimits::profile(RateProfile::Production)
        .with_rpm(RateClass::SubmitDocuments, Some(SUBMIT_RPM))
        .with_rpm(RateClass::GetSubmission, Some(POLL_RPM));
    let client = Client::builder()
        .api_base(sandbox.base_url())
        .credentials(who.client_id, who.client_secret.as_str())
        .clock(clock.clone())
        .rate_limits(limits)
        .rate_budget(budget)
        .build()
        .unwrap();
    let store: Arc<Store> = Arc::new(store);
    let pipeline = Pipeline::new(
        Arc::clone(&store),
        ClientPool::new(client, LoginMode::Taxpayer),
        None,
        PipelineConfig {
            worker: worker.to_owned(),
            // Small batches: many submissions, so both instances get a share and the
            // submit budget is what limits them.
            max_documents: 5,
            batch_linger: Duration::ZERO,
            idle: Duration::from_millis(500),
            ..PipelineConfig::default()
        },
    );
    (pipeline, store)
}

#[tokio::test]
async fn two_instances_share_work_and_one_budget() {
    let Some(schema) = crate::common::pg_schema("two_instances_share_work_and_one_budget").await
    else {
        return;
    };
    // A modest scale: at 60x one real millisecond of scheduling delay is 60 ms of sandbox
    // time, and on a loaded 2-core CI machine that alone can move an arrival across a
    // window boundary.
    let clock = Clock::scaled(4.0);
    let sandbox = TestSandbox::builder()
        .clock(clock.clone())
        .profile(RateProfile::Production)
        .rate_limit(RateClass::SubmitDocuments, SUBMIT_RPM)
        .rate_limit(RateClass::GetSubmission, POLL_RPM)
        .validation_delay(Duration::from_secs(2))
        .start()
        .await
        .unwrap();
    let (a, store_a) = instance(&schema, &sandbox, &clock, "instance-a").await;
    let (b, _store_b) = instance(&schema, &sandbox, &clock, "instance-b").await;

    let who = sandbox.supplier();
    let issued = clock.now() - chrono::Duration::minutes(5);
    for i in 0..150 {
        let id = format!("M-{i:04}");
        let mut doc = invois_testkit::fixture_json(
            invois_testkit::Version::V1_0,
            invois_testkit::Kind::Invoice,
        );
        samples::adapt_json(&mut doc, &id, issued, &who.tin, &sandbox.buyer().tin);
        store_a
            .documents()
            .insert(NewDocument {
                issuer_tin: who.tin.clone(),
                type_code: "01".to_owned(),
                internal_id: id,
                version: 1,
                format: DocumentFormat::Json,
                client_id: who.client_id.clone(),
                on_behalf_of: None,
                received: samples::minified(&doc),
            })
            .await
            .unwrap();
    }

    let (trigger, shutdown) = Shutdown::new();
    let runs = [a.clone(), b.clone()].map(|p| {
        let s = shutdown.clone();
        tokio::spawn(async move { p.run(s).await })
    });
    let started = clock.now();
    let counts = tokio::time::timeout(Duration::from_secs(200), async {
        loop {
            let counts = store_a.documents().count_by_state().await.unwrap();
            if counts.keys().all(|s| s.is_final()) {
                return counts;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("both instances finish the work");
    let elapsed = clock.now() - started;
    trigger.trigger();
    for r in runs {
        r.await.unwrap();
    }

    assert_eq!(counts.get(&DocumentState::Valid), Some(&150), "{counts:?}");
    // Nothing submitted twice: MyInvois holds exactly one copy of each.
    let copies: HashMap<String, usize> = sandbox.sandbox().with_store(|s| {
        let mut m = HashMap::new();
        for d in s.documents() {
            *m.entry(d.summary().internal_id).or_insert(0) += 1;
        }
        m
    });
    assert_eq!(copies.len(), 150);
    assert!(copies.values().all(|n| *n == 1), "{copies:?}");
    // Both instances did part of the work.
    let subs = store_a
        .submissions()
        .list(&SubmissionFilter {
            limit: 1000,
            ..SubmissionFilter::default()
        })
        .await
        .unwrap();
    assert!(
        subs.iter().all(|s| s.state == SubmissionState::Accepted),
        "{subs:?}"
    );
    let workers: HashSet<&str> = subs.iter().map(|s| s.worker.as_str()).collect();
    assert_eq!(workers.len(), 2, "{workers:?}");
    // Together within one budget: not one 429, although 30 submissions at 20 per minute
    // need more than a minute, which only holds if the instances counted each other.
    let counters = sandbox.sandbox().client_counters(&who.client_id);
    assert!(
        counters.rate_limited.is_empty(),
        "{:?}",
        counters.rate_limited
    );
    assert!(subs.len() >= 30, "{}", subs.len());
    assert!(
        elapsed >= chrono::Duration::seconds(60),
        "30 submissions at {SUBMIT_RPM}/min took only {elapsed}"
    );
    schema.drop_schema().await;
}
