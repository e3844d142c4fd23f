//! Sign and verify 1.1 invoices, JSON and XML: the project's fixtures (a plain and a
//! multi-line invoice; signing their unsigned forms, verifying the committed signed ones), and
//! LHDN's samples too when `INVOIS_LHDN_SAMPLES` names them (re-signed with a test certificate
//! for the fixtures' issuer). Run: `cargo bench -p invois-sign`.

use std::hint::black_box;

use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use invois_sign::{Format, TestCa, TestCertRequest, TrustStore, sign, verify};
use invois_testkit::fixtures::{ISSUER_BRN, ISSUER_TIN};
use invois_testkit::{Corpus, Kind, Version};

fn model_format(format: Format) -> invois_model::Format {
    match format {
        Format::Json => invois_model::Format::Json,
        Format::Xml => invois_model::Format::Xml,
    }
}

fn extension(format: Format) -> &'static str {
    match format {
        Format::Json => "json",
        Format::Xml => "xml",
    }
}

/// A document to measure: its name, the bytes to sign, and a signed form to verify (`None`:
/// verify what this run signs).
struct Case {
    name: String,
    format: Format,
    unsigned: Vec<u8>,
    signed: Option<Vec<u8>>,
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for kind in [Kind::Invoice, Kind::MultiLine] {
        for format in [Format::Json, Format::Xml] {
            out.push(Case {
                name: format!("fixture {}.{}", kind.slug(), extension(format)),
                format,
                unsigned: invois_testkit::unsigned_fixture(
                    Version::V1_1,
                    kind,
                    model_format(format),
                ),
                signed: Some(Corpus::fixtures().read(Version::V1_1, kind, model_format(format))),
            });
        }
    }
    if let Some(lhdn) = Corpus::lhdn() {
        for format in [Format::Json, Format::Xml] {
            let text =
                String::from_utf8(lhdn.read(Version::V1_1, Kind::Invoice, model_format(format)))
                    .unwrap();
            // Their issuer is a placeholder: give it the test certificate's identity.
            let doc = text
                .replace("Supplier's TIN", ISSUER_TIN)
                .replace("Supplier's BRN", ISSUER_BRN)
                .into_bytes();
            out.push(Case {
                name: format!("LHDN 1.1-Invoice-Sample.{}", extension(format)),
                format,
                unsigned: doc,
                signed: None,
            });
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let signer = TestCa::well_known()
        .unwrap()
        .issue(&TestCertRequest::new(ISSUER_TIN, ISSUER_BRN))
        .unwrap()
        .signer()
        .unwrap();
    let trust = TrustStore::test_ca().unwrap();
    for case in cases() {
        let Case {
            name,
            format,
            unsigned,
            signed,
        } = case;
        let signed =
            signed.unwrap_or_else(|| sign(&unsigned, format, &signer, Utc::now()).unwrap());
        assert!(
            verify(
                &sign(&unsigned, format, &signer, Utc::now()).unwrap(),
                Some(format),
                Some(&trust)
            )
            .is_valid(),
            "{name}: signing"
        );
        assert!(
            verify(&signed, Some(format), Some(&trust)).is_valid(),
            "{name}: verifying"
        );
        c.bench_function(&format!("sign {name}"), |b| {
            b.iter(|| sign(black_box(&unsigned), format, &signer, Utc::now()).unwrap())
        });
        c.bench_function(&format!("verify {name}"), |b| {
            b.iter(|| verify(black_box(&signed), Some(format), Some(&trust)))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
