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
    the_deadline_is_announced_once_by_webhook_and_gauge,
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

/// The consolidation deadline gauges, from one scrape's text: months pending by state, and
/// the seconds left of each (issuer, month).
fn deadline_gauges(text: &str) -> (HashMap<String, i64>, HashMap<String, i64>) {
    let (mut pending, mut seconds) = (HashMap::new(), HashMap::new());
    for line in text.lines() {
        let value = |l: &str| l.rsplit(' ').next().unwrap().parse::<i64>().unwrap();
        if let Some(rest) =
            line.strip_prefix("invois_consolidation_months_pending{deadline_state=\"")
        {
            pending.insert(rest.split('"').next().unwrap().to_owned(), value(line));
        } else if let Some(rest) = line.strip_prefix("invois_consolidation_deadline_seconds{") {
            seconds.insert(rest.split('}').next().unwrap().to_owned(), value(line));
        }
    }
    (pending, seconds)
}

/// The `consolidation.*` deliveries in the outbox: (event, payload).
async fn deadline_deliveries(store: &Store) -> Vec<(String, serde_json::Value)> {
    let mut out: Vec<(String, serde_json::Value)> = store
        .outbox()
        .list(&WebhookFilter {
            limit: 1_000,
            ..WebhookFilter::default()
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.delivery.event.starts_with("consolidation."))
        .map(|e| (e.delivery.event.clone(), e.delivery.payload.clone()))
        .collect();
    out.reverse(); // oldest first
    out
}

/// The deadline, watched on a clock moved by hand: on time, then near (one
/// `consolidation.deadline_near` per month, however many passes and instances), then passed
/// (one `consolidation.deadline_passed`); the gauges follow, for a built month and for one
/// that cannot be built (its issuer has no supplier details).
async fn the_deadline_is_announced_once_by_webhook_and_gauge(store: Arc<Store>, _clock: Clock) {
    let clock = Clock::starting_at(Utc.with_ymd_and_hms(2026, 3, 31, 15, 0, 0).unwrap(), 1.0);
    let mut other = receipt(1, 700);
    other.issuer_tin = invois_testkit::fixtures::COUNTERPARTY_TIN.to_owned();
    store
        .receipts()
        .insert_many(&[receipt(1, 1000), other])
        .await
        .unwrap();
    put_profile(&store, LineMethodName::Ranges).await;
    let metrics = invois_gateway::metrics::Metrics::new();
    let c = Consolidator::new(
        store.clone(),
        &offline_pool(&clock),
        ConsolidationConfig::default(),
    )
    .with_metrics(metrics.clone());
    // A second gateway instance on the same database.
    let twin = Consolidator::new(
        store.clone(),
        &offline_pool(&clock),
        ConsolidationConfig::default(),
    );
    let ours = format!("issuer_tin=\"{ISSUER}\",month=\"2026-03\"");
    let theirs = format!(
        "issuer_tin=\"{}\",month=\"2026-03\"",
        invois_testkit::fixtures::COUNTERPARTY_TIN
    );

    assert_eq!(c.run_once().await.unwrap(), 0, "March is still open");
    let (pending, seconds) = deadline_gauges(&metrics.render(&store).await);
    assert_eq!(pending["on_time"], 0, "an open month is not pending");
    assert!(seconds.is_empty(), "{seconds:?}");

    // Two hours later March has closed and settled: ours is built, theirs cannot be.
    clock.advance(Duration::from_secs(2 * 3600));
    assert_eq!(c.run_once().await.unwrap(), 1);
    let (pending, seconds) = deadline_gauges(&metrics.render(&store).await);
    assert_eq!(
        (pending["on_time"], pending["due_soon"], pending["overdue"]),
        (2, 0, 0)
    );
    // 17:00 UTC on 31 March to 16:00 UTC on 7 April (midnight in Kuala Lumpur after the 7th).
    let left = 7 * 24 * 3600 - 3600;
    for month in [&ours, &theirs] {
        assert!((left - 5..=left).contains(&seconds[month]), "{seconds:?}");
    }
    assert!(deadline_deliveries(&store).await.is_empty());

    // Five days on: within two days of the deadline.
    clock.advance(Duration::from_secs(5 * 24 * 3600));
    c.run_once().await.unwrap();
    c.run_once().await.unwrap();
    twin.run_once().await.unwrap();
    let (pending, _) = deadline_gauges(&metrics.render(&store).await);
    assert_eq!((pending["on_time"], pending["due_soon"]), (0, 2));
    let sent = deadline_deliveries(&store).await;
    assert_eq!(sent.len(), 2, "once per month: {sent:?}");
    let built = store
        .consolidations()
        .find(ISSUER, march())
        .await
        .unwrap()
        .unwrap();
    for (event, payload) in &sent {
        assert_eq!(event, "consolidation.deadline_near");
        assert_eq!(payload["event"], "consolidation.deadline_near");
        assert_eq!(payload["month"], "2026-03");
        assert_eq!(payload["deadline"], "2026-04-07");
        assert_eq!(payload["deadline_state"], "due_soon");
    }
    let of = |tin: &str| {
        sent.iter()
            .find(|(_, p)| p["issuer_tin"] == tin)
            .unwrap()
            .1
            .clone()
    };
    let ours_sent = of(ISSUER);
    assert_eq!(ours_sent["consolidation_id"], built.id);
    let doc = &built.summary.as_ref().unwrap().documents[0];
    assert_eq!(
        ours_sent["pending_documents"][0]["document_id"],
        doc.document_id
    );
    assert_eq!(ours_sent["pending_documents"][0]["state"], "received");
    let theirs_sent = of(invois_testkit::fixtures::COUNTERPARTY_TIN);
    assert!(theirs_sent["consolidation_id"].is_null());
    assert!(
        theirs_sent["reason"]
            .as_str()
            .unwrap()
            .contains("no supplier details"),
        "{theirs_sent}"
    );

    // The deadline passes: one deadline_passed each, the seconds go negative.
    clock.advance(Duration::from_secs(2 * 24 * 3600));
    c.run_once().await.unwrap();
    twin.run_once().await.unwrap();
    c.run_once().await.unwrap();
    let (pending, seconds) = deadline_gauges(&metrics.render(&store).await);
    assert_eq!((pending["due_soon"], pending["overdue"]), (0, 2));
    assert!(seconds[&ours] < 0 && seconds[&theirs] < 0, "{seconds:?}");
    let sent = deadline_deliveries(&store).await;
    let events: Vec<&str> = sent.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(
        events,
        [
            "consolidation.deadline_near",
            "consolidation.deadline_near",
            "consolidation.deadline_passed",
            "consolidation.deadline_passed"
        ]
    );
}

/// The whole month over HTTP: receipts posted to the ERP API (JSON and CSV), a buyer's
/// request before the month closes, March built by the month-end loop once the gateway's
/// clock passes the close, April built on demand, and every consolidated e-invoice sent by
/// the pipeline with the real client to a sandbox on port 0, where it ends valid.
mod over_http {
    use std::sync::Arc;
    use std::time::Duration;

    use chrono::{DateTime, TimeZone, Utc};
    use invois_client::Client;
    use invois_clock::Clock;
    use invois_gateway::clients::{ClientPool, LoginMode};
    use invois_gateway::consolidation::ConsolidationConfig;
    use invois_gateway::pipeline::{PipelineConfig, Shutdown};
    use invois_gateway::service::Gateway;
    use invois_gateway::store::Store;
    use invois_model::Document;
    use invois_model::consolidation::{ConsolidationContext, SplitLimits, check};
    use invois_testkit::TestSandbox;
    use reqwest::StatusCode;
    use rust_decimal::Decimal;
    use serde_json::{Value, json};

    use super::{ISSUER, LineMethodName, buyer, lines_of, supplier};

    /// 20:00 on 31 March 2026 in Kuala Lumpur: four hours before March closes.
    fn march_evening() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 31, 12, 0, 0).unwrap()
    }

    /// Late receipts may join for six hours after the close: at 60x, six real minutes, so
    /// the on-demand request below is never beaten by the loop.
    const AFTER_CLOSE: Duration = Duration::from_secs(6 * 3600);

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_month_end_to_end_sqlite() {
        let sandbox = start_sandbox().await;
        let (store, _file) = crate::common::sqlite_store(sandbox.clock().clone()).await;
        a_month_end_to_end(store, sandbox).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_month_end_to_end_postgres() {
        crate::common::with_pg_schema("consolidation_http", |options| async move {
            let sandbox = start_sandbox().await;
            let store = crate::common::pg_store(options, sandbox.clock().clone()).await;
            let shared = Arc::new(store.clone());
            crate::common::run_then_close(store, (shared, sandbox), |(store, sandbox)| {
                a_month_end_to_end(store, sandbox)
            })
            .await;
        })
        .await;
    }

    async fn start_sandbox() -> TestSandbox {
        // One real second is a minute: the pipeline's waits and validation take moments.
        TestSandbox::builder()
            .clock(Clock::starting_at(march_evening(), 60.0))
            .validation_delay(Duration::from_secs(3))
            .start()
            .await
            .unwrap()
    }

    struct Erp {
        base: String,
        key: String,
        http: reqwest::Client,
    }

    impl Erp {
        async fn send(&self, req: reqwest::RequestBuilder) -> (StatusCode, Value) {
            let resp = req.bearer_auth(&self.key).send().await.unwrap();
            let status = resp.status();
            (status, resp.json().await.unwrap_or(Value::Null))
        }

        async fn get(&self, path: &str) -> (StatusCode, Value) {
            self.send(self.http.get(format!("{}{path}", self.base)))
                .await
        }

        async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
            self.send(self.http.post(format!("{}{path}", self.base)).json(body))
                .await
        }

        async fn put(&self, path: &str, body: &Value) -> (StatusCode, Value) {
            self.send(self.http.put(format!("{}{path}", self.base)).json(body))
                .await
        }

        async fn post_csv(&self, text: &str) -> (StatusCode, Value) {
            let req = self
                .http
                .post(format!("{}/v1/receipts", self.base))
                .header("content-type", "text/csv")
                .body(text.to_owned());
            self.send(req).await
        }

        /// Waits (real time, bounded) until the document is final; returns it.
        async fn final_document(&self, id: i64) -> Value {
            for _ in 0..600 {
                let (status, doc) = self.get(&format!("/v1/documents/{id}")).await;
                assert_eq!(status, StatusCode::OK, "{doc}");
                if doc["final"] == true {
                    return doc;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("document {id} is not final after a minute");
        }

        /// Waits until the issuer's `month` has a consolidation; returns it.
        async fn consolidation_of(&self, month: &str) -> Value {
            for _ in 0..600 {
                let (_, list) = self
                    .get(&format!("/v1/consolidations?issuer_tin={ISSUER}"))
                    .await;
                if let Some(c) = list
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|c| c["month"] == month && c["state"] == "stored")
                {
                    return c.clone();
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("{month} was not consolidated");
        }
    }

    /// Receipt `n` issued `at`, as the ERP posts it.
    fn receipt_json(n: u32, at: DateTime<Utc>, amount: &str) -> Value {
        json!({"issuer_tin": ISSUER, "number": format!("R-{n:04}"),
               "issued_at": at.to_rfc3339(), "amount": amount})
    }

    async fn a_month_end_to_end(store: Arc<Store>, sandbox: TestSandbox) {
        let clock = sandbox.clock().clone();
        let login = sandbox.supplier();
        let client = Client::builder()
            .api_base(sandbox.base_url())
            .portal_base("https://preprod.myinvois.hasil.gov.my")
            .credentials(login.client_id.clone(), login.client_secret.as_str())
            .clock(clock.clone())
            .build()
            .unwrap();
        let config = PipelineConfig {
            idle: Duration::from_millis(200),
            poll_interval: (Duration::from_secs(2), Duration::from_secs(4)),
            consolidation: ConsolidationConfig {
                after_close: AFTER_CLOSE,
                // Three lines a document: the month is split, as a big month is at 1,000.
                limits: SplitLimits {
                    max_lines: 3,
                    ..SplitLimits::default()
                },
                ..ConsolidationConfig::default()
            },
            ..PipelineConfig::default()
        };
        let gateway = Gateway::new(
            Arc::clone(&store),
            ClientPool::new(client.clone(), LoginMode::Taxpayer),
            None,
            config,
        );
        let (_, secret) = store.api_keys().create("erp").await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let erp = Erp {
            base: format!("http://{}", listener.local_addr().unwrap()),
            key: secret.expose().to_owned(),
            http: reqwest::Client::new(),
        };
        let (trigger, shutdown) = Shutdown::new();
        let running = tokio::spawn(gateway.run(listener, shutdown));

        let profile = json!({"supplier": supplier(), "line_method": LineMethodName::Ranges,
                             "version": "1.0"});
        let (status, body) = erp.put(&format!("/v1/issuers/{ISSUER}"), &profile).await;
        assert_eq!(status, StatusCode::OK, "{body}");

        // March: R-0001..R-0005 and R-0007..R-0008 (R-0006 voided), one above RM10,000 and
        // one car (both excluded), then R-0011..R-0014 by CSV, two with 8 % service tax.
        let day = |d: u32| Utc.with_ymd_and_hms(2026, 3, d, 3, 0, 0).unwrap();
        let mut many: Vec<Value> = [1, 2, 3, 4, 5, 7, 8]
            .into_iter()
            .map(|n| receipt_json(n, day(n), &format!("{n}0.50")))
            .collect();
        many.push(receipt_json(9, day(9), "12000.00"));
        let mut car = receipt_json(10, day(10), "9000.00");
        car["activity"] = json!("motor_vehicle");
        many.push(car);
        let (status, body) = erp.post("/v1/receipts", &json!({"receipts": many})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["accepted"], 9, "{body}");
        let csv = format!(
            "issuer_tin,number,issued_at,amount,tax_type,tax_rate\n\
             {ISSUER},R-0011,2026-03-20T10:00:00+08:00,11.00,,\n\
             {ISSUER},R-0012,2026-03-20T11:00:00+08:00,12.00,02,8\n\
             {ISSUER},R-0013,2026-03-21T10:00:00+08:00,13.00,02,8\n\
             {ISSUER},R-0014,2026-03-31T23:00:00+08:00,14.00,,\n"
        );
        let (status, body) = erp.post_csv(&csv).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["accepted"], 4, "{body}");
        // The same CSV again is a repeat, not new receipts.
        let (_, again) = erp.post_csv(&csv).await;
        assert!(
            again["results"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["status"] == 200),
            "{again}"
        );

        // Before the close: no consolidation yet; a buyer asks for R-0004's own e-invoice.
        let (status, body) = erp
            .post(
                "/v1/consolidations",
                &json!({"issuer_tin": ISSUER, "month": "2026-03"}),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["error"]["code"], "month_open");
        let (status, individual) = erp
            .post(
                "/v1/receipts/R-0004/individual",
                &json!({"issuer_tin": ISSUER, "buyer": buyer()}),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{individual}");
        let individual_id = individual["document"]["id"].as_i64().unwrap();

        // The gateway's clock passes March's close and the late-receipt wait: the month-end
        // loop builds March by itself.
        clock.advance(Duration::from_secs(4 * 3600) + AFTER_CLOSE);
        let march = erp.consolidation_of("2026-03").await;
        assert_eq!(march["origin"], "month_end", "{march}");
        assert_eq!(march["deadline"], "2026-04-07");
        assert_eq!(march["receipts"], 10, "{march}");
        let excluded: Vec<&str> = march["excluded"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["number"].as_str().unwrap())
            .collect();
        assert_eq!(excluded, ["R-0009", "R-0010"], "{march}");
        // R-0004 left the month before it was built, so the rest are consolidated.
        let consolidated: Vec<String> = [1, 2, 3, 5, 7, 8, 11, 12, 13, 14]
            .iter()
            .map(|n| format!("R-{n:04}"))
            .collect();
        let docs = march["documents"].as_array().unwrap().clone();
        assert!(docs.len() >= 2, "split within three lines: {march}");

        let individual = erp.final_document(individual_id).await;
        assert_eq!(individual["state"], "valid", "{individual}");
        assert_eq!(individual["internal_id"], "IND-R-0004");
        // After consolidation, a request for a consolidated receipt is refused.
        let (status, body) = erp
            .post(
                "/v1/receipts/R-0001/individual",
                &json!({"issuer_tin": ISSUER, "buyer": buyer()}),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["error"]["code"], "already_consolidated");

        let mut seen = Vec::new();
        for d in &docs {
            let doc = erp.final_document(d["document_id"].as_i64().unwrap()).await;
            assert_eq!(doc["state"], "valid", "{doc}");
            seen.extend(at_myinvois(&client, &doc, 3).await);
        }
        seen.sort();
        assert_eq!(seen, consolidated, "every receipt in exactly one line");
        let (_, march) = erp
            .get(&format!("/v1/consolidations/{}", march["id"]))
            .await;
        assert_eq!(march["deadline_state"], "submitted", "{march}");
        // The month-end loop's next pass finds no month pending: the gauges say so.
        let mut scraped = String::new();
        for _ in 0..100 {
            scraped = erp
                .http
                .get(format!("{}/metrics", erp.base))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            if scraped.contains("invois_consolidation_months_pending{deadline_state=\"on_time\"} 0")
                && !scraped.contains("month=\"2026-03\"")
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(!scraped.contains("month=\"2026-03\""), "{scraped}");

        // April, built on demand an hour after it closes (before the loop would).
        let april_day = Utc.with_ymd_and_hms(2026, 4, 10, 3, 0, 0).unwrap();
        let (status, body) = erp
            .post("/v1/receipts", &receipt_json(101, april_day, "101.00"))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let to_may = Utc.with_ymd_and_hms(2026, 4, 30, 17, 0, 0).unwrap() - clock.now();
        clock.advance(to_may.to_std().unwrap());
        let ask = json!({"issuer_tin": ISSUER, "month": "2026-04"});
        let (status, april) = erp.post("/v1/consolidations", &ask).await;
        assert_eq!(status, StatusCode::CREATED, "{april}");
        assert_eq!(april["origin"], "on_demand");
        let (status, again) = erp.post("/v1/consolidations", &ask).await;
        assert_eq!(status, StatusCode::OK, "{again}");
        assert_eq!(again["created"], false);
        assert_eq!(again["id"], april["id"]);
        let id = april["documents"][0]["document_id"].as_i64().unwrap();
        let doc = erp.final_document(id).await;
        assert_eq!(doc["state"], "valid", "{doc}");
        assert_eq!(at_myinvois(&client, &doc, 3).await, ["R-0101"]);

        trigger.trigger();
        running.await.unwrap().unwrap();
    }

    /// Reads a consolidated e-invoice back from MyInvois (the sandbox) and checks it by the
    /// rules: the General Public buyer, `004` on every line, at most `max_lines` lines, each
    /// line's amount the sum of its receipts. Returns the receipt numbers its lines name.
    async fn at_myinvois(client: &Client, doc: &Value, max_lines: usize) -> Vec<String> {
        let uuid = doc["uuid"].as_str().unwrap();
        let raw = client.documents().raw(uuid).await.unwrap();
        let parsed = Document::parse(raw.document.as_bytes()).unwrap();
        let findings = check(&parsed, &ConsolidationContext::default());
        assert!(findings.is_empty(), "{findings:?}");
        let root = parsed.root();
        let buyer = ["AccountingCustomerParty", "Party"];
        assert_eq!(
            root.text_at(&[buyer[0], buyer[1], "PartyLegalEntity", "RegistrationName"]),
            Some("General Public")
        );
        let party = root
            .child(buyer[0])
            .and_then(|p| p.child(buyer[1]))
            .unwrap();
        assert!(
            party
                .children_named("PartyIdentification")
                .any(|id| id.text_at(&["ID"]) == Some(invois_testkit::fixtures::GENERAL_PUBLIC_TIN)),
            "the General Public TIN"
        );
        let lines: Vec<_> = root.children_named("InvoiceLine").collect();
        assert!(
            !lines.is_empty() && lines.len() <= max_lines,
            "{}",
            lines.len()
        );
        for line in &lines {
            assert_eq!(
                line.text_at(&["Item", "CommodityClassification", "ItemClassificationCode"]),
                Some("004")
            );
        }
        let mut numbers = Vec::new();
        for (description, net, _) in lines_of(&parsed) {
            let (first, last) = description
                .split_once(" - ")
                .unwrap_or((&description, &description));
            let (a, b): (u32, u32) = (first[2..].parse().unwrap(), last[2..].parse().unwrap());
            let mut sum = Decimal::ZERO;
            for n in a..=b {
                sum += receipt_amount(n);
                numbers.push(format!("R-{n:04}"));
            }
            assert_eq!(net, sum, "{description}");
        }
        numbers
    }

    /// What the test posted for receipt `n`.
    fn receipt_amount(n: u32) -> Decimal {
        match n {
            11..=14 => Decimal::from(n),
            101 => Decimal::from(101),
            _ => format!("{n}0.50").parse().unwrap(),
        }
    }
}
