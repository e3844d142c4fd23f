//! Sandbox throughput and latency on loopback, driven by a reqwest load generator:
//! Get Submission and a 1-document Submit Documents.
//!
//! Rate limits are lifted for the measured classes (the official 300 and 100 RPM would
//! otherwise be what is measured). Each Submit sends a different document (a fresh internal
//! ID), so neither the 10-minute duplicate-submission rule nor the duplicate-document
//! validator interferes. `sequential` measures one request at a time (latency);
//! `concurrent_32` sends 32 at once (throughput, reported in elements per second).
//!
//! `get_submission_report` runs Get Submission against two sandboxes side by side, one with
//! the integration-report recorder on (the default) and one with it off, to show what
//! recording costs; `recorder` times [`invois_sandbox::report::Recorder::record`] alone.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use invois_api::RateClass;
use invois_sandbox::{Clock, SandboxConfig};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const SUPPLIER_TIN: &str = "C25845632020";
const BUYER_TIN: &str = "C10987654320";
const CONCURRENCY: usize = 32;

/// The project's 1.0 invoice fixture.
fn sample() -> Value {
    invois_testkit::fixture_json(invois_testkit::Version::V1_0, invois_testkit::Kind::Invoice)
}

fn body(template: &Value, n: u64) -> Vec<u8> {
    let mut doc = template.clone();
    let inv = &mut doc["Invoice"][0];
    let id = format!("BENCH-{n}");
    let now = chrono::Utc::now();
    inv["ID"] = json!([{ "_": id }]);
    inv["IssueDate"] = json!([{ "_": now.format("%Y-%m-%d").to_string() }]);
    inv["IssueTime"] = json!([{ "_": now.format("%H:%M:%SZ").to_string() }]);
    for (role, tin) in [
        ("AccountingSupplierParty", SUPPLIER_TIN),
        ("AccountingCustomerParty", BUYER_TIN),
    ] {
        if let Some(ids) = inv[role][0]["Party"][0]["PartyIdentification"].as_array_mut() {
            for x in ids {
                if x["ID"][0]["schemeID"] == "TIN" {
                    x["ID"][0]["_"] = json!(tin);
                }
            }
        }
    }
    let bytes = serde_json::to_vec(&doc).expect("json");
    serde_json::to_vec(&json!({"documents": [{
        "format": "JSON",
        "document": STANDARD.encode(&bytes),
        "documentHash": hex::encode(Sha256::digest(&bytes)),
        "codeNumber": id,
    }]}))
    .expect("json")
}

struct Setup {
    http: reqwest::Client,
    base: String,
    token: String,
    submission_uid: String,
    _running: invois_sandbox::RunningSandbox,
}

async fn setup() -> Setup {
    setup_with(Some(invois_sandbox::report::DEFAULT_WINDOW)).await
}

async fn setup_with(report_window: Option<usize>) -> Setup {
    let unlimited = u32::MAX / 2;
    let config = SandboxConfig {
        rate_overrides: HashMap::from([
            (RateClass::GetSubmission, unlimited),
            (RateClass::SubmitDocuments, unlimited),
        ]),
        clock: Clock::real(),
        validation_delay: Duration::from_millis(500),
        report_window,
        ..SandboxConfig::default()
    };
    let running = invois_sandbox::spawn(config, false).await.expect("spawn");
    let base = running.base_url.clone();
    let c = running.credentials[0].clone();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .expect("client");
    let resp: Value = http
        .post(format!("{base}/connect/token"))
        .form(&[
            ("client_id", c.client_id.as_str()),
            (
                "client_secret",
                c.client_secret.as_deref().unwrap_or_default(),
            ),
            ("grant_type", "client_credentials"),
        ])
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let token = resp["access_token"].as_str().expect("token").to_owned();
    let resp: Value = http
        .post(format!("{base}/api/v1.0/documentsubmissions"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(body(&sample(), 0))
        .send()
        .await
        .expect("submit")
        .json()
        .await
        .expect("json");
    let submission_uid = resp["submissionUid"].as_str().expect("uid").to_owned();
    Setup {
        http,
        base,
        token,
        submission_uid,
        _running: running,
    }
}

async fn get_submission(s: &Setup) {
    let resp = s
        .http
        .get(format!(
            "{}/api/v1.0/documentsubmissions/{}",
            s.base, s.submission_uid
        ))
        .bearer_auth(&s.token)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let _ = resp.bytes().await;
}

async fn submit(s: &Setup, body: Vec<u8>) {
    let resp = s
        .http
        .post(format!("{}/api/v1.0/documentsubmissions", s.base))
        .bearer_auth(&s.token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 202);
    let _ = resp.bytes().await;
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let s = rt.block_on(setup());
    let template = sample();
    let counter = AtomicU64::new(1);

    let mut g = c.benchmark_group("get_submission");
    g.throughput(Throughput::Elements(1));
    g.bench_function("sequential", |b| {
        b.to_async(&rt).iter(|| get_submission(&s))
    });
    g.throughput(Throughput::Elements(CONCURRENCY as u64));
    g.bench_function("concurrent_32", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let s = &s;
            async move {
                let start = Instant::now();
                for _ in 0..iters {
                    futures::future::join_all((0..CONCURRENCY).map(|_| get_submission(s))).await;
                }
                start.elapsed()
            }
        })
    });
    g.finish();

    // Recording on vs off, interleaved so drift on a shared machine hits both alike.
    let off = rt.block_on(setup_with(None));
    let mut g = c.benchmark_group("get_submission_report");
    g.throughput(Throughput::Elements(1));
    for (name, setup) in [("sequential_off", &off), ("sequential_on", &s)] {
        g.bench_function(name, |b| b.to_async(&rt).iter(|| get_submission(setup)));
    }
    g.throughput(Throughput::Elements(CONCURRENCY as u64));
    for (name, setup) in [("concurrent_32_off", &off), ("concurrent_32_on", &s)] {
        g.bench_function(name, |b| {
            b.to_async(&rt).iter_custom(|iters| async move {
                let start = Instant::now();
                for _ in 0..iters {
                    futures::future::join_all((0..CONCURRENCY).map(|_| get_submission(setup)))
                        .await;
                }
                start.elapsed()
            })
        });
    }
    // The same comparison with the two sandboxes called alternately inside one measurement,
    // each function timing only its own calls: load from other processes hits both alike.
    g.throughput(Throughput::Elements(1));
    for (name, measured, other) in [("alternating_off", &off, &s), ("alternating_on", &s, &off)] {
        g.bench_function(name, |b| {
            b.to_async(&rt).iter_custom(|iters| async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    get_submission(other).await;
                    let start = Instant::now();
                    get_submission(measured).await;
                    total += start.elapsed();
                }
                total
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("recorder");
    g.throughput(Throughput::Elements(1));
    let recorder = invois_sandbox::report::Recorder::new(invois_sandbox::report::DEFAULT_WINDOW);
    let record = invois_sandbox::CallRecord {
        at: chrono::Utc::now(),
        endpoint: Some(invois_api::Endpoint::GetSubmission),
        client_id: Some("7c3f9a2e-1b4d-4e8a-9f60-5d2c8b1a0e11".to_owned()),
        on_behalf_of: None,
        status: 200,
        correlation_id: "B7GXE7AVWGMR5:00000002".to_owned(),
        payload_sha256: None,
        resource: Some(s.submission_uid.clone()),
        document_status: None,
        submissions_in_progress: Vec::new(),
        filters: Vec::new(),
        retry_after_secs: None,
        blocked_credential: None,
    };
    g.bench_function("record_get_submission", |b| {
        let mut r = record.clone();
        b.iter(|| {
            r.at += chrono::Duration::seconds(4);
            recorder.record(&r);
        })
    });
    g.finish();

    let mut g = c.benchmark_group("submit_1_document");
    g.throughput(Throughput::Elements(1));
    g.bench_function("sequential", |b| {
        b.to_async(&rt).iter_batched(
            || body(&template, counter.fetch_add(1, Ordering::Relaxed)),
            |bytes| submit(&s, bytes),
            BatchSize::SmallInput,
        )
    });
    g.throughput(Throughput::Elements(CONCURRENCY as u64));
    g.bench_function("concurrent_32", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let bodies: Vec<Vec<Vec<u8>>> = (0..iters)
                .map(|_| {
                    (0..CONCURRENCY)
                        .map(|_| body(&template, counter.fetch_add(1, Ordering::Relaxed)))
                        .collect()
                })
                .collect();
            let s = &s;
            async move {
                let start = Instant::now();
                for batch in bodies {
                    futures::future::join_all(batch.into_iter().map(|b| submit(s, b))).await;
                }
                start.elapsed()
            }
        })
    });
    g.finish();
}

criterion_group! {
    name = throughput;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(5));
    targets = benches
}
criterion_main!(throughput);
