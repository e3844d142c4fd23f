//! Sign and verify one JSON and one XML official sample (re-signed with a test certificate).
//! Run: `cargo bench -p invois-sign`.

use std::path::PathBuf;

use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use invois_sign::{Format, TestCa, TestCertRequest, TrustStore, sign, verify};

fn sample(rel: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/myinvois/samples")
        .join(rel);
    let text =
        String::from_utf8(std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
            .unwrap();
    text.replace("Supplier's TIN", "C29702635060")
        .replace("Supplier's BRN", "202001234567")
        .into_bytes()
}

fn bench(c: &mut Criterion) {
    let signer = TestCa::well_known()
        .unwrap()
        .issue(&TestCertRequest::new("C29702635060", "202001234567"))
        .unwrap()
        .signer()
        .unwrap();
    let trust = TrustStore::test_ca().unwrap();
    for (name, rel, format) in [
        ("json", "v1.1/1.1-Invoice-Sample.json", Format::Json),
        ("xml", "v1.1/1.1-Invoice-Sample.xml", Format::Xml),
    ] {
        let doc = sample(rel);
        let signed = sign(&doc, format, &signer, Utc::now()).unwrap();
        assert!(verify(&signed, Some(format), Some(&trust)).is_valid());
        c.bench_function(&format!("sign_{name}"), |b| {
            b.iter(|| sign(std::hint::black_box(&doc), format, &signer, Utc::now()).unwrap())
        });
        c.bench_function(&format!("verify_{name}"), |b| {
            b.iter(|| verify(std::hint::black_box(&signed), Some(format), Some(&trust)))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
