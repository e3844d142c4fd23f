//! Parse + validate a multi-line 1.1 invoice (JSON and XML), and the writers: the project's
//! fixture, and LHDN's sample too when `INVOIS_LHDN_SAMPLES` is set.

use std::hint::black_box;

use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use invois_model::{Document, Format, ValidationContext, validate};
use invois_testkit::{Corpus, Kind, Version};

/// (name, bytes) of each document to measure.
fn documents() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for corpus in Corpus::available() {
        for format in [Format::Json, Format::Xml] {
            let path = corpus.path(Version::V1_1, Kind::MultiLine, format);
            let name = format!(
                "{} {}",
                corpus.name(),
                path.file_name().unwrap_or_default().to_string_lossy()
            );
            out.push((name, corpus.read(Version::V1_1, Kind::MultiLine, format)));
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let codes = invois_model::CodeTables::embedded();
    let ctx = ValidationContext::at(Utc.with_ymd_and_hms(2024, 7, 23, 1, 0, 0).unwrap())
        .with_codes(std::sync::Arc::new(codes));
    for (name, bytes) in documents() {
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
