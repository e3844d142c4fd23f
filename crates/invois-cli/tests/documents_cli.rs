//! `invois validate`, `convert`, `new` and `codes import|list` through the real binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/myinvois")
}

fn invois(args: &[&str], codes_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_invois"))
        .args(args)
        .env("INVOIS_CODES_DIR", codes_dir)
        .output()
        .unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("invois-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn new_prints_a_document_that_validates_with_exit_0() {
    let dir = scratch("new");
    for (ty, format) in [("01", "json"), ("credit-note", "xml"), ("14", "json")] {
        let out = invois(&["new", ty, "--format", format], &dir);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let file = dir.join(format!("doc.{format}"));
        std::fs::write(&file, &out.stdout).unwrap();
        let v = invois(&["validate", file.to_str().unwrap()], &dir);
        assert_eq!(v.status.code(), Some(0), "{}", stdout(&v));
        assert!(stdout(&v).contains(": valid"), "{}", stdout(&v));
    }
}

#[test]
fn validate_exit_codes_and_json_report() {
    let dir = scratch("validate");
    let sample = shared().join("samples/v1.0/1.0-Invoice-Sample.json");
    let out = invois(&["validate", sample.to_str().unwrap()], &dir);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("INVALID")
            && text.contains("CF005")
            && text.contains("/Invoice/cac:AccountingSupplierParty"),
        "{text}"
    );
    // Membership not checked: said plainly.
    assert!(text.contains("is not loaded"), "{text}");
    let out = invois(&["validate", "--json", sample.to_str().unwrap()], &dir);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["valid"], false);
    let f = &v[0]["findings"][0];
    for key in ["code", "category", "severity", "jsonPath", "xpath", "rule"] {
        assert!(f[key].is_string(), "{key}: {f}");
    }
    let junk = dir.join("junk.json");
    std::fs::write(&junk, "{not json").unwrap();
    let out = invois(
        &["validate", sample.to_str().unwrap(), junk.to_str().unwrap()],
        &dir,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).contains("unusable"));
}

#[test]
fn convert_json_to_xml_and_back() {
    let dir = scratch("convert");
    let sample = shared().join("samples/v1.1/1.1-Invoice-Sample.json");
    let out = invois(&["convert", sample.to_str().unwrap(), "--to", "xml"], &dir);
    assert!(out.status.success());
    let xml = dir.join("a.xml");
    std::fs::write(&xml, &out.stdout).unwrap();
    assert!(stdout(&out).starts_with("<Invoice xmlns="));
    let back = invois(&["convert", xml.to_str().unwrap(), "--to", "json"], &dir);
    assert!(back.status.success());
    let a: serde_json::Value = serde_json::from_slice(&std::fs::read(&sample).unwrap()).unwrap();
    let b: serde_json::Value = serde_json::from_slice(&back.stdout).unwrap();
    // Same document (JSON objects compare without member order).
    assert_eq!(a, b);
}

#[test]
fn codes_import_then_list_and_validate_with_tables() {
    let dir = scratch("codes");
    let codes = dir.join("codes");
    let out = invois(&["codes", "list", "msic", "computer"], &codes);
    assert_eq!(out.status.code(), Some(2), "not loaded yet");
    let out = invois(
        &["codes", "import", shared().join("codes").to_str().unwrap()],
        &codes,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout(&out).contains("units: 2162 codes"));
    let out = invois(&["codes", "list", "msic", "computer hardware"], &codes);
    assert!(out.status.success());
    assert!(stdout(&out).contains("46510\t"), "{}", stdout(&out));
    let out = invois(&["codes", "list", "states", "no such state"], &codes);
    assert_eq!(out.status.code(), Some(1));
    let sample = shared().join("samples/v1.0/1.0-Invoice-Sample.xml");
    let out = invois(&["validate", sample.to_str().unwrap()], &codes);
    assert!(!stdout(&out).contains("is not loaded"), "{}", stdout(&out));
}

#[test]
fn simple_json_is_accepted_by_validate_and_convert() {
    let dir = scratch("simple");
    let example = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../invois-model/examples/simple-invoice.json");
    let example = example.to_str().unwrap();
    // Issued 2026-11-20T02:15:00Z; validated an hour later.
    let v = invois(
        &["validate", "--now", "2026-11-20T03:15:00Z", example],
        &dir,
    );
    assert_eq!(v.status.code(), Some(0), "{}", stdout(&v));
    assert!(stdout(&v).contains(": valid"), "{}", stdout(&v));

    let out = invois(&["convert", example, "--to", "xml"], &dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let xml = stdout(&out);
    assert!(
        xml.contains("<cbc:PayableAmount currencyID=\"MYR\">9031.00</cbc:PayableAmount>"),
        "{xml}"
    );

    // A refused simple document is unusable (exit 2) and the report names the field.
    let bad = dir.join("bad.json");
    let text = std::fs::read_to_string(example).unwrap().replacen(
        "\"unitPrice\": \"250.00\"",
        "\"unitPrice\": \"12.3.4\"",
        1,
    );
    std::fs::write(&bad, text).unwrap();
    let v = invois(&["validate", bad.to_str().unwrap()], &dir);
    assert_eq!(v.status.code(), Some(2), "{}", stdout(&v));
    assert!(stdout(&v).contains("lines[2].unitPrice"), "{}", stdout(&v));
}
