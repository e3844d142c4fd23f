//! `invois sign FILE --cert CERT.p12 [--password-env VAR] [-o OUT]`: sign a version 1.1/1.3
//! document (JSON or XML, detected) and write the minified signed document.
//!
//! The password is read from an environment variable, never from the command line (it would
//! land in shell history and `ps` output).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};
use invois_sign::{Format, Password, Signer};

/// Environment variable read for the certificate password when `--password-env` is not given.
pub(crate) const DEFAULT_PASSWORD_ENV: &str = "INVOIS_CERT_PASSWORD";

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The document to sign (JSON or XML).
    file: PathBuf,
    /// The signing certificate: a PKCS#12 file (.p12/.pfx), or a PEM/DER certificate with --key.
    #[arg(long, value_name = "FILE")]
    cert: PathBuf,
    /// PEM private key, when --cert is a PEM/DER certificate.
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// Name of the environment variable holding the PKCS#12 password
    /// (default INVOIS_CERT_PASSWORD; an unset variable means an empty password).
    #[arg(long, value_name = "VAR")]
    password_env: Option<String>,
    /// Where to write the signed document (default: standard output).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Signing time (RFC 3339) instead of now, e.g. to reproduce a signature.
    #[arg(long, value_name = "TIME")]
    signing_time: Option<DateTime<Utc>>,
}

/// Read the password from the named environment variable (or the default one).
pub(crate) fn password_from_env(var: Option<&str>) -> anyhow::Result<Password> {
    let name = var.unwrap_or(DEFAULT_PASSWORD_ENV);
    match std::env::var(name) {
        Ok(p) => Ok(Password::new(p)),
        Err(std::env::VarError::NotPresent) if var.is_none() => Ok(Password::default()),
        Err(std::env::VarError::NotPresent) => bail!("environment variable {name} is not set"),
        Err(std::env::VarError::NotUnicode(_)) => {
            bail!("environment variable {name} is not valid UTF-8")
        }
    }
}

/// Is this file a PKCS#12 archive rather than a certificate? PKCS#12 is DER (starts with a
/// SEQUENCE) and is not itself an X.509 certificate.
fn is_pkcs12(bytes: &[u8]) -> bool {
    bytes.first() == Some(&0x30) && invois_sign::Certificate::from_der(bytes).is_err()
}

/// Load a signer from the --cert/--key/--password-env arguments.
pub(crate) fn load_signer(
    cert: &Path,
    key: Option<&Path>,
    password_env: Option<&str>,
) -> anyhow::Result<Signer> {
    let cert_bytes =
        std::fs::read(cert).with_context(|| format!("cannot read {}", cert.display()))?;
    match key {
        Some(key) => {
            let key_bytes =
                std::fs::read(key).with_context(|| format!("cannot read {}", key.display()))?;
            Signer::from_pem(&cert_bytes, &key_bytes)
                .with_context(|| format!("cannot load {}", cert.display()))
        }
        None if is_pkcs12(&cert_bytes) => {
            let password = password_from_env(password_env)?;
            Signer::from_pkcs12(&cert_bytes, &password)
                .with_context(|| format!("cannot open {}", cert.display()))
        }
        None => bail!(
            "{} is a certificate, not a PKCS#12 file: give its private key with --key",
            cert.display()
        ),
    }
}

pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let doc = crate::input::read_document(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let format = Format::detect(&doc)
        .with_context(|| format!("{} is neither JSON nor XML", args.file.display()))?;
    let signer = load_signer(
        &args.cert,
        args.key.as_deref(),
        args.password_env.as_deref(),
    )?;
    // Versions 1.0 and 1.2 carry no signature; MyInvois's schema rejects UBLExtensions there.
    let version = invois_sign::verify(&doc, Some(format), None).version;
    if !version
        .as_deref()
        .is_some_and(invois_model::codes::version_is_signed)
    {
        eprintln!(
            "warning: the document is version {}; only versions 1.1 and 1.3 are signed (set InvoiceTypeCode listVersionID)",
            version.as_deref().unwrap_or("(none)")
        );
    }
    let time = args.signing_time.unwrap_or_else(Utc::now);
    let info = signer.certificate().inspect();
    if time < info.not_before || time > info.not_after {
        eprintln!(
            "warning: signing time {} is outside the certificate validity {} .. {}; MyInvois will reject it (DS304)",
            time.to_rfc3339(),
            info.not_before.to_rfc3339(),
            info.not_after.to_rfc3339()
        );
    }
    let signed = invois_sign::sign(&doc, format, &signer, time)
        .with_context(|| format!("cannot sign {}", args.file.display()))?;
    match &args.output {
        Some(out) => {
            std::fs::write(out, &signed)
                .with_context(|| format!("cannot write {}", out.display()))?;
            eprintln!(
                "signed {} -> {} ({} bytes)",
                args.file.display(),
                out.display(),
                signed.len()
            );
        }
        None => {
            use std::io::Write as _;
            let mut stdout = std::io::stdout().lock();
            match stdout.write_all(&signed).and_then(|()| stdout.flush()) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                r => r.context("cannot write to standard output")?,
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
