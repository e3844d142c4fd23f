//! `invois validate`, `convert`, `new` and `codes import|list` through the real binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A project fixture (`invois_testkit::fixtures`) of a kind in a version.
fn fixture(version: invois_testkit::Version, kind: invois_testkit::Kind) -> PathBuf {
    invois_testkit::Corpus::fixtures().path(version, kind, invois_model::Format::Json)
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
    // The 1.0 invoice fixture with its supplier TIN replaced by a placeholder, the way
    // LHDN's own samples are published: CF005.
    let text = std::fs::read_to_string(fixture(
        invois_testkit::Version::V1_0,
        invois_testkit::Kind::Invoice,
    ))
    .unwrap()
    .replace("C25845632020", "Supplier's TIN");
    let sample = dir.join("placeholder-tin.json");
    std::fs::write(&sample, text).unwrap();
    let out = invois(&["validate", sample.to_str().unwrap()], &dir);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("INVALID")
            && text.contains("CF005")
            && text.contains("/Invoice/cac:AccountingSupplierParty"),
        "{text}"
    );
    // The code tables are built in: every code's membership was checked.
    assert!(!text.contains("is not loaded"), "{text}");
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
    let sample = fixture(invois_testkit::Version::V1_1, invois_testkit::Kind::Invoice);
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

/// Runs with no code directory configured: no `INVOIS_CODES_DIR`, and a `HOME` whose default
/// code directory does not exist.
fn invois_without_codes_dir(args: &[&str], home: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_invois"))
        .args(args)
        .env_remove("INVOIS_CODES_DIR")
        .env("HOME", home)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn codes_list_uses_the_built_in_tables_and_a_directory_overrides_them() {
    let dir = scratch("codes");
    let out = invois_without_codes_dir(&["codes", "list", "msic", "computer hardware"], &dir);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("46510\t"), "{}", stdout(&out));
    let out = invois_without_codes_dir(&["codes", "list", "units", "C62"], &dir);
    assert!(stdout(&out).contains("C62\tone"), "{}", stdout(&out));
    let out = invois_without_codes_dir(&["codes", "list", "states", "no such state"], &dir);
    assert_eq!(out.status.code(), Some(1));

    // A named directory that does not exist is an error naming it.
    let codes = dir.join("codes");
    let out = invois(&["codes", "list", "msic", "computer"], &codes);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(codes.to_str().unwrap()),
        "{}",
        stderr(&out)
    );

    // `import` creates it; its MSIC table then replaces the built-in one.
    let src = dir.join("lhdn");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("MSICSubCategoryCodes.json"),
        r#"[
  {"Code": "46510", "Description": "Wholesale of computer hardware, software and peripherals", "MSIC Category Reference": "G"},
  {"Code": "99998", "Description": "A code LHDN added later", "MSIC Category Reference": "U"}
]"#,
    )
    .unwrap();
    let out = invois(&["codes", "import", src.to_str().unwrap()], &codes);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("msic: 2 codes"), "{}", stdout(&out));
    let out = invois(&["codes", "list", "msic"], &codes);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("99998\t"), "{}", stdout(&out));
    let out = invois(&["codes", "list", "msic", "growing of maize"], &codes);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    // The other tables stay built in.
    let out = invois(&["codes", "list", "countries", "MYS"], &codes);
    assert!(stdout(&out).contains("MYS\tMALAYSIA"), "{}", stdout(&out));
}

#[test]
fn validate_checks_codes_with_no_directory_and_refuses_a_missing_one() {
    let dir = scratch("validate-codes");
    let out = invois_without_codes_dir(&["new", "01", "--format", "json"], &dir);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let party = &mut v["Invoice"][0]["AccountingSupplierParty"][0]["Party"][0];
    party["IndustryClassificationCode"][0]["_"] = serde_json::json!("99999");
    let file = dir.join("unknown-msic.json");
    std::fs::write(&file, v.to_string()).unwrap();

    let out = invois_without_codes_dir(&["validate", file.to_str().unwrap()], &dir);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("C001") && stdout(&out).contains("99999"),
        "{}",
        stdout(&out)
    );
    assert!(!stdout(&out).contains("is not loaded"), "{}", stdout(&out));

    let missing = dir.join("no-such-dir");
    for args in [
        vec![
            "validate",
            "--codes-dir",
            missing.to_str().unwrap(),
            file.to_str().unwrap(),
        ],
        vec!["validate", file.to_str().unwrap()],
    ] {
        // The second names it through the environment.
        let out = invois(&args, &missing);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stdout(&out));
        assert!(
            stderr(&out).contains(missing.to_str().unwrap()),
            "{args:?}: {}",
            stderr(&out)
        );
    }
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

/// The 1.0 invoice fixture with `ID` written twice in the invoice object (issue 16).
fn repeated_id(dir: &Path) -> PathBuf {
    let doc =
        invois_testkit::fixture_json(invois_testkit::Version::V1_0, invois_testkit::Kind::Invoice);
    let text = serde_json::to_string(&doc).unwrap();
    let anchor = r#""ID":[{"_":"FX10-01-invoice"}]"#;
    assert!(text.contains(anchor), "{text}");
    let text = text.replacen(anchor, &format!(r#"{anchor},"ID":[{{"_":"B"}}]"#), 1);
    let file = dir.join("repeated-id.json");
    std::fs::write(&file, text).unwrap();
    file
}

#[test]
fn convert_refuses_a_repeated_json_key_and_names_both_occurrences() {
    let dir = scratch("convert-repeat");
    let file = repeated_id(&dir);
    for to in ["xml", "json"] {
        let out = invois(&["convert", file.to_str().unwrap(), "--to", to], &dir);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(out.stdout.is_empty(), "{}", stdout(&out));
        assert!(
            err.contains("S008")
                && err.contains(r#"member "ID" appears twice in $.Invoice[0]"#)
                && err.contains("first at $.Invoice[0].ID (member #1, /Invoice/cbc:ID[1])")
                && err.contains("again at $.Invoice[0].ID (member #2, /Invoice/cbc:ID[2])"),
            "{err}"
        );
    }
    // Nothing is written with -o either.
    let target = dir.join("out.xml");
    let out = invois(
        &[
            "convert",
            file.to_str().unwrap(),
            "--to",
            "xml",
            "-o",
            target.to_str().unwrap(),
        ],
        &dir,
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!target.exists());
}

#[test]
fn validate_reports_a_repeated_json_key() {
    let dir = scratch("validate-repeat");
    let file = repeated_id(&dir);
    let out = invois(&["validate", file.to_str().unwrap()], &dir);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("INVALID")
            && text.contains("S008")
            && text.contains(r#"member "ID" appears twice in $.Invoice[0]"#)
            && text.contains("at /Invoice/cbc:ID[2]  ($.Invoice[0].ID)"),
        "{text}"
    );
    let out = invois(&["validate", "--json", file.to_str().unwrap()], &dir);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let finding = v[0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "S008")
        .unwrap_or_else(|| panic!("no S008 in {v}"));
    assert_eq!(finding["severity"], "error");
    assert_eq!(finding["category"], "structure");
    assert_eq!(finding["jsonPath"], "$.Invoice[0].ID");
    assert_eq!(finding["xpath"], "/Invoice/cbc:ID[2]");
    assert_eq!(finding["value"], "ID");
}

#[test]
fn a_file_far_over_the_limit_is_refused_without_being_read_whole() {
    let dir = scratch("huge");
    // A sparse 40 MB file: reading it whole, as the commands once did, would take seconds and
    // hundreds of megabytes; refused, it costs one read of the limit.
    let huge = dir.join("huge.json");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(40 << 20)
        .unwrap();
    let path = huge.to_str().unwrap();
    let out = invois(&["validate", path], &dir);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(stdout(&out).contains("unusable") && stdout(&out).contains("300 KB"));
    for args in [vec!["convert", path, "--to", "xml"], vec!["verify", path]] {
        let out = invois(&args, &dir);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("300 KB"),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The line of a rule in `invois codes rules`, starred when in force.
fn rule_line<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find(|l| l.split('\t').nth(1) == Some(name))
        .unwrap_or_else(|| panic!("no {name} in {out}"))
}

#[test]
fn codes_rules_names_the_release_notes_followed_and_marks_the_rules_in_force() {
    let dir = scratch("codes-rules");
    // Between LHDN's sandbox date (15 Dec 2025) and production's (15 Aug 2026).
    let args = |env| {
        [
            "codes",
            "rules",
            "--environment",
            env,
            "--now",
            "2026-01-01",
        ]
    };
    let sandbox = invois_without_codes_dir(&args("sandbox"), &dir);
    assert!(sandbox.status.success(), "{}", stderr(&sandbox));
    let text = stdout(&sandbox);
    assert!(text.contains("release notes through 2026-07-17"), "{text}");
    let line = rule_line(&text, "invoice_number_length");
    assert!(line.starts_with('*'), "{line}");
    assert!(
        line.contains("cbc:ID\t50 characters\t2025-12-15\t2026-08-15"),
        "{line}"
    );
    let production = stdout(&invois_without_codes_dir(&args("production"), &dir));
    assert!(
        rule_line(&production, "invoice_number_length").starts_with('\t'),
        "{production}"
    );
    // The same table holds the consolidation rules.
    assert!(rule_line(&production, "single_transaction_limit").starts_with('*'));
    // And the help says it too.
    let help = stdout(&invois_without_codes_dir(&["codes", "--help"], &dir));
    assert!(help.contains("through 2026-07-17"), "{help}");
    let bad = invois_without_codes_dir(&["codes", "rules", "--environment", "staging"], &dir);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
}

#[test]
fn codes_errors_lists_lhdns_published_codes_with_their_texts() {
    let dir = scratch("codes-errors");
    let out = invois_without_codes_dir(&["codes", "errors"], &dir);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("null\tStructure Validator\tInvalid child element"),
        "{text}"
    );
    assert!(
        text.contains(
            "DV302\tDuplicated Submission Validator\tDuplicated submitted document with UUID {0}"
        ),
        "{text}"
    );
    assert!(text.contains("core-fields-validator-error/"), "{text}");
}

#[test]
fn validate_applies_the_rules_in_force_in_the_environment_on_the_day() {
    let dir = scratch("validate-dated");
    // The 1.0 invoice fixture (issued 15 Jan 2026) with a 51-character number: the 10 Dec
    // 2025 rule allows 50 from 15 Dec 2025 in LHDN's sandbox, from 15 Aug 2026 in production.
    let fixture = fixture(invois_testkit::Version::V1_0, invois_testkit::Kind::Invoice);
    let mut doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture).unwrap()).unwrap();
    doc["Invoice"][0]["ID"][0]["_"] = serde_json::json!("N".repeat(51));
    let file = dir.join("long-number.json");
    std::fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();
    let file = file.to_str().unwrap();
    let run = |env: &str| {
        invois(
            &[
                "validate",
                "--json",
                "--environment",
                env,
                "--now",
                "2026-01-15",
                file,
            ],
            &dir,
        )
    };
    let sandbox = run("sandbox");
    assert_eq!(sandbox.status.code(), Some(1), "{}", stdout(&sandbox));
    let production = run("production");
    assert_eq!(production.status.code(), Some(0), "{}", stdout(&production));
    let report: serde_json::Value = serde_json::from_slice(&production.stdout).unwrap();
    let finding = report[0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "CF002")
        .unwrap_or_else(|| panic!("{report}"))
        .clone();
    assert_eq!(finding["severity"], "warning", "{finding}");
    assert!(
        finding["rule"].as_str().unwrap().contains("2026-08-15"),
        "{finding}"
    );
}

#[test]
fn validate_reports_lhdns_code_next_to_invois_own() {
    let dir = scratch("validate-lhdn");
    let fixture = fixture(invois_testkit::Version::V1_0, invois_testkit::Kind::Invoice);
    let mut doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture).unwrap()).unwrap();
    doc["Invoice"][0]["PaymentMeans"][0]["PaymentMeansCode"][0]["_"] = serde_json::json!("99");
    let file = dir.join("bad-payment-mode.json");
    std::fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();
    let file = file.to_str().unwrap();
    let json = invois(&["validate", "--json", "--now", "2026-01-15", file], &dir);
    assert_eq!(json.status.code(), Some(1), "{}", stdout(&json));
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let c001 = report[0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "C001")
        .unwrap_or_else(|| panic!("{report}"))
        .clone();
    assert_eq!(c001["lhdnCode"], "CV302", "{c001}");
    assert_eq!(
        c001["lhdnMessage"],
        "ItemCode 99 does not exist in CodeType PaymentMethods"
    );
    let text = invois(&["validate", "--now", "2026-01-15", file], &dir);
    assert!(
        stdout(&text).contains("LHDN CV302: ItemCode 99 does not exist"),
        "{}",
        stdout(&text)
    );
}
