//! `invois render FILE|ID --pdf|--html [-o OUT]`: the buyer's copy of a validated document,
//! with the QR code of its validation link (`invois_render`).
//!
//! FILE is the document as submitted (UBL JSON or XML) plus what MyInvois gave it
//! (`--uuid`, `--long-id`, `--validated-at`; the link is built on `--portal`). ID is a document
//! in the gateway's database (`--database`, as `invois gateway` and `invois submit` use),
//! which holds all of that; the same documents are refused as by the gateway's
//! `GET /v1/documents/{id}/pdf`.

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use invois_api::ids::{PRODUCTION_PORTAL, validation_link};
use invois_client::Clock;
use invois_gateway::buyers_copy;
use invois_gateway::store::{self, DEFAULT_DATABASE_URL, DocumentId, StoreError};
use invois_model::Document;
use invois_render::{Status, ValidatedDocument};

/// `invois render`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("kind").required(true).args(["pdf", "html"])))]
pub(crate) struct Args {
    /// A document file (UBL JSON or XML, as submitted), or the id of a document in the
    /// gateway's database.
    #[arg(value_name = "FILE|ID")]
    document: String,
    /// An A4 PDF, as many pages as the lines need.
    #[arg(long)]
    pdf: bool,
    /// One self-contained HTML page (A4 when printed).
    #[arg(long)]
    html: bool,
    /// Write here instead of standard output.
    #[arg(short, long, value_name = "OUT")]
    output: Option<PathBuf>,
    /// ID: the gateway's database (`sqlite://PATH` or `postgres://...`).
    #[arg(long, env = "INVOIS_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    database: String,
    /// FILE: the unique identifier number (uuid) MyInvois gave the document.
    #[arg(long)]
    uuid: Option<String>,
    /// FILE: its longId (Get Submission or Get Document gives it once valid).
    #[arg(long)]
    long_id: Option<String>,
    /// FILE: when MyInvois validated it, RFC 3339 (its dateTimeValidated).
    #[arg(long, value_name = "TIME")]
    validated_at: Option<String>,
    /// FILE: the MyInvois portal of its validation link (LHDN's pre-production portal for
    /// sandbox documents).
    #[arg(long, env = "INVOIS_PORTAL_BASE", default_value = PRODUCTION_PORTAL)]
    portal: String,
    /// FILE: the document was cancelled after validation; the copy says so.
    #[arg(long)]
    cancelled: bool,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (stem, copy) = if Path::new(&args.document).exists() {
        from_file(&args)?
    } else if let Some(id) = args.document.parse::<i64>().ok().filter(|id| *id > 0) {
        from_store(&args.database, DocumentId(id)).await?
    } else {
        bail!(
            "{}: no such file, and not a document id (a positive number)",
            args.document
        );
    };
    let (bytes, extension) = if args.pdf {
        (invois_render::pdf(&copy)?, "pdf")
    } else {
        (invois_render::html(&copy)?.into_bytes(), "html")
    };
    match &args.output {
        Some(path) => {
            std::fs::write(path, &bytes).with_context(|| format!("writing {}", path.display()))?
        }
        None if args.pdf && std::io::stdout().is_terminal() => bail!(
            "a PDF is not written to a terminal: give -o {stem}.{extension}, or redirect \
             standard output"
        ),
        None => std::io::stdout().write_all(&bytes)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// A document file and what MyInvois gave it, from the flags.
fn from_file(args: &Args) -> anyhow::Result<(String, ValidatedDocument)> {
    let path = Path::new(&args.document);
    let (Some(uuid), Some(long_id), Some(at)) = (&args.uuid, &args.long_id, &args.validated_at)
    else {
        bail!(
            "a document file needs --uuid, --long-id and --validated-at: what MyInvois gave it \
             when it validated it (Get Submission or Get Document); or give the id of a \
             document in the gateway's database"
        );
    };
    let validated_at = invois_client::api::datetime::parse(at)
        .with_context(|| format!("--validated-at `{at}` is not an RFC 3339 date-time"))?;
    let bytes =
        crate::input::read_document(path).with_context(|| format!("reading {}", path.display()))?;
    let document =
        Document::parse(&bytes).with_context(|| format!("parsing {}", path.display()))?;
    let stem = path
        .file_stem()
        .map_or_else(|| "copy".to_owned(), |s| s.to_string_lossy().into_owned());
    let copy = ValidatedDocument {
        document,
        uuid: uuid.trim().to_owned(),
        long_id: long_id.trim().to_owned(),
        validated_at,
        validation_link: validation_link(&args.portal, uuid.trim(), long_id.trim()),
        status: if args.cancelled {
            Status::Cancelled
        } else {
            Status::Valid
        },
    };
    Ok((stem, copy))
}

/// A stored document, as the gateway would render it.
async fn from_store(database: &str, id: DocumentId) -> anyhow::Result<(String, ValidatedDocument)> {
    let store = store::open(database, Clock::real())
        .await
        .with_context(|| format!("opening the database {}", store::redact_url(database)))?;
    let doc = match store.documents().get(id).await {
        Ok(doc) => doc,
        Err(StoreError::NotFound(_)) => {
            bail!("no document {id} in {}", store::redact_url(database))
        }
        Err(e) => return Err(e.into()),
    };
    let copy = buyers_copy::stored_copy(&doc)?;
    Ok((buyers_copy::file_stem(&doc), copy))
}
