//! The testkit starts a sandbox that other crates' tests can log in to and submit to.

use std::time::Duration;

use invois_testkit::{TestSandbox, samples};

async fn token(sandbox: &TestSandbox, login: &invois_testkit::Login) -> reqwest::Response {
    let http = reqwest::Client::new();
    let mut req = http
        .post(format!("{}/connect/token", sandbox.base_url()))
        .form(&[
            ("client_id", login.client_id.as_str()),
            ("client_secret", login.client_secret.as_str()),
            ("grant_type", "client_credentials"),
        ]);
    if let Some(obo) = &login.on_behalf_of {
        req = req.header("onbehalfof", obo);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn starts_logs_in_and_accepts_an_adapted_sample() {
    let sandbox = TestSandbox::builder()
        .validation_delay(Duration::from_secs(1))
        .with_admin()
        .start()
        .await
        .unwrap();
    assert!(sandbox.admin_url().is_some());
    for login in [sandbox.supplier(), sandbox.buyer(), sandbox.intermediary()] {
        assert_eq!(token(&sandbox, &login).await.status(), 200, "{login:?}");
    }
    let supplier = sandbox.supplier();
    let body: serde_json::Value = token(&sandbox, &supplier).await.json().await.unwrap();
    let access = body["access_token"].as_str().unwrap();

    let mut doc =
        invois_testkit::fixture_json(invois_testkit::Version::V1_0, invois_testkit::Kind::Invoice);
    samples::adapt_json(
        &mut doc,
        "TK-1",
        sandbox.clock().now(),
        &supplier.tin,
        &sandbox.buyer().tin,
    );
    let xml =
        invois_testkit::fixture_xml(invois_testkit::Version::V1_0, invois_testkit::Kind::Invoice);
    let xml = samples::adapt_xml(
        &xml,
        "TK-2",
        sandbox.clock().now(),
        &supplier.tin,
        &sandbox.buyer().tin,
    );
    let submission = samples::submission(vec![
        samples::document_entry("JSON", &samples::minified(&doc), "TK-1"),
        samples::document_entry("XML", xml.as_bytes(), "TK-2"),
    ]);
    let resp = reqwest::Client::new()
        .post(format!(
            "{}/api/v1.0/documentsubmissions",
            sandbox.base_url()
        ))
        .bearer_auth(access)
        .json(&submission)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        body["acceptedDocuments"].as_array().unwrap().len(),
        2,
        "{body}"
    );
    let uid = body["submissionUid"].as_str().unwrap().to_owned();

    sandbox.clock().advance(Duration::from_secs(2));
    let mut status = String::new();
    for _ in 0..100 {
        let v: serde_json::Value = reqwest::Client::new()
            .get(format!(
                "{}/api/v1.0/documentsubmissions/{uid}",
                sandbox.base_url()
            ))
            .bearer_auth(access)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        status = v["overallStatus"].as_str().unwrap().to_owned();
        if status != "in progress" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, "valid");
    sandbox.shutdown().await;
}
