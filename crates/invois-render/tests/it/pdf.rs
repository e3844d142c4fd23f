//! The PDF copy read back: what a buyer sees in it, and what its QR code holds.

use invois_model::tree::{Element, Value};
use invois_render::{RenderError, Status};
use invois_testkit::{Corpus, Kind};

use crate::common::{
    LONG_ID, UUID, VALIDATED_TEXT, decode_qr, images_of, link, page_count, squeezed, text_of,
    validated, validated_from,
};

#[test]
fn the_pdf_shows_parties_lines_totals_uuid_and_validation_time() {
    let doc = validated(Kind::Invoice);
    let number = doc.document.id().unwrap().to_owned();
    let pdf = invois_render::pdf(&doc).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    let text = text_of(&pdf);
    for expected in [
        // The supplier: name, TIN, registration, SST, MSIC, address, contact.
        "Syarikat Pembekal Sdn. Bhd.",
        "C25845632020",
        "202001234567",
        "W10-1808-32000001",
        "46510",
        "Kuala Lumpur",
        "billing@pembekal.example.my",
        // The buyer.
        "Pelanggan Bhd.",
        "C10987654320",
        "201901234567",
        "Petaling Jaya",
        // The document.
        "INVOICE",
        &number,
        "Issued",
        "2026-01-15 10:30:00 (UTC+08:00)",
        // A line: classification, description, quantity, unit price, discount, rate,
        // tax, amounts.
        "Laptop 14-inch",
        "3,500.00",
        "100.00",
        "10%",
        "690.00",
        "6,900.00",
        "7,590.00",
        // Taxes by type, then the totals.
        "Sales Tax",
        "Service Tax",
        "Total excluding tax",
        "MYR 7,260.00",
        "Total payable",
        "MYR 7,978.80",
        // What MyInvois gave it.
        UUID,
        VALIDATED_TEXT,
        "Page 1 of 1",
    ] {
        assert!(
            text.contains(expected),
            "`{expected}` is not in the PDF's text:\n{text}"
        );
    }
    // The link wraps in its column; read whole, it is exact.
    assert!(squeezed(&text).contains(&link()), "{text}");
}

#[test]
fn the_qr_code_in_the_pdf_decodes_to_the_exact_validation_link() {
    let pdf = invois_render::pdf(&validated(Kind::Invoice)).unwrap();
    let images = images_of(&pdf);
    assert_eq!(images.len(), 1, "one image, the QR code");
    let (width, height, pixels) = &images[0];
    assert_eq!(pixels.len(), width * height, "8-bit greyscale");
    assert_eq!(decode_qr(*width, *height, pixels), vec![link()]);
}

#[test]
fn the_copy_of_a_foreign_currency_invoice_gives_the_exchange_rate() {
    let doc = validated(Kind::ForeignCurrency);
    let currency = doc.document.currency().unwrap().to_owned();
    let rate = doc
        .document
        .root()
        .text_at(&["TaxExchangeRate", "CalculationRate"])
        .unwrap()
        .to_owned();
    assert_ne!(currency, "MYR");
    let text = text_of(&invois_render::pdf(&doc).unwrap());
    let rate = rate.trim_end_matches('0').trim_end_matches('.');
    let line = format!("1 {currency} = {rate} MYR");
    assert!(text.contains(&line), "`{line}` is not in:\n{text}");
    // Amounts in the document's currency, the tax as the document states it: in ringgit.
    assert!(text.contains(&format!("TOTALS ({currency})")), "{text}");
    assert!(
        text.contains(&format!("Total payable {currency} 1,684.80")),
        "{text}"
    );
    assert!(text.contains("Tax amount MYR 557.86"), "{text}");
}

#[test]
fn a_note_names_its_original() {
    let doc = validated(Kind::CreditNote);
    let original = doc.document.billing_references()[0].id.clone().unwrap();
    let text = text_of(&invois_render::pdf(&doc).unwrap());
    assert!(text.contains("CREDIT NOTE"), "{text}");
    assert!(text.contains(&original), "{text}");
}

/// The multi-line fixture with its lines repeated `times` times, numbered on.
fn long_document(times: usize) -> invois_model::Document {
    let mut doc = validated(Kind::MultiLine).document;
    let root = doc.root_mut();
    let lines: Vec<Element> = root.children_named("InvoiceLine").cloned().collect();
    let mut number = lines.len();
    for _ in 1..times {
        for line in &lines {
            let mut copy = line.clone();
            number += 1;
            if let Some(id) = copy.child_mut("ID") {
                id.value = Some(Value::string(number.to_string()));
            }
            if let Some(description) = copy
                .child_mut("Item")
                .and_then(|item| item.child_mut("Description"))
            {
                description.value = Some(Value::string(format!("Repeated item number {number}")));
            }
            root.children.push(copy);
        }
    }
    doc
}

#[test]
fn a_long_document_runs_over_numbered_pages_and_keeps_the_qr_code() {
    let doc = validated_from(long_document(40));
    let lines = doc.document.line_count();
    assert!(lines > 150, "{lines}");
    let pdf = invois_render::pdf(&doc).unwrap();
    let pages = page_count(&pdf);
    assert!(pages >= 4, "{lines} lines on {pages} pages");
    let text = text_of(&pdf);
    assert!(text.contains(&format!("Page 1 of {pages}")), "{text}");
    assert!(text.contains(&format!("Page {pages} of {pages}")), "{text}");
    assert!(
        text.contains(&format!("Repeated item number {lines}")),
        "the last line is shown"
    );
    // The table's header row is repeated on every page the lines reach.
    assert!(text.matches("Unit price").count() >= pages - 1, "{text}");
    let (w, h, pixels) = &images_of(&pdf)[0];
    assert_eq!(decode_qr(*w, *h, pixels), vec![link()]);
}

#[test]
fn a_cancelled_copy_says_so_on_every_page() {
    let mut doc = validated_from(long_document(30));
    doc.status = Status::Cancelled;
    let pdf = invois_render::pdf(&doc).unwrap();
    let pages = page_count(&pdf);
    let text = text_of(&pdf);
    assert!(
        text.contains("the supplier cancelled this e-invoice"),
        "{text}"
    );
    assert!(text.matches("CANCELLED").count() > pages, "{text}");
}

#[test]
fn a_link_to_another_document_is_refused() {
    let mut doc = validated(Kind::Invoice);
    doc.validation_link = format!("https://myinvois.hasil.gov.my/OTHERUUID/share/{LONG_ID}");
    let err = invois_render::pdf(&doc).unwrap_err();
    assert!(matches!(err, RenderError::LinkMismatch { .. }), "{err}");
    assert!(err.to_string().contains(UUID), "{err}");
    let mut doc = validated(Kind::Invoice);
    doc.long_id.clear();
    assert!(matches!(
        invois_render::html(&doc),
        Err(RenderError::LinkMismatch { .. })
    ));
}

/// Every document of every corpus (LHDN's samples too, when switched on) has a copy with its
/// number and its QR code.
#[test]
fn every_corpus_document_renders() {
    for corpus in Corpus::available() {
        for (version, kind) in corpus.entries() {
            for format in [invois_model::Format::Json, invois_model::Format::Xml] {
                let bytes = corpus.read(version, kind, format);
                let document = invois_model::Document::parse(&bytes).unwrap();
                let id = document.id().unwrap().to_owned();
                let what = format!("{} {version:?} {kind:?} {format:?}", corpus.name());
                let pdf = invois_render::pdf(&validated_from(document))
                    .unwrap_or_else(|e| panic!("{what}: {e}"));
                assert!(
                    text_of(&pdf).contains(&id),
                    "{what}: {id} is not in its copy"
                );
            }
        }
    }
}
