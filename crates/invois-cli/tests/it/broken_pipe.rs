//! Every command that prints exits quietly when its reader has gone (`invois ... | head -c1`),
//! the way ripgrep does: no panic, no "Broken pipe" message, exit code 0.

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Runs `invois ARGS` with stdout a pipe whose reading end is already closed, so the first
/// write fails with EPIPE (Rust ignores SIGPIPE, so the process sees the error).
fn run_into_closed_pipe(args: &[&str]) -> (Option<i32>, String) {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_invois"))
        .args(args)
        .env_remove("INVOIS_CODES_DIR")
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("run invois");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn fixture(version: invois_testkit::Version, format: invois_model::Format) -> String {
    invois_testkit::Corpus::fixtures()
        .path(version, invois_testkit::Kind::Invoice, format)
        .to_string_lossy()
        .into_owned()
}

fn assert_quiet(args: &[&str]) {
    let (code, stderr) = run_into_closed_pipe(args);
    assert_eq!(code, Some(0), "invois {args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "invois {args:?}: {stderr}");
    assert!(!stderr.contains("Broken pipe"), "invois {args:?}: {stderr}");
}

#[test]
fn new_exits_quietly() {
    assert_quiet(&["new", "invoice"]);
    assert_quiet(&["new", "credit-note", "--format", "xml"]);
}

#[test]
fn validate_exits_quietly() {
    let json = fixture(invois_testkit::Version::V1_0, invois_model::Format::Json);
    assert_quiet(&["validate", &json]);
    assert_quiet(&["validate", "--json", &json]);
}

#[test]
fn convert_exits_quietly() {
    let json = fixture(invois_testkit::Version::V1_0, invois_model::Format::Json);
    let xml = fixture(invois_testkit::Version::V1_0, invois_model::Format::Xml);
    assert_quiet(&["convert", &json, "--to", "xml"]);
    assert_quiet(&["convert", &xml, "--to", "json"]);
}

#[test]
fn codes_list_exits_quietly() {
    assert_quiet(&["codes", "list", "msic"]);
}

#[test]
fn verify_exits_quietly() {
    let signed = fixture(invois_testkit::Version::V1_1, invois_model::Format::Json);
    assert_quiet(&["verify", &signed, "--test-ca"]);
    assert_quiet(&["verify", &signed, "--json"]);
}

#[test]
fn cert_inspect_and_version_exit_quietly() {
    let cert: PathBuf = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../invois-testkit/fixtures/certs/issuer.cert.pem");
    assert_quiet(&["cert", "inspect", &cert.to_string_lossy()]);
    assert_quiet(&["version"]);
}

#[test]
fn a_real_error_still_says_so() {
    // Quiet only about the pipe: an unreadable file is still an error on stderr.
    let (code, stderr) = run_into_closed_pipe(&["convert", "/nonexistent/doc.json", "--to", "xml"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("/nonexistent/doc.json"), "{stderr}");
}
