//! What the tests share: a validated document from the corpus, and the PDF read back.

use chrono::{DateTime, TimeZone, Utc};
use invois_model::{Document, Format};
use invois_render::{Status, ValidatedDocument};
use invois_testkit::{Corpus, Kind, Version};
use lopdf::Object;

pub(crate) const UUID: &str = "F9D425P6DS7D8IU8ENCQEA5AQ1";
pub(crate) const LONG_ID: &str = "YQH73576FY9VR57B1766384310";

/// The validation link of [`UUID`] on LHDN's production portal.
pub(crate) fn link() -> String {
    format!("https://myinvois.hasil.gov.my/{UUID}/share/{LONG_ID}")
}

/// When MyInvois validated the test documents: 7 s after the fixtures' issue time.
pub(crate) fn validated_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 15, 2, 30, 7).unwrap()
}

/// How the copy writes [`validated_at`]: Malaysia time.
pub(crate) const VALIDATED_TEXT: &str = "2026-01-15 10:30:07 (UTC+08:00)";

/// A corpus document as MyInvois validated it.
pub(crate) fn validated_from(document: Document) -> ValidatedDocument {
    ValidatedDocument {
        document,
        uuid: UUID.to_owned(),
        long_id: LONG_ID.to_owned(),
        validated_at: validated_at(),
        validation_link: link(),
        status: Status::Valid,
    }
}

/// A fixture (version 1.0, JSON) as MyInvois validated it.
pub(crate) fn validated(kind: Kind) -> ValidatedDocument {
    let bytes = Corpus::fixtures().read(Version::V1_0, kind, Format::Json);
    validated_from(Document::parse(&bytes).unwrap())
}

/// The PDF's text, as a reader copying it would get it.
pub(crate) fn text_of(pdf: &[u8]) -> String {
    pdf_extract::extract_text_from_mem(pdf).unwrap()
}

/// `text` without whitespace: a wrapped value (the link) is found whole.
pub(crate) fn squeezed(text: &str) -> String {
    text.split_whitespace().collect()
}

/// Every image in the PDF as (width, height, greyscale pixels).
pub(crate) fn images_of(pdf: &[u8]) -> Vec<(usize, usize, Vec<u8>)> {
    let doc = lopdf::Document::load_mem(pdf).unwrap();
    let mut out = Vec::new();
    for object in doc.objects.values() {
        let Object::Stream(stream) = object else {
            continue;
        };
        let is_image = stream
            .dict
            .get(b"Subtype")
            .and_then(Object::as_name)
            .is_ok_and(|n| n == b"Image");
        if !is_image {
            continue;
        }
        let dim = |key: &[u8]| {
            usize::try_from(stream.dict.get(key).and_then(Object::as_i64).unwrap()).unwrap()
        };
        let pixels = stream.decompressed_content().unwrap();
        out.push((dim(b"Width"), dim(b"Height"), pixels));
    }
    out
}

/// The texts of every QR code found in the image.
pub(crate) fn decode_qr(width: usize, height: usize, pixels: &[u8]) -> Vec<String> {
    let mut prepared =
        rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| pixels[y * width + x]);
    prepared
        .detect_grids()
        .into_iter()
        .map(|grid| grid.decode().unwrap().1)
        .collect()
}

/// How many pages the PDF has.
pub(crate) fn page_count(pdf: &[u8]) -> usize {
    lopdf::Document::load_mem(pdf).unwrap().get_pages().len()
}
