//! `invois submit` through the real binary, with no credentials (so against the built-in
//! sandbox, over HTTP, at real time) and a SQLite file in a temporary directory.

use std::path::Path;
use std::process::{Command, Output};

use chrono::{DateTime, Utc};
use invois_clock::Clock;
use invois_gateway::store::{DocumentFilter, Store, SubmissionFilter};
use invois_testkit::samples;
use serde_json::{Value, json};

fn invois(args: &[&str], dir: &Path) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_invois"));
    cmd.args(args).current_dir(dir);
    // Whatever the developer's shell holds, this run has no credentials or other settings.
    for (key, _) in std::env::vars() {
        if key.starts_with("INVOIS_") {
            cmd.env_remove(key);
        }
    }
    cmd.output().unwrap()
}

struct Demo {
    supplier_tin: String,
    buyer_tin: String,
}

fn demo() -> Demo {
    let fixtures = invois_sandbox::Fixtures::demo();
    Demo {
        supplier_tin: fixtures.taxpayers[0].tin.clone(),
        buyer_tin: fixtures.taxpayers[1].tin.clone(),
    }
}

/// A v1.0 UBL JSON invoice issued by the demo supplier.
fn json_invoice(d: &Demo, id: &str, issued: DateTime<Utc>) -> Vec<u8> {
    let mut doc =
        invois_testkit::fixture_json(invois_testkit::Version::V1_0, invois_testkit::Kind::Invoice);
    samples::adapt_json(&mut doc, id, issued, &d.supplier_tin, &d.buyer_tin);
    samples::minified(&doc)
}

/// An unsigned v1.1 UBL XML invoice, so the gateway signs it (with the built-in test
/// certificate, which names the demo supplier's TIN and BRN).
fn xml_invoice(d: &Demo, id: &str, issued: DateTime<Utc>) -> Vec<u8> {
    let xml = invois_testkit::unsigned_fixture(
        invois_testkit::Version::V1_1,
        invois_testkit::Kind::Invoice,
        invois_model::Format::Xml,
    );
    let xml = String::from_utf8(xml).unwrap();
    samples::adapt_xml(&xml, id, issued, &d.supplier_tin, &d.buyer_tin).into_bytes()
}

/// invois's own document JSON (the model's example), issued by the demo supplier.
fn simple_invoice(d: &Demo, id: &str, issued: DateTime<Utc>) -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../invois-model/examples/simple-invoice.json"
    );
    let mut doc: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    doc["id"] = json!(id);
    doc["issuedAt"] = json!(issued.to_rfc3339());
    doc["supplier"]["tin"] = json!(d.supplier_tin);
    doc["buyer"]["tin"] = json!(d.buyer_tin);
    doc["delivery"]["tin"] = json!(d.buyer_tin);
    serde_json::to_vec_pretty(&doc).unwrap()
}

async fn store_counts(db: &str) -> (usize, usize) {
    let store = Store::open(db, Clock::real()).await.unwrap();
    let submissions = store
        .submissions()
        .list(&SubmissionFilter::default())
        .await
        .unwrap()
        .len();
    let documents = store
        .documents()
        .list(&DocumentFilter::default())
        .await
        .unwrap()
        .items
        .len();
    (submissions, documents)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn submits_each_file_once_and_reports_final_states() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let d = demo();
    let now = Utc::now() - chrono::Duration::minutes(5);
    let files = [
        ("invoice.json", json_invoice(&d, "SUB-JSON-1", now)),
        ("invoice.xml", xml_invoice(&d, "SUB-XML-1", now)),
        ("simple.json", simple_invoice(&d, "SUB-SIMPLE-1", now)),
        // Issued five days ago: outside the 72-hour window, rejected before sending.
        (
            "late.json",
            json_invoice(&d, "SUB-LATE-1", now - chrono::Duration::days(5)),
        ),
        ("broken.json", b"{\n  \"Invoice\": [,\n}".to_vec()),
    ];
    for (name, bytes) in &files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    let db = format!("sqlite://{}/x.db", dir.display());
    let mut args = vec!["submit", "--database", db.as_str()];
    args.extend(files.iter().map(|(name, _)| *name));

    let first = invois(&args, dir);
    let stdout = text(&first.stdout);
    let stderr = text(&first.stderr);
    assert_eq!(first.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("built-in sandbox"), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{stdout}");
    for (line, (name, id)) in lines.iter().zip([
        ("invoice.json", "SUB-JSON-1"),
        ("invoice.xml", "SUB-XML-1"),
        ("simple.json", "SUB-SIMPLE-1"),
    ]) {
        assert!(
            line.starts_with(&format!("{name}: valid {id} (document ")),
            "{line}\n{stderr}"
        );
        // The link is the built-in sandbox's portal page, not LHDN's preprod portal, which
        // never saw the document.
        assert!(
            line.contains(" uuid ")
                && line.contains(" http://127.0.0.1:")
                && line.contains("/share/"),
            "{line}"
        );
        assert!(!line.contains("hasil.gov.my"), "{line}");
    }
    assert!(
        lines[3].starts_with("late.json: rejected_locally SUB-LATE-1")
            && lines[3].contains("IssueDate"),
        "{}",
        lines[3]
    );
    assert!(
        lines[4].starts_with("broken.json: not_stored — line 2, column")
            && lines[4].contains("not valid JSON"),
        "{}",
        lines[4]
    );
    let (submissions, documents) = store_counts(&db).await;
    assert!(submissions >= 1, "{submissions}");
    assert_eq!(documents, 4);

    // Again, as JSON: the same results, nothing stored or submitted anew.
    args.push("--json");
    let second = invois(&args, dir);
    assert_eq!(second.status.code(), Some(1), "{}", text(&second.stderr));
    let results: Vec<Value> = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!(results.len(), 5);
    for (r, line) in results.iter().zip(&lines) {
        if r["document_id"].is_i64() {
            assert_eq!(r["stored_now"], json!(false), "{r}");
        }
        assert!(
            line.starts_with(&format!(
                "{}: {} ",
                r["file"].as_str().unwrap(),
                r["state"].as_str().unwrap()
            )),
            "{line} / {r}"
        );
        if let Some(uuid) = r["uuid"].as_str() {
            assert!(line.contains(uuid), "{line} / {r}");
        }
    }
    assert_eq!(
        results[2]["validation_link"]
            .as_str()
            .map(|l| lines[2].contains(l)),
        Some(true)
    );
    let late = &results[3]["errors"][0];
    assert!(
        late["field"].as_str().unwrap().contains("IssueDate"),
        "{late}"
    );
    assert!(
        late["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{late}"
    );
    assert!(
        results[4]["errors"][0]["field"]
            .as_str()
            .unwrap()
            .starts_with("line 2")
    );
    assert_eq!(store_counts(&db).await, (submissions, documents));
}

/// Ctrl-C while a document awaits validation: the run stops cleanly (exit 2, the document
/// reported as not final), and a re-run does not submit it again. The built-in sandbox that
/// accepted it is gone with the first process, so the re-run says its validation cannot be
/// learnt instead of waiting forever.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_stops_cleanly_and_a_rerun_never_resubmits() {
    use invois_gateway::store::DocumentState;

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let d = demo();
    let now = Utc::now() - chrono::Duration::minutes(5);
    std::fs::write(dir.join("a.json"), json_invoice(&d, "SUB-INT-1", now)).unwrap();
    let db = format!("sqlite://{}/x.db", dir.display());
    // Created (and migrated) before the binary starts, so the test can watch it.
    let store = Store::open(&db, Clock::real()).await.unwrap();
    let args = ["submit", "--database", db.as_str(), "a.json"];
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_invois"));
    cmd.args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (key, _) in std::env::vars() {
        if key.starts_with("INVOIS_") {
            cmd.env_remove(key);
        }
    }
    let child = cmd.spawn().unwrap();
    // Wait (on the clock) until MyInvois has accepted it; validation takes seconds more.
    let clock = Clock::real();
    let state = loop {
        let docs = store
            .documents()
            .list(&DocumentFilter::default())
            .await
            .unwrap()
            .items;
        if let Some(doc) = docs.first()
            && (doc.state == DocumentState::Submitted || doc.state.is_final())
        {
            break doc.state;
        }
        clock.sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(
        state,
        DocumentState::Submitted,
        "validated before the test could stop it"
    );
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let first = child.wait_with_output().unwrap();
    let stdout = text(&first.stdout);
    let stderr = text(&first.stderr);
    assert_eq!(first.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(
        stdout.starts_with("a.json: submitted SUB-INT-1 (document 1) uuid ")
            && stdout.contains("not final yet: run the same command again"),
        "{stdout}"
    );
    let (submissions, documents) = store_counts(&db).await;
    assert_eq!((submissions, documents), (1, 1));

    let second = invois(&args, dir);
    let stdout = text(&second.stdout);
    assert_eq!(
        second.status.code(),
        Some(1),
        "{stdout}\n{}",
        text(&second.stderr)
    );
    assert!(
        stdout.starts_with("a.json: submitted SUB-INT-1 (document 1) uuid ")
            && stdout.contains("built-in sandbox of an earlier run"),
        "{stdout}"
    );
    assert_eq!(store_counts(&db).await, (1, 1));
}

/// Unfinished documents stored under another client id are never sent with this run's
/// credentials: the run refuses to start (exit 2) and names the way out.
#[tokio::test(flavor = "multi_thread")]
async fn refuses_a_database_with_another_clients_unfinished_work() {
    use invois_gateway::store::{DocumentFormat, NewDocument};

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let d = demo();
    let now = Utc::now() - chrono::Duration::minutes(5);
    let bytes = json_invoice(&d, "SUB-OTHER-1", now);
    std::fs::write(dir.join("a.json"), &bytes).unwrap();
    let db = format!("sqlite://{}/x.db", dir.display());
    let store = Store::open(&db, Clock::real()).await.unwrap();
    store
        .documents()
        .insert(NewDocument {
            issuer_tin: d.supplier_tin.clone(),
            type_code: "01".to_owned(),
            internal_id: "ERP-REAL-1".to_owned(),
            version: 1,
            format: DocumentFormat::Json,
            client_id: "real-erp-client".to_owned(),
            on_behalf_of: None,
            received: bytes,
        })
        .await
        .unwrap();
    let out = invois(&["submit", "--database", db.as_str(), "a.json"], dir);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("real-erp-client") && stderr.contains("another --database"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
    assert_eq!(store_counts(&db).await, (0, 1));
}

/// A wrong client secret (issue 16): the run stops at MyInvois' first refusal with LHDN's
/// error and the fix (exit 2), where it used to log in again about 12 times a minute until
/// killed. The sandbox saw exactly one failed login; the document is back in `prepared`,
/// nothing lost, and the secret is nowhere in the output.
#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_secret_stops_at_the_first_refused_login() {
    let sandbox = invois_testkit::TestSandbox::start().await.unwrap();
    let who = sandbox.supplier();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let d = demo();
    let issued = Utc::now() - chrono::Duration::minutes(5);
    std::fs::write(dir.join("a.json"), json_invoice(&d, "SUB-HALT-1", issued)).unwrap();
    let db = format!("sqlite://{}/x.db", dir.display());
    let secret = "not-the-secret-4f1c9a";
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_invois"));
    cmd.args(["submit", "--database", db.as_str(), "--client-id"])
        .args([who.client_id.as_str(), "--client-secret", secret])
        .args(["--api-base", sandbox.base_url(), "a.json"])
        .current_dir(dir)
        .kill_on_drop(true);
    for (key, _) in std::env::vars() {
        if key.starts_with("INVOIS_") {
            cmd.env_remove(key);
        }
    }
    // Before the fix the run never ended: a bound, so that a regression fails rather than hangs.
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), cmd.output())
        .await
        .expect("invois submit ends once its login is refused")
        .unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    for part in [
        "invalid_client",
        "View and Register ERP",
        who.client_id.as_str(),
        "/connect/token",
    ] {
        assert!(stderr.contains(part), "{part} in {stderr}");
    }
    assert!(
        stdout.starts_with("a.json: prepared SUB-HALT-1") && stdout.contains("[login_refused]"),
        "{stdout}"
    );
    assert!(!stdout.contains(secret) && !stderr.contains(secret));
    assert_eq!(
        sandbox
            .sandbox()
            .client_counters(&who.client_id)
            .failed_logins,
        1
    );
    let store = Store::open(&db, Clock::real()).await.unwrap();
    let docs = store
        .documents()
        .list(&DocumentFilter::default())
        .await
        .unwrap()
        .items;
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].state.as_str(), "prepared");
}
