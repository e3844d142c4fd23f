//! `invois cert issue-test`, `invois sign`, `invois verify` and `invois cert inspect` end to
//! end through the built binary, with their exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn invois(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_invois"));
    c.args(args).env_remove("INVOIS_CERT_PASSWORD");
    for (k, v) in envs {
        c.env(k, v);
    }
    c.output().expect("run invois")
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("invois-sign-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Writes the project's unsigned 1.1 invoice fixture (issued by the demo taxpayer
/// C25845632020) into `dir` as `name`.
fn unsigned_invoice(dir: &Path, format: invois_model::Format, name: &str) -> String {
    let bytes = invois_testkit::unsigned_fixture(
        invois_testkit::Version::V1_1,
        invois_testkit::Kind::Invoice,
        format,
    );
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.to_string_lossy().into_owned()
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

#[test]
fn issue_sign_verify_inspect() {
    let dir = tmpdir("flow");
    let out = invois(
        &[
            "cert",
            "issue-test",
            "--tin",
            "C25845632020",
            "--brn",
            "202001234567",
            "--out-dir",
            &s(&dir),
            "--password-env",
            "P12PW",
            "--cipher",
            "rc2-40",
        ],
        &[("P12PW", "pw-123")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in ["ca.pem", "cert.pem", "key.pem", "cert.p12"] {
        assert!(dir.join(f).exists(), "{f}");
    }
    let p12 = s(&dir.join("cert.p12"));

    let out = invois(
        &["cert", "inspect", &p12, "--password-env", "P12PW"],
        &[("P12PW", "pw-123")],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("TIN (OI 2.5.4.97):  C25845632020"), "{text}");
    assert!(text.contains(
        "X509IssuerName:     CN=invois Test CA, OU=Not for production use, O=invois test, C=MY"
    ));
    assert!(text.contains("nonRepudiation") && text.contains("1.3.6.1.4.1.311.10.3.12"));

    for (format, name) in [
        (invois_model::Format::Json, "inv.json"),
        (invois_model::Format::Xml, "inv.xml"),
    ] {
        let doc = unsigned_invoice(&dir, format, name);
        let signed = s(&dir.join(format!("signed-{name}")));
        let out = invois(
            &[
                "sign",
                &doc,
                "--cert",
                &p12,
                "--password-env",
                "P12PW",
                "-o",
                &signed,
            ],
            &[("P12PW", "pw-123")],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );

        let out = invois(&["verify", &signed, "--test-ca"], &[]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );

        let tampered = std::fs::read_to_string(&signed)
            .unwrap()
            .replace("Laptop 14-inch", "Laptop 15-inch");
        let bad = s(&dir.join(format!("bad-{name}")));
        std::fs::write(&bad, tampered).unwrap();
        let out = invois(&["verify", &bad, "--json"], &[]);
        assert_eq!(out.status.code(), Some(1));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v[0]["valid"], false);
        assert_eq!(v[0]["result"]["findings"][0]["code"], "DS322");
        let out = invois(&["verify", &bad, "--explain"], &[]);
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stdout).contains("fix:"));
    }

    // Untrusted chain: only an unrelated certificate (another leaf) is trusted: DS329.
    let other = tmpdir("other");
    let out = invois(
        &[
            "cert",
            "issue-test",
            "--tin",
            "C1",
            "--brn",
            "B1",
            "--out-dir",
            &s(&other),
        ],
        &[],
    );
    assert!(out.status.success());
    let signed = s(&dir.join("signed-inv.json"));
    let out = invois(
        &["verify", &signed, "--trust", &s(&other.join("cert.pem"))],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("DS329"));

    // A wrong password is a usage error (2) and is never echoed.
    let doc = s(&dir.join("inv.json"));
    let out = invois(
        &["sign", &doc, "--cert", &p12, "--password-env", "P12PW"],
        &[("P12PW", "not-the-pw-xyz")],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("password"), "{err}");
    assert!(!err.contains("not-the-pw-xyz"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&other);
}

/// `invois verify` accepts an XML signature whose PropsDigest a third-party signer computed
/// over the signed properties as it writes them (the klsheng SDK's string, the form LHDN's
/// samples were signed in), and says which form matched under `--explain`; a digest over any
/// other writing is not verifiable: valid (exit code 0, as MyInvois may accept a form nobody
/// has reported), with a note saying so, never DS320.
#[test]
fn verify_accepts_the_third_party_props_digest_forms() {
    use invois_testkit::props_forms::{PropsForm, with_props_digest};
    let dir = tmpdir("props-forms");
    let signed = invois_testkit::Corpus::fixtures()
        .xml(invois_testkit::Version::V1_1, invois_testkit::Kind::Invoice);
    for (form, label) in [
        (PropsForm::Klsheng, "as the klsheng SDK writes it"),
        (PropsForm::LhdnSamples, "as LHDN's samples were signed"),
    ] {
        let p = dir.join(format!("{form:?}.xml"));
        std::fs::write(&p, with_props_digest(&signed, form)).unwrap();
        let out = invois(&["verify", "--no-identity", "--explain", &s(&p)], &[]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{form:?}: {text}");
        assert!(text.contains(label), "{form:?}: {text}");
    }
    let p = dir.join("indented.xml");
    std::fs::write(&p, with_props_digest(&signed, PropsForm::Indented)).unwrap();
    let out = invois(&["verify", "--no-identity", &s(&p)], &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains(": valid"), "{text}");
    assert!(text.contains("note: PropsDigest not verifiable"), "{text}");
    assert!(!text.contains("INVALID"), "{text}");
}
