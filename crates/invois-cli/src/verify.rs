//! `invois verify FILE... [--explain] [--json]`: check signatures the way MyInvois does and
//! name the DS rule each one breaks. Exit 0 all valid, 1 some invalid, 2 unusable input.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use invois_sign::{Verification, VerifyOptions};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Signed documents (JSON or XML, detected).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Explain every check and finding: where it is, what is wrong, how to fix it.
    #[arg(long)]
    explain: bool,
    /// Print the result as JSON.
    #[arg(long, conflicts_with = "explain")]
    json: bool,
    /// Trusted CA certificates (PEM) for the chain check (DS329). Without --trust or
    /// --test-ca the chain is not checked.
    #[arg(long, value_name = "PEM")]
    trust: Vec<PathBuf>,
    /// Trust the invois test CA (what the invois sandbox trusts by default).
    #[arg(long)]
    test_ca: bool,
    /// Compare the certificate with this submitter TIN instead of the document issuer's
    /// (an intermediary signing for its clients).
    #[arg(long, value_name = "TIN", requires = "submitter_brn")]
    submitter_tin: Option<String>,
    /// The submitter's BRN, with --submitter-tin.
    #[arg(long, value_name = "BRN", requires = "submitter_tin")]
    submitter_brn: Option<String>,
    /// Skip the TIN/BRN comparison (DS311/DS312).
    #[arg(long, conflicts_with = "submitter_tin")]
    no_identity: bool,
}

fn options(args: &Args) -> anyhow::Result<VerifyOptions> {
    let mut opts = VerifyOptions::default();
    if args.test_ca || !args.trust.is_empty() {
        let mut store = if args.test_ca {
            invois_sign::TrustStore::test_ca()?
        } else {
            invois_sign::TrustStore::empty()
        };
        for p in &args.trust {
            let bytes = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
            store
                .add_pem(&bytes)
                .with_context(|| format!("cannot load {}", p.display()))?;
        }
        opts = opts.with_trust(store);
    }
    if let (Some(t), Some(b)) = (&args.submitter_tin, &args.submitter_brn) {
        opts = opts.with_submitter(t.clone(), b.clone());
    }
    if args.no_identity {
        opts = opts.without_identity_check();
    }
    Ok(opts)
}

fn short(file: &std::path::Path, v: &Verification) -> std::io::Result<()> {
    if v.is_valid() {
        outln!("{}: valid", file.display())?;
    } else {
        outln!("{}: INVALID ({})", file.display(), v.codes().join(", "))?;
        for f in &v.findings {
            outln!("  {} {}", f.code, f.message)?;
            outln!("    fix: {}", f.fix)?;
        }
    }
    // What could not be verified (an XML PropsDigest in no known form) is not a finding, but
    // the user must see it.
    for n in &v.notes {
        outln!("  note: {n}")?;
    }
    Ok(())
}

pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let opts = options(&args)?;
    let mut all_valid = true;
    let mut json_out = Vec::new();
    for file in &args.files {
        let bytes = crate::input::read_document(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let v = invois_sign::verify_with(&bytes, None, &opts);
        all_valid &= v.is_valid();
        if args.json {
            json_out.push(serde_json::json!({ "file": file, "valid": v.is_valid(), "result": v }));
        } else if args.explain {
            outln!("{}:", file.display())?;
            outln!("{}", v.explain())?;
        } else {
            short(file, &v)?;
        }
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&json_out)?)?;
    }
    Ok(ExitCode::from(if all_valid { 0 } else { 1 }))
}
