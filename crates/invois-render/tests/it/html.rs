//! The HTML copy: the same content as the PDF, escaped, with the QR code as SVG.

use invois_model::tree::Value;
use invois_render::{QrGrid, Status};
use invois_testkit::Kind;

use crate::common::{UUID, VALIDATED_TEXT, link, validated};

#[test]
fn the_html_shows_the_same_content_and_the_qr_code_as_svg() {
    let html = invois_render::html(&validated(Kind::Invoice)).unwrap();
    for expected in [
        "<!DOCTYPE html>",
        "@page { size: A4;",
        "Syarikat Pembekal Sdn. Bhd.",
        "Pelanggan Bhd.",
        "Laptop 14-inch",
        "7,978.80",
        UUID,
        VALIDATED_TEXT,
    ] {
        assert!(html.contains(expected), "`{expected}` is not in:\n{html}");
    }
    assert!(html.contains(&format!("href=\"{}\"", link())), "{html}");
    let path = QrGrid::encode(&link()).unwrap().svg_path();
    assert!(
        html.contains(&format!("d=\"{path}\"")),
        "the SVG is the link's QR code"
    );
    assert!(!html.contains("CANCELLED"));
}

#[test]
fn document_text_is_escaped_and_a_cancelled_copy_is_marked() {
    let mut doc = validated(Kind::Invoice);
    let name = doc
        .document
        .root_mut()
        .child_mut("AccountingCustomerParty")
        .and_then(|p| p.child_mut("Party"))
        .and_then(|p| p.child_mut("PartyLegalEntity"))
        .and_then(|p| p.child_mut("RegistrationName"))
        .unwrap();
    name.value = Some(Value::string("<script>alert(1)</script> & Sons"));
    doc.status = Status::Cancelled;
    let html = invois_render::html(&doc).unwrap();
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; Sons"),
        "{html}"
    );
    assert!(html.contains("CANCELLED"), "{html}");
}
