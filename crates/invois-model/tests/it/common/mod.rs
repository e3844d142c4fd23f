//! Shared helpers: the documents to test with (the project's fixtures, and LHDN's samples when
//! `INVOIS_LHDN_SAMPLES` is set; see `invois_testkit::corpus`).
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;

use invois_model::Format;
use invois_testkit::Corpus;

fn format_of(ext: &str) -> Format {
    match ext {
        "json" => Format::Json,
        _ => Format::Xml,
    }
}

/// Every document file with the given extension, of every available corpus.
pub fn samples(ext: &str) -> Vec<PathBuf> {
    Corpus::available()
        .iter()
        .flat_map(|c| c.files(format_of(ext)))
        .collect()
}

pub fn read(p: &std::path::Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}
