//! `invois new TYPE`: prints a filled, valid example document of that type, issued now.

use std::process::ExitCode;

use invois_model::{DocumentType, Format};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Type: 01-04, 11-14, or invoice, credit-note, debit-note, refund-note,
    /// self-billed-invoice, self-billed-credit-note, self-billed-debit-note,
    /// self-billed-refund-note.
    #[arg(value_name = "TYPE")]
    document_type: String,
    /// Version (1.0 or 1.2 validate as printed; 1.1 and 1.3 must then be signed).
    #[arg(long, default_value = "1.0")]
    version: String,
    /// Output format: json or xml.
    #[arg(long, default_value = "json")]
    format: Format,
}

fn parse_type(s: &str) -> anyhow::Result<DocumentType> {
    if let Ok(t) = s.parse::<DocumentType>() {
        return Ok(t);
    }
    let wanted = s.to_ascii_lowercase().replace(['_', ' '], "-");
    DocumentType::ALL
        .into_iter()
        .find(|t| t.description().to_ascii_lowercase().replace(' ', "-") == wanted)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "unknown document type `{s}` (01-04, 11-14, or a name such as credit-note)"
            )
        })
}

pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let t = parse_type(&args.document_type)?;
    let doc = invois_model::model::example(t, &args.version, chrono::Utc::now())?;
    let out = doc.to_string_as(args.format);
    if args.format == Format::Json {
        // Pretty for reading; `invois convert` or submission minifies.
        let v: serde_json::Value = serde_json::from_str(&out)?;
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("{out}");
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_by_code_or_name() {
        assert_eq!(parse_type("02").unwrap(), DocumentType::CreditNote);
        assert_eq!(
            parse_type("self-billed-refund-note").unwrap(),
            DocumentType::SelfBilledRefundNote
        );
        assert!(parse_type("05").is_err());
    }
}
