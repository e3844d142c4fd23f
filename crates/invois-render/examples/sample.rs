//! Writes the copy of some fixture kinds (invoice, multi-line, foreign currency, credit note)
//! and of a long invoice (the multi-line one's lines twenty times over), as PDF and HTML, into
//! a directory, to look at: `cargo run -p invois-render --example sample -- target/copies`.

use chrono::{TimeZone, Utc};
use invois_model::{Document, Format};
use invois_render::{Status, ValidatedDocument};
use invois_testkit::{Corpus, Kind, Version};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "copies".into()));
    std::fs::create_dir_all(&dir)?;
    let uuid = "F9D425P6DS7D8IU8ENCQEA5AQ1";
    let long_id = "YQH73576FY9VR57B1766384310";
    let kinds = [
        Kind::Invoice,
        Kind::MultiLine,
        Kind::ForeignCurrency,
        Kind::CreditNote,
    ];
    let long = ("invoice-long", Kind::MultiLine, 20);
    for (name, kind, repeat) in kinds.iter().map(|k| (k.slug(), *k, 1)).chain([long]) {
        let bytes = Corpus::fixtures().read(Version::V1_0, kind, Format::Json);
        let mut document = Document::parse(&bytes)?;
        let root = document.root_mut();
        let lines: Vec<_> = root.children_named("InvoiceLine").cloned().collect();
        for _ in 1..repeat {
            root.children.extend(lines.iter().cloned());
        }
        let copy = ValidatedDocument {
            document,
            uuid: uuid.to_owned(),
            long_id: long_id.to_owned(),
            validated_at: Utc.with_ymd_and_hms(2026, 1, 15, 2, 30, 7).unwrap(),
            validation_link: format!("https://myinvois.hasil.gov.my/{uuid}/share/{long_id}"),
            status: Status::Valid,
        };
        std::fs::write(dir.join(format!("{name}.pdf")), invois_render::pdf(&copy)?)?;
        std::fs::write(
            dir.join(format!("{name}.html")),
            invois_render::html(&copy)?,
        )?;
    }
    println!("written to {}", dir.display());
    Ok(())
}
