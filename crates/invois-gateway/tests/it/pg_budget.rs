//! The PostgreSQL rate budget: the same sliding window and pauses as the in-process budget,
//! exact across processes (separate pools), and shared by clients against the sandbox.
//!
//! Runs only when `TEST_DATABASE_URL` is set; each case gets its own schema.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use invois_client::api::RateClass;
use invois_client::{Admission, BudgetKey, Client, InProcessBudget, Quota, RateBudget, RateLimits};
use invois_gateway::budget::PgRateBudget;
use invois_testkit::{CallObserver, CallRecord, Fixtures, TestSandbox};
use sqlx::postgres::PgConnectOptions;

/// Runs `case` with connect options pointing at a fresh schema, then drops the schema.
async fn with_schema<F, Fut>(name: &str, case: F)
where
    F: FnOnce(PgConnectOptions) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    crate::common::with_pg_schema(name, case).await;
}

fn t(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
}

const KEY: BudgetKey<'static> = BudgetKey {
    client_id: "client-1",
    class: RateClass::SearchDocuments,
};

/// Asks both budgets the same question and insists on the same answer.
async fn both(
    pg: &PgRateBudget,
    mem: &InProcessBudget,
    key: BudgetKey<'_>,
    quota: Option<Quota>,
    now: DateTime<Utc>,
) -> Admission {
    let a = pg.try_acquire(key, quota, now).await.unwrap();
    let b = mem.try_acquire(key, quota, now).await.unwrap();
    assert_eq!(a, b, "PostgreSQL and in-process disagree at {now}");
    a
}

#[tokio::test]
async fn admits_exactly_the_quota_then_names_the_wait() {
    with_schema("admits_exactly_the_quota", |opts| async move {
        let pg = PgRateBudget::connect_with(opts.clone()).await.unwrap();
        let raw = sqlx::PgPool::connect_with(opts).await.unwrap();
        let mem = InProcessBudget::new();
        let q = Some(Quota::per_minute(3));
        for i in 0..3 {
            assert_eq!(both(&pg, &mem, KEY, q, t(i)).await, Admission::Granted);
        }
        // The fourth inside the window waits for the first to leave it.
        assert_eq!(
            both(&pg, &mem, KEY, q, t(10)).await,
            Admission::WaitUntil(t(60))
        );
        assert_eq!(
            both(&pg, &mem, KEY, q, t(59)).await,
            Admission::WaitUntil(t(60))
        );
        // Another client id and another class have budgets of their own.
        let other = BudgetKey {
            client_id: "client-2",
            ..KEY
        };
        assert_eq!(both(&pg, &mem, other, q, t(10)).await, Admission::Granted);
        let class = BudgetKey {
            class: RateClass::SubmitDocuments,
            ..KEY
        };
        assert_eq!(both(&pg, &mem, class, q, t(10)).await, Admission::Granted);
        // Unlimited classes are always admitted, zero budgets never.
        assert_eq!(both(&pg, &mem, KEY, None, t(11)).await, Admission::Granted);
        let zero = Some(Quota {
            requests: 0,
            window: Duration::from_secs(60),
        });
        assert_eq!(
            both(&pg, &mem, other, zero, t(12)).await,
            Admission::WaitUntil(t(72))
        );
        // Exactly three rows hold the window: nothing was counted for the refusals.
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM rate_grants WHERE client_id = 'client-1' \
             AND class = 'search_documents'",
        )
        .fetch_one(&raw)
        .await
        .unwrap();
        assert_eq!(n, 3);
        raw.close().await;
        pg.close().await;
    })
    .await;
}

#[tokio::test]
async fn the_window_slides() {
    with_schema("the_window_slides", |opts| async move {
        let pg = PgRateBudget::connect_with(opts).await.unwrap();
        let mem = InProcessBudget::new();
        let q = Some(Quota {
            requests: 2,
            window: Duration::from_secs(10),
        });
        // Grants at 0 and 4; at 10 the first leaves, at 14 the second.
        assert_eq!(both(&pg, &mem, KEY, q, t(0)).await, Admission::Granted);
        assert_eq!(both(&pg, &mem, KEY, q, t(4)).await, Admission::Granted);
        assert_eq!(
            both(&pg, &mem, KEY, q, t(9)).await,
            Admission::WaitUntil(t(10))
        );
        assert_eq!(both(&pg, &mem, KEY, q, t(10)).await, Admission::Granted);
        assert_eq!(
            both(&pg, &mem, KEY, q, t(11)).await,
            Admission::WaitUntil(t(14))
        );
        assert_eq!(both(&pg, &mem, KEY, q, t(14)).await, Admission::Granted);
        // Long after, the whole quota is free again.
        assert_eq!(both(&pg, &mem, KEY, q, t(100)).await, Admission::Granted);
        assert_eq!(both(&pg, &mem, KEY, q, t(100)).await, Admission::Granted);
        assert_eq!(
            both(&pg, &mem, KEY, q, t(100)).await,
            Admission::WaitUntil(t(110))
        );
        // Sub-microsecond caller times never admit early.
        let just_before = t(110) - chrono::Duration::nanoseconds(1);
        assert_eq!(
            both(&pg, &mem, KEY, q, just_before).await,
            Admission::WaitUntil(t(110))
        );
        pg.close().await;
    })
    .await;
}

#[tokio::test]
async fn a_pause_is_shared_and_never_shortened() {
    with_schema("a_pause_is_shared", |opts| async move {
        // Two processes: separate pools on the same schema.
        let a = PgRateBudget::connect_with(opts.clone()).await.unwrap();
        let b = PgRateBudget::connect_with(opts).await.unwrap();
        let mem = InProcessBudget::new();
        let q = Some(Quota::per_minute(300));
        for budget in [&a as &dyn RateBudget, &mem] {
            budget.pause(KEY, t(30)).await.unwrap();
            budget.pause(KEY, t(20)).await.unwrap();
        }
        assert_eq!(a.paused_until(KEY).await.unwrap(), Some(t(30)));
        assert_eq!(mem.paused_until(KEY), Some(t(30)));
        // The other process sees the pause a set.
        assert_eq!(
            b.try_acquire(KEY, q, t(5)).await.unwrap(),
            Admission::WaitUntil(t(30))
        );
        assert_eq!(
            mem.try_acquire(KEY, q, t(5)).await.unwrap(),
            Admission::WaitUntil(t(30))
        );
        assert_eq!(both(&b, &mem, KEY, q, t(30)).await, Admission::Granted);
        // An unlimited class still honours a pause, set here by the other process.
        b.pause(KEY, t(90)).await.unwrap();
        mem.pause(KEY, t(90)).await.unwrap();
        assert_eq!(
            both(&a, &mem, KEY, None, t(40)).await,
            Admission::WaitUntil(t(90))
        );
        assert_eq!(both(&a, &mem, KEY, None, t(91)).await, Admission::Granted);
        // Once expired and cleared, an earlier pause than the old one is recorded as given.
        a.pause(KEY, t(95)).await.unwrap();
        mem.pause(KEY, t(95)).await.unwrap();
        assert_eq!(a.paused_until(KEY).await.unwrap(), Some(t(95)));
        assert_eq!(
            both(&b, &mem, KEY, None, t(92)).await,
            Admission::WaitUntil(t(95))
        );
        a.close().await;
        b.close().await;
    })
    .await;
}

#[tokio::test]
async fn two_processes_hammering_one_key_grant_exactly_the_quota() {
    with_schema("two_processes_hammering", |opts| async move {
        const QUOTA: u32 = 25;
        let a = PgRateBudget::connect_with(opts.clone()).await.unwrap();
        let b = PgRateBudget::connect_with(opts).await.unwrap();
        let q = Some(Quota::per_minute(QUOTA));
        // 8 tasks per "process", each asking 10 times at instants inside one window.
        let mut tasks = Vec::new();
        for (p, budget) in [a.clone(), b.clone()].into_iter().enumerate() {
            for task in 0..8i64 {
                let budget = budget.clone();
                tasks.push(tokio::spawn(async move {
                    let mut granted = 0u32;
                    for i in 0..10i64 {
                        let now = t(p as i64 + task + i);
                        match budget.try_acquire(KEY, q, now).await.unwrap() {
                            Admission::Granted => granted += 1,
                            Admission::WaitUntil(at) => assert!(at > now, "{at} <= {now}"),
                        }
                    }
                    granted
                }));
            }
        }
        let mut granted = 0;
        for task in tasks {
            granted += task.await.unwrap();
        }
        // 160 asks, all within 60 s of each other: exactly the quota got through.
        assert_eq!(granted, QUOTA);
        // After the window, the next window's quota, again exactly.
        let mut later = 0;
        for i in 0..(QUOTA as i64 + 5) {
            let budget = if i % 2 == 0 { &a } else { &b };
            if budget.try_acquire(KEY, q, t(200)).await.unwrap() == Admission::Granted {
                later += 1;
            }
        }
        assert_eq!(later, QUOTA);
        a.close().await;
        b.close().await;
    })
    .await;
}

#[derive(Default)]
struct Calls(std::sync::Mutex<Vec<CallRecord>>);

impl CallObserver for Calls {
    fn on_call(&self, record: &CallRecord) {
        self.0.lock().unwrap().push(record.clone());
    }
}

#[tokio::test]
async fn two_clients_sharing_the_pg_budget_earn_no_429() {
    with_schema("two_clients_sharing", |opts| async move {
        two_instances_one_client_id(opts, false).await;
    })
    .await;
}

#[tokio::test]
async fn taxpayers_of_one_intermediary_share_its_client_id_budget() {
    with_schema("taxpayers_of_one_intermediary", |opts| async move {
        two_instances_one_client_id(opts, true).await;
    })
    .await;
}

/// Two clients with one client id, each with its own connection pool to the budget (two
/// gateway processes), search more often together than one window allows; the sandbox
/// refuses nothing. With `intermediary`, the two act for two different taxpayers
/// (`onbehalfof`) under one intermediary client id: LHDN counts them together.
async fn two_instances_one_client_id(opts: PgConnectOptions, intermediary: bool) {
    let calls = Arc::new(Calls::default());
    let mut fixtures = Fixtures::demo();
    let second_taxpayer = fixtures.taxpayers[1].tin.clone();
    fixtures.intermediaries[0]
        .represents
        .push(second_taxpayer.clone());
    // The sandbox allows 3 searches a minute per client id.
    let sandbox = TestSandbox::builder()
        .time_scale(30.0)
        .fixtures(fixtures)
        .rate_limit(RateClass::SearchDocuments, 3)
        .observer(calls.clone())
        .start()
        .await
        .unwrap();
    // The clients count 3 per 65 s: the 5 s over the sandbox's minute absorb the scheduling
    // jitter between a grant and the request's arrival (5 s of clock is 170 ms of real time
    // here). Without a shared budget each client would send 3 in the first minute, 6 in
    // all, and the sandbox would refuse some.
    let limits = RateLimits::default().with_quota(
        RateClass::SearchDocuments,
        Quota {
            requests: 3,
            window: Duration::from_secs(65),
        },
    );
    let who = if intermediary {
        sandbox.intermediary()
    } else {
        sandbox.supplier()
    };
    let client = |budget: PgRateBudget, obo: Option<String>| {
        let mut b = Client::builder()
            .api_base(sandbox.base_url())
            .credentials(who.client_id.clone(), who.client_secret.as_str())
            .clock(sandbox.clock().clone())
            .rate_limits(limits.clone())
            .rate_budget(budget.shared());
        if let Some(obo) = obo {
            b = b.on_behalf_of(obo);
        }
        b.build().unwrap()
    };
    let (obo_a, obo_b) = if intermediary {
        (who.on_behalf_of.clone(), Some(second_taxpayer.clone()))
    } else {
        (None, None)
    };
    let a = client(
        PgRateBudget::connect_with(opts.clone()).await.unwrap(),
        obo_a.clone(),
    );
    let b = client(
        PgRateBudget::connect_with(opts).await.unwrap(),
        obo_b.clone(),
    );
    let now = sandbox.clock().now();
    let (from, to) = (now - chrono::Duration::days(1), now);
    const EACH: usize = 4;
    let mut tasks = Vec::new();
    for c in [a.clone(), b.clone()] {
        for _ in 0..EACH {
            let c = c.clone();
            tasks.push(tokio::spawn(async move {
                c.documents()
                    .search()
                    .submission_dates(from, to)
                    .send()
                    .await
            }));
        }
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let searches: Vec<CallRecord> = calls
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.endpoint == Some(invois_client::api::Endpoint::SearchDocuments))
        .cloned()
        .collect();
    // More than one window's worth went through, every one admitted first time.
    assert_eq!(searches.len(), 2 * EACH);
    assert!(searches.iter().all(|r| r.status == 200), "{searches:?}");
    if intermediary {
        for obo in [&obo_a, &obo_b] {
            let n = searches
                .iter()
                .filter(|r| r.on_behalf_of.as_deref() == obo.as_deref())
                .count();
            assert_eq!(n, EACH, "{obo:?}: {searches:?}");
        }
    }
    let counters = sandbox.sandbox().client_counters(a.client_id());
    assert_eq!(
        counters
            .rate_limited
            .get(RateClass::SearchDocuments.key())
            .copied()
            .unwrap_or(0),
        0,
        "{counters:?}"
    );
}
