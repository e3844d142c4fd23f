//! `invois convert FILE --to json|xml`: MyInvois JSON <-> UBL XML, minified, every value kept.
//! Unknown elements are kept and listed on stderr. A JSON key written twice in one object
//! (`S008`) is refused: converting would silently settle which occurrence counts. invois's
//! own simple JSON is accepted as input too (and becomes full UBL with computed totals).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use invois_model::{Category, Document, Format, ValidationContext, validate};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The document (UBL JSON, UBL XML or invois simple JSON, detected).
    file: PathBuf,
    /// Target format: json or xml.
    #[arg(long, value_name = "FORMAT")]
    to: Format,
    /// Write here instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// UBL JSON or XML, or invois's own simple JSON (a JSON object without the UBL `_D` key).
pub(crate) fn parse_any(bytes: &[u8]) -> anyhow::Result<Document> {
    if invois_model::simple::looks_like_simple(bytes) {
        Ok(invois_model::simple::parse(bytes).context("invois simple JSON")?)
    } else {
        Ok(Document::parse(bytes)?)
    }
}

pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let bytes = crate::input::read_document(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let doc = parse_any(&bytes).with_context(|| format!("parsing {}", args.file.display()))?;
    // JSON readers disagree on a repeated key (first, last, or both), so the output would be
    // one reading passed off as the document: unusable input (exit 2), like a parse error.
    let repeated = doc.duplicate_keys();
    if !repeated.is_empty() {
        let list: Vec<String> = repeated
            .iter()
            .map(|f| format!("  {} {}", f.code, f.rule))
            .collect();
        anyhow::bail!(
            "{}: a JSON key is written twice in one object; nothing was converted (remove or \
             rename the repeat):\n{}",
            args.file.display(),
            list.join("\n")
        );
    }
    let unknown = validate(&doc, &ValidationContext::at(chrono::Utc::now()));
    for f in unknown
        .in_category(Category::Structure)
        .filter(|f| f.code == "S001")
    {
        eprintln!("warning: kept unknown element at {} ({})", f.xpath, f.rule);
    }
    let out = doc.to_string_as(args.to);
    match &args.output {
        Some(path) => {
            std::fs::write(path, out).with_context(|| format!("writing {}", path.display()))?
        }
        None => outln!("{out}")?,
    }
    Ok(ExitCode::SUCCESS)
}
