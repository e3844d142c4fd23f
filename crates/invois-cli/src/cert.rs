//! `invois cert inspect FILE` and `invois cert issue-test --tin T --brn B`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use invois_sign::{
    Certificate, Password, Pkcs12Cipher, ProfileExpectation, TestCa, TestCertRequest,
};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: CertCommand,
}

#[derive(Debug, clap::Subcommand)]
enum CertCommand {
    /// Show subject, TIN, BRN, validity, key usages and the exact X509IssuerName string,
    /// and check the MyInvois certificate profile.
    Inspect(InspectArgs),
    /// Create a test CA certificate and a signing certificate with the ERP profile, for the
    /// invois sandbox (LHDN rejects them: DS329).
    IssueTest(IssueArgs),
}

#[derive(Debug, clap::Args)]
struct InspectArgs {
    /// A certificate (PEM or DER) or a PKCS#12 file.
    file: PathBuf,
    /// Environment variable holding the PKCS#12 password (default INVOIS_CERT_PASSWORD).
    #[arg(long, value_name = "VAR")]
    password_env: Option<String>,
    /// Expected TIN (organizationIdentifier) to check against.
    #[arg(long)]
    tin: Option<String>,
    /// Expected BRN (serialNumber) to check against.
    #[arg(long)]
    brn: Option<String>,
    /// Print as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct IssueArgs {
    /// TIN to put in organizationIdentifier (2.5.4.97).
    #[arg(long)]
    tin: String,
    /// BRN to put in serialNumber (2.5.4.5).
    #[arg(long)]
    brn: String,
    /// Organisation name (O and CN).
    #[arg(long)]
    name: Option<String>,
    /// Directory for ca.pem, cert.pem, key.pem and cert.p12.
    #[arg(long, default_value = ".")]
    out_dir: PathBuf,
    /// Environment variable holding the password for cert.p12 (unset: empty password).
    #[arg(long, value_name = "VAR")]
    password_env: Option<String>,
    /// Encrypt cert.p12 with a legacy cipher, to test loading such files.
    #[arg(long, value_enum, default_value_t = CipherArg::Aes256)]
    cipher: CipherArg,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum CipherArg {
    Aes256,
    Rc2_40,
    TripleDes,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        CertCommand::Inspect(a) => inspect(a),
        CertCommand::IssueTest(a) => issue(a),
    }
}

fn load(a: &InspectArgs) -> anyhow::Result<(Certificate, Vec<Certificate>)> {
    let bytes =
        std::fs::read(&a.file).with_context(|| format!("cannot read {}", a.file.display()))?;
    if let Ok(c) = Certificate::from_bytes(&bytes) {
        return Ok((c, Vec::new()));
    }
    let password = crate::sign::password_from_env(a.password_env.as_deref())?;
    let signer = invois_sign::Signer::from_pkcs12(&bytes, &password).with_context(|| {
        format!(
            "{} is neither a certificate nor a PKCS#12 file it could open",
            a.file.display()
        )
    })?;
    Ok((signer.certificate().clone(), signer.chain().to_vec()))
}

fn inspect(a: InspectArgs) -> anyhow::Result<ExitCode> {
    let (cert, chain) = load(&a)?;
    let i = cert.inspect();
    let exp = ProfileExpectation::new(a.tin.clone(), a.brn.clone(), Some(chrono::Utc::now()));
    let findings = cert.check_profile(&exp);
    if a.json {
        let v = serde_json::json!({
            "certificate": i,
            "chain": chain.iter().map(|c| c.inspect()).collect::<Vec<_>>(),
            "findings": findings,
        });
        outln!("{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        outln!("subject:            {}", i.subject)?;
        outln!(
            "TIN (OI 2.5.4.97):  {}",
            i.tin.as_deref().unwrap_or("(missing)")
        )?;
        outln!(
            "BRN (2.5.4.5):      {}",
            i.brn.as_deref().unwrap_or("(missing)")
        )?;
        outln!(
            "valid:              {} .. {}",
            i.not_before.to_rfc3339(),
            i.not_after.to_rfc3339()
        )?;
        outln!("key usage:          {}", i.key_usages.join(", "))?;
        outln!("extended key usage: {}", i.extended_key_usages.join(", "))?;
        outln!("public key:         {}", i.public_key)?;
        outln!("X509IssuerName:     {}", i.issuer)?;
        outln!("X509SerialNumber:   {}", i.serial_number)?;
        outln!("CertDigest:         {}", i.digest)?;
        for c in &chain {
            outln!("chain:              {}", c.inspect().subject)?;
        }
        if findings.is_empty() {
            outln!("profile:            ok (MyInvois ERP signing profile)")?;
        } else {
            for f in &findings {
                outln!(
                    "{} {}\n  what: {}\n  fix:  {}",
                    f.code,
                    f.error,
                    f.message,
                    f.fix
                )?;
            }
        }
    }
    Ok(ExitCode::from(if findings.is_empty() { 0 } else { 1 }))
}

fn issue(a: IssueArgs) -> anyhow::Result<ExitCode> {
    let mut req = TestCertRequest::new(a.tin.clone(), a.brn.clone());
    if let Some(n) = a.name {
        req.organization = n;
    }
    let issued = TestCa::well_known()?.issue(&req)?;
    let password = match &a.password_env {
        Some(_) => crate::sign::password_from_env(a.password_env.as_deref())?,
        None => Password::default(),
    };
    let cipher = match a.cipher {
        CipherArg::Aes256 => Pkcs12Cipher::Aes256,
        CipherArg::Rc2_40 => Pkcs12Cipher::Rc2_40,
        CipherArg::TripleDes => Pkcs12Cipher::TripleDes,
    };
    std::fs::create_dir_all(&a.out_dir)
        .with_context(|| format!("cannot create {}", a.out_dir.display()))?;
    let files = [
        ("ca.pem", issued.ca.to_pem().into_bytes()),
        ("cert.pem", issued.certificate.to_pem().into_bytes()),
        ("key.pem", issued.key.to_pem().into_bytes()),
        ("cert.p12", issued.to_pkcs12(&password, cipher)?),
    ];
    for (name, bytes) in files {
        let p = a.out_dir.join(name);
        std::fs::write(&p, bytes).with_context(|| format!("cannot write {}", p.display()))?;
        outln!("wrote {}", p.display())?;
    }
    let i = issued.certificate.inspect();
    outln!(
        "TIN {} BRN {}, valid until {}",
        a.tin,
        a.brn,
        i.not_after.to_rfc3339()
    )?;
    outln!("X509IssuerName: {}", i.issuer)?;
    outln!("test certificate: the invois sandbox trusts it; MyInvois does not (DS329)")?;
    Ok(ExitCode::SUCCESS)
}
