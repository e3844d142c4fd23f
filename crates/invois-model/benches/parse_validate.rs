//! Parse + validate an official sample (JSON and XML), and the writers.

use std::hint::black_box;
use std::path::PathBuf;

use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use invois_model::{Document, ValidationContext, validate};

fn sample(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/myinvois/samples/v1.1")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn bench(c: &mut Criterion) {
    let codes = invois_model::CodeTables::embedded();
    let ctx = ValidationContext::at(Utc.with_ymd_and_hms(2024, 7, 23, 1, 0, 0).unwrap())
        .with_codes(std::sync::Arc::new(codes));
    for name in [
        "1.1-Invoice-MultiLineItem-Sample.json",
        "1.1-Invoice-MultiLineItem-Sample.xml",
    ] {
        let bytes = sample(name);
        c.bench_function(&format!("parse+validate {name}"), |b| {
            b.iter(|| {
                let doc = Document::parse(black_box(&bytes)).unwrap();
                black_box(validate(&doc, &ctx))
            })
        });
        c.bench_function(&format!("parse {name}"), |b| {
            b.iter(|| Document::parse(black_box(&bytes)).unwrap())
        });
        let doc = Document::parse(&bytes).unwrap();
        c.bench_function(&format!("validate {name}"), |b| {
            b.iter(|| black_box(validate(black_box(&doc), &ctx)))
        });
        c.bench_function(&format!("write json+xml {name}"), |b| {
            b.iter(|| (doc.to_json_string(), doc.to_xml_string()))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
