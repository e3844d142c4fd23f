//! The ERP-action commands (`invois documents`, `received`, `receipts`, `clients`,
//! `webhooks`) through the real binary, against a running gateway: the gateway's service (ERP
//! API, pipeline, month-end and received loops) in this process on port 0, sending with the
//! real client to a sandbox on port 0, and the binary calling its API with an API key from the
//! environment.

use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use invois_client::Client;
use invois_clock::Clock;
use invois_gateway::clients::{ClientPool, LoginMode};
use invois_gateway::pipeline::{PipelineConfig, ReceivedConfig, Shutdown};
use invois_gateway::service::Gateway;
use invois_gateway::store::Store;
use invois_testkit::{TestSandbox, samples};
use serde_json::{Value, json};

/// A gateway serving on port 0 over a fresh SQLite file, logged in to a sandbox as its demo
/// supplier.
struct Running {
    base: String,
    key: String,
    client_id: String,
    /// The gateway's database URL.
    db: String,
    sandbox: TestSandbox,
    store: Arc<Store>,
    stop: Option<invois_gateway::pipeline::ShutdownTrigger>,
    _dir: tempfile::TempDir,
}

impl Running {
    async fn start() -> Running {
        // One real second is a minute: validation and the loops take moments.
        let sandbox = TestSandbox::builder()
            .clock(Clock::starting_at(
                Utc.with_ymd_and_hms(2026, 3, 10, 2, 0, 0).unwrap(),
                60.0,
            ))
            .validation_delay(Duration::from_secs(3))
            .start()
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("gateway.db").display());
        let store = Arc::new(Store::open(&url, sandbox.clock().clone()).await.unwrap());
        let login = sandbox.supplier();
        let client = Client::builder()
            .api_base(sandbox.base_url())
            .credentials(login.client_id.clone(), login.client_secret.as_str())
            .clock(sandbox.clock().clone())
            .build()
            .unwrap();
        let config = PipelineConfig {
            idle: Duration::from_millis(200),
            poll_interval: (Duration::from_secs(2), Duration::from_secs(4)),
            received: ReceivedConfig {
                notifications_every: Duration::from_secs(60),
                ..ReceivedConfig::default()
            },
            ..PipelineConfig::default()
        };
        let gateway = Gateway::new(
            Arc::clone(&store),
            ClientPool::new(client, LoginMode::Taxpayer),
            None,
            config,
        );
        let (_, secret) = store.api_keys().create("cli").await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (trigger, shutdown) = Shutdown::new();
        tokio::spawn(gateway.run(listener, shutdown));
        Running {
            base,
            key: secret.expose().to_owned(),
            client_id: login.client_id,
            db: url,
            sandbox,
            store,
            stop: Some(trigger),
            _dir: dir,
        }
    }

    /// Runs `invois ARGS` against this gateway (URL and key in the environment, as a user
    /// would set them).
    async fn invois(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_invois"));
        cmd.args(args);
        for (key, _) in std::env::vars() {
            if key.starts_with("INVOIS_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("INVOIS_GATEWAY_URL", &self.base)
            .env("INVOIS_API_KEY", &self.key);
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap()
    }

    /// `invois ARGS`, which must succeed; its JSON answer.
    async fn ok(&self, args: &[&str]) -> Value {
        let out = self.invois(args).await;
        assert_eq!(
            out.status.code(),
            Some(0),
            "invois {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// `invois ARGS`, which the gateway must refuse (exit 1) with `code`; the message.
    async fn refused(&self, args: &[&str], code: &str) -> String {
        let out = self.invois(args).await;
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "invois {args:?}: {err}");
        assert!(err.starts_with(&format!("{code}: ")), "{err}");
        err
    }

    /// An invoice of the demo supplier to the demo buyer, issued a few minutes ago.
    fn invoice(&self, internal_id: &str) -> Value {
        let mut doc = invois_testkit::fixture_json(
            invois_testkit::Version::V1_0,
            invois_testkit::Kind::Invoice,
        );
        let issued = self.sandbox.clock().now() - chrono::Duration::minutes(5);
        samples::adapt_json(
            &mut doc,
            internal_id,
            issued,
            &self.sandbox.supplier().tin,
            &self.sandbox.buyer().tin,
        );
        doc
    }

    /// Posts `doc` to the ERP API; its id.
    async fn post(&self, doc: &Value) -> i64 {
        let body: Value = reqwest::Client::new()
            .post(format!("{}/v1/documents", self.base))
            .bearer_auth(&self.key)
            .json(doc)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["id"].as_i64().unwrap_or_else(|| panic!("{body}"))
    }

    /// Waits until `invois documents show ID` says `state`.
    async fn wait_for(&self, id: i64, state: &str) -> Value {
        let id = id.to_string();
        for _ in 0..300 {
            let doc = self.ok(&["documents", "show", &id]).await;
            if doc["state"] == state {
                return doc;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("document {id} never reached {state}");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.trigger();
        }
    }
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_list_show_retry_correct_cancel_and_note() {
    let gw = Running::start().await;
    let dir = tempfile::tempdir().unwrap();

    // Locally rejected (a placeholder buyer TIN): retry sends it round again, and a
    // corrected version goes on to be valid.
    let good = gw.invoice("CLI-1");
    let broken = serde_json::to_string(&good)
        .unwrap()
        .replace(&gw.sandbox.buyer().tin, "Buyer's TIN");
    let broken: Value = serde_json::from_str(&broken).unwrap();
    let rejected = gw.post(&broken).await;
    gw.wait_for(rejected, "rejected_locally").await;
    let retried = gw.ok(&["documents", "retry", &rejected.to_string()]).await;
    assert_eq!(retried["state"], "received", "{retried}");
    gw.wait_for(rejected, "rejected_locally").await;
    let fixed = write(dir.path(), "fixed.json", &good.to_string());
    let v2 = gw
        .ok(&["documents", "correct", &rejected.to_string(), &fixed])
        .await;
    assert_eq!(v2["version"], 2, "{v2}");
    let v2 = v2["id"].as_i64().unwrap();
    let versions = gw
        .ok(&["documents", "versions", &rejected.to_string()])
        .await;
    assert_eq!(
        versions["versions"].as_array().map(Vec::len),
        Some(2),
        "{versions}"
    );
    gw.wait_for(v2, "valid").await;
    // A valid document is not retried: the gateway says what it allows.
    let err = gw
        .refused(&["documents", "retry", &v2.to_string()], "not_retryable")
        .await;
    assert!(err.contains("cancel"), "{err}");

    // A credit note built from it, then another invoice cancelled.
    let note = gw
        .ok(&[
            "documents",
            "note",
            &v2.to_string(),
            "--kind",
            "credit",
            "--internal-id",
            "CN-CLI-1",
            "--line",
            "0:1",
        ])
        .await;
    assert_eq!(note["type_code"], "02", "{note}");
    assert_eq!(note["internal_id"], "CN-CLI-1");
    gw.wait_for(note["id"].as_i64().unwrap(), "valid").await;
    // Another invoice handed over by file (and a file that is not a document), then
    // cancelled.
    let file = write(dir.path(), "cli-2.json", &gw.invoice("CLI-2").to_string());
    let junk = write(dir.path(), "junk.json", "{\"not\": \"a document\"}");
    let out = gw.invois(&["documents", "send", &file, &junk]).await;
    assert_eq!(out.status.code(), Some(1), "one file refused");
    let sent: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sent[0]["status"], 202, "{sent}");
    assert_eq!(sent[1]["status"], 400, "{sent}");
    let other = sent[0]["answer"]["id"].as_i64().unwrap();
    gw.wait_for(other, "valid").await;
    let cancelled = gw
        .ok(&[
            "documents",
            "cancel",
            &other.to_string(),
            "--reason",
            "wrong buyer",
        ])
        .await;
    assert_eq!(cancelled["state"], "cancelled", "{cancelled}");

    let list = gw
        .ok(&["documents", "list", "--state", "valid", "--limit", "10"])
        .await;
    let ids: Vec<i64> = list["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_i64().unwrap())
        .collect();
    assert!(ids.contains(&v2) && !ids.contains(&other), "{list}");
    gw.refused(&["documents", "show", "999999"], "not_found")
        .await;

    // The webhook log (no URL configured: the events wait in the outbox).
    let log = gw.ok(&["webhooks", "deliveries", "--limit", "5"]).await;
    assert!(log["items"].is_array(), "{log}");
    gw.refused(&["webhooks", "replay", "999999"], "not_found")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn received_list_accept_and_reject() {
    let gw = Running::start().await;
    let ours = gw.sandbox.supplier().tin;
    let issue = |id: &str| invois_sandbox::Issue {
        supplier_tin: Some(gw.sandbox.buyer().tin),
        internal_id: Some(id.to_owned()),
        unit_price: None,
    };
    let a = gw
        .sandbox
        .sandbox()
        .issue_to(&ours, &issue("SUP-1"))
        .unwrap();
    let b = gw
        .sandbox
        .sandbox()
        .issue_to(&ours, &issue("SUP-2"))
        .unwrap();
    // The gateway's received loop finds them (from MyInvois' notifications).
    let mut listed = Value::Null;
    for _ in 0..300 {
        listed = gw.ok(&["received", "list"]).await;
        if listed["documents"].as_array().is_some_and(|i| i.len() == 2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(listed["documents"].as_array().unwrap().len(), 2, "{listed}");
    let shown = gw.ok(&["received", "show", &a.uuid]).await;
    assert_eq!(shown["internal_id"], "SUP-1", "{shown}");
    assert!(shown["reject_deadline"].is_string(), "{shown}");

    let rejected = gw
        .ok(&[
            "received",
            "reject",
            &a.uuid,
            "--reason",
            "wrong SST number",
        ])
        .await;
    assert_eq!(rejected["decision"], "rejected", "{rejected}");
    // Asking again is a repeat; accepting what was rejected is refused.
    let again = gw
        .ok(&["received", "reject", &a.uuid, "--reason", "again"])
        .await;
    assert_eq!(again["decision"], "rejected", "{again}");
    gw.refused(&["received", "accept", &a.uuid], "already_rejected")
        .await;
    let accepted = gw.ok(&["received", "accept", &b.uuid]).await;
    assert_eq!(accepted["decision"], "accepted", "{accepted}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_send_list_consolidate_and_individual() {
    let gw = Running::start().await;
    let dir = tempfile::tempdir().unwrap();
    let tin = gw.sandbox.supplier().tin;
    let supplier = json!({"name": "Syarikat Pembekal Sdn. Bhd.", "tin": tin, "id_scheme": "BRN",
        "id": invois_testkit::fixtures::ISSUER_BRN, "sst": "NA", "msic_code": "47190",
        "msic_description": "Other retail sale in non-specialized stores",
        "address": {"lines": ["Lot 66, Bangunan Merdeka"], "city": "Kuala Lumpur",
                    "postal_zone": "50480", "state": "14"},
        "phone": "+60123456789"});
    let profile = write(
        dir.path(),
        "issuer.json",
        &json!({"supplier": supplier, "line_method": "ranges", "version": "1.0"}).to_string(),
    );
    gw.refused(&["receipts", "issuer", &tin], "not_found").await;
    let stored = gw
        .ok(&["receipts", "issuer", &tin, "--set", &profile])
        .await;
    assert_eq!(stored["line_method"], "ranges");
    assert_eq!(gw.ok(&["receipts", "issuer", &tin]).await, stored);

    // February's receipts (a closed month on the gateway's clock), by CSV; one refused row.
    let csv = write(
        dir.path(),
        "february.csv",
        &format!(
            "issuer_tin,number,issued_at,amount\n\
             {tin},F-0001,2026-02-03T10:00:00+08:00,10.00\n\
             {tin},F-0002,2026-02-03T11:00:00+08:00,20.00\n\
             {tin},F-0003,2026-02-04T10:00:00+08:00,30.00\n\
             {tin},F-0004,2026-02-04T10:00:00+08:00,-1\n"
        ),
    );
    let out = gw.invois(&["receipts", "send", &csv]).await;
    assert_eq!(out.status.code(), Some(1), "one row refused");
    let sent: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (sent["accepted"].as_u64(), sent["failed"].as_u64()),
        (Some(3), Some(1))
    );
    let open = gw
        .ok(&["receipts", "list", "--month", "2026-02", "--state", "open"])
        .await;
    assert_eq!(open["items"].as_array().unwrap().len(), 3, "{open}");

    // A buyer asks for F-0002's own e-invoice; then February is consolidated now.
    let buyer = write(
        dir.path(),
        "buyer.json",
        &json!({"name": "Pelanggan Bhd.", "tin": gw.sandbox.buyer().tin, "id_scheme": "BRN",
                "id": invois_testkit::fixtures::COUNTERPARTY_BRN, "sst": "NA",
                "address": {"lines": ["Jalan Ampang"], "city": "Kuala Lumpur", "state": "14"},
                "phone": "+60123456780"})
        .to_string(),
    );
    let individual = gw
        .ok(&[
            "receipts",
            "individual",
            "F-0002",
            "--issuer-tin",
            &tin,
            "--buyer",
            &buyer,
        ])
        .await;
    assert_eq!(individual["document"]["internal_id"], "IND-F-0002");
    gw.refused(
        &[
            "receipts",
            "consolidate",
            "--issuer-tin",
            &tin,
            "--month",
            "2026-03",
        ],
        "month_open",
    )
    .await;
    let built = gw
        .ok(&[
            "receipts",
            "consolidate",
            "--issuer-tin",
            &tin,
            "--month",
            "2026-02",
        ])
        .await;
    assert_eq!(built["origin"], "on_demand", "{built}");
    assert_eq!(built["receipts"], 2, "{built}");
    let id = built["id"].as_i64().unwrap();
    gw.refused(
        &[
            "receipts",
            "individual",
            "F-0001",
            "--issuer-tin",
            &tin,
            "--buyer",
            &buyer,
        ],
        "already_consolidated",
    )
    .await;
    let doc = built["documents"][0]["document_id"].as_i64().unwrap();
    gw.wait_for(doc, "valid").await;
    let one = gw
        .ok(&["receipts", "consolidations", &id.to_string()])
        .await;
    assert_eq!(one["deadline_state"], "submitted", "{one}");
    let all = gw
        .ok(&["receipts", "consolidations", "--issuer-tin", &tin])
        .await;
    assert_eq!(all[0]["id"], id, "{all}");
    // `import` writes straight into the gateway's database; the API lists what it stored.
    let march = write(
        dir.path(),
        "march.csv",
        &format!(
            "issuer_tin,number,issued_at,amount\n{tin},M-0001,2026-03-02T10:00:00+08:00,5.00\n"
        ),
    );
    let out = gw
        .invois(&["receipts", "import", &march, "--database", &gw.db])
        .await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        gw.store
            .receipts()
            .get(&tin, "M-0001")
            .await
            .unwrap()
            .is_some()
    );
    let listed = gw.ok(&["receipts", "list", "--month", "2026-03"]).await;
    assert_eq!(listed["items"][0]["number"], "M-0001", "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_resume() {
    let gw = Running::start().await;
    // Not halted: nothing to resume, the answer says it runs.
    let answer = gw.ok(&["clients", "resume", &gw.client_id]).await;
    assert_eq!(answer["state"], "running", "{answer}");
    let err = gw
        .refused(&["clients", "resume", "someone-else"], "not_found")
        .await;
    assert!(err.contains(&gw.client_id), "{err}");
    // Without a key the command says where to put one.
    let out = {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_invois"));
        cmd.args(["clients", "resume", "x"])
            .env_remove("INVOIS_API_KEY")
            .env("INVOIS_GATEWAY_URL", &gw.base);
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap()
    };
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("INVOIS_API_KEY"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
