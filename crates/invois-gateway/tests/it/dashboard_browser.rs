//! The dashboard in a real headless Chromium (through chromedriver), checked on what it
//! shows: sign-in with an API key, the overview's counts and charts, the search, a document's
//! page with its typed errors and its actions, the received documents with their rejection
//! deadlines (one rejected from the page, at the sandbox), the month's consolidation with its
//! deadline (consolidated from the page), a read-only key's session with no action offered,
//! and that no page or table is wider than a 1280-pixel window.
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
use invois_gateway::consolidation::{
    AddressDetails, ConsolidationConfig, IssuerProfile, LineMethodName, PartyDetails,
};
use invois_gateway::pipeline::{PipelineConfig, Shutdown};
use invois_gateway::service::Gateway;
use invois_gateway::store::{ApiKeyScope, Decision, DocumentId, DocumentState, NewReceipt, Store};
use invois_model::consolidation::Month;
use invois_sandbox::Issue;
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

/// Asserts no table on the page reaches past a 1280-pixel window or scrolls inside itself.
async fn tables_fit(c: &Client, what: &str) {
    let widest = c
        .execute(
            "let w = 0; for (const t of document.querySelectorAll('table')) { \
               w = Math.max(w, t.getBoundingClientRect().right, t.scrollWidth); } return w;",
            vec![],
        )
        .await
        .expect("the tables' widths");
    let widest = widest.as_f64().unwrap_or(f64::MAX);
    assert!(widest <= 1280.0, "a table on {what} reaches {widest} px");
}

/// A gateway on port 0 over a fresh store and a sandbox, with one API key and documents in
/// several states: valid, rejected locally, failed; two documents a supplier issued to the
/// gateway's taxpayer (found by the gateway's search); receipts of the last two months.
struct Seeded {
    base: String,
    key: String,
    store: Arc<Store>,
    valid: DocumentId,
    failed: DocumentId,
    /// Received: one to reject from the page, one left open.
    received: [String; 2],
    /// Last month (3 receipts, one the rules exclude) and the month before (1 receipt).
    months: [Month; 2],
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
        // Months are consolidated from the page, not by the month-end loop.
        consolidation: ConsolidationConfig {
            enabled: false,
            ..ConsolidationConfig::default()
        },
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
    let received = ["SUP-UI-REJECT", "SUP-UI-OPEN"].map(|internal_id| {
        let issue = Issue {
            supplier_tin: Some(buyer.clone()),
            internal_id: Some(internal_id.to_owned()),
            ..Issue::default()
        };
        sandbox.sandbox().issue_to(&supplier, &issue).unwrap().uuid
    });
    let pass = gateway.pipeline().received_once().await.unwrap();
    assert_eq!(pass.inserted, 2, "{pass:?}");
    let months = seed_receipts(&store, &supplier, now).await;
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
        received,
        months,
        _sandbox: sandbox,
        _dir: dir,
        _shutdown: trigger,
    }
}

/// The supplier's details for consolidated e-invoices, and receipts: three of last month
/// (one above RM10,000, which the rules keep out) and one of the month before.
async fn seed_receipts(
    store: &Store,
    supplier: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> [Month; 2] {
    use invois_testkit::fixtures::{ISSUER_BRN, ISSUER_TIN};
    assert_eq!(
        supplier, ISSUER_TIN,
        "the sandbox's supplier is the fixtures' issuer"
    );
    let profile = IssuerProfile {
        supplier: PartyDetails {
            name: "Syarikat Pembekal Sdn. Bhd.".to_owned(),
            tin: ISSUER_TIN.to_owned(),
            id_scheme: "BRN".to_owned(),
            id: ISSUER_BRN.to_owned(),
            sst: Some("NA".to_owned()),
            ttx: None,
            msic_code: Some("47190".to_owned()),
            msic_description: Some("Other retail sale in non-specialized stores".to_owned()),
            address: AddressDetails {
                lines: vec!["Lot 66, Bangunan Merdeka".to_owned()],
                city: "Kuala Lumpur".to_owned(),
                postal_zone: Some("50480".to_owned()),
                state: "14".to_owned(),
                country: "MYS".to_owned(),
            },
            phone: "+60123456789".to_owned(),
            email: None,
        },
        line_method: LineMethodName::Ranges,
        version: "1.0".to_owned(),
        relaxation_phase: None,
        relaxation_until: None,
    };
    store
        .consolidations()
        .put_issuer_profile(ISSUER_TIN, &serde_json::to_string(&profile).unwrap())
        .await
        .unwrap();
    let this = Month::of_instant(now);
    let last = Month::of_instant(
        this.first_day().and_hms_opt(0, 0, 0).unwrap().and_utc() - chrono::Duration::days(2),
    );
    let before = Month::of_instant(
        last.first_day().and_hms_opt(0, 0, 0).unwrap().and_utc() - chrono::Duration::days(2),
    );
    let receipt = |month: Month, n: u32, cents: i64| NewReceipt {
        issuer_tin: ISSUER_TIN.to_owned(),
        number: format!("UI-R-{n}"),
        // Noon in Kuala Lumpur on the 10th: well inside the month.
        issued_at: (month.first_day() + chrono::Duration::days(9))
            .and_hms_opt(4, 0, 0)
            .unwrap()
            .and_utc(),
        amount: rust_decimal::Decimal::new(cents, 2),
        tax_type: "06".to_owned(),
        tax_rate: rust_decimal::Decimal::ZERO,
        tax_amount: rust_decimal::Decimal::ZERO,
        exemption_reason: None,
        description: None,
        classification: None,
        branch: None,
        activity: None,
        diplomatic: false,
    };
    let receipts = [
        receipt(last, 1, 1_250),
        receipt(last, 2, 990),
        receipt(last, 3, 1_200_000),
        receipt(before, 4, 500),
    ];
    for r in store.receipts().insert_many(&receipts).await.unwrap() {
        assert!(r.unwrap().created);
    }
    [last, before]
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

    received_page(&c, &s).await;
    consolidation_page(&c, &s).await;
    read_only_session(&c, &s).await;
    c.close().await.unwrap();
}

/// The received documents: each with its deadline and the time left, and the reject form
/// taking one to MyInvois (the sandbox).
async fn received_page(c: &Client, s: &Seeded) {
    c.find(Locator::LinkText("Received"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let page = shows(c, "table.received").await;
    for uuid in &s.received {
        let r = s.store.received().get(uuid).await.unwrap();
        let deadline = r.reject_deadline.expect("a valid document's deadline");
        let shown = deadline.format("%Y-%m-%d %H:%M:%S").to_string();
        assert!(page.contains(&shown), "the deadline {shown}: {page}");
        assert!(page.contains(&r.document.internal_id), "{page}");
    }
    // Validated moments ago: nearly all of the 72 hours are left.
    assert!(page.contains("2 d 23 h left"), "{page}");
    assert!(page.contains("106.00"), "the amount: {page}");
    let rejects = c
        .find_all(Locator::XPath("//button[text()='Reject']"))
        .await
        .unwrap();
    let accepts = c
        .find_all(Locator::XPath("//button[text()='Accept']"))
        .await
        .unwrap();
    assert_eq!((rejects.len(), accepts.len()), (2, 2), "{page}");
    fits(c, "the received documents").await;
    tables_fit(c, "the received documents").await;
    let form = c
        .form(Locator::Css(&format!(
            "form[action='/dashboard/received/{}/reject']",
            s.received[0]
        )))
        .await
        .unwrap();
    form.set_by_name("reason", "wrong quantity: 2, not 20")
        .await
        .unwrap();
    form.submit().await.unwrap();
    let page = shows(c, "p.flash").await;
    assert!(
        page.contains("SUP-UI-REJECT of") && page.contains("rejected at MyInvois"),
        "{page}"
    );
    assert!(page.contains("wrong quantity: 2, not 20"), "{page}");
    let r = s.store.received().get(&s.received[0]).await.unwrap();
    assert_eq!(r.decision, Some(Decision::Rejected));
    // Only the open one still offers both.
    let rejects = c
        .find_all(Locator::XPath("//button[text()='Reject']"))
        .await
        .unwrap();
    assert_eq!(rejects.len(), 1, "{page}");
}

/// The consolidation page: months waiting with their deadline, "Consolidate now", then the
/// consolidation with its e-invoice, its exclusion and its deadline.
async fn consolidation_page(c: &Client, s: &Seeded) {
    let [last, before] = s.months;
    c.find(Locator::LinkText("Consolidation"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let page = shows(c, "table.waiting").await;
    for month in [last, before] {
        let by = format!("submit by {}", month.deadline().format("%Y-%m-%d"));
        assert!(
            page.contains(&month.to_string()) && page.contains(&by),
            "{by}: {page}"
        );
    }
    // The month before last is past its deadline.
    assert!(page.contains("overdue"), "{page}");
    let buttons = c
        .find_all(Locator::XPath("//button[text()='Consolidate now']"))
        .await
        .unwrap();
    assert_eq!(buttons.len(), 2, "{page}");
    tables_fit(c, "the consolidation page").await;
    let form = c
        .form(Locator::XPath(&format!(
            "//form[input[@name='month' and @value='{last}']]"
        )))
        .await
        .unwrap();
    form.submit().await.unwrap();
    let page = shows(c, "section.consolidation").await;
    assert!(
        page.contains(&format!(
            "{last} of {} consolidated: 2 receipts in 1 e-invoice(s), 1 excluded",
            invois_testkit::fixtures::ISSUER_TIN
        )),
        "{page}"
    );
    let by = format!("submit by {}", last.deadline().format("%Y-%m-%d"));
    assert!(page.contains(&by), "{page}");
    assert!(
        page.contains("single_transaction_limit") && page.contains("UI-R-3"),
        "{page}"
    );
    let made = s.store.consolidations().list(None, 10).await.unwrap();
    assert_eq!(made.len(), 1);
    let doc = &made[0].summary.as_ref().unwrap().documents[0];
    assert!(page.contains(&doc.internal_id), "{page}");
    fits(c, "the consolidation page").await;
    tables_fit(c, "the consolidation page").await;
}

/// A read-only key signs in and sees every page, the buyer's copy included, but no action.
async fn read_only_session(c: &Client, s: &Seeded) {
    let (_, key) = s
        .store
        .api_keys()
        .create_scoped("auditor", ApiKeyScope::ReadOnly)
        .await
        .unwrap();
    c.find(Locator::XPath("//button[text()='Sign out']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    shows(c, "form.login").await;
    sign_in(c, key.expose()).await;
    shows(c, "nav").await;
    for (path, must_show) in [
        ("/dashboard".to_owned(), "Documents by state".to_owned()),
        (
            format!("/dashboard/documents/{}", s.valid.0),
            "/share/".to_owned(),
        ),
        (
            format!("/dashboard/documents/{}", s.failed.0),
            "read-only key".to_owned(),
        ),
        ("/dashboard/received".to_owned(), "SUP-UI-OPEN".to_owned()),
        ("/dashboard/consolidations".to_owned(), "UI-R-3".to_owned()),
    ] {
        c.goto(&format!("{}{path}", s.base)).await.unwrap();
        let page = shows(c, "nav").await;
        assert!(page.contains(&must_show), "{path}: {page}");
        // Buttons that post (a filter's "Show" only reads).
        let mut labels = Vec::new();
        for b in c
            .find_all(Locator::Css("form[method='post'] button"))
            .await
            .unwrap()
        {
            labels.push(b.text().await.unwrap());
        }
        assert_eq!(
            labels,
            ["Sign out"],
            "{path} offers an action to a read-only key"
        );
        fits(c, &path).await;
        tables_fit(c, &path).await;
    }
    // The open received document still shows its deadline, only without the forms.
    c.goto(&format!("{}/dashboard/received", s.base))
        .await
        .unwrap();
    let received = text(c).await;
    assert!(
        received.contains("left") && received.contains("read-only key"),
        "{received}"
    );
    let fetched = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch(arguments[0]).then(r => done([r.status, r.headers.get('content-type')]));",
            vec![json!(format!("/dashboard/documents/{}/pdf", s.valid.0))],
        )
        .await
        .unwrap();
    assert_eq!(fetched, json!([200, "application/pdf"]));
}

async fn sign_in(c: &Client, key: &str) {
    let form = c.form(Locator::Css("form.login")).await.unwrap();
    form.set_by_name("key", key).await.unwrap();
    form.submit().await.unwrap();
}
