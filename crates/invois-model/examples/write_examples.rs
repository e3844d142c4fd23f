//! Writes the documents in the repository's `examples/` folder with the typed builders, so
//! their totals and taxes are computed rather than typed by hand:
//!
//! ```sh
//! cargo run -p invois-model --example write_examples -- examples
//! ```
//!
//! Each document is validated (as of now) before it is written, then its `IssueDate` and
//! `IssueTime` are taken out: the gateway fills them with the time it receives the document,
//! so the files never go stale against MyInvois' 72-hour issue-date rule. The credit note
//! names its original by internal id only; the gateway fills in the original's UUID.

use std::error::Error;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use invois_model::model::{Address, Invoice, Line, Party, Payment, Period};
use invois_model::tree::Element;
use invois_model::{Document, DocumentType, Format, ValidationContext, validate};
use rust_decimal::Decimal;

/// The built-in sandbox's demo taxpayer (TIN and BRN): it logs in as this taxpayer, so only
/// documents it issues are accepted (the supplier, or the buyer of a self-billed document).
const DEMO_TIN: &str = "C25845632020";
const DEMO_BRN: &str = "202001234567";

fn main() -> Result<(), Box<dyn Error>> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "examples".into()));
    std::fs::create_dir_all(&dir)?;
    let now = Utc::now();

    let invoice = invoice(now)?;
    write_ubl(&dir, "invoice.json", &invoice, Format::Json, now)?;
    // The same sale as its own document in XML: another internal id, so both can be sent.
    let mut xml = invoice.clone();
    xml.id = "INV-2026-0002".into();
    write_ubl(&dir, "invoice.xml", &xml, Format::Xml, now)?;
    write_ubl(
        &dir,
        "credit-note.json",
        &credit_note(now)?,
        Format::Json,
        now,
    )?;
    write_ubl(
        &dir,
        "consolidated-invoice.json",
        &consolidated(now)?,
        Format::Json,
        now,
    )?;
    write_ubl(
        &dir,
        "self-billed-invoice.json",
        &self_billed(now)?,
        Format::Json,
        now,
    )?;
    write_ubl(
        &dir,
        "foreign-currency-invoice.json",
        &foreign_currency(now)?,
        Format::Json,
        now,
    )?;
    write_simple(&dir, "simple-invoice.json", &simple(now)?, now)?;
    Ok(())
}

fn demo_supplier() -> Party {
    Party::new(
        "Syarikat Pembekal Sdn. Bhd.",
        DEMO_TIN,
        "BRN",
        DEMO_BRN,
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

/// The sandbox's other demo taxpayer, so that the buyer is a known TIN there too.
fn demo_buyer() -> Party {
    Party::new(
        "Pelanggan Bhd.",
        "C10987654320",
        "BRN",
        "201901234567",
        Address::new("No. 8, Jalan Kenari 5", "Petaling Jaya", "10", "MYS").postal_zone("47100"),
        "+60387654321",
    )
    .email("ap@pelanggan.example.my")
}

/// An amount written as it is read, `"3500.00"`.
fn money(amount: &str) -> Decimal {
    amount.parse().expect("a decimal amount")
}

fn bank_transfer() -> Payment {
    Payment {
        mode: "03".into(),
        account: Some("5140 1234 5678".into()),
        terms: Some("30 days from invoice date".into()),
    }
}

fn invoice(now: DateTime<Utc>) -> Result<Invoice, Box<dyn Error>> {
    Ok(
        Invoice::builder(DocumentType::Invoice, "INV-2026-0001", now)
            .supplier(demo_supplier())
            .buyer(demo_buyer())
            .line(
                Line::new(
                    "003",
                    "Notebook computer 14-inch",
                    Decimal::from(2),
                    "C62",
                    money("3500.00"),
                )
                .tax_percent("01", Decimal::from(10))
                .discount("Bundle promotion", money("100.00")),
            )
            .line(
                Line::new(
                    "022",
                    "On-site installation",
                    Decimal::from(3),
                    "HUR",
                    money("120.00"),
                )
                .tax_percent("02", Decimal::from(8)),
            )
            .payment(bank_transfer())
            .build()?,
    )
}

/// Takes back one installation hour of `invoice.json`.
fn credit_note(now: DateTime<Utc>) -> Result<Invoice, Box<dyn Error>> {
    Ok(
        Invoice::builder(DocumentType::CreditNote, "CN-2026-0001", now)
            // A well-formed UUID for validation here; it is taken out before writing, and
            // the gateway fills in the one MyInvois gave INV-2026-0001.
            .original("F9D425P6DS7D8IU8ENCQEA5AQ1", "INV-2026-0001")
            .supplier(demo_supplier())
            .buyer(demo_buyer())
            .line(
                Line::new(
                    "022",
                    "On-site installation: one hour not worked",
                    Decimal::ONE,
                    "HUR",
                    money("120.00"),
                )
                .tax_percent("02", Decimal::from(8)),
            )
            .build()?,
    )
}

/// A month of retail receipts whose buyers asked for no e-invoice, as one document to the
/// General Public (LHDN's general TIN for it, classification 004, `NA` for what is unknown).
fn consolidated(now: DateTime<Utc>) -> Result<Invoice, Box<dyn Error>> {
    let public = Party::new(
        "General Public",
        "EI00000000010",
        "BRN",
        "NA",
        Address::new("NA", "NA", "17", "MYS"),
        "NA",
    )
    .sst("NA");
    let receipts = |range: &str, total: &str| {
        Line::new(
            "004",
            format!("Receipts {range}"),
            Decimal::ONE,
            "C62",
            money(total),
        )
        .tax_percent("01", Decimal::from(10))
    };
    Ok(
        Invoice::builder(DocumentType::Invoice, "CON-2026-0001", now)
            .supplier(demo_supplier())
            .buyer(public)
            .period(Period {
                start: "2026-01-01".into(),
                end: "2026-01-31".into(),
                description: "Monthly".into(),
            })
            .line(receipts("R-10001 - R-10240", "18450.00"))
            .line(receipts("R-10242 - R-10395", "11203.50"))
            .build()?,
    )
}

/// The demo taxpayer buys a service from a foreign supplier with no Malaysian TIN, so it
/// issues the e-invoice itself: it is the buyer (and the issuer), the seller keeps the
/// supplier's place with LHDN's general TIN for foreign suppliers.
fn self_billed(now: DateTime<Utc>) -> Result<Invoice, Box<dyn Error>> {
    let foreign = Party::new(
        "Lumen Analytics Pte. Ltd.",
        "EI00000000030",
        "BRN",
        "NA",
        Address::new("1 Fusionopolis Way", "Singapore", "17", "SGP").postal_zone("138632"),
        "+6561234567",
    )
    .msic("00000", "NA")
    .sst("NA")
    .email("billing@lumen.example.sg");
    let buyer = Party::new(
        "Syarikat Pembekal Sdn. Bhd.",
        DEMO_TIN,
        "BRN",
        DEMO_BRN,
        Address::new("Lot 66, Bangunan Merdeka", "Kuala Lumpur", "14", "MYS").postal_zone("50480"),
        "+60123456789",
    )
    .sst("W10-1808-32000001")
    .email("billing@pembekal.example.my");
    Ok(
        Invoice::builder(DocumentType::SelfBilledInvoice, "SB-2026-0001", now)
            .supplier(foreign)
            .buyer(buyer)
            .line(
                Line::new(
                    "035",
                    "Data analytics service, January 2026 (imported service)",
                    Decimal::ONE,
                    "C62",
                    money("4200.00"),
                )
                .tax_percent("02", Decimal::from(8)),
            )
            .payment(bank_transfer())
            .build()?,
    )
}

/// Priced in US dollars: the exchange rate to MYR is required, and tax is stated in MYR.
fn foreign_currency(now: DateTime<Utc>) -> Result<Invoice, Box<dyn Error>> {
    Ok(
        Invoice::builder(DocumentType::Invoice, "INV-2026-0004", now)
            .currency("USD", Decimal::new(44_725, 4))
            .supplier(demo_supplier())
            .buyer(demo_buyer())
            .line(
                Line::new(
                    "022",
                    "Software licence, 12 months",
                    Decimal::from(5),
                    "C62",
                    money("240.00"),
                )
                .tax_percent("02", Decimal::from(8)),
            )
            .payment(bank_transfer())
            .build()?,
    )
}

/// The simple-JSON example: a service invoice an ERP can write without computing totals.
fn simple(now: DateTime<Utc>) -> Result<Invoice, Box<dyn Error>> {
    Ok(
        Invoice::builder(DocumentType::Invoice, "INV-2026-0003", now)
            .supplier(demo_supplier())
            .buyer(demo_buyer())
            .line(
                Line::new(
                    "022",
                    "Network maintenance, monthly",
                    Decimal::ONE,
                    "C62",
                    money("1800.00"),
                )
                .tax_percent("02", Decimal::from(8)),
            )
            .line(
                Line::new(
                    "003",
                    "Replacement switch, 24-port",
                    Decimal::from(2),
                    "C62",
                    money("650.00"),
                )
                .tax_percent("01", Decimal::from(10)),
            )
            .payment(bank_transfer())
            .build()?,
    )
}

/// Fails unless the document passes local validation as of `now`.
fn check(name: &str, doc: &Document, now: DateTime<Utc>) -> Result<(), Box<dyn Error>> {
    let report = validate(doc, &ValidationContext::at(now));
    // Table membership (C001) depends on which code tables this build loads; the sandbox
    // checks it when the examples are sent (the README quick-start test sends every one).
    let errors: Vec<String> = report
        .errors()
        .filter(|f| f.code != "C001")
        .map(|f| f.to_string())
        .collect();
    if errors.is_empty() {
        return Ok(());
    }
    Err(format!("{name} does not validate:\n{}", errors.join("\n")).into())
}

/// Removes what the gateway fills in: the issue date and time, and originals' UUIDs.
fn strip_filled_at_intake(root: &mut Element) {
    root.children
        .retain(|c| c.name != "IssueDate" && c.name != "IssueTime");
    for reference in root
        .children
        .iter_mut()
        .filter(|c| c.name == "BillingReference")
    {
        for original in reference
            .children
            .iter_mut()
            .filter(|c| c.name == "InvoiceDocumentReference")
        {
            original.children.retain(|c| c.name != "UUID");
        }
    }
}

fn write_ubl(
    dir: &Path,
    name: &str,
    invoice: &Invoice,
    format: Format,
    now: DateTime<Utc>,
) -> Result<(), Box<dyn Error>> {
    let mut doc = invoice.to_document();
    check(name, &doc, now)?;
    strip_filled_at_intake(doc.root_mut());
    let text = match format {
        Format::Json => pretty_json(&doc.to_json_string())?,
        Format::Xml => pretty_xml(&doc.to_xml_string())?,
    };
    std::fs::write(dir.join(name), text)?;
    Ok(())
}

fn write_simple(
    dir: &Path,
    name: &str,
    invoice: &Invoice,
    now: DateTime<Utc>,
) -> Result<(), Box<dyn Error>> {
    let doc = invoice.to_document();
    check(name, &doc, now)?;
    let simple = serde_json::to_value(invois_model::simple::to_simple(&doc)?)?;
    let mut fields = match simple {
        serde_json::Value::Object(fields) => fields,
        other => return Err(format!("simple JSON is not an object: {other}").into()),
    };
    fields.remove("issuedAt");
    // The order a person reads an invoice in: header, parties, then lines.
    let mut ordered = serde_json::Map::new();
    for key in [
        "type",
        "version",
        "id",
        "currency",
        "exchangeRate",
        "originals",
    ] {
        if let Some(v) = fields.remove(key) {
            ordered.insert(key.to_owned(), v);
        }
    }
    let lines = fields.remove("lines");
    ordered.extend(fields);
    if let Some(lines) = lines {
        ordered.insert("lines".to_owned(), lines);
    }
    let text = serde_json::Value::Object(ordered).to_string();
    std::fs::write(dir.join(name), pretty_json(&text)?)?;
    Ok(())
}

fn pretty_json(text: &str) -> Result<String, Box<dyn Error>> {
    let value: serde_json::Value = serde_json::from_str(text)?;
    Ok(serde_json::to_string_pretty(&value)? + "\n")
}

/// Indents the minified XML for reading; whitespace between elements is not content.
fn pretty_xml(text: &str) -> Result<String, Box<dyn Error>> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut writer = quick_xml::Writer::new_with_indent(Vec::new(), b' ', 2);
    writer.write_event(Event::Decl(quick_xml::events::BytesDecl::new(
        "1.0",
        Some("UTF-8"),
        None,
    )))?;
    loop {
        match reader.read_event()? {
            Event::Eof => break,
            event => writer.write_event(event)?,
        }
    }
    Ok(String::from_utf8(writer.into_inner())? + "\n")
}
