//! Metrics: the real client against the real sandbox (429s included) feeds `Metrics`, whose
//! exposition parses and carries every series. Dashboard: served over HTTP, every ERP-given
//! text escaped, no document bodies.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::hooks_common::*;
use invois_api::RateClass;
use invois_client::{Client, InProcessBudget, RateLimits};
use invois_gateway::store::*;
use invois_gateway::{dashboard, metrics};
use invois_testkit::TestSandbox;

/// One parsed sample: name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

/// A strict parser for the text exposition format 0.0.4 (what Prometheus accepts): every
/// line is `# HELP name text`, `# TYPE name kind`, or `name{k="v",...} value`; every sample
/// belongs to a family declared by a TYPE line before it.
fn parse_exposition(text: &str) -> Vec<Sample> {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP has name and text");
            assert!(valid_name(name), "bad name in {line:?}");
            assert!(!help.is_empty());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE has name and kind");
            assert!(valid_name(name), "bad name in {line:?}");
            assert!(
                ["counter", "gauge", "histogram"].contains(&kind),
                "bad kind in {line:?}"
            );
            assert!(
                types.insert(name.to_owned(), kind.to_owned()).is_none(),
                "family declared twice: {line:?}"
            );
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment {line:?}");
        assert!(!line.is_empty(), "empty line");
        let (series, value) = line.rsplit_once(' ').expect("sample has a value");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').expect("labels close");
                (name, parse_labels(body))
            }
            None => (series, BTreeMap::new()),
        };
        assert!(valid_name(name), "bad name in {line:?}");
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| types.get(*f).map(String::as_str) == Some("histogram"))
            })
            .unwrap_or(name);
        assert!(
            types.contains_key(family),
            "sample before its TYPE: {line:?}"
        );
        samples.push((name.to_owned(), labels, value));
    }
    samples
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

fn parse_labels(body: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = body;
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"").expect("label has =\"");
        assert!(valid_name(key), "bad label name {key:?}");
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            let (i, c) = chars.next().expect("label value closes");
            match c {
                '\\' => match chars.next().expect("escape has a char").1 {
                    'n' => value.push('\n'),
                    c @ ('\\' | '"') => value.push(c),
                    c => panic!("bad escape \\{c}"),
                },
                '"' => break i,
                c => value.push(c),
            }
        };
        labels.insert(key.to_owned(), value);
        rest = &after[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
    labels
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|(n, l, _)| {
            n == name
                && l.len() == labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, v)| *v)
}

/// Reads the exposition with `prometheus-parse`, a parser written by others: every line is a
/// HELP, a TYPE or a sample, and each series gets the type the docs give it. That type only
/// comes through when a family's TYPE line names its samples exactly (`..._total` for a
/// counter, as text format 0.0.4 wants, not the OpenMetrics `...` without the suffix).
fn read_as_prometheus_does(text: &str) {
    use prometheus_parse::{LineInfo, Scrape, Value};
    for line in text.lines() {
        assert!(
            !matches!(LineInfo::parse(line), LineInfo::Empty | LineInfo::Ignored),
            "not an exposition line: {line:?}"
        );
    }
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    assert!(!scrape.samples.is_empty());
    for sample in &scrape.samples {
        let name = sample.metric.as_str();
        let ok = match &sample.value {
            Value::Counter(_) => name.ends_with("_total"),
            Value::Gauge(_) => [
                "invois_documents",
                "invois_webhook_deliveries",
                "invois_store_up",
            ]
            .contains(&name),
            Value::Histogram(_) => name == "invois_client_call_duration_seconds",
            // A histogram's `_sum` and `_count` have no TYPE line of their own.
            Value::Untyped(_) => [
                "invois_client_call_duration_seconds_sum",
                "invois_client_call_duration_seconds_count",
            ]
            .contains(&name),
            Value::Summary(_) => false,
        };
        assert!(ok, "{name} read as {:?}", sample.value);
    }
    let calls = scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == "invois_client_calls_total"
                && s.labels.get("endpoint") == Some("search_documents")
                && s.labels.get("status") == Some("200")
        })
        .expect("client calls to search_documents");
    assert_eq!(calls.value, Value::Counter(5.0));
}

async fn sqlite_store() -> (Arc<Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("invois.db").display());
    let store = Store::open(&url, start_clock()).await.unwrap();
    (Arc::new(store), dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_client_calls_429s_budget_and_queue_depth() {
    // The sandbox allows 2 searches a minute; the client is told 100, so it earns 429s.
    let sandbox = TestSandbox::builder()
        .time_scale(120.0)
        .rate_limit(RateClass::SearchDocuments, 2)
        .start()
        .await
        .unwrap();
    let m = metrics::Metrics::new();
    let who = sandbox.supplier();
    let client = Client::builder()
        .api_base(sandbox.base_url())
        .portal_base("https://preprod.myinvois.hasil.gov.my")
        .credentials(who.client_id, who.client_secret.as_str())
        .clock(sandbox.clock().clone())
        .rate_limits(RateLimits::default().with_rpm(RateClass::SearchDocuments, Some(100)))
        .rate_budget(m.wrap_budget(InProcessBudget::shared()))
        .observer(Arc::new(m.clone()))
        .build()
        .unwrap();
    let now = sandbox.clock().now();
    for _ in 0..5 {
        client
            .documents()
            .search()
            .submission_dates(now - chrono::Duration::days(1), now)
            .send()
            .await
            .unwrap();
    }
    let refused = sandbox
        .sandbox()
        .client_counters(client.client_id())
        .rate_limited
        .get(RateClass::SearchDocuments.key())
        .copied()
        .unwrap_or(0);
    assert!(refused >= 1);

    // What the pipeline would count.
    m.submission("accepted");
    m.submission("accepted");
    m.submission("outcome_unknown");
    m.poll();
    m.documents_prepared(3);
    m.documents_rejected_locally(1);

    let (store, _dir) = sqlite_store().await;
    for i in 0..3 {
        store
            .documents()
            .insert(doc("C1", &format!("INV-{i}"), "x"))
            .await
            .unwrap();
    }
    let claimed = store
        .documents()
        .claim_received("p", 1, LEASE)
        .await
        .unwrap();
    store
        .documents()
        .mark_rejected_locally(claimed[0].id, "p", &[])
        .await
        .unwrap();

    let text = m.render(&store).await;
    let s = parse_exposition(&text);
    read_as_prometheus_does(&text);
    let search = [("endpoint", "search_documents"), ("status", "200")];
    assert_eq!(
        value(&s, "invois_client_calls_total", &search),
        Some(5.0),
        "{text}"
    );
    assert_eq!(
        value(
            &s,
            "invois_client_calls_total",
            &[("endpoint", "search_documents"), ("status", "429")]
        ),
        Some(refused as f64),
        "{text}"
    );
    assert_eq!(
        value(
            &s,
            "invois_client_throttled_total",
            &[("endpoint", "search_documents")]
        ),
        Some(refused as f64)
    );
    assert_eq!(
        value(
            &s,
            "invois_client_call_duration_seconds_count",
            &[("endpoint", "search_documents")]
        ),
        Some(5.0 + refused as f64)
    );
    assert_eq!(
        value(
            &s,
            "invois_client_call_duration_seconds_bucket",
            &[("endpoint", "search_documents"), ("le", "+Inf")]
        ),
        Some(5.0 + refused as f64)
    );
    assert!(
        value(
            &s,
            "invois_client_calls_total",
            &[("endpoint", "login_taxpayer"), ("status", "200")]
        )
        .unwrap()
            >= 1.0
    );
    assert!(value(&s, "invois_client_logins_total", &[]).unwrap() >= 1.0);
    assert!(
        value(
            &s,
            "invois_client_throttle_pauses_total",
            &[("class", "search_documents")]
        )
        .unwrap()
            >= 1.0
    );
    // Every attempt was admitted by the budget first.
    assert_eq!(
        value(
            &s,
            "invois_rate_budget_grants_total",
            &[("class", "search_documents")]
        ),
        Some(5.0 + refused as f64),
        "{text}"
    );
    assert_eq!(
        value(&s, "invois_submissions_total", &[("outcome", "accepted")]),
        Some(2.0)
    );
    assert_eq!(
        value(
            &s,
            "invois_submissions_total",
            &[("outcome", "outcome_unknown")]
        ),
        Some(1.0)
    );
    assert_eq!(value(&s, "invois_polls_total", &[]), Some(1.0));
    assert_eq!(value(&s, "invois_documents_prepared_total", &[]), Some(3.0));
    assert_eq!(
        value(&s, "invois_documents_rejected_locally_total", &[]),
        Some(1.0)
    );
    assert_eq!(
        value(&s, "invois_documents", &[("state", "received")]),
        Some(2.0)
    );
    assert_eq!(
        value(&s, "invois_documents", &[("state", "rejected_locally")]),
        Some(1.0)
    );
    assert_eq!(
        value(&s, "invois_documents", &[("state", "valid")]),
        Some(0.0)
    );
    assert_eq!(
        value(&s, "invois_webhook_deliveries", &[("state", "pending")]),
        Some(0.0)
    );
    assert_eq!(value(&s, "invois_store_up", &[]), Some(1.0));
    // No secret reaches the metrics.
    assert!(!text.contains(&sandbox.supplier().client_secret));

    // Served over HTTP with the exposition content type.
    let app = metrics::routes(m.clone(), store.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let response = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let served = parse_exposition(&response.text().await.unwrap());
    assert_eq!(
        value(&served, "invois_documents", &[("state", "received")]),
        Some(2.0)
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn the_dashboard_shows_state_and_escapes_erp_text() {
    let (store, _dir) = sqlite_store().await;
    drive(&store, "C1").await;
    let hostile = "<script>alert('x')</script>";
    let inserted = store
        .documents()
        .insert(doc("C1\"><u>", hostile, "BODY-MARKER-7781"))
        .await
        .unwrap();
    store
        .outbox()
        .enqueue(NewWebhook {
            document_id: Some(inserted.document.id),
            event: "document.<i>odd</i>".to_owned(),
            payload: serde_json::json!({}),
            max_attempts: 3,
        })
        .await
        .unwrap();

    let client = Client::builder()
        .api_base("http://127.0.0.1:9")
        .credentials("dashboard-test", "unused")
        .build()
        .unwrap();
    let pool = invois_gateway::clients::ClientPool::new(
        client,
        invois_gateway::clients::LoginMode::Taxpayer,
    );
    let api = invois_gateway::http::ApiState::new(store.clone(), pool, invois_clock::Clock::real());
    let app = dashboard::routes(api, metrics::Metrics::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let root = http.get(format!("http://{addr}/")).send().await.unwrap();
    assert!(root.status().is_redirection(), "{}", root.status());
    assert_eq!(root.headers()["location"], "/dashboard");
    // Without a session: the sign-in form, not the page.
    let page = http
        .get(format!("http://{addr}/dashboard"))
        .send()
        .await
        .unwrap();
    assert!(page.status().is_redirection());
    assert_eq!(page.headers()["location"], "/dashboard/login");
    let (_, key) = store.api_keys().create("ops").await.unwrap();
    let signed_in = http
        .post(format!("http://{addr}/dashboard/login"))
        .form(&[("key", key.expose())])
        .send()
        .await
        .unwrap();
    assert!(signed_in.status().is_redirection());
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(
        !cookie.contains(key.expose()),
        "the key itself never goes to the browser"
    );
    let session = cookie.split(';').next().unwrap().to_owned();
    let get = |path: String| {
        http.get(format!("http://{addr}{path}"))
            .header("cookie", session.clone())
            .send()
    };

    let page = get("/dashboard".to_owned()).await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let html = page.text().await.unwrap();
    // ERP text is escaped, never markup; the page has no script of its own. (maud leaves an
    // apostrophe as it is: inert in element text and in its attributes, always double-quoted.)
    assert!(!html.contains("<script"), "{html}");
    assert!(html.contains("&lt;script&gt;alert('x')&lt;/script&gt;"));
    assert!(html.contains("C1&quot;&gt;&lt;u&gt;"));
    assert!(!html.contains("<u>"));
    assert!(html.contains("document.&lt;i&gt;odd&lt;/i&gt;"));
    assert!(!html.contains("<i>"));
    // No external assets.
    assert!(!html.contains("src="));
    assert!(!html.contains("<link"));
    // No document bodies.
    assert!(!html.contains("BODY-MARKER-7781"));
    assert!(!html.contains("body 0"));
    // What it shows: counts, the submission, documents and their errors.
    assert!(html.contains("<b>1</b>rejected_locally"), "{html}");
    assert!(html.contains("<b>2</b>invalid"), "{html}");
    assert!(html.contains("<b>1</b>cancelled"), "{html}");
    assert!(html.contains("<b>1</b>pending"), "{html}");
    assert!(html.contains("SUB-C1"));
    assert!(html.contains("CF321"));
    // A document's page has its uuid, and the cancelled (once valid) one's validation link is
    // a link.
    let cancelled = store
        .documents()
        .list(&DocumentFilter {
            state: Some(DocumentState::Cancelled),
            ..DocumentFilter::default()
        })
        .await
        .unwrap()
        .items
        .remove(0);
    let page = get(format!("/dashboard/documents/{}", cancelled.id))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("U-C1-0"), "{page}");
    assert!(
        page.contains(
            "<a href=\"https://myinvois.example/U-C1-0/share\" rel=\"noopener noreferrer\">"
        ),
        "{page}"
    );
    // A revoked key's session ends at once.
    let keys = store.api_keys().list().await.unwrap();
    store.api_keys().revoke(keys[0].id).await.unwrap();
    let after = get("/dashboard".to_owned()).await.unwrap();
    assert!(after.status().is_redirection());
}
