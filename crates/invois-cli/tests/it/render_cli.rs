//! `invois render` through the real binary: a document file with what MyInvois gave it, and
//! documents in a gateway database that `invois submit` filled against the built-in sandbox.

use std::path::Path;
use std::process::{Command, Output};

use chrono::Utc;
use invois_testkit::{Corpus, Kind, Version, samples};
use serde_json::Value;

const UUID: &str = "F9D425P6DS7D8IU8ENCQEA5AQ1";
const LONG_ID: &str = "YQH73576FY9VR57B1766384310";

fn invois(args: &[&str], dir: &Path) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_invois"));
    cmd.args(args).current_dir(dir);
    // Whatever the developer's shell holds, this run has no credentials or other settings.
    for (key, _) in std::env::vars() {
        if key.starts_with("INVOIS_") {
            cmd.env_remove(key);
        }
    }
    cmd.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_document_file_is_rendered_with_what_myinvois_gave_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let file = Corpus::fixtures().path(Version::V1_0, Kind::Invoice, invois_model::Format::Json);
    let file = file.to_str().unwrap();
    let given = [
        "--uuid",
        UUID,
        "--long-id",
        LONG_ID,
        "--validated-at",
        "2026-01-15T02:30:07Z",
    ];

    let mut args = vec!["render", file, "--pdf", "-o", "copy.pdf"];
    args.extend(given);
    let out = invois(&args, dir);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        std::fs::read(dir.join("copy.pdf"))
            .unwrap()
            .starts_with(b"%PDF-")
    );

    // HTML to standard output; the link is on the portal given.
    let mut args = vec!["render", file, "--html", "--cancelled"];
    args.extend(given);
    args.extend(["--portal", "https://preprod.myinvois.hasil.gov.my"]);
    let out = invois(&args, dir);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let page = text(&out.stdout);
    let link = format!("https://preprod.myinvois.hasil.gov.my/{UUID}/share/{LONG_ID}");
    assert!(page.contains(&link), "{page}");
    assert!(page.contains("2026-01-15 10:30:07 (UTC+08:00)"), "{page}");
    assert!(page.contains("CANCELLED"), "{page}");

    // Without what MyInvois gave it, a file has no copy; and one of --pdf or --html is needed.
    let out = invois(&["render", file, "--pdf", "-o", "x.pdf"], dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--uuid, --long-id and --validated-at"));
    let out = invois(&["render", file], dir);
    assert_eq!(out.status.code(), Some(2));
    let out = invois(&["render", "no-such-file.json", "--pdf"], dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no such file"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_stored_document_is_rendered_by_id() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let fixtures = invois_sandbox::Fixtures::demo();
    let (supplier, buyer) = (&fixtures.taxpayers[0].tin, &fixtures.taxpayers[1].tin);
    let now = Utc::now() - chrono::Duration::minutes(5);
    let mut doc = invois_testkit::fixture_json(Version::V1_0, Kind::Invoice);
    samples::adapt_json(&mut doc, "RENDER-1", now, supplier, buyer);
    std::fs::write(dir.join("valid.json"), samples::minified(&doc)).unwrap();
    let mut late = invois_testkit::fixture_json(Version::V1_0, Kind::Invoice);
    let old = now - chrono::Duration::days(5);
    samples::adapt_json(&mut late, "RENDER-LATE", old, supplier, buyer);
    std::fs::write(dir.join("late.json"), samples::minified(&late)).unwrap();
    let db = format!("sqlite://{}/x.db", dir.display());

    let out = invois(
        &[
            "submit",
            "--database",
            &db,
            "--json",
            "valid.json",
            "late.json",
        ],
        dir,
    );
    let results: Vec<Value> = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&out.stderr)));
    assert_eq!(results[0]["state"], "valid", "{results:?}");
    let id = results[0]["document_id"].as_i64().unwrap().to_string();
    let uuid = results[0]["uuid"].as_str().unwrap();

    let out = invois(
        &["render", &id, "--pdf", "--database", &db, "-o", "copy.pdf"],
        dir,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        std::fs::read(dir.join("copy.pdf"))
            .unwrap()
            .starts_with(b"%PDF-")
    );
    let out = invois(&["render", &id, "--html", "--database", &db], dir);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let page = text(&out.stdout);
    assert!(page.contains(uuid) && page.contains("RENDER-1"), "{page}");

    // A document MyInvois never validated has no copy, and the error says why.
    let late_id = results[1]["document_id"].as_i64().unwrap().to_string();
    let out = invois(
        &[
            "render",
            &late_id,
            "--pdf",
            "--database",
            &db,
            "-o",
            "x.pdf",
        ],
        dir,
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("rejected_locally") && stderr.contains("only a document MyInvois"),
        "{stderr}"
    );
    assert!(!dir.join("x.pdf").exists());
    let out = invois(&["render", "999", "--pdf", "--database", &db], dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no document 999"),
        "{}",
        text(&out.stderr)
    );
}
