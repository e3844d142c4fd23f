//! Client-side throughput of submit + poll against the sandbox, both on one clock running
//! 600 times faster than real time (so the poller's 3-5 s cadence and the sandbox's
//! validation delay cost milliseconds). Measures what the client adds: serialising,
//! hashing, rate budgets, token cache, HTTP, decoding, paging.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use invois_client::api::submission::{DocumentFormat, DocumentSubmission};
use invois_client::{Client, DocumentSubmissionExt, PreparedSubmission};
use invois_testkit::{TestSandbox, samples};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sandbox = rt.block_on(async {
        TestSandbox::builder()
            .time_scale(600.0)
            .validation_delay(Duration::from_secs(2))
            .start()
            .await
            .unwrap()
    });
    let who = sandbox.supplier();
    let buyer = sandbox.buyer().tin;
    let client = Client::builder()
        .api_base(sandbox.base_url())
        .credentials(who.client_id.clone(), who.client_secret.as_str())
        .clock(sandbox.clock().clone())
        .build()
        .unwrap();
    let template =
        invois_testkit::fixture_json(invois_testkit::Version::V1_0, invois_testkit::Kind::Invoice);
    let counter = AtomicUsize::new(0);
    let batch = |n: usize| -> Vec<DocumentSubmission> {
        let now = sandbox.clock().now() - chrono::Duration::minutes(1);
        (0..n)
            .map(|_| {
                let i = counter.fetch_add(1, Ordering::Relaxed);
                let id = format!("BENCH-{i}");
                let mut doc = template.clone();
                samples::adapt_json(&mut doc, &id, now, &who.tin, &buyer);
                DocumentSubmission::from_bytes(DocumentFormat::Json, &samples::minified(&doc), id)
            })
            .collect()
    };

    let mut g = c.benchmark_group("client");
    g.sample_size(10);
    for n in [1usize, 10, 100] {
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("prepare_{n}_documents"), |b| {
            let docs = batch(n);
            b.iter(|| PreparedSubmission::new(docs.clone()).unwrap());
        });
        g.bench_function(format!("submit_and_poll_{n}_documents"), |b| {
            b.to_async(&rt).iter(|| {
                let docs = batch(n);
                let client = client.clone();
                async move {
                    let s = client.submissions().submit(docs).send().await.unwrap();
                    let uid = s.submission_uid.unwrap();
                    let o = client
                        .submissions()
                        .poll(uid)
                        .expected_documents(n)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(o.documents.len(), n);
                }
            });
        });
    }
    g.finish();
    drop(sandbox);
}

criterion_group!(benches, bench);
criterion_main!(benches);
