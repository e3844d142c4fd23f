//! `invois new TYPE`: prints a filled, valid example document of that type, issued now.
//!
//! Each run gets a fresh internal id unless `--id` names one: the gateway keys documents by
//! issuer TIN + type + internal id, so two quick-start runs with a fixed id would collide
//! (the second answered as a conflict). A note names its original with `--original-id` (and
//! `--original-uuid`, when known; otherwise the gateway fills it from the original it holds).

use std::hash::{BuildHasher as _, Hasher as _};
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use invois_model::model::ExampleIds;
use invois_model::{DocumentType, Format};

/// MyInvois' limit on the internal id (`cbc:ID`).
const MAX_ID_CHARS: usize = 50;

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
    /// The internal id (`cbc:ID`, at most 50 characters). Default: unique per run, as
    /// `01-20260301-080000123-K7QX` (type, UTC date and time to the millisecond, random).
    #[arg(long, value_name = "ID")]
    id: Option<String>,
    /// For a note (02-04, 12-14): the internal id of the original it corrects, such as the
    /// id printed by the `invois new` that made the invoice.
    #[arg(long, value_name = "ID")]
    original_id: Option<String>,
    /// For a note: the original's LHDN uuid. Without it, `--original-id` leaves the uuid
    /// empty and the gateway fills it from its valid original with that id.
    #[arg(long, value_name = "UUID")]
    original_uuid: Option<String>,
}

/// A fresh internal id: type code, the UTC instant to the millisecond, and four random
/// characters (two runs in the same millisecond still differ). 26 characters.
fn unique_id(t: DocumentType, now: DateTime<Utc>) -> String {
    // Crockford's base32: no I, L, O or U, so the id reads back unambiguously.
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    // std's hasher keys are random per process and per instance: enough entropy for an
    // example id without a dependency on `rand`.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.write_i64(now.timestamp_nanos_opt().unwrap_or_default());
    let mut bits = hasher.finish();
    let random: String = (0..4)
        .map(|_| {
            let c = char::from(ALPHABET[(bits & 31) as usize]);
            bits >>= 5;
            c
        })
        .collect();
    format!("{}-{}-{random}", t.code(), now.format("%Y%m%d-%H%M%S%3f"))
}

/// Checks the ids and fills the default id.
fn example_ids(t: DocumentType, args: &Args, now: DateTime<Utc>) -> anyhow::Result<ExampleIds> {
    let id = match &args.id {
        Some(id) => {
            let id = id.trim();
            anyhow::ensure!(!id.is_empty(), "--id is empty");
            let chars = id.chars().count();
            anyhow::ensure!(
                chars <= MAX_ID_CHARS,
                "--id is {chars} characters; MyInvois accepts at most {MAX_ID_CHARS}"
            );
            id.to_owned()
        }
        None => unique_id(t, now),
    };
    if !t.is_note() && (args.original_id.is_some() || args.original_uuid.is_some()) {
        anyhow::bail!(
            "--original-id and --original-uuid are for credit, debit and refund notes              (02-04, 12-14); a {} has no original",
            t.description().to_ascii_lowercase()
        );
    }
    let original_id = args.original_id.as_deref().map(str::trim);
    if original_id.is_some_and(str::is_empty) {
        anyhow::bail!("--original-id is empty");
    }
    let original_uuid = args.original_uuid.as_deref().map(str::trim);
    if let Some(uuid) = original_uuid {
        anyhow::ensure!(
            uuid.len() == 26
                && uuid
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()),
            "--original-uuid `{uuid}` is not an LHDN uuid (26 upper-case letters and digits)"
        );
    }
    Ok(ExampleIds {
        id: Some(id),
        original_id: original_id.map(str::to_owned),
        original_uuid: original_uuid.map(str::to_owned),
    })
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
    let out = render(t, &args, Utc::now())?;
    if args.format == Format::Json {
        // Pretty for reading; `invois convert` or submission minifies.
        let v: serde_json::Value = serde_json::from_str(&out)?;
        outln!("{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        outln!("{out}")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The example document as text in the chosen format.
fn render(t: DocumentType, args: &Args, now: DateTime<Utc>) -> anyhow::Result<String> {
    let ids = example_ids(t, args, now)?;
    let doc = invois_model::model::example_with(t, &args.version, now, &ids)?;
    Ok(doc.to_string_as(args.format))
}

#[cfg(test)]
mod tests {
    use super::*;
    use invois_model::Document;

    fn args(extra: &[&str]) -> Args {
        use clap::Parser as _;
        #[derive(Debug, clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: Args,
        }
        let mut argv = vec!["new"];
        argv.extend_from_slice(extra);
        Cli::parse_from(argv).args
    }

    fn made(extra: &[&str]) -> Document {
        let a = args(extra);
        let t = parse_type(&a.document_type).unwrap();
        Document::parse(render(t, &a, Utc::now()).unwrap().as_bytes()).unwrap()
    }

    #[test]
    fn two_runs_get_different_ids_within_the_limit() {
        let first = made(&["01"]);
        let second = made(&["01"]);
        let (a, b) = (first.id().unwrap(), second.id().unwrap());
        assert_ne!(a, b);
        assert!(a.starts_with("01-") && a.len() <= MAX_ID_CHARS, "{a}");
        // Even at the very same instant.
        let now = Utc::now();
        assert_ne!(
            unique_id(DocumentType::Invoice, now),
            unique_id(DocumentType::Invoice, now)
        );
    }

    #[test]
    fn id_flag_is_used_as_given() {
        assert_eq!(made(&["01", "--id", "INV-42"]).id(), Some("INV-42"));
        let a = args(&["01", "--id", &"X".repeat(51)]);
        assert!(render(DocumentType::Invoice, &a, Utc::now()).is_err());
    }

    #[test]
    fn a_note_references_the_original_named() {
        let note = made(&["credit-note", "--format", "xml", "--original-id", "INV-42"]);
        let refs = note.billing_references();
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].id.as_deref(), Some("INV-42"));
        // Unknown until MyInvois validated the original: left for the gateway to fill.
        assert!(refs[0].uuid.as_deref().unwrap_or("").is_empty(), "{refs:?}");
        let uuid = "F9D425P6DS7D8IU8ENCQEA5AQ2";
        let note = made(&["12", "--original-id", "SB-1", "--original-uuid", uuid]);
        let refs = note.billing_references();
        assert_eq!(refs[0].id.as_deref(), Some("SB-1"));
        assert_eq!(refs[0].uuid.as_deref(), Some(uuid));
        // An invoice has no original.
        let a = args(&["01", "--original-id", "INV-42"]);
        assert!(render(DocumentType::Invoice, &a, Utc::now()).is_err());
    }

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
