//! The dashboard in a real headless Chromium (through chromedriver), checked on what it
//! shows: sign-in with an API key, the overview's counts and charts, the search, a document's
//! page with its typed errors and its actions, and that no page is wider than a 1280-pixel
//! window.
//!
//! Needs Debian's `chromium` and `chromium-driver`. Without them the test says so and passes,
//! as a user's fresh clone has no browser; `.ci/run` installs both and sets
//! `INVOIS_BROWSER_TESTS=1`, which turns a missing browser into a failure.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use invois_api::RateProfile;
use invois_client::RateLimits;
use invois_gateway::clients::{ClientPool, LoginMode};
use invois_gateway::pipeline::{PipelineConfig, Shutdown};
use invois_gateway::service::Gateway;
use invois_gateway::store::{DocumentId, DocumentState, Store};
use invois_testkit::{TestSandbox, samples};
use serde_json::json;

/// chromedriver, killed when the test ends.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn found(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A browser session at 1280×1000, or `None` (with a line saying why) when there is none.
async fn browser() -> Option<(Client, Driver)> {
    if !found("chromedriver") || !found("chromium") {
        assert!(
            std::env::var_os("INVOIS_BROWSER_TESTS").is_none(),
            "INVOIS_BROWSER_TESTS is set but chromium or chromedriver is missing"
        );
        eprintln!("dashboard browser test skipped: install Debian's chromium and chromium-driver");
        return None;
    }
    // fantoccini's TLS stack links two rustls providers; name one (nothing here uses TLS).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver(child);
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".to_owned(),
        json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                        "--disable-dev-shm-usage", "--window-size=1280,1000"]}),
    );
    // chromedriver takes a moment to listen; it is another process, so this waits on it.
    for _ in 0..100 {
        let connected = ClientBuilder::rustls()
            .expect("a rustls connector")
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await;
        if let Ok(client) = connected {
            return Some((client, driver));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not answer on port {port}");
}

/// The page's text.
async fn text(c: &Client) -> String {
    match c.find(Locator::Css("body")).await {
        Ok(body) => body.text().await.expect("its text"),
        Err(e) => panic!(
            "no page body at {:?}: {e}\n{}",
            c.current_url().await.map(|u| u.to_string()),
            c.source().await.unwrap_or_default()
        ),
    }
}

/// Waits (on the browser: it navigates in its own time) until the page shows `css`, then
/// returns the page's text.
async fn shows(c: &Client, css: &str) -> String {
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css} on the page: {e}"));
    text(c).await
}

/// Asserts the page fits a 1280-pixel window: nothing scrolls sideways.
async fn fits(c: &Client, what: &str) {
    let width = c
        .execute("return document.documentElement.scrollWidth;", vec![])
        .await
        .expect("the page's width");
    let width = width.as_u64().unwrap_or(u64::MAX);
    assert!(width <= 1280, "{what} is {width} px wide");
}

/// A gateway on port 0 over a fresh store and a sandbox, with one API key and documents in
/// several states: valid, rejected locally, failed.
struct Seeded {
    base: String,
    key: String,
    store: Arc<Store>,
    valid: DocumentId,
    failed: DocumentId,
    _sandbox: TestSandbox,
    _dir: crate::common::SqliteFile,
    _shutdown: invois_gateway::pipeline::ShutdownTrigger,
}

async fn seeded() -> Seeded {
    let sandbox = TestSandbox::builder()
        .profile(RateProfile::Production)
        .validation_delay(Duration::ZERO)
        .start()
        .await
        .expect("a sandbox");
    let dir = crate::common::SqliteFile::new();
    let store = Arc::new(
        Store::open(&dir.url(), sandbox.clock().clone())
            .await
            .expect("a store"),
    );
    let who = sandbox.supplier();
    let client = invois_client::Client::builder()
        .api_base(sandbox.base_url())
        .credentials(who.client_id, who.client_secret.as_str())
        .clock(sandbox.clock().clone())
        .rate_limits(RateLimits::profile(RateProfile::Production))
        .request_timeout(Duration::from_secs(5))
        .build()
        .expect("a client");
    let pool = ClientPool::new(client, LoginMode::Taxpayer);
    let config = PipelineConfig {
        idle: Duration::from_millis(50),
        batch_linger: Duration::from_millis(50),
        ..PipelineConfig::default()
    };
    let gateway = Gateway::new(Arc::clone(&store), pool, None, config);
    let (_, key) = store.api_keys().create("ui").await.expect("a key");
    let key = key.expose().to_owned();
    let supplier = sandbox.supplier().tin;
    let buyer = sandbox.buyer().tin;
    let now = sandbox.clock().now();
    let mut ids = Vec::new();
    for (internal_id, issued) in [
        ("UI-VALID", now - chrono::Duration::minutes(5)),
        // Issued four days ago: local validation refuses it (CF011).
        ("UI-OLD", now - chrono::Duration::days(4)),
    ] {
        let mut doc = invois_testkit::fixture_json(
            invois_testkit::Version::V1_0,
            invois_testkit::Kind::Invoice,
        );
        samples::adapt_json(&mut doc, internal_id, issued, &supplier, &buyer);
        let stored = gateway
            .api_state()
            .intake
            .submit(&serde_json::to_vec(&doc).unwrap(), None)
            .await
            .expect("stored");
        ids.push(stored.document.id);
    }
    let (trigger, shutdown) = Shutdown::new();
    tokio::time::timeout(
        Duration::from_secs(60),
        gateway.pipeline().run_until_settled(shutdown.clone()),
    )
    .await
    .expect("settles")
    .expect("no pipeline error");
    let failed = fail_one(&store, &gateway, &supplier, &buyer, now).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = gateway.run(listener, shutdown).await;
    });
    Seeded {
        base,
        key,
        store,
        valid: ids[0],
        failed,
        _sandbox: sandbox,
        _dir: dir,
        _shutdown: trigger,
    }
}

/// A document whose submission MyInvois refused for good (walked through the store).
async fn fail_one(
    store: &Store,
    gateway: &Gateway,
    supplier: &str,
    buyer: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> DocumentId {
    use invois_gateway::document_errors::DocumentError;
    use invois_gateway::store::SubmissionIntent;
    let mut doc =
        invois_testkit::fixture_json(invois_testkit::Version::V1_0, invois_testkit::Kind::Invoice);
    samples::adapt_json(&mut doc, "UI-FAILED", now, supplier, buyer);
    let id = gateway
        .api_state()
        .intake
        .submit(&serde_json::to_vec(&doc).unwrap(), None)
        .await
        .unwrap()
        .document
        .id;
    let lease = Duration::from_secs(60);
    let claimed = store
        .documents()
        .claim_received("w", 10, lease)
        .await
        .unwrap();
    let d = claimed.iter().find(|d| d.id == id).unwrap();
    let wire = invois_api::submission::WireDocument::new(d.format, d.received.clone());
    store
        .documents()
        .mark_prepared(id, "w", &wire)
        .await
        .unwrap();
    let batch = store
        .documents()
        .claim_for_batch("w", 1, 5_000_000, lease)
        .await
        .unwrap()
        .unwrap();
    let sub = store
        .submissions()
        .record_intent(SubmissionIntent {
            worker: "w".to_owned(),
            client_id: batch.client_id.clone(),
            on_behalf_of: None,
            document_ids: vec![id],
            payload: b"{}".to_vec(),
            lease,
        })
        .await
        .unwrap();
    let refusal = DocumentError::refused(Some("IncorrectSubmitter"), "HTTP 403 IncorrectSubmitter");
    store
        .submissions()
        .record_refused(sub.id, &refusal)
        .await
        .unwrap();
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_and_acts_in_a_real_browser() {
    let Some((c, _driver)) = browser().await else {
        return;
    };
    let s = seeded().await;
    // Not signed in: the sign-in form, nothing else.
    c.goto(&format!("{}/dashboard", s.base)).await.unwrap();
    assert!(
        c.current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/dashboard/login")
    );
    assert!(!text(&c).await.contains("UI-VALID"));
    // A wrong key is refused, a right one signs in.
    sign_in(&c, "ivk_wrong").await;
    assert!(shows(&c, "p.flash").await.contains("unknown or revoked"));
    sign_in(&c, &s.key).await;
    let overview = shows(&c, "nav").await;
    assert!(overview.contains("Documents by state"), "{overview}");
    assert!(
        overview.contains("UI-VALID") && overview.contains("UI-FAILED"),
        "{overview}"
    );
    let charts = c.find_all(Locator::Css("svg.chart")).await.unwrap();
    assert_eq!(charts.len(), 2, "the states chart and the budget chart");
    fits(&c, "the overview").await;

    // The search finds one document by its internal id.
    c.goto(&format!("{}/dashboard/documents?q=UI-OLD", s.base))
        .await
        .unwrap();
    let rows = c
        .find_all(Locator::Css("table.documents tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "a header and one row");
    let found = text(&c).await;
    assert!(
        found.contains("UI-OLD") && !found.contains("UI-VALID"),
        "{found}"
    );
    assert!(found.contains("rejected_locally"));
    fits(&c, "the search").await;

    // The rejected document's page: its typed errors, in full.
    c.find(Locator::LinkText("UI-OLD"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let page = shows(&c, "table.facts").await;
    assert!(
        page.contains("CF011") && page.contains("local_validation"),
        "{page}"
    );
    assert!(page.contains("$.Invoice[0].IssueDate[0]"), "{page}");
    fits(&c, "a document page").await;

    // The valid document: its validation link, the buyer's copy, cancel and notes.
    c.goto(&format!("{}/dashboard/documents/{}", s.base, s.valid.0))
        .await
        .unwrap();
    let page = text(&c).await;
    assert!(page.contains("/share/"), "the validation link: {page}");
    assert!(
        page.contains("Cancel at MyInvois") && page.contains("Issue note"),
        "{page}"
    );
    // The buyer's copy opens from the page (a PDF, fetched with the page's session).
    let href = c
        .find(Locator::LinkText("PDF"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert!(
        href.ends_with(&format!("/dashboard/documents/{}/pdf", s.valid.0)),
        "{href}"
    );
    let fetched = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch(arguments[0]).then(r => done([r.status, r.headers.get('content-type')]));",
            vec![json!(href)],
        )
        .await
        .unwrap();
    assert_eq!(fetched, json!([200, "application/pdf"]));

    // The failed document: "Send again" puts it back in the queue.
    c.goto(&format!("{}/dashboard/documents/{}", s.base, s.failed.0))
        .await
        .unwrap();
    let page = text(&c).await;
    assert!(page.contains("IncorrectSubmitter"), "{page}");
    c.find(Locator::XPath("//button[text()='Send again']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let page = shows(&c, "p.flash").await;
    assert!(page.contains("sent back to be prepared"), "{page}");
    let state = s.store.documents().get(s.failed).await.unwrap().state;
    assert_ne!(state, DocumentState::Failed);
    c.close().await.unwrap();
}

async fn sign_in(c: &Client, key: &str) {
    let form = c.form(Locator::Css("form.login")).await.unwrap();
    form.set_by_name("key", key).await.unwrap();
    form.submit().await.unwrap();
}
