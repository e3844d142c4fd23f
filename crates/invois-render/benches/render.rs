//! The buyer's copy: a one-page invoice (the project's two-line fixture) and a long one (the
//! multi-line fixture's lines 30 times over: 150 lines), as PDF and as HTML. The aim is well
//! under 50 ms a page; fonts are read once per process, as in the gateway.

use std::hint::black_box;

use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use invois_model::{Document, Format};
use invois_render::{Status, ValidatedDocument};
use invois_testkit::{Corpus, Kind, Version};

fn validated(kind: Kind, repeat: usize) -> ValidatedDocument {
    let bytes = Corpus::fixtures().read(Version::V1_0, kind, Format::Json);
    let mut document = Document::parse(&bytes).unwrap();
    let root = document.root_mut();
    let lines: Vec<_> = root.children_named("InvoiceLine").cloned().collect();
    for _ in 1..repeat {
        root.children.extend(lines.iter().cloned());
    }
    let uuid = "F9D425P6DS7D8IU8ENCQEA5AQ1";
    let long_id = "YQH73576FY9VR57B1766384310";
    ValidatedDocument {
        document,
        uuid: uuid.to_owned(),
        long_id: long_id.to_owned(),
        validated_at: Utc.with_ymd_and_hms(2026, 1, 15, 2, 30, 7).unwrap(),
        validation_link: format!("https://myinvois.hasil.gov.my/{uuid}/share/{long_id}"),
        status: Status::Valid,
    }
}

fn bench(c: &mut Criterion) {
    let one_page = validated(Kind::Invoice, 1);
    let long = validated(Kind::MultiLine, 30);
    // The first call reads the fonts; the measured ones do not.
    let pdf = invois_render::pdf(&long).unwrap();
    let pages = lopdf::Document::load_mem(&pdf).unwrap().get_pages().len();
    eprintln!(
        "long invoice: {} lines, {pages} pages, {} bytes of PDF",
        long.document.line_count(),
        pdf.len()
    );
    c.bench_function("pdf, 1 page (2 lines)", |b| {
        b.iter(|| invois_render::pdf(black_box(&one_page)).unwrap())
    });
    c.bench_function("pdf, 150 lines", |b| {
        b.iter(|| invois_render::pdf(black_box(&long)).unwrap())
    });
    c.bench_function("html, 1 page (2 lines)", |b| {
        b.iter(|| invois_render::html(black_box(&one_page)).unwrap())
    });
    c.bench_function("html, 150 lines", |b| {
        b.iter(|| invois_render::html(black_box(&long)).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
