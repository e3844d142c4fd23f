//! LHDN's published codes and texts in the step envelopes, and the dated field rules applied
//! by the sandbox's clock and `--profile`.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use invois_api::RateProfile;
use invois_sandbox::{Clock, SandboxConfig};
use serde_json::{Value, json};

use crate::common::*;

/// Submits one JSON document and returns the final status and the validation steps.
async fn steps_of(h: &Harness, token: &str, doc: &Value) -> (String, Vec<Value>) {
    let (status, _, body) = h
        .submit(token, &submission(vec![entry_json(doc, "DOC-1")]))
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["rejectedDocuments"], json!([]), "{body}");
    let uid = body["submissionUid"].as_str().expect("uid").to_owned();
    let uuid = body["acceptedDocuments"][0]["uuid"]
        .as_str()
        .expect("uuid")
        .to_owned();
    h.settle(token, &uid).await;
    let (status, _, details) = h
        .get(token, &format!("/api/v1.0/documents/{uuid}/details"))
        .await;
    assert_eq!(status, 200, "{details}");
    let steps = details["validationResults"]["validationSteps"]
        .as_array()
        .expect("steps")
        .clone();
    (
        details["status"].as_str().expect("status").to_owned(),
        steps,
    )
}

/// The inner errors of the named step.
fn inner(steps: &[Value], name: &str) -> Vec<Value> {
    let step = steps
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no step {name} in {steps:?}"));
    step["error"]["innerError"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The inner error with this code in the named step.
fn error_with(steps: &[Value], name: &str, code: &str) -> Value {
    inner(steps, name)
        .into_iter()
        .find(|e| e["errorCode"] == code)
        .unwrap_or_else(|| panic!("no {code} in {name}: {steps:?}"))
}

#[tokio::test]
async fn published_rules_answer_with_lhdns_codes_and_texts_in_their_steps() {
    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let mut doc = invoice("INV-LHDN", h.clock().now(), SUPPLIER_TIN, BUYER_TIN);
    let inv = &mut doc["Invoice"][0];
    let line = "J".repeat(151);
    inv["AccountingSupplierParty"][0]["Party"][0]["PostalAddress"][0]["AddressLine"] =
        json!([{ "Line": [{ "_": line }] }]);
    inv["LegalMonetaryTotal"][0]["PayableAmount"][0]["currencyID"] = json!("USD");
    // The demo supplier is registered with a BRN: an NRIC for it is not on file.
    inv["AccountingSupplierParty"][0]["Party"][0]["PartyIdentification"]
        .as_array_mut()
        .expect("identifications")
        .push(json!({ "ID": [{ "_": "850101015555", "schemeID": "NRIC" }] }));

    let (status, steps) = steps_of(&h, &token, &doc).await;
    assert_eq!(status, "Invalid");

    let cf345 = error_with(&steps, "Step02-Core Fields Validator", "CF345");
    assert_eq!(
        cf345["error"],
        format!("Address Line 0 maximum length is 150 characters. (Count: 151) - {line}")
    );
    assert_eq!(cf345["propertyName"], "Line");

    let dc502 = error_with(&steps, "Step07-Currency Validator", "DC502");
    assert_eq!(
        dc502["error"],
        "If the document currency is MYR, all currency codes for amounts should also be MYR"
    );

    let err206 = error_with(&steps, "Step04-Taxpayer Validator", "ERR206");
    assert_eq!(err206["error"], "NRIC/ARMY mismatch or not exist in HITS");
    assert!(
        err206["propertyPath"]
            .as_str()
            .expect("path")
            .contains("AccountingSupplierParty"),
        "{err206}"
    );
    // Each finding is reported once, by its own validator.
    let core = inner(&steps, "Step02-Core Fields Validator");
    assert!(core.iter().all(|e| e["errorCode"] != "DC502"), "{core:?}");
}

#[tokio::test]
async fn xml_out_of_order_is_refused_with_lhdns_null_code_and_text() {
    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let xml = invois_testkit::samples::adapt_xml(
        &fixture_xml(invois_testkit::Kind::Invoice),
        "XML-ORDER",
        h.clock().now(),
        SUPPLIER_TIN,
        BUYER_TIN,
    );
    let date_start = xml.find("<cbc:IssueDate>").expect("date");
    let date_end = xml.find("</cbc:IssueDate>").expect("date") + "</cbc:IssueDate>".len();
    let time_end = xml.find("</cbc:IssueTime>").expect("time") + "</cbc:IssueTime>".len();
    let swapped = format!(
        "{}{}{}{}",
        &xml[..date_start],
        &xml[date_end..time_end],
        &xml[date_start..date_end],
        &xml[time_end..]
    );
    let (status, _, body) = h
        .submit(
            &token,
            &submission(vec![entry_bytes("XML", swapped.as_bytes(), "XML-ORDER")]),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let detail = &body["rejectedDocuments"][0]["error"]["details"][0];
    assert_eq!(detail["code"], Value::Null, "{body}");
    assert_eq!(detail["message"], "Invalid child element", "{body}");
    assert!(detail["propertyPath"].is_string(), "{body}");
}

/// Noon in Kuala Lumpur on `day`.
fn noon(day: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&day.and_hms_opt(4, 0, 0).expect("noon"))
}

/// Validates an invoice whose number is 51 characters (the 10 Dec 2025 rule sets 50) on a
/// sandbox of this profile whose clock starts at noon on `day`.
async fn long_number(profile: RateProfile, day: NaiveDate) -> (String, Vec<Value>) {
    let h = start_with(SandboxConfig {
        profile,
        clock: Clock::starting_at(noon(day), 1.0),
        ..config()
    })
    .await;
    let token = h.token(&h.supplier()).await;
    let doc = invoice(&"N".repeat(51), h.clock().now(), SUPPLIER_TIN, BUYER_TIN);
    steps_of(&h, &token, &doc).await
}

#[tokio::test]
async fn dated_rules_apply_from_their_first_day_by_the_sandbox_clock_and_profile() {
    let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).expect("date");
    // LHDN's sandbox from 15 Dec 2025, production from 15 Aug 2026.
    for (profile, first) in [
        (RateProfile::Sandbox, day(2025, 12, 15)),
        (RateProfile::Production, day(2026, 8, 15)),
    ] {
        let (before, _) = long_number(profile, first.pred_opt().expect("day")).await;
        assert_eq!(before, "Valid", "{profile:?} before {first}");
        let (from, steps) = long_number(profile, first).await;
        assert_eq!(from, "Invalid", "{profile:?} from {first}");
        error_with(&steps, "Step02-Core Fields Validator", "CF002");
    }
    // In between, the two profiles disagree, as LHDN's two environments do.
    let between = day(2026, 1, 10);
    assert_eq!(
        long_number(RateProfile::Sandbox, between).await.0,
        "Invalid"
    );
    assert_eq!(
        long_number(RateProfile::Production, between).await.0,
        "Valid"
    );
}
