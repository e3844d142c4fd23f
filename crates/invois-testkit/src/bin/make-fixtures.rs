//! Regenerates the committed test documents (`fixtures/documents`) from `invois-model`'s
//! builders, signing 1.1 and 1.3 with the committed test certificate.
//!
//! ```sh
//! cargo run -p invois-testkit --bin make-fixtures                 # documents only
//! cargo run -p invois-testkit --bin make-fixtures -- --new-cert   # also a new test certificate
//! ```
//!
//! The certificate is issued once and committed, because a new one (a fresh RSA key) changes
//! every signed fixture.

use std::process::ExitCode;

use invois_testkit::fixtures;

fn main() -> ExitCode {
    let certs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/certs");
    if std::env::args().any(|a| a == "--new-cert") {
        // The binary embeds the certificate it signs with, so a new one takes effect on the
        // next run: say so rather than write documents signed with the old one.
        match fixtures::issue_signing_certificate() {
            Ok((cert, key)) => {
                let written = std::fs::create_dir_all(&certs)
                    .and_then(|()| std::fs::write(certs.join("issuer.cert.pem"), cert))
                    .and_then(|()| std::fs::write(certs.join("issuer.key.pem"), key));
                if let Err(e) = written {
                    eprintln!("make-fixtures: writing {}: {e}", certs.display());
                    return ExitCode::FAILURE;
                }
                eprintln!(
                    "new certificate in {}; run again without --new-cert",
                    certs.display()
                );
                return ExitCode::SUCCESS;
            }
            Err(e) => {
                eprintln!("make-fixtures: issuing the certificate: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let root = fixtures::root();
    if root.exists()
        && let Err(e) = std::fs::remove_dir_all(&root)
    {
        eprintln!("make-fixtures: clearing {}: {e}", root.display());
        return ExitCode::FAILURE;
    }
    match fixtures::write_all(&root) {
        Ok(n) => {
            println!("wrote {n} documents to {}", root.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("make-fixtures: {e}");
            ExitCode::FAILURE
        }
    }
}
