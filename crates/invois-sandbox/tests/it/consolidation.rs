//! The consolidation limits (business rules §1) in the sandbox's validation, through HTTP:
//! the same `invois_model::consolidation::check` as `invois validate`, read by the sandbox's
//! clock and `--profile`, with the relaxation period its fixture says the issuer adopts.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use invois_api::RateProfile;
use invois_model::consolidation::{
    ConsolidationSpec, LineMethod, Month, Receipt, SplitLimits, consolidate,
};
use invois_model::model::{Address, Party};
use invois_sandbox::{Clock, Fixtures, SandboxConfig};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::common::*;

const CORE_FIELDS: &str = "Step02-Core Fields Validator";

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("date")
}

/// Noon in Kuala Lumpur on `day`.
fn noon(day: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&day.and_hms_opt(4, 0, 0).expect("noon"))
}

/// The demo supplier as the builder's party (its TIN and BRN are the fixture's).
fn supplier(msic: &str) -> Party {
    Party::new(
        "Demo Supplier Sdn. Bhd.",
        SUPPLIER_TIN,
        "BRN",
        "202001234567",
        Address::new("Lot 66, Bangunan Merdeka", "Kuala Lumpur", "14", "MYS").postal_zone("50480"),
        "+60312345678",
    )
    .msic(msic, "Retail sale")
}

/// The consolidated e-invoice of `month`, issued at `at`, with one receipt of `cents` sen
/// (tax not applicable), as the model's builder writes it.
fn consolidated(month: Month, at: DateTime<Utc>, cents: i64, msic: &str) -> Value {
    let spec = ConsolidationSpec {
        supplier: supplier(msic),
        month,
        issued_at: at,
        id_prefix: format!("CONS-{}", month.compact()),
        version: "1.0".to_owned(),
        method: LineMethod::PerReceipt,
        limits: SplitLimits::default(),
    };
    let receipt = Receipt {
        number: "R-000001".to_owned(),
        amount: Decimal::new(cents, 2),
        tax_type: "06".to_owned(),
        tax_rate: Decimal::ZERO,
        tax_amount: Decimal::ZERO,
        exemption_reason: None,
    };
    let built = consolidate(&[receipt], &spec).expect("built");
    serde_json::from_str(&built[0].json).expect("json")
}

/// A sandbox of `profile` (and `fixtures`) whose clock starts at noon on `on`.
async fn sandbox_on(profile: RateProfile, on: NaiveDate, fixtures: Fixtures) -> Harness {
    start_with(SandboxConfig {
        profile,
        fixtures,
        clock: Clock::starting_at(noon(on), 1.0),
        ..config()
    })
    .await
}

/// Submits one document and returns its final status and validation steps.
async fn validated(h: &Harness, doc: &Value) -> (String, Vec<Value>) {
    let token = h.token(&h.supplier()).await;
    let id = doc["Invoice"][0]["ID"][0]["_"].as_str().expect("id");
    let (status, _, body) = h
        .submit(&token, &submission(vec![entry_json(doc, id)]))
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["rejectedDocuments"], json!([]), "{body}");
    let uid = body["submissionUid"].as_str().expect("uid").to_owned();
    let uuid = body["acceptedDocuments"][0]["uuid"]
        .as_str()
        .expect("uuid")
        .to_owned();
    h.settle(&token, &uid).await;
    let (status, _, details) = h
        .get(&token, &format!("/api/v1.0/documents/{uuid}/details"))
        .await;
    assert_eq!(status, 200, "{details}");
    (
        details["status"].as_str().expect("status").to_owned(),
        details["validationResults"]["validationSteps"]
            .as_array()
            .expect("steps")
            .clone(),
    )
}

/// The codes of the Core Fields step's inner errors.
fn core_codes(steps: &[Value]) -> Vec<String> {
    let step = steps
        .iter()
        .find(|s| s["name"] == CORE_FIELDS)
        .unwrap_or_else(|| panic!("no Core Fields step: {steps:?}"));
    step["error"]["innerError"]
        .as_array()
        .map(|inner| {
            inner
                .iter()
                .map(|e| e["errorCode"].as_str().unwrap_or("null").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Validates, on a sandbox of `profile` at noon on `on`, the consolidated e-invoice of the
/// month of `on` (issued then) holding one receipt of RM15,000.
async fn one_big_receipt(
    profile: RateProfile,
    on: NaiveDate,
    fixtures: Fixtures,
) -> (String, Vec<Value>) {
    let h = sandbox_on(profile, on, fixtures).await;
    let doc = consolidated(Month::of(on), h.clock().now(), 1_500_000, "47111");
    validated(&h, &doc).await
}

#[tokio::test]
async fn a_single_transaction_above_rm10000_is_refused_from_1_january_2026_in_both_profiles() {
    for profile in [RateProfile::Sandbox, RateProfile::Production] {
        let (before, steps) = one_big_receipt(profile, day(2025, 12, 31), Fixtures::demo()).await;
        assert_eq!(before, "Valid", "{profile:?} on 31 Dec 2025: {steps:?}");

        let (from, steps) = one_big_receipt(profile, day(2026, 1, 1), Fixtures::demo()).await;
        assert_eq!(from, "Invalid", "{profile:?} on 1 Jan 2026");
        assert_eq!(core_codes(&steps), ["CON004"], "{profile:?}");
        let inner = &steps
            .iter()
            .find(|s| s["name"] == CORE_FIELDS)
            .expect("step")["error"]["innerError"][0];
        assert_eq!(inner["propertyName"], "LineExtensionAmount", "{inner}");
        assert_eq!(
            inner["propertyPath"], "Invoice.InvoiceLine.LineExtensionAmount",
            "{inner}"
        );
        let message = inner["error"].as_str().expect("message");
        assert!(message.contains("RM10000.00"), "{message}");
        assert!(
            message.contains("R-000001"),
            "the receipt is named: {message}"
        );
    }
}

#[tokio::test]
async fn rm10000_itself_may_be_consolidated() {
    let h = sandbox_on(RateProfile::Production, day(2026, 3, 2), Fixtures::demo()).await;
    let doc = consolidated(
        Month::of(day(2026, 3, 2)),
        h.clock().now(),
        1_000_000,
        "47111",
    );
    let (status, steps) = validated(&h, &doc).await;
    assert_eq!(status, "Valid", "{steps:?}");
}

#[tokio::test]
async fn the_relaxation_period_the_issuer_adopts_lifts_the_limit_inside_it_only() {
    let mut fixtures = Fixtures::demo();
    let supplier = fixtures
        .taxpayers
        .iter_mut()
        .find(|t| t.tin == SUPPLIER_TIN)
        .expect("supplier");
    // Phase 4, with the end the 5 Jan 2026 media release gives in place of SG48's.
    supplier.relaxation_phase = Some(4);
    supplier.relaxation_until = Some(day(2026, 12, 31));
    let profile = RateProfile::Production;

    let (inside, steps) = one_big_receipt(profile, day(2026, 1, 1), fixtures.clone()).await;
    assert_eq!(inside, "Valid", "inside the relaxation period: {steps:?}");
    let (last, steps) = one_big_receipt(profile, day(2026, 12, 31), fixtures.clone()).await;
    assert_eq!(last, "Valid", "its last day: {steps:?}");
    let (after, steps) = one_big_receipt(profile, day(2027, 1, 1), fixtures).await;
    assert_eq!(after, "Invalid", "the day after it");
    assert_eq!(core_codes(&steps), ["CON004"]);
}

#[tokio::test]
async fn the_general_public_buyer_and_classification_004_are_required() {
    let on = day(2026, 3, 2);
    let h = sandbox_on(RateProfile::Production, on, Fixtures::demo()).await;
    let mut doc = consolidated(Month::of(on), h.clock().now(), 2_500, "47111");
    let inv = &mut doc["Invoice"][0];
    // A registered buyer instead of the General Public (known to the fixture, so the
    // Taxpayer step has nothing to say), and a second line that is not 004.
    for id in inv["AccountingCustomerParty"][0]["Party"][0]["PartyIdentification"]
        .as_array_mut()
        .expect("identifications")
    {
        if id["ID"][0]["schemeID"] == "TIN" {
            id["ID"][0]["_"] = json!(BUYER_TIN);
        }
    }
    // `NA` is a contact number only for the General Public (CF003 otherwise).
    inv["AccountingCustomerParty"][0]["Party"][0]["Contact"][0]["Telephone"][0]["_"] =
        json!("+60387654321");
    let mut second = inv["InvoiceLine"][0].clone();
    second["ID"][0]["_"] = json!("2");
    second["Item"][0]["CommodityClassification"][0]["ItemClassificationCode"][0]["_"] =
        json!("022");
    inv["InvoiceLine"]
        .as_array_mut()
        .expect("lines")
        .push(second);
    // The lines' sums are not checked (no --check-arithmetic), so the totals may stay.
    let (status, steps) = validated(&h, &doc).await;
    assert_eq!(status, "Invalid");
    let mut codes = core_codes(&steps);
    codes.sort();
    assert_eq!(codes, ["CON001", "CON002"], "{steps:?}");
}

#[tokio::test]
async fn what_the_guideline_only_advises_is_not_refused() {
    // An electricity supplier (MSIC 351..) in 2026: the document does not say what was sold,
    // so the industry is a warning for `invois validate`, not a refusal; and the sample's
    // own buyer name instead of "General Public" (CON003) is not refused either.
    let on = day(2026, 3, 2);
    let h = sandbox_on(RateProfile::Production, on, Fixtures::demo()).await;
    let mut doc = consolidated(Month::of(on), h.clock().now(), 2_500, "35101");
    doc["Invoice"][0]["AccountingCustomerParty"][0]["Party"][0]["PartyLegalEntity"][0]["RegistrationName"]
        [0]["_"] = json!("Consolidated Buyer's");
    let (status, steps) = validated(&h, &doc).await;
    assert_eq!(status, "Valid", "{steps:?}");
}
