//! Shared helpers: the official samples and code tables in `../shared/myinvois`.
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;

pub fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/myinvois")
}

/// Every official sample file with the given extension.
pub fn samples(ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in ["v1.0", "v1.1", "v1.2-svdp", "v1.3-svdp", "signed"] {
        let d = shared().join("samples").join(dir);
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = entry.unwrap().path();
            if p.extension().and_then(|e| e.to_str()) == Some(ext) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

pub fn read(p: &std::path::Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}
