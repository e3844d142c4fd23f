//! The integration report: a deliberately naive ERP (plain HTTP, every anti-pattern) gets
//! every finding with the right evidence; the invois client gets none.

use std::collections::HashMap;
use std::time::Duration;

use crate::common::{BUYER_TIN, Creds, Harness, SUPPLIER_TIN, entry_json, invoice, submission};
use chrono::Utc;
use invois_api::RateClass;
use invois_sandbox::report::{ClientReport, FindingKind, Report, render};
use invois_sandbox::{Clock, SandboxConfig};
use serde_json::Value;

fn correlation(headers: &reqwest::header::HeaderMap) -> String {
    headers
        .get("correlationId")
        .and_then(|v| v.to_str().ok())
        .expect("correlationId header")
        .to_owned()
}

async fn fetch_report(h: &Harness, client_id: &str) -> Report {
    let resp = h
        .http
        .get(h.admin("/admin/report"))
        .query(&[("clientId", client_id)])
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    resp.json().await.expect("report json")
}

fn client<'a>(report: &'a Report, client_id: &str) -> &'a ClientReport {
    report
        .clients
        .iter()
        .find(|c| c.client_id == client_id)
        .unwrap_or_else(|| panic!("no report for {client_id}: {report:?}"))
}

fn finding(c: &ClientReport, kind: FindingKind) -> &invois_sandbox::report::Finding {
    c.findings
        .iter()
        .find(|f| f.kind == kind)
        .unwrap_or_else(|| panic!("no {kind:?} finding in {:#?}", c.findings))
}

/// The naive ERP: logs in before every call, ignores results and Retry-After.
struct Naive<'a> {
    h: &'a Harness,
    creds: Creds,
    tokens: u64,
}

impl Naive<'_> {
    async fn token(&mut self) -> String {
        self.tokens += 1;
        self.h.token(&self.creds).await
    }

    async fn get(&mut self, path: &str) -> (u16, String, Value, Option<String>) {
        let token = self.token().await;
        let (status, headers, body) = self.h.get(&token, path).await;
        let retry = headers
            .get("Retry-After")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        (status, correlation(&headers), body, retry)
    }
}

#[tokio::test]
async fn a_naive_integration_gets_every_finding_with_its_evidence() {
    let config = SandboxConfig {
        // Validation stays "in progress" until the test moves the clock.
        validation_delay: Duration::from_secs(300),
        clock: Clock::starting_at(Utc::now(), 1.0),
        rate_overrides: HashMap::from([(RateClass::GetRecentDocuments, 2)]),
        ..SandboxConfig::default()
    };
    let h = crate::common::start_with(config).await;
    let creds = h.supplier();
    let client_id = creds.client_id.clone();

    // Anti-pattern 5: a template secret and a `0` grant type.
    for (secret, grant) in [
        ("YOUR_CLIENT_SECRET", "client_credentials"),
        (creds.secret.as_str(), "0"),
    ] {
        let resp = h
            .login_raw(
                &[
                    ("client_id", &client_id),
                    ("client_secret", secret),
                    ("grant_type", grant),
                ],
                None,
            )
            .await;
        assert_eq!(resp.status(), 400);
    }
    // Another ERP sends wrong credentials again at once: a refused login repeated, not
    // investigated. (Its own client id, so the naive supplier keeps its login budget; one
    // that sorts last, so the page's first timeline is still the supplier's.)
    let buyer_id = "zz-erp-with-wrong-credentials".to_owned();
    let mut refused_corr = Vec::new();
    for _ in 0..2 {
        let resp = h
            .login_raw(
                &[
                    ("client_id", &buyer_id),
                    ("client_secret", "not-the-secret"),
                    ("grant_type", "client_credentials"),
                ],
                None,
            )
            .await;
        assert_eq!(resp.status(), 400);
        refused_corr.push(correlation(resp.headers()));
    }
    // A client id that is itself markup must come out escaped in the HTML page.
    let resp = h
        .login_raw(
            &[
                ("client_id", "<script>alert(1)</script>"),
                ("client_secret", "s"),
                ("grant_type", "client_credentials"),
            ],
            None,
        )
        .await;
    assert_eq!(resp.status(), 400);

    let mut erp = Naive {
        h: &h,
        creds,
        tokens: 0,
    };

    // Anti-pattern 3: the same payload three times.
    let doc = invoice("NAIVE-1", h.clock().now(), SUPPLIER_TIN, BUYER_TIN);
    let payload = submission(vec![entry_json(&doc, "NAIVE-1")]);
    let mut resend_correlations = Vec::new();
    let mut uid = String::new();
    let mut uuid = String::new();
    for i in 0..3 {
        let token = erp.token().await;
        let (status, headers, body) = h.submit(&token, &payload).await;
        if i == 0 {
            assert_eq!(status, 202, "{body}");
            uid = body["submissionUid"].as_str().expect("uid").to_owned();
            uuid = body["acceptedDocuments"][0]["uuid"]
                .as_str()
                .expect("uuid")
                .to_owned();
        } else {
            assert_eq!(status, 422, "{body}");
            resend_correlations.push(correlation(&headers));
        }
    }

    // Anti-pattern 2: per-document calls and lists while the submission is in progress.
    let (s, details_corr, _, _) = erp
        .get(&format!("/api/v1.0/documents/{uuid}/details"))
        .await;
    assert_eq!(s, 200);
    let (s, raw_corr, _, _) = erp.get(&format!("/api/v1.0/documents/{uuid}/raw")).await;
    assert_eq!(s, 200);
    let from = (h.clock().now() - chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ");
    let to = (h.clock().now() + chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ");
    let (s, search_corr, _, _) = erp
        .get(&format!(
            "/api/v1.0/documents/search?uuid={uuid}&submissionDateFrom={from}&submissionDateTo={to}"
        ))
        .await;
    assert_eq!(s, 200);

    // Get Submission twice within a second.
    let (s, _, body, _) = erp
        .get(&format!("/api/v1.0/documentsubmissions/{uid}"))
        .await;
    assert_eq!(s, 200);
    assert_eq!(body["overallStatus"], "in progress");
    let (s, fast_poll_corr, _, _) = erp
        .get(&format!("/api/v1.0/documentsubmissions/{uid}"))
        .await;
    assert_eq!(s, 200);

    // Anti-pattern 4, then a 429 (budget 2) and a call inside its Retry-After.
    let (s, recent_filtered_corr, _, _) = erp
        .get("/api/v1.0/documents/recent?pageNo=1&status=Submitted")
        .await;
    assert_eq!(s, 200);
    let (s, _, _, _) = erp.get("/api/v1.0/documents/recent").await;
    assert_eq!(s, 200);
    let (s, limited_corr, _, retry) = erp.get("/api/v1.0/documents/recent").await;
    assert_eq!(s, 429);
    assert!(retry.is_some());
    let (s, during_retry_corr, _, _) = erp.get("/api/v1.0/documents/recent").await;
    assert_eq!(s, 429);

    // Validation ends; then details of a Valid document. The wait reads the sandbox's store,
    // not the API: validation runs on its own task once the clock moves, so an ERP call made
    // while it had not yet run would be one more read "while in progress", and the counts
    // above would depend on the machine's load.
    h.advance(400);
    let mut valid = false;
    for _ in 0..500 {
        let status = h
            .running
            .sandbox
            .with_store(|s| s.document(&uuid).map(|d| d.status));
        if status == Some(invois_api::DocumentStatus::Valid) {
            valid = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(valid, "the document never became Valid");
    let (s, valid_details_corr, _, _) = erp
        .get(&format!("/api/v1.0/documents/{uuid}/details"))
        .await;
    assert_eq!(s, 200);

    let report = fetch_report(&h, &client_id).await;
    assert_eq!(report.clients.len(), 1, "filtered by client id");
    let c = client(&report, &client_id);
    assert_eq!(c.on_behalf_of, None);

    // 1: every call had its own token.
    let f = finding(c, FindingKind::TokenPerCall);
    assert_eq!(f.anti_pattern, Some(1));
    assert_eq!(f.count, erp.tokens);
    assert_eq!(f.counts["issued"], erp.tokens);
    assert_eq!(f.counts["justified"], 2, "the run took well under an hour");
    assert_eq!(f.counts["while previous valid"], erp.tokens - 1);
    assert_eq!(f.examples.len(), invois_sandbox::report::MAX_EXAMPLES);
    assert!(
        f.examples
            .iter()
            .all(|e| e.endpoint.as_deref() == Some("Login as Taxpayer System") && e.status == 200)
    );

    // 2: two document calls, one search and four recent calls while in progress.
    let f = finding(c, FindingKind::PollingDocuments);
    assert_eq!(f.anti_pattern, Some(2));
    assert_eq!(f.counts["Get Document Details"], 1);
    assert_eq!(f.counts["Get Document"], 1);
    assert_eq!(f.counts["Search Documents"], 1);
    assert_eq!(f.counts["Get Recent Documents"], 4);
    assert_eq!(f.count, 7);
    let examples: Vec<&str> = f
        .examples
        .iter()
        .map(|e| e.correlation_id.as_str())
        .collect();
    assert_eq!(
        &examples[..4],
        [
            details_corr.as_str(),
            raw_corr.as_str(),
            search_corr.as_str(),
            recent_filtered_corr.as_str()
        ]
    );
    assert!(f.examples[0].note.contains(&uuid), "{:?}", f.examples[0]);
    assert!(f.examples[2].note.contains(&uid), "{:?}", f.examples[2]);

    // 3: two resends after the 202, quoted by correlation id.
    let f = finding(c, FindingKind::ResentSubmission);
    assert_eq!(f.anti_pattern, Some(3));
    assert_eq!(f.count, 2);
    assert_eq!(f.counts["after a 2xx"], 2);
    let quoted: Vec<String> = f
        .examples
        .iter()
        .map(|e| e.correlation_id.clone())
        .collect();
    assert_eq!(quoted, resend_correlations);
    assert!(f.examples.iter().all(|e| e.status == 422));

    // 4: one filtered call, then three repeats within ten minutes.
    let f = finding(c, FindingKind::RecentInsteadOfSearch);
    assert_eq!(f.anti_pattern, Some(4));
    assert_eq!(f.counts["filtered"], 1);
    assert_eq!(f.counts["repeated"], 3);
    assert_eq!(f.examples[0].correlation_id, recent_filtered_corr);
    assert!(f.examples[0].note.contains("status"), "{:?}", f.examples[0]);
    assert!(!f.examples[0].note.contains("pageNo"));

    // 5: the two blocked logins, by field.
    let f = finding(c, FindingKind::PlaceholderCredentials);
    assert_eq!(f.anti_pattern, Some(5));
    assert_eq!(f.count, 2);
    assert_eq!(f.counts["client_secret is a placeholder"], 1);
    assert_eq!(f.counts["grant_type is `0`"], 1);
    assert!(f.examples.iter().all(|e| e.status == 400));

    let f = finding(c, FindingKind::RateLimited);
    assert_eq!(f.counts, [("Get Recent Documents".to_owned(), 2)].into());
    assert_eq!(f.examples[0].correlation_id, limited_corr);

    let f = finding(c, FindingKind::CallDuringRetryAfter);
    assert_eq!(f.count, 1);
    assert_eq!(f.examples[0].correlation_id, during_retry_corr);

    let f = finding(c, FindingKind::FastSubmissionPolling);
    assert_eq!(f.count, 1);
    assert_eq!(f.examples[0].correlation_id, fast_poll_corr);
    assert!(f.examples[0].note.contains(&uid));

    let f = finding(c, FindingKind::DetailsForValidDocuments);
    assert_eq!(f.count, 1);
    assert_eq!(f.examples[0].correlation_id, valid_details_corr);

    let buyer = fetch_report(&h, &buyer_id).await;
    let f = finding(client(&buyer, &buyer_id), FindingKind::RepeatedFailedLogins);
    assert_eq!(f.count, 1);
    assert_eq!(f.examples[0].correlation_id, refused_corr[1]);
    assert!(f.examples[0].note.contains(&refused_corr[0]));

    // Per-endpoint counts and the timeline agree with what was sent.
    let recent = c
        .endpoints
        .iter()
        .find(|e| e.endpoint == "Get Recent Documents")
        .expect("recent");
    assert_eq!(recent.calls, 4);
    assert_eq!(recent.statuses[&429], 2);
    assert_eq!(c.timeline.len() as u64, c.calls);
    assert_eq!(c.folded_calls, 0);

    // Text and HTML renderings carry the findings; the page is self-contained and escaped.
    let all: Report = fetch_report(&h, "").await;
    assert!(all.clients.len() >= 2);
    let text = render::text(&all);
    for kind in FindingKind::ALL {
        assert!(text.contains(kind.title()), "{kind:?} missing from text");
    }
    let resp = h
        .http
        .get(h.admin("/admin/report.html"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let page = resp.text().await.expect("html");
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(!page.contains("<script"), "unescaped markup in the page");
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(
        !page.contains("src=") && !page.contains("<link"),
        "external assets"
    );
    let findings_at = page.find("anti-pattern 1").expect("finding");
    let timeline_at = page.find("Timeline").expect("timeline");
    assert!(findings_at < timeline_at, "findings come first");
    assert!(page.contains(&fast_poll_corr));
}

#[tokio::test]
async fn the_window_keeps_recent_calls_and_folds_older_ones() {
    let config = SandboxConfig {
        report_window: Some(5),
        ..crate::common::config()
    };
    let h = crate::common::start_with(config).await;
    let token = h.token(&h.supplier()).await;
    for _ in 0..12 {
        let (s, _, _) = h.get(&token, "/api/v1.0/documenttypes").await;
        assert_eq!(s, 200);
    }
    let report = h.running.sandbox.report(None).expect("recorder on");
    let c = client(&report, &h.supplier().client_id);
    assert_eq!(c.calls, 13);
    assert_eq!(c.timeline.len(), 5);
    assert_eq!(c.folded_calls, 8);
    let types = c
        .endpoints
        .iter()
        .find(|e| e.endpoint == "Get All Document Types")
        .expect("types");
    assert_eq!(types.calls, 12, "older calls still counted");
    assert!(c.findings.is_empty(), "{:#?}", c.findings);

    // Off: no recorder, and the admin API says so.
    let off = crate::common::start_with(SandboxConfig {
        report_window: None,
        ..crate::common::config()
    })
    .await;
    assert!(off.running.sandbox.report(None).is_none());
    let resp = off
        .http
        .get(off.admin("/admin/report"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 404);
}

fn client_for(h: &Harness) -> invois_client::Client {
    let who = h.supplier();
    invois_client::Client::builder()
        .api_base(h.running.base_url.as_str())
        .portal_base("https://preprod.myinvois.hasil.gov.my")
        .credentials(who.client_id, who.secret.as_str())
        .clock(h.clock().clone())
        .build()
        .expect("client")
}

fn documents(
    h: &Harness,
    tag: &str,
    n: usize,
) -> Vec<invois_client::api::submission::DocumentSubmission> {
    use invois_client::DocumentSubmissionExt as _;
    let issued = h.clock().now() - chrono::Duration::minutes(5);
    (0..n)
        .map(|i| {
            let id = format!("{tag}-{i}");
            let doc = invoice(&id, issued, SUPPLIER_TIN, BUYER_TIN);
            invois_client::api::submission::DocumentSubmission::from_bytes(
                invois_client::api::submission::DocumentFormat::Json,
                &serde_json::to_vec(&doc).expect("json"),
                id,
            )
        })
        .collect()
}

fn assert_clean(report: &Report, client_id: &str) -> ClientReport {
    let c = client(report, client_id).clone();
    assert!(
        c.findings.is_empty(),
        "the invois client should produce no finding:\n{}",
        render::text(report)
    );
    c
}

#[tokio::test]
async fn the_invois_client_through_submit_poll_cancel_produces_no_finding() {
    let h = crate::common::start_with(SandboxConfig {
        clock: Clock::starting_at(Utc::now(), 60.0),
        validation_delay: Duration::from_secs(3),
        ..SandboxConfig::default()
    })
    .await;
    let client = client_for(&h);
    let submitted = client
        .submissions()
        .submit(documents(&h, "CLEAN", 3))
        .send()
        .await
        .expect("submit");
    let uid = submitted.submission_uid.clone().expect("uid");
    let outcome = client
        .submissions()
        .poll(uid.clone())
        .expected_documents(submitted.accepted_documents.len())
        .send()
        .await
        .expect("poll");
    let valid = outcome
        .documents
        .iter()
        .find(|d| d.status == invois_client::api::DocumentStatus::Valid)
        .expect("a valid document");
    client
        .documents()
        .cancel(&valid.uuid, "Wrong buyer")
        .await
        .expect("cancel");
    let now = h.clock().now();
    let found = client
        .documents()
        .find_by_internal_id(
            "CLEAN-1",
            now - chrono::Duration::days(1),
            now + chrono::Duration::minutes(1),
        )
        .await
        .expect("search");
    assert_eq!(found.len(), 1);

    let report = fetch_report(&h, &h.supplier().client_id).await;
    let c = assert_clean(&report, &h.supplier().client_id);
    // Not vacuous: the calls were seen.
    let calls = |name: &str| {
        c.endpoints
            .iter()
            .find(|e| e.endpoint == name)
            .map_or(0, |e| e.calls)
    };
    assert_eq!(calls("Login as Taxpayer System"), 1);
    assert_eq!(calls("Submit Documents"), 1);
    assert!(calls("Get Submission") >= 1);
    assert_eq!(calls("Cancel Document"), 1);
    assert!(calls("Search Documents") >= 1);
}

/// A large run: `batches` full submissions of 100 documents, polled to the end, at 60x.
async fn bulk_run(batches: usize) {
    let h = crate::common::start_with(SandboxConfig {
        clock: Clock::starting_at(Utc::now(), 60.0),
        validation_delay: Duration::from_secs(3),
        report_window: Some(1000),
        ..SandboxConfig::default()
    })
    .await;
    let client = client_for(&h);
    let mut uids = Vec::new();
    for batch in 0..batches {
        let submitted = client
            .submissions()
            .submit(documents(&h, &format!("BULK{batch}"), 100))
            .send()
            .await
            .expect("submit");
        assert_eq!(submitted.accepted_documents.len(), 100);
        uids.push(submitted.submission_uid.clone().expect("uid"));
    }
    let mut valid = 0;
    for uid in uids {
        let outcome = client
            .submissions()
            .poll(uid)
            .expected_documents(100)
            .send()
            .await
            .expect("poll");
        valid += outcome
            .documents
            .iter()
            .filter(|d| d.status == invois_client::api::DocumentStatus::Valid)
            .count();
    }
    assert_eq!(valid, batches * 100);
    let report = h.running.sandbox.report(None).expect("recorder");
    let c = assert_clean(&report, &h.supplier().client_id);
    let submits = c
        .endpoints
        .iter()
        .find(|e| e.endpoint == "Submit Documents")
        .map_or(0, |e| e.calls);
    assert_eq!(submits, batches as u64);
    assert!(c.timeline.len() <= 1000);
}

#[tokio::test]
async fn the_invois_client_stays_clean_over_2000_documents() {
    bulk_run(20).await;
}

/// 20,000 documents (75 s in a release build on 2 shared cores, about 75 minutes of sandbox
/// clock, so tokens are refreshed on the way): `cargo test --release -p
/// invois-sandbox --test report -- --ignored`.
#[tokio::test]
#[ignore = "long: 20,000 documents"]
async fn the_invois_client_stays_clean_over_20000_documents() {
    bulk_run(200).await;
}

/// A refused login sent again within the hour is a finding, with the count, the client id
/// and the times (issue 16); one sent again after the hour, or after an accepted login, is
/// not.
#[tokio::test]
async fn refused_logins_repeated_within_the_hour_are_a_finding() {
    let h = crate::common::start_with(SandboxConfig {
        clock: Clock::starting_at(Utc::now(), 1.0),
        ..SandboxConfig::default()
    })
    .await;
    let client_id = h.supplier().client_id;
    let refused = |at: &'static str| {
        let (h, client_id) = (&h, client_id.clone());
        async move {
            let resp = h
                .login_raw(
                    &[
                        ("client_id", &client_id),
                        ("client_secret", "not-the-secret"),
                        ("grant_type", "client_credentials"),
                    ],
                    None,
                )
                .await;
            assert_eq!(resp.status(), 400, "{at}");
            correlation(resp.headers())
        }
    };
    let first = refused("first").await;
    h.clock().advance(Duration::from_secs(5));
    let second = refused("5 s later").await;
    h.clock().advance(Duration::from_secs(20));
    refused("25 s later").await;
    // An hour after the last refusal: an unattended retry at most that often is fine.
    h.clock().advance(Duration::from_secs(3600));
    refused("an hour later").await;
    // An accepted login in between: the next refusal starts afresh.
    h.token(&h.supplier()).await;
    refused("after an accepted login").await;

    let report = fetch_report(&h, &client_id).await;
    let c = client(&report, &client_id);
    let f = finding(c, FindingKind::RepeatedFailedLogins);
    assert_eq!(f.count, 2, "{f:#?}");
    assert_eq!(f.counts["HTTP 400"], 2);
    assert_eq!(f.anti_pattern, None);
    assert_eq!(f.examples.len(), 2);
    let note = &f.examples[0].note;
    assert!(
        note.contains(&client_id) && note.contains("5.0 s") && note.contains(&first),
        "{note}"
    );
    assert_eq!(f.examples[0].correlation_id, second);
    assert_eq!(f.first_at, Some(f.examples[0].at));
    assert!(f.last_at > f.first_at);
    let text = render::text(&report);
    assert!(text.contains("Failed logins repeated"), "{text}");
    assert_eq!(c.findings.len(), 1, "{text}");
}

/// The invois client with a wrong secret: one refused login, however many calls follow, so
/// the report has no repeated-login finding (issue 16).
#[tokio::test]
async fn the_invois_client_sends_a_refused_login_once() {
    let h = crate::common::start_with(SandboxConfig {
        clock: Clock::starting_at(Utc::now(), 1.0),
        ..SandboxConfig::default()
    })
    .await;
    let who = h.supplier();
    let wrong = invois_client::Client::builder()
        .api_base(h.running.base_url.as_str())
        .credentials(who.client_id.clone(), "not-the-secret")
        .clock(h.clock().clone())
        .build()
        .expect("client");
    for _ in 0..5 {
        assert!(wrong.platform().document_types().await.is_err());
        h.clock().advance(Duration::from_secs(600));
    }
    assert_eq!(
        h.running
            .sandbox
            .client_counters(&who.client_id)
            .failed_logins,
        1
    );
    let report = fetch_report(&h, &who.client_id).await;
    assert!(
        client(&report, &who.client_id).findings.is_empty(),
        "{}",
        render::text(&report)
    );
}

/// A search for received documents (direction Received) cannot be following the caller's own
/// submissions, so it is no polling finding even while one is in progress; the same search
/// without the direction is.
#[tokio::test]
async fn searching_received_documents_while_submitting_is_not_polling() {
    let config = SandboxConfig {
        // Validation stays "in progress" for the whole test.
        validation_delay: Duration::from_secs(3600),
        clock: Clock::starting_at(Utc::now(), 1.0),
        ..SandboxConfig::default()
    };
    let h = crate::common::start_with(config).await;
    let creds = h.supplier();
    let token = h.token(&creds).await;
    let doc = invoice("RCV-1", h.clock().now(), SUPPLIER_TIN, BUYER_TIN);
    let (status, _, body) = h
        .submit(&token, &submission(vec![entry_json(&doc, "RCV-1")]))
        .await;
    assert_eq!(status, 202, "{body}");
    let now = h.clock().now();
    let fmt = |t: chrono::DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let range = format!(
        "submissionDateFrom={}&submissionDateTo={}",
        fmt(now - chrono::Duration::hours(1)),
        fmt(now + chrono::Duration::minutes(1))
    );
    let (status, _, _) = h
        .get(
            &token,
            &format!("/api/v1.0/documents/search?invoiceDirection=Received&{range}"),
        )
        .await;
    assert_eq!(status, 200);
    let report = fetch_report(&h, &creds.client_id).await;
    let c = client(&report, &creds.client_id);
    assert!(
        c.findings
            .iter()
            .all(|f| f.kind != FindingKind::PollingDocuments),
        "{:#?}",
        c.findings
    );
    let (status, _, _) = h
        .get(&token, &format!("/api/v1.0/documents/search?{range}"))
        .await;
    assert_eq!(status, 200);
    let report = fetch_report(&h, &creds.client_id).await;
    let f = finding(
        client(&report, &creds.client_id),
        FindingKind::PollingDocuments,
    );
    assert_eq!(f.counts["Search Documents"], 1);
}
