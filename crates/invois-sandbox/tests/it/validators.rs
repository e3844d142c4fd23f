//! The validation steps backed by `invois-model` (Core Fields, Code) and `invois-sign`
//! (Step08-Document Signature Validator), seen through Get Document Details.

use std::sync::Arc;

use crate::common::*;
use chrono::{DateTime, Utc};
use invois_sandbox::SandboxConfig;
use invois_sign::{Signer, TestCa, TestCertRequest};
use serde_json::{Value, json};

/// The demo supplier's BRN (fixture).
const SUPPLIER_BRN: &str = "202001234567";
/// The demo intermediary's TIN and ROB (fixture).
const INTERMEDIARY_TIN: &str = "C30000000010";
const INTERMEDIARY_ROB: &str = "202101000001";
const SIGNATURE_STEP: &str = "Step08-Document Signature Validator";

fn signer_for(tin: &str, brn: &str) -> Signer {
    TestCa::well_known()
        .expect("test CA")
        .issue(&TestCertRequest::new(tin, brn))
        .expect("certificate")
        .signer()
        .expect("signer")
}

/// The official invoice sample as a v1.1 document of the fixture supplier (its BRN too, as
/// the certificate carries it).
fn invoice_v11(id: &str, now: DateTime<Utc>) -> Value {
    let mut doc = invoice(id, now, SUPPLIER_TIN, BUYER_TIN);
    let inv = &mut doc["Invoice"][0];
    inv["InvoiceTypeCode"][0]["listVersionID"] = json!("1.1");
    if let Some(ids) =
        inv["AccountingSupplierParty"][0]["Party"][0]["PartyIdentification"].as_array_mut()
    {
        for i in ids {
            if i["ID"][0]["schemeID"] == "BRN" {
                i["ID"][0]["_"] = json!(SUPPLIER_BRN);
            }
        }
    }
    doc
}

/// The unsigned 1.1 invoice fixture as XML, issued `now`.
fn invoice_xml_v11(now: DateTime<Utc>) -> String {
    let xml = invois_testkit::unsigned_fixture(
        invois_testkit::Version::V1_1,
        invois_testkit::Kind::Invoice,
        invois_model::Format::Xml,
    );
    let xml = String::from_utf8(xml).expect("UTF-8");
    invois_testkit::samples::adapt_xml(&xml, "XML-1", now, SUPPLIER_TIN, BUYER_TIN)
}

fn sign_json(doc: &Value, signer: &Signer, now: DateTime<Utc>) -> Vec<u8> {
    invois_sign::sign_json(&serde_json::to_vec(doc).expect("json"), signer, now).expect("sign")
}

/// Submits one document, waits for validation, returns the final status and the steps.
async fn validate(h: &Harness, token: &str, format: &str, bytes: &[u8]) -> (String, Vec<Value>) {
    let (status, _, body) = h
        .submit(
            token,
            &submission(vec![entry_bytes(format, bytes, "DOC-1")]),
        )
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
    let result = &details["validationResults"];
    (
        result["status"].as_str().expect("status").to_owned(),
        result["validationSteps"].as_array().expect("steps").clone(),
    )
}

fn step<'a>(steps: &'a [Value], name: &str) -> &'a Value {
    steps
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no step {name} in {steps:?}"))
}

fn inner_codes(step: &Value) -> Vec<String> {
    step["error"]["innerError"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e["errorCode"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn signed_v11_json_and_xml_are_valid() {
    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let now = h.clock().now();
    let signer = signer_for(SUPPLIER_TIN, SUPPLIER_BRN);

    let signed = sign_json(&invoice_v11("INV-SIGNED", now), &signer, now);
    let (status, steps) = validate(&h, &token, "JSON", &signed).await;
    assert_eq!(status, "Valid", "{steps:?}");
    let sig = step(&steps, SIGNATURE_STEP);
    assert_eq!(sig["status"], "Valid");
    assert!(sig["error"].is_null(), "{sig}");

    // Version 1.3 is signed the same way.
    let mut v13 = invoice_v11("INV-SIGNED-13", now);
    v13["Invoice"][0]["InvoiceTypeCode"][0]["listVersionID"] = json!("1.3");
    let (status, steps) = validate(&h, &token, "JSON", &sign_json(&v13, &signer, now)).await;
    assert_eq!(status, "Valid", "{steps:?}");
    assert_eq!(step(&steps, SIGNATURE_STEP)["status"], "Valid");

    let xml = invois_sign::sign_xml(invoice_xml_v11(now).as_bytes(), &signer, now).expect("sign");
    let (status, steps) = validate(&h, &token, "XML", &xml).await;
    assert_eq!(status, "Valid", "{steps:?}");
    assert_eq!(step(&steps, SIGNATURE_STEP)["status"], "Valid");
}

#[tokio::test]
async fn tampering_after_signing_is_ds322() {
    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let now = h.clock().now();
    let signer = signer_for(SUPPLIER_TIN, SUPPLIER_BRN);
    let signed = sign_json(&invoice_v11("INV-TAMPERED", now), &signer, now);
    let mut doc: Value = serde_json::from_slice(&signed).expect("signed json");
    doc["Invoice"][0]["Note"] = json!([{ "_": "changed after signing" }]);
    let tampered = serde_json::to_vec(&doc).expect("json");

    let (status, steps) = validate(&h, &token, "JSON", &tampered).await;
    assert_eq!(status, "Invalid");
    let sig = step(&steps, SIGNATURE_STEP);
    assert_eq!(sig["status"], "Invalid");
    assert_eq!(sig["error"]["errorCode"], "Error21", "{sig}");
    assert!(inner_codes(sig).contains(&"DS322".to_owned()), "{sig}");
    // The other steps are not affected by the signature.
    assert_eq!(
        step(&steps, "Step02-Core Fields Validator")["status"],
        "Valid"
    );
}

#[tokio::test]
async fn a_certificate_of_another_taxpayer_is_ds311() {
    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let now = h.clock().now();
    let signer = signer_for("C99999999990", SUPPLIER_BRN);
    let signed = sign_json(&invoice_v11("INV-OTHER", now), &signer, now);
    let (status, steps) = validate(&h, &token, "JSON", &signed).await;
    assert_eq!(status, "Invalid");
    let sig = step(&steps, SIGNATURE_STEP);
    assert_eq!(inner_codes(sig), ["DS311"], "{sig}");
    assert!(
        sig["error"]["innerError"][0]["propertyPath"]
            .as_str()
            .expect("path")
            .contains("AccountingSupplierParty"),
        "{sig}"
    );
}

#[tokio::test]
async fn an_intermediary_signs_with_its_own_certificate() {
    let h = start().await;
    let token = h.token(&h.intermediary()).await;
    let now = h.clock().now();
    let own = signer_for(INTERMEDIARY_TIN, INTERMEDIARY_ROB);
    let signed = sign_json(&invoice_v11("INV-AGENT", now), &own, now);
    let (status, steps) = validate(&h, &token, "JSON", &signed).await;
    assert_eq!(status, "Valid", "{steps:?}");

    // One signed by the issuer itself is accepted from the intermediary too.
    let issuer = signer_for(SUPPLIER_TIN, SUPPLIER_BRN);
    let signed = sign_json(&invoice_v11("INV-AGENT-1", now), &issuer, now);
    let (status, steps) = validate(&h, &token, "JSON", &signed).await;
    assert_eq!(status, "Valid", "{steps:?}");

    // A certificate of neither the intermediary nor the issuer is refused.
    let stranger = signer_for("C99999999990", "209901000001");
    let signed = sign_json(&invoice_v11("INV-AGENT-2", now), &stranger, now);
    let (status, steps) = validate(&h, &token, "JSON", &signed).await;
    assert_eq!(status, "Invalid");
    assert!(inner_codes(step(&steps, SIGNATURE_STEP)).contains(&"DS311".to_owned()));
}

#[tokio::test]
async fn an_unsigned_v11_document_is_ds301_and_v10_is_not_signature_checked() {
    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let now = h.clock().now();
    let (status, steps) = validate(
        &h,
        &token,
        "JSON",
        &serde_json::to_vec(&invoice_v11("INV-UNSIGNED", now)).expect("json"),
    )
    .await;
    assert_eq!(status, "Invalid");
    assert_eq!(inner_codes(step(&steps, SIGNATURE_STEP)), ["DS301"]);

    let v10 = invoice("INV-V10", now, SUPPLIER_TIN, BUYER_TIN);
    let (status, steps) =
        validate(&h, &token, "JSON", &serde_json::to_vec(&v10).expect("json")).await;
    assert_eq!(status, "Valid", "{steps:?}");
    assert!(
        steps.iter().all(|s| s["name"] != SIGNATURE_STEP),
        "{steps:?}"
    );
}

#[tokio::test]
async fn core_field_findings_carry_code_and_path() {
    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let now = h.clock().now();
    let mut doc = invoice("INV-NOPHONE", now, SUPPLIER_TIN, BUYER_TIN);
    doc["Invoice"][0]["AccountingCustomerParty"][0]["Party"][0]["Contact"][0]
        .as_object_mut()
        .expect("contact")
        .remove("Telephone");
    let (status, steps) =
        validate(&h, &token, "JSON", &serde_json::to_vec(&doc).expect("json")).await;
    assert_eq!(status, "Invalid");
    let core = step(&steps, "Step02-Core Fields Validator");
    assert_eq!(core["status"], "Invalid");
    assert_eq!(core["error"]["errorCode"], "Error02", "{core}");
    let inner = &core["error"]["innerError"][0];
    assert_eq!(inner["errorCode"], "CF001", "{core}");
    // MyInvois's dotted form (README §3.4), not a JSON path or an XPath.
    assert_eq!(
        inner["propertyPath"], "Invoice.AccountingCustomerParty.Party.Contact.Telephone",
        "{core}"
    );
    assert!(
        inner["error"]
            .as_str()
            .expect("message")
            .contains("Telephone"),
        "{inner}"
    );
}

#[tokio::test]
async fn arithmetic_is_off_by_default_and_configurable() {
    let h = start_with(SandboxConfig {
        check_arithmetic: true,
        ..config()
    })
    .await;
    let token = h.token(&h.supplier()).await;
    // The fixture's sums add up: valid with the check on.
    let doc = invoice("INV-SUMS-OK", h.clock().now(), SUPPLIER_TIN, BUYER_TIN);
    let (status, steps) =
        validate(&h, &token, "JSON", &serde_json::to_vec(&doc).expect("json")).await;
    assert_eq!(status, "Valid", "{steps:?}");
    // A total that does not add up (LHDN's own samples are published with such sums): A006
    // for the total itself, A009 for the tax-inclusive amount built on it.
    let mut doc = invoice("INV-SUMS", h.clock().now(), SUPPLIER_TIN, BUYER_TIN);
    doc["Invoice"][0]["LegalMonetaryTotal"][0]["TaxExclusiveAmount"][0]["_"] = json!(100);
    let (status, steps) =
        validate(&h, &token, "JSON", &serde_json::to_vec(&doc).expect("json")).await;
    assert_eq!(status, "Invalid");
    let codes = inner_codes(step(&steps, "Step02-Core Fields Validator"));
    assert_eq!(codes, ["A006", "A009"]);
    // (Every other test runs with the default configuration, where the check is off.)
}

#[tokio::test]
async fn codes_are_checked_against_loaded_tables() {
    // The tables compiled into invois-model (what `invois sandbox` uses with no flags).
    let codes = Arc::new(invois_model::CodeTables::embedded());
    let h = start_with(SandboxConfig { codes, ..config() }).await;
    let token = h.token(&h.supplier()).await;
    let now = h.clock().now();

    // Every code of the sample is in the tables: the step passes with nothing to say.
    let good = invoice("INV-CODES", now, SUPPLIER_TIN, BUYER_TIN);
    let (status, steps) = validate(
        &h,
        &token,
        "JSON",
        &serde_json::to_vec(&good).expect("json"),
    )
    .await;
    assert_eq!(status, "Valid", "{steps:?}");
    let codes_step = step(&steps, "Step06-Code Validator");
    assert_eq!(codes_step["status"], "Valid");
    assert!(codes_step["error"].is_null(), "{codes_step}");

    let mut bad = invoice("INV-XYZ", now, SUPPLIER_TIN, BUYER_TIN);
    bad["Invoice"][0]["DocumentCurrencyCode"] = json!([{ "_": "XYZ" }]);
    let (status, steps) =
        validate(&h, &token, "JSON", &serde_json::to_vec(&bad).expect("json")).await;
    assert_eq!(status, "Invalid");
    let codes_step = step(&steps, "Step06-Code Validator");
    assert_eq!(codes_step["status"], "Invalid");
    assert_eq!(codes_step["error"]["errorCode"], "Error06");
    let inner = &codes_step["error"]["innerError"][0];
    // LHDN publishes this rule (CV302): its code and text, the value and table filled in.
    assert_eq!(inner["errorCode"], "CV302", "{codes_step}");
    assert_eq!(
        inner["error"],
        "ItemCode XYZ does not exist in CodeType CurrencyCodes"
    );
    assert_eq!(inner["propertyPath"], "Invoice.DocumentCurrencyCode");
}

#[tokio::test]
async fn without_tables_the_code_step_says_what_it_did_not_check() {
    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let now = h.clock().now();
    let good = invoice("INV-NOTABLES", now, SUPPLIER_TIN, BUYER_TIN);
    let (status, steps) = validate(
        &h,
        &token,
        "JSON",
        &serde_json::to_vec(&good).expect("json"),
    )
    .await;
    assert_eq!(status, "Valid", "{steps:?}");
    let codes_step = step(&steps, "Step06-Code Validator");
    assert_eq!(codes_step["status"], "Valid");
    assert!(
        inner_codes(codes_step).iter().all(|c| c == "C000"),
        "{codes_step}"
    );
    assert!(!inner_codes(codes_step).is_empty(), "{codes_step}");

    // State codes are built in: an unknown state fails without any table loaded.
    let mut bad = invoice("INV-STATE", now, SUPPLIER_TIN, BUYER_TIN);
    bad["Invoice"][0]["AccountingSupplierParty"][0]["Party"][0]["PostalAddress"][0]["CountrySubentityCode"] =
        json!([{ "_": "99" }]);
    let (status, steps) =
        validate(&h, &token, "JSON", &serde_json::to_vec(&bad).expect("json")).await;
    assert_eq!(status, "Invalid");
    let codes_step = step(&steps, "Step06-Code Validator");
    assert_eq!(codes_step["status"], "Invalid");
    assert!(
        inner_codes(codes_step).contains(&"CV302".to_owned()),
        "{codes_step}"
    );
}

#[tokio::test]
async fn structure_errors_are_rejected_at_submission_with_their_path() {
    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let mut doc = invoice("INV-BADDATE", h.clock().now(), SUPPLIER_TIN, BUYER_TIN);
    doc["Invoice"][0]["LegalMonetaryTotal"][0]["PayableAmount"][0]["_"] = json!("lots");
    let (status, _, body) = h
        .submit(&token, &submission(vec![entry_json(&doc, "INV-BADDATE")]))
        .await;
    assert_eq!(status, 202, "{body}");
    let detail = &body["rejectedDocuments"][0]["error"]["details"][0];
    assert_eq!(detail["code"], "StructureError", "{body}");
    assert!(
        detail["propertyPath"]
            .as_str()
            .expect("path")
            .contains("PayableAmount"),
        "{body}"
    );
}

#[tokio::test]
async fn duplicates_of_signed_documents_are_still_found() {
    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let now = h.clock().now();
    let signer = signer_for(SUPPLIER_TIN, SUPPLIER_BRN);
    let signed = sign_json(&invoice_v11("INV-TWICE", now), &signer, now);
    let (status, _) = validate(&h, &token, "JSON", &signed).await;
    assert_eq!(status, "Valid");
    // The same document again, past the duplicate-submission window of identical payloads.
    h.advance(700);
    let (status, steps) = validate(&h, &token, "JSON", &signed).await;
    assert_eq!(status, "Invalid");
    let dup = step(&steps, "Step03-Duplicated Submission Validator");
    assert_eq!(inner_codes(dup), ["DV302"], "{dup}");
}

#[tokio::test]
async fn the_trust_store_is_configurable() {
    // A CA the sandbox does not know, standing in for a real CA.
    let other_ca = TestCa::generate("Another Test CA").expect("CA");
    let issued = other_ca
        .issue(&TestCertRequest::new(SUPPLIER_TIN, SUPPLIER_BRN))
        .expect("certificate");
    let signer = issued.signer().expect("signer");

    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let now = h.clock().now();
    let signed = sign_json(&invoice_v11("INV-UNTRUSTED", now), &signer, now);
    let (status, steps) = validate(&h, &token, "JSON", &signed).await;
    assert_eq!(status, "Invalid");
    assert_eq!(inner_codes(step(&steps, SIGNATURE_STEP)), ["DS329"]);

    // Trusted once its PEM is added (what `--trust-ca FILE.pem` does).
    let mut trust = invois_sign::TrustStore::test_ca().expect("test CA");
    let added = trust
        .add_pem(other_ca.certificate().to_pem().as_bytes())
        .expect("pem");
    assert_eq!(added, 1);
    let h = start_with(SandboxConfig { trust, ..config() }).await;
    let token = h.token(&h.supplier()).await;
    let now = h.clock().now();
    let signed = sign_json(&invoice_v11("INV-TRUSTED", now), &signer, now);
    let (status, steps) = validate(&h, &token, "JSON", &signed).await;
    assert_eq!(status, "Valid", "{steps:?}");
}

/// A JSON key written twice in one object is refused by the structure step with invois-model's
/// `S008`, its path the repeat's: what MyInvois does is not documented, and a test double that
/// picked one of the two would teach clients to depend on a silently dropped member.
#[tokio::test]
async fn a_repeated_json_key_is_rejected_by_the_structure_step() {
    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let doc = invoice("INV-DUPKEY", h.clock().now(), SUPPLIER_TIN, BUYER_TIN);
    let text = serde_json::to_string(&doc).expect("json");
    let anchor = r#""ID":[{"_":"INV-DUPKEY"}]"#;
    assert!(text.contains(anchor), "{text}");
    let text = text.replacen(
        anchor,
        &format!(r#"{anchor},"ID":[{{"_":"INV-OTHER"}}]"#),
        1,
    );
    let (status, _, body) = h
        .submit(
            &token,
            &submission(vec![entry_bytes("JSON", text.as_bytes(), "INV-DUPKEY")]),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["acceptedDocuments"], json!([]), "{body}");
    assert_eq!(body["submissionUid"], Value::Null, "{body}");
    let detail = &body["rejectedDocuments"][0]["error"]["details"][0];
    assert_eq!(detail["code"], "StructureError", "{body}");
    assert_eq!(detail["propertyPath"], "/Invoice/cbc:ID[2]", "{body}");
    let message = detail["message"].as_str().expect("message");
    assert!(
        message.contains("(S008")
            && message.contains(r#"member "ID" appears twice in $.Invoice[0]"#)
            && message.contains("/Invoice/cbc:ID[1]"),
        "{message}"
    );
    // The same document without the repeat is accepted.
    let (status, _, body) = h
        .submit(&token, &submission(vec![entry_json(&doc, "INV-DUPKEY")]))
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["rejectedDocuments"], json!([]), "{body}");
}

/// A third-party client's XML submission (as LHDN's Postman collection sends it: an XML
/// document in the JSON envelope, `"format":"XML"`) whose buyer has no telephone and whose
/// signed-properties digest was blanked after signing (DS319, at the place of the DS320 path
/// MyInvois returns). Each step error names its place in MyInvois's dotted `propertyPath`
/// form (README §3.4), the one JSON documents get too, never an XPath.
#[tokio::test]
async fn step_errors_on_xml_documents_use_myinvois_dotted_paths() {
    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let now = h.clock().now();
    let signer = signer_for(SUPPLIER_TIN, SUPPLIER_BRN);
    let unsigned = invoice_xml_v11(now);
    let telephone = "<cbc:Telephone>+60387654321</cbc:Telephone>";
    assert!(unsigned.contains(telephone), "{unsigned}");
    let unsigned = unsigned.replacen(telephone, "", 1);
    let signed = invois_sign::sign_xml(unsigned.as_bytes(), &signer, now).expect("sign");
    let signed = String::from_utf8(signed).expect("UTF-8");
    let props = signed
        .find("URI=\"#id-xades-signed-props\"")
        .expect("props reference");
    let open = props + signed[props..].find("<ds:DigestValue>").expect("digest") + 16;
    let close = open
        + signed[open..]
            .find("</ds:DigestValue>")
            .expect("digest end");
    let edited = format!("{}{}", &signed[..open], &signed[close..]);

    let (status, steps) = validate(&h, &token, "XML", edited.as_bytes()).await;
    assert_eq!(status, "Invalid");
    let sig = step(&steps, SIGNATURE_STEP);
    assert_eq!(inner_codes(sig), ["DS319"], "{sig}");
    assert_eq!(
        sig["error"]["innerError"][0]["propertyPath"],
        "Invoice.UBLExtensions.UBLExtensions.ExtensionContent.UBLDocumentSignatures.SignatureInformation.Signature.SignedInfo.Reference@Type=\"http://uri.etsi.org/01903/v1.3.2#SignedProperties\".DigestValue",
        "{sig}"
    );
    let core = step(&steps, "Step02-Core Fields Validator");
    let inner = &core["error"]["innerError"][0];
    assert_eq!(inner["errorCode"], "CF001", "{core}");
    assert_eq!(
        inner["propertyPath"], "Invoice.AccountingCustomerParty.Party.Contact.Telephone",
        "{core}"
    );
}

/// An XML document signed by a third-party signer that hashes the signed properties as it
/// writes them, not in exclusive C14N: the klsheng SDK's string (`Id` before `xmlns:xades`),
/// and the form LHDN's own samples were signed in. MyInvois accepts both (README §9.3), so
/// Step08 passes. A digest over any other writing (here: indented) is not verifiable, as
/// MyInvois may accept a form nobody has reported, so Step08 passes it too (issue 17).
#[tokio::test]
async fn the_third_party_props_digest_forms_pass_step08() {
    use invois_testkit::props_forms::{PropsForm, with_props_digest};
    let h = start().await;
    let token = h.token(&h.supplier()).await;
    let now = h.clock().now();
    let signer = signer_for(SUPPLIER_TIN, SUPPLIER_BRN);
    for (n, form) in [
        PropsForm::Klsheng,
        PropsForm::LhdnSamples,
        PropsForm::Indented,
    ]
    .into_iter()
    .enumerate()
    {
        let unsigned = invoice_xml_v11(now).replacen("XML-1", &format!("XML-FORM-{n}"), 1);
        let signed = invois_sign::sign_xml(unsigned.as_bytes(), &signer, now).expect("sign");
        let doc = with_props_digest(&String::from_utf8(signed).expect("UTF-8"), form);
        let (status, steps) = validate(&h, &token, "XML", doc.as_bytes()).await;
        let sig = step(&steps, SIGNATURE_STEP);
        assert_eq!(status, "Valid", "{form:?}: {steps:?}");
        assert_eq!(sig["status"], "Valid", "{form:?}: {sig}");
    }
}
