//! The project's own test documents: every e-invoice type in every version, JSON and XML,
//! signed with the well-known test CA and unsigned, built by `invois-model`'s builders.
//!
//! They are committed under `crates/invois-testkit/fixtures/` so that a clone passes its own
//! tests with nothing beside it, and regenerated with
//!
//! ```sh
//! cargo run -p invois-testkit --bin make-fixtures
//! ```
//!
//! Building is deterministic (a fixed issue date, a fixed signing time, and a committed test
//! signing key and certificate), so a test compares the committed files with a fresh build and
//! fails on drift.
//!
//! The parties are the sandbox's demo taxpayers, so a fixture passes the sandbox's taxpayer
//! checks once its dates are brought into the 72-hour window (see [`crate::samples`]).

use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeZone, Utc};
use invois_model::model::{
    AdditionalReference, Address, Delivery, Invoice, InvoiceBuilder, Line, Party, Payment, Period,
};
use invois_model::{Document, DocumentType, Format};
use invois_sign::{Certificate, SecretKeyDer, Signer};
use rust_decimal::Decimal;

/// What a fixture shows. The first four are invoices (`01`) with different features; the rest
/// are one per remaining type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A plain invoice: two lines, two tax types, a line discount.
    Invoice,
    /// An invoice with many lines: exemption, fixed-rate tax, charges, delivery, prepayment.
    MultiLine,
    /// An invoice in US dollars with its exchange rate to MYR.
    ForeignCurrency,
    /// A monthly consolidated invoice to the General Public (classification `004`).
    Consolidated,
    /// `02`
    CreditNote,
    /// `03`
    DebitNote,
    /// `04`
    RefundNote,
    /// `11`: issued by the buyer.
    SelfBilledInvoice,
    /// `12`
    SelfBilledCreditNote,
    /// `13`
    SelfBilledDebitNote,
    /// `14`
    SelfBilledRefundNote,
}

impl Kind {
    /// All kinds, invoices first.
    pub const ALL: [Kind; 11] = [
        Kind::Invoice,
        Kind::MultiLine,
        Kind::ForeignCurrency,
        Kind::Consolidated,
        Kind::CreditNote,
        Kind::DebitNote,
        Kind::RefundNote,
        Kind::SelfBilledInvoice,
        Kind::SelfBilledCreditNote,
        Kind::SelfBilledDebitNote,
        Kind::SelfBilledRefundNote,
    ];

    /// The e-invoice type.
    pub fn document_type(self) -> DocumentType {
        match self {
            Kind::Invoice | Kind::MultiLine | Kind::ForeignCurrency | Kind::Consolidated => {
                DocumentType::Invoice
            }
            Kind::CreditNote => DocumentType::CreditNote,
            Kind::DebitNote => DocumentType::DebitNote,
            Kind::RefundNote => DocumentType::RefundNote,
            Kind::SelfBilledInvoice => DocumentType::SelfBilledInvoice,
            Kind::SelfBilledCreditNote => DocumentType::SelfBilledCreditNote,
            Kind::SelfBilledDebitNote => DocumentType::SelfBilledDebitNote,
            Kind::SelfBilledRefundNote => DocumentType::SelfBilledRefundNote,
        }
    }

    /// The fixture's file stem, e.g. `credit-note`.
    pub fn slug(self) -> &'static str {
        match self {
            Kind::Invoice => "invoice",
            Kind::MultiLine => "invoice-multi-line",
            Kind::ForeignCurrency => "invoice-foreign-currency",
            Kind::Consolidated => "invoice-consolidated",
            Kind::CreditNote => "credit-note",
            Kind::DebitNote => "debit-note",
            Kind::RefundNote => "refund-note",
            Kind::SelfBilledInvoice => "self-billed-invoice",
            Kind::SelfBilledCreditNote => "self-billed-credit-note",
            Kind::SelfBilledDebitNote => "self-billed-debit-note",
            Kind::SelfBilledRefundNote => "self-billed-refund-note",
        }
    }

    /// The middle of LHDN's sample file name for this kind (`1.0-<this>-Sample.json`).
    pub(crate) fn lhdn_stem(self) -> &'static str {
        match self {
            Kind::Invoice => "Invoice",
            Kind::MultiLine => "Invoice-MultiLineItem",
            Kind::ForeignCurrency => "Invoice-ForeignCurrency",
            Kind::Consolidated => "Invoice-Consolidated",
            Kind::CreditNote => "Credit-Note",
            Kind::DebitNote => "Debit-Note",
            Kind::RefundNote => "Refund-Note",
            Kind::SelfBilledInvoice => "Self-Billed-Invoice",
            Kind::SelfBilledCreditNote => "Self-Billed-Credit",
            Kind::SelfBilledDebitNote => "Self-Billed-Debit",
            Kind::SelfBilledRefundNote => "Self-Billed-Refund",
        }
    }

    /// Whether a corpus has this kind in `version`. LHDN published the three invoice
    /// variants for 1.0 and 1.1 only; the fixtures follow the same set so that a test reads
    /// the same list from either corpus.
    pub fn in_version(self, version: Version) -> bool {
        match self {
            Kind::MultiLine | Kind::ForeignCurrency | Kind::Consolidated => {
                matches!(version, Version::V1_0 | Version::V1_1)
            }
            _ => true,
        }
    }
}

/// A document version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// `1.0`
    V1_0,
    /// `1.1` (signed)
    V1_1,
    /// `1.2`
    V1_2,
    /// `1.3` (signed)
    V1_3,
}

impl Version {
    /// All four.
    pub const ALL: [Version; 4] = [Version::V1_0, Version::V1_1, Version::V1_2, Version::V1_3];

    /// `1.0` ...
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V1_0 => "1.0",
            Version::V1_1 => "1.1",
            Version::V1_2 => "1.2",
            Version::V1_3 => "1.3",
        }
    }

    /// Whether documents of this version carry a signature.
    pub fn is_signed(self) -> bool {
        invois_model::codes::version_is_signed(self.as_str())
    }
}

/// The day every fixture is issued. Tests that send a fixture move its dates into the
/// 72-hour window first; a fixed date keeps the committed files reproducible.
pub fn issued_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 15, 2, 30, 0)
        .single()
        .unwrap_or_default()
}

/// The demo supplier of the sandbox (`invois_sandbox::Fixtures::demo`), who issues every
/// fixture (as the buyer, for self-billed ones) and whose test certificate signs them.
pub const ISSUER_TIN: &str = "C25845632020";
/// The demo supplier's registration number.
pub const ISSUER_BRN: &str = "202001234567";
/// The sandbox's demo buyer, the counterparty of every fixture but the consolidated one.
pub const COUNTERPARTY_TIN: &str = "C10987654320";
/// The demo buyer's registration number.
pub const COUNTERPARTY_BRN: &str = "201901234567";
/// The general TIN of the General Public (consolidated buyer).
pub const GENERAL_PUBLIC_TIN: &str = "EI00000000010";

fn dec(units: i64, scale: u32) -> Decimal {
    Decimal::new(units, scale)
}

fn issuer() -> Party {
    Party::new(
        "Syarikat Pembekal Sdn. Bhd.",
        ISSUER_TIN,
        "BRN",
        ISSUER_BRN,
        Address::new("Lot 66, Bangunan Merdeka", "Kuala Lumpur", "14", "MYS")
            .postal_zone("50480")
            .line("Persiaran Jaya"),
        "+60123456789",
    )
    .msic(
        "46510",
        "Wholesale of computer hardware, software and peripherals",
    )
    .sst("W10-1808-32000001")
    .email("billing@pembekal.example.my")
}

fn counterparty() -> Party {
    Party::new(
        "Pelanggan Bhd.",
        COUNTERPARTY_TIN,
        "BRN",
        COUNTERPARTY_BRN,
        Address::new("No. 8, Jalan Kenari 5", "Petaling Jaya", "10", "MYS").postal_zone("47100"),
        "+60387654321",
    )
    .msic("62010", "Computer programming activities")
    .email("ap@pelanggan.example.my")
}

/// The General Public as a consolidated invoice's buyer (business rules §1): `NA` for what
/// a member of the public does not give, state `17` (not applicable).
fn general_public() -> Party {
    Party::new(
        "General Public",
        GENERAL_PUBLIC_TIN,
        "BRN",
        "NA",
        Address::new("NA", "NA", "17", "MYS"),
        "NA",
    )
    .sst("NA")
}

fn laptop() -> Line {
    Line::new("003", "Laptop 14-inch", dec(2, 0), "C62", dec(350000, 2))
        .tax_percent("01", dec(10, 0))
        .discount("Promotion", dec(10000, 2))
}

fn installation() -> Line {
    Line::new(
        "022",
        "Installation service",
        dec(3, 0),
        "HUR",
        dec(12000, 2),
    )
    .tax_percent("02", dec(8, 0))
}

fn payment() -> Payment {
    Payment {
        mode: "03".to_owned(),
        account: Some("1234567890123".to_owned()),
        terms: Some("Payment within 30 days".to_owned()),
    }
}

/// The internal id of a fixture: its type, version and kind, so that no two collide at a
/// sandbox that holds several.
fn internal_id(kind: Kind, version: Version) -> String {
    format!(
        "FX{}-{}-{}",
        version.as_str().replace('.', ""),
        kind.document_type().code(),
        kind.slug()
    )
}

/// A made-up UUID for the original a note adjusts. Tests that send a note to a sandbox put the
/// real original's UUID in its place (`samples::set_json_reference`).
const ORIGINAL_UUID: &str = "F9D425P6DS7D8IU8ENCQEA5AQ1";

fn builder(kind: Kind, version: Version) -> InvoiceBuilder {
    let t = kind.document_type();
    let b = Invoice::builder(t, internal_id(kind, version), issued_at()).version(version.as_str());
    // Self-billed documents are issued by the buyer: the demo taxpayer stands on the buyer
    // side so that one certificate signs every fixture.
    let b = if t.is_self_billed() {
        b.supplier(counterparty()).buyer(issuer())
    } else {
        b.supplier(issuer()).buyer(counterparty())
    };
    if t.is_note() {
        let original = if t.is_self_billed() {
            Kind::SelfBilledInvoice
        } else {
            Kind::Invoice
        };
        b.original(ORIGINAL_UUID, internal_id(original, version))
    } else {
        b
    }
}

fn build(kind: Kind, version: Version) -> Document {
    let b = builder(kind, version).payment(payment());
    let b = match kind {
        Kind::MultiLine => b
            .line(laptop())
            .line(installation())
            .line(
                Line::new("012", "Printed manuals", dec(10, 0), "C62", dec(1550, 2))
                    .exempt("Exempted under Sales Tax (Persons Exempted) Order 2018"),
            )
            .line(
                Line::new("022", "Hotel stay", dec(2, 0), "DAY", dec(28000, 2))
                    .tax_per_unit("06", dec(1000, 2))
                    .charge("Late check-out", dec(5000, 2)),
            )
            .line(
                Line::new("003", "USB-C dock", dec(5, 0), "C62", dec(45990, 2))
                    .tax_percent("01", dec(10, 0))
                    .discount("Bundle", dec(2500, 2)),
            )
            .period(Period {
                start: "2026-01-01".to_owned(),
                end: "2026-01-31".to_owned(),
                description: "Monthly".to_owned(),
            })
            .bill_reference("PO-77812")
            .additional_reference(AdditionalReference {
                id: "CIF".to_owned(),
                document_type: None,
                description: None,
            })
            .delivery(Delivery {
                recipient: counterparty(),
                freight: None,
            })
            .charge("Freight", dec(4000, 2))
            .rounding(dec(1, 2)),
        Kind::ForeignCurrency => b
            .currency("USD", dec(44700, 4))
            .line(
                Line::new(
                    "003",
                    "Server licence (annual)",
                    dec(1, 0),
                    "C62",
                    dec(120000, 2),
                )
                .tax_percent("02", dec(8, 0)),
            )
            .line(installation()),
        Kind::Consolidated => consolidated_lines(b).buyer(general_public()),
        _ => b.line(laptop()).line(installation()),
    };
    // The builder only fails on a missing part or version, which this module always gives.
    match b.build() {
        Ok(invoice) => invoice.to_document(),
        Err(e) => panic!("fixture {} {}: {e}", kind.slug(), version.as_str()),
    }
}

/// A plain invoice (`01`) with `lines` lines, the plain invoice's two alternating, from the
/// fixtures' issuer to their counterparty: documents of any size for benches (`invois-sign`'s
/// `side_by_side` measures 1, 10 and 100 lines). Issued at [`issued_at`], like every fixture.
pub fn invoice_with_lines(lines: usize, version: Version) -> Document {
    let b = builder(Kind::Invoice, version).payment(payment());
    let b = (0..lines.max(1)).fold(b, |b, i| {
        b.line(if i % 2 == 0 { laptop() } else { installation() })
    });
    match b.build() {
        Ok(invoice) => invoice.to_document(),
        Err(e) => panic!("invoice with {lines} lines: {e}"),
    }
}

/// Lines by receipt runs, as consolidation method (b) allows: a gap in numbering starts a new
/// line, and every receipt number is in a description.
fn consolidated_lines(b: InvoiceBuilder) -> InvoiceBuilder {
    [
        ("Receipts R-1110 - R-1112", 34560),
        ("Receipt R-1114", 8990),
        ("Receipts R-1116 - R-2450", 9876543),
    ]
    .into_iter()
    .fold(b, |b, (desc, cents)| {
        b.line(Line::new("004", desc, dec(1, 0), "C62", dec(cents, 2)).tax_percent("01", dec(6, 0)))
    })
    .period(Period {
        start: "2025-12-01".to_owned(),
        end: "2025-12-31".to_owned(),
        description: "Monthly".to_owned(),
    })
}

/// The committed test signing key and certificate (issued by the well-known test CA for the
/// demo issuer, valid 2025-2045), so that signing fixtures is reproducible.
fn signer() -> Signer {
    let cert = include_bytes!("../fixtures/certs/issuer.cert.pem");
    let key = include_bytes!("../fixtures/certs/issuer.key.pem");
    match Signer::from_pem(cert, key) {
        Ok(s) => s,
        Err(e) => panic!("fixtures/certs: {e}"),
    }
}

/// The signing time of every signed fixture (after the issue time, as a signer's would be).
pub fn signed_at() -> DateTime<Utc> {
    issued_at() + chrono::Duration::minutes(1)
}

/// One fixture's bytes: pretty-printed unsigned JSON/XML, or the signer's output.
pub fn bytes(kind: Kind, version: Version, format: Format, signed: bool) -> Vec<u8> {
    let doc = build(kind, version);
    let unsigned = match format {
        Format::Json => pretty_json(&doc.to_json_string()),
        Format::Xml => pretty_xml(&doc.to_xml_string()),
    };
    if !signed {
        return unsigned;
    }
    match invois_sign::sign(&unsigned, format, &signer(), signed_at()) {
        Ok(b) => b,
        Err(e) => panic!("signing fixture {}: {e}", kind.slug()),
    }
}

fn pretty_json(minified: &str) -> Vec<u8> {
    // `preserve_order` and `arbitrary_precision` keep member order and number digits.
    let value: serde_json::Value = serde_json::from_str(minified).unwrap_or_default();
    let mut out = serde_json::to_vec_pretty(&value).unwrap_or_default();
    out.push(b'\n');
    out
}

/// Indents XML two spaces a level; leaf text is untouched.
fn pretty_xml(minified: &str) -> Vec<u8> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(minified);
    let mut writer = quick_xml::Writer::new_with_indent(Vec::new(), b' ', 2);
    loop {
        match reader.read_event() {
            Ok(Event::Eof) => break,
            Ok(e) => {
                if writer.write_event(e).is_err() {
                    break;
                }
            }
            Err(e) => panic!("fixture XML: {e}"),
        }
    }
    let mut out = writer.into_inner();
    out.push(b'\n');
    out
}

/// Where a fixture lives below the fixtures root: `v1.1/credit-note.xml`, or
/// `v1.1-unsigned/credit-note.xml` for the unsigned form of a signed version.
pub fn relative_path(kind: Kind, version: Version, format: Format, signed: bool) -> PathBuf {
    let dir = if version.is_signed() && !signed {
        format!("v{}-unsigned", version.as_str())
    } else {
        format!("v{}", version.as_str())
    };
    let ext = match format {
        Format::Json => "json",
        Format::Xml => "xml",
    };
    PathBuf::from(dir).join(format!("{}.{ext}", kind.slug()))
}

/// Every fixture: (path below the root, bytes).
pub fn all() -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for version in Version::ALL {
        let forms: &[bool] = if version.is_signed() {
            &[true, false]
        } else {
            &[false]
        };
        for &signed in forms {
            for kind in Kind::ALL.into_iter().filter(|k| k.in_version(version)) {
                for format in [Format::Json, Format::Xml] {
                    out.push((
                        relative_path(kind, version, format, signed),
                        bytes(kind, version, format, signed),
                    ));
                }
            }
        }
    }
    out
}

/// The committed fixtures' documents folder.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/documents")
}

/// Writes every fixture below `dir` (what `make-fixtures` does).
pub fn write_all(dir: &Path) -> std::io::Result<usize> {
    let all = all();
    for (rel, bytes) in &all {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, bytes)?;
    }
    Ok(all.len())
}

/// Issues the committed signing certificate (run once; kept so that fixtures are
/// reproducible). Returns the certificate and key PEM.
pub fn issue_signing_certificate() -> Result<(String, String), invois_sign::SignError> {
    let mut req = invois_sign::TestCertRequest::new(ISSUER_TIN, ISSUER_BRN);
    req.organization = "Syarikat Pembekal Sdn. Bhd.".to_owned();
    req.not_before = Utc
        .with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    req.not_after = Utc
        .with_ymd_and_hms(2045, 12, 31, 0, 0, 0)
        .single()
        .unwrap_or_default();
    let issued = invois_sign::TestCa::well_known()?.issue(&req)?;
    let cert: &Certificate = &issued.certificate;
    let key: &SecretKeyDer = &issued.key;
    Ok((cert.to_pem(), key.to_pem()))
}
