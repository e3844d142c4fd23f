//! Every request of the official Postman collection (LHDN's `postman/` folder beside its samples,
//! when `INVOIS_LHDN_SAMPLES` is set), sent as the
//! collection defines it (method, path, query parameters, headers, body), with its
//! placeholders filled from the demo fixture, gets the documented status and shape.
//!
//! Placeholders: `{{idSrvBaseUrl}}`/`{{apiBaseUrl}}` become the sandbox address; `{{clientId}}`
//! and `{{clientSecret}}` the demo credentials; path variables (`:uuid`, `{tin}`, ...) real
//! ids; query placeholders (`{pageNo}`, ...) the values below, or nothing (an empty value is
//! "not given") where a value would contradict another parameter (`issuerTin` with
//! `direction=Sent`).

use std::collections::HashMap;

use crate::common::*;
use serde_json::Value;

/// LHDN's collection, published beside its samples (`<samples>/../postman`); part of the
/// LHDN suite, so `None` (and a "skipped" line) unless `INVOIS_LHDN_SAMPLES` is set.
fn collection() -> Option<Value> {
    let lhdn = invois_testkit::Corpus::lhdn()?;
    let path = lhdn
        .root()
        .join("../postman/e-Invoice-SDK.postman_collection.json");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Some(serde_json::from_slice(&bytes).expect("json"))
}

fn requests(items: &Value, out: &mut Vec<Value>) {
    for item in items.as_array().into_iter().flatten() {
        if item.get("item").is_some() {
            requests(&item["item"], out);
        } else {
            out.push(item.clone());
        }
    }
}

#[tokio::test]
async fn every_postman_request_gets_the_documented_status_and_shape() {
    let Some(collection) = collection() else {
        return;
    };
    let h = start().await;
    let supplier = h.token(&h.supplier()).await;
    let buyer = h.token(&h.buyer()).await;
    // Two valid invoices: one to cancel, one to reject.
    let (to_cancel, uid) = h.submit_one(&supplier, "PM-CANCEL", BUYER_TIN).await;
    h.settle(&supplier, &uid).await;
    let (to_reject, uid2) = h.submit_one(&supplier, "PM-REJECT", BUYER_TIN).await;
    h.settle(&supplier, &uid2).await;

    let now = h.clock().now();
    let fmt = |d: chrono::DateTime<chrono::Utc>| d.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let from = fmt(now - chrono::Duration::days(1));
    let to = fmt(now + chrono::Duration::hours(1));
    let query_values: HashMap<&str, String> = HashMap::from([
        ("dateFrom", from.clone()),
        ("dateTo", to.clone()),
        ("type", "7".to_owned()),
        ("language", "en".to_owned()),
        ("status", String::new()),
        ("channel", "1".to_owned()),
        ("pageNo", "1".to_owned()),
        ("pageSize", "10".to_owned()),
        ("idType", "BRN".to_owned()),
        ("idValue", "202001234567".to_owned()),
        ("submissionDateFrom", from.clone()),
        ("submissionDateTo", to.clone()),
        ("issueDateFrom", from.clone()),
        ("IssueDateTo", to.clone()),
        ("issueDateTo", to.clone()),
        ("direction", "Sent".to_owned()),
        ("invoiceDirection", "Sent".to_owned()),
        ("documentType", "01".to_owned()),
        ("uuid", to_cancel.clone()),
        ("searchQuery", "PM".to_owned()),
    ]);
    let path_values: HashMap<&str, String> = HashMap::from([
        ("id", "45".to_owned()),
        ("Id", "45".to_owned()),
        ("vid", "452".to_owned()),
        ("{tin}", SUPPLIER_TIN.to_owned()),
        ("submissionUid", uid.clone()),
        ("documentUUID", to_cancel.clone()),
    ]);

    let mut all = vec![];
    requests(&collection["item"], &mut all);
    assert_eq!(all.len(), 15, "the collection has 15 requests");
    let s = h.supplier();
    let i = h.intermediary();
    for item in all {
        let name = item["name"].as_str().unwrap().to_owned();
        let req = &item["request"];
        let url = &req["url"];
        let mut segments = vec![];
        for seg in url["path"].as_array().unwrap() {
            let seg = seg.as_str().unwrap();
            let value = if let Some(var) = seg.strip_prefix(':') {
                if var == "uuid" {
                    if name == "Reject Document" {
                        to_reject.clone()
                    } else {
                        to_cancel.clone()
                    }
                } else {
                    path_values
                        .get(var)
                        .cloned()
                        .unwrap_or_else(|| panic!("{name}: no value for :{var}"))
                }
            } else if seg.starts_with('{') {
                path_values
                    .get(seg)
                    .cloned()
                    .unwrap_or_else(|| panic!("{name}: no value for {seg}"))
            } else {
                seg.to_owned()
            };
            segments.push(value);
        }
        let mut query = vec![];
        for q in url["query"].as_array().into_iter().flatten() {
            let key = q["key"].as_str().unwrap();
            let raw = q["value"].as_str().unwrap_or("");
            let value = if raw.starts_with('{') {
                let var = raw.trim_matches(|c| c == '{' || c == '}');
                query_values.get(var).cloned().unwrap_or_default()
            } else {
                raw.to_owned()
            };
            query.push(format!("{key}={value}"));
        }
        let mut target = format!("/{}", segments.join("/"));
        if !query.is_empty() {
            target = format!("{target}?{}", query.join("&"));
        }
        let method: reqwest::Method = req["method"].as_str().unwrap().parse().unwrap();
        let mut builder = h.http.request(method, h.url(&target));
        let mut on_behalf_of = None;
        for header in req["header"].as_array().into_iter().flatten() {
            if header["key"] == "onbehalfof" {
                // The collection's example TIN is not in the fixture; use a represented one.
                on_behalf_of = Some(SUPPLIER_TIN.to_owned());
                builder = builder.header("onbehalfof", SUPPLIER_TIN);
            } else {
                builder = builder.header(
                    header["key"].as_str().unwrap(),
                    header["value"].as_str().unwrap(),
                );
            }
        }
        let body = &req["body"];
        match body["mode"].as_str() {
            Some("urlencoded") => {
                let (id, secret) = if on_behalf_of.is_some() {
                    (&i.client_id, &i.secret)
                } else {
                    (&s.client_id, &s.secret)
                };
                let form: Vec<(String, String)> = body["urlencoded"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|kv| {
                        let v = kv["value"].as_str().unwrap();
                        let v = match v {
                            "{{clientId}}" => id.clone(),
                            "{{clientSecret}}" => secret.clone(),
                            other => other.to_owned(),
                        };
                        (kv["key"].as_str().unwrap().to_owned(), v)
                    })
                    .collect();
                builder = builder.form(&form);
            }
            Some("raw") => {
                builder = builder
                    .header("content-type", "application/json")
                    .body(body["raw"].as_str().unwrap().to_owned());
            }
            _ => {}
        }
        if !target.starts_with("/connect/token") {
            let token = if name == "Reject Document" {
                &buyer
            } else {
                &supplier
            };
            builder = builder.bearer_auth(token);
        }
        let resp = builder.send().await.unwrap();
        let (status, headers, v) = split(resp).await;
        assert!(headers.contains_key("correlationId"), "{name}");
        let expect = |keys: &[&str]| {
            for k in keys {
                assert!(v.get(*k).is_some(), "{name}: `{k}` missing in {v}");
            }
        };
        match name.as_str() {
            "Login as Taxpayer System" | "Login as Intermediary System" => {
                assert_eq!(status, 200, "{name}: {v}");
                expect(&["access_token", "token_type", "expires_in", "scope"]);
            }
            "Get All Document Types" => {
                assert_eq!(status, 200, "{name}");
                expect(&["result"]);
            }
            "Get Document Type" => {
                assert_eq!(status, 200, "{name}");
                expect(&[
                    "id",
                    "invoiceTypeCode",
                    "name",
                    "description",
                    "activeFrom",
                    "documentTypeVersions",
                    "workflowParameters",
                ]);
            }
            "Get Document Type Version" => {
                assert_eq!(status, 200, "{name}: {v}");
                expect(&[
                    "invoiceTypeCode",
                    "name",
                    "description",
                    "versionNumber",
                    "status",
                    "activeFrom",
                ]);
            }
            "Get Notifications" => {
                assert_eq!(status, 200, "{name}: {v}");
                expect(&["result", "metadata"]);
                assert!(
                    !v["result"].as_array().unwrap().is_empty(),
                    "{name}: validation notifications"
                );
            }
            "Validate taxpayer TIN" => assert_eq!(status, 200, "{name}: {v}"),
            "Submit Documents" => {
                // The collection's documentHash is a placeholder: the document is rejected.
                assert_eq!(status, 202, "{name}: {v}");
                expect(&["submissionUid", "acceptedDocuments", "rejectedDocuments"]);
                assert_eq!(v["rejectedDocuments"][0]["invoiceCodeNumber"], "INV12345");
            }
            "Cancel Document" => {
                assert_eq!(status, 200, "{name}: {v}");
                assert_eq!(v["status"], "Cancelled");
            }
            "Reject Document" => {
                assert_eq!(status, 200, "{name}: {v}");
                assert_eq!(v["status"], "Requested for Rejection");
            }
            "Get Recent Documents" | "Search Documents" => {
                assert_eq!(status, 200, "{name}: {v}");
                expect(&["result", "metadata"]);
                assert!(
                    v["metadata"]["totalCount"].as_u64().unwrap() >= 1,
                    "{name}: {v}"
                );
            }
            "Get Submission" => {
                assert_eq!(status, 200, "{name}: {v}");
                expect(&[
                    "submissionUid",
                    "documentCount",
                    "dateTimeReceived",
                    "overallStatus",
                    "documentSummary",
                ]);
            }
            "Get Document" => {
                assert_eq!(status, 200, "{name}: {v}");
                expect(&[
                    "uuid",
                    "submissionUid",
                    "longId",
                    "internalId",
                    "typeName",
                    "status",
                    "document",
                ]);
            }
            "Get Document Details" => {
                assert_eq!(status, 200, "{name}: {v}");
                expect(&["uuid", "validationResults"]);
                expect(&["status"]);
            }
            other => panic!("unexpected request {other}"),
        }
    }
}
