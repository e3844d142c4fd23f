//! Helpers shared by the integration tests: paths to the official samples (read-only, never
//! copied into the repository) and a cached test certificate.
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::sync::OnceLock;

use invois_sign::{IssuedCertificate, TestCa, TestCertRequest};

pub const TIN: &str = "C29702635060";
pub const BRN: &str = "202001234567";

pub fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/myinvois/samples")
}

pub fn read(rel: &str) -> Vec<u8> {
    let p = shared().join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

/// Every file of a samples folder with this extension, sorted; fails if there are none.
pub fn samples(dir: &str, ext: &str) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(shared().join(dir))
        .unwrap_or_else(|e| panic!("cannot list {dir}: {e}"))
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().and_then(|x| x.to_str()) == Some(ext))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no .{ext} samples in {dir}");
    v.into_iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

/// One ERP-profile certificate from the well-known test CA, issued once per test binary
/// (RSA key generation is the slow part).
pub fn issued() -> &'static IssuedCertificate {
    static C: OnceLock<IssuedCertificate> = OnceLock::new();
    C.get_or_init(|| {
        TestCa::well_known()
            .unwrap()
            .issue(&TestCertRequest::new(TIN, BRN))
            .unwrap()
    })
}

/// Replace the issuer party's TIN and BRN placeholders so identity checks can pass.
pub fn with_identity(doc: &[u8]) -> Vec<u8> {
    String::from_utf8(doc.to_vec())
        .unwrap()
        .replace("Supplier's TIN", TIN)
        .replace("Supplier's BRN", BRN)
        .replace("Buyer's TIN", TIN)
        .replace("Buyer's BRN", BRN)
        .into_bytes()
}
