//! `invois sandbox report` through the real binary, against a sandbox running in the test.

use std::process::{Command, Output};

use invois_sandbox::SandboxConfig;

async fn invois(args: Vec<String>) -> Output {
    // The sandbox runs on this test's runtime: run the binary off it.
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_invois"))
            .args(&args)
            .output()
            .expect("run invois")
    })
    .await
    .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_renders_text_json_and_html_from_the_admin_api() {
    let running = invois_sandbox::spawn(SandboxConfig::default(), true)
        .await
        .expect("spawn");
    let admin = running.admin_url.clone().expect("admin");
    let who = running.credentials[0].clone();
    let http = reqwest::Client::new();
    for secret in ["changeme", who.client_secret.as_deref().expect("secret")] {
        let status = http
            .post(format!("{}/connect/token", running.base_url))
            .form(&[
                ("client_id", who.client_id.as_str()),
                ("client_secret", secret),
                ("grant_type", "client_credentials"),
            ])
            .send()
            .await
            .expect("send")
            .status();
        assert_eq!(status.is_success(), secret != "changeme");
    }

    let base = vec![
        "sandbox".to_owned(),
        "report".to_owned(),
        "--admin".to_owned(),
        admin,
    ];
    let text = invois(base.clone()).await;
    assert!(text.status.success(), "{text:?}");
    let out = String::from_utf8_lossy(&text.stdout);
    assert!(out.contains(&who.client_id), "{out}");
    assert!(out.contains("[anti-pattern 5]"), "{out}");
    assert!(out.contains("client_secret is a placeholder"), "{out}");

    let mut json_args = base.clone();
    json_args.extend([
        "--json".to_owned(),
        "--client-id".to_owned(),
        who.client_id.clone(),
    ]);
    let json = invois(json_args).await;
    let report: invois_sandbox::report::Report =
        serde_json::from_slice(&json.stdout).expect("json report");
    assert_eq!(report.clients.len(), 1);
    assert_eq!(report.clients[0].calls, 2);

    let mut html_args = base.clone();
    html_args.extend(["--html".to_owned(), "--fail-on-findings".to_owned()]);
    let html = invois(html_args).await;
    assert_eq!(html.status.code(), Some(1), "findings fail the check");
    let page = String::from_utf8_lossy(&html.stdout);
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("Token requests with missing or placeholder credentials"));

    let mut bad = base;
    bad[3] = "127.0.0.1:1".to_owned();
    let down = invois(bad).await;
    assert_eq!(down.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&down.stderr).contains("--admin-listen"));
    running.shutdown().await;
}
