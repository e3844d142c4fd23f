//! `invois documents ...`: the ERP actions on documents, through a running gateway's API
//! (see [`crate::erp`]): send files to it, list, show, list a document's versions, retry a
//! failed one, correct with a new version, cancel a valid one, and build a credit, debit or
//! refund note from it. Each prints the gateway's JSON
//! answer; what a document allows is in its `next_steps`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use serde_json::json;

use crate::erp::{Conn, Request};

/// `invois documents`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    conn: Conn,
    #[command(subcommand)]
    command: DocumentsCommand,
}

#[derive(Debug, clap::Subcommand)]
enum DocumentsCommand {
    /// Hand documents to the running gateway, which submits each exactly once
    /// (POST /v1/documents, one request per file). Prints one answer per file; exit 1 when
    /// one was refused. (`invois submit` runs the pipeline in this process instead.)
    Send {
        /// Documents: UBL JSON or XML, or invois's own document JSON.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// List documents, newest last (GET /v1/documents).
    List {
        /// Only in this state (received, prepared, rejected_locally, batched, submitted,
        /// valid, invalid, cancelled, failed).
        #[arg(long)]
        state: Option<String>,
        /// Only this supplier's.
        #[arg(long)]
        issuer_tin: Option<String>,
        /// Ids after this one (the previous page's `next`).
        #[arg(long)]
        after: Option<i64>,
        /// Page size (1 to 1000).
        #[arg(long)]
        limit: Option<u32>,
    },
    /// One document version with its status events, errors and next steps
    /// (GET /v1/documents/{id}).
    Show {
        /// The document version's id.
        id: i64,
    },
    /// Every version of the document's key, oldest first
    /// (GET /v1/documents/{issuer_tin}/{type}/{internal_id}/versions).
    Versions {
        /// The id of any of its versions.
        id: i64,
    },
    /// Send a failed or locally rejected document again (POST /v1/documents/{id}/retry).
    Retry {
        /// The document version's id.
        id: i64,
    },
    /// Store a corrected version of an invalid or locally rejected document
    /// (POST /v1/documents/{issuer_tin}/{type}/{internal_id}/versions).
    Correct {
        /// The stored document's id (its issuer, type and internal id are looked up).
        id: i64,
        /// The corrected document (UBL JSON or XML, or invois's own JSON).
        file: PathBuf,
    },
    /// Cancel a valid document at MyInvois, within 72 hours of validation
    /// (POST /v1/documents/{id}/cancel).
    Cancel {
        /// The document version's id.
        id: i64,
        /// Why (1 to 300 characters; the buyer sees it).
        #[arg(long)]
        reason: String,
    },
    /// Build a credit, debit or refund note from a valid invoice and send it
    /// (POST /v1/documents/{id}/notes).
    Note {
        /// The valid original's id.
        id: i64,
        /// credit, debit or refund.
        #[arg(long, value_parser = ["credit", "debit", "refund"])]
        kind: String,
        /// The note's own number (its idempotency key).
        #[arg(long)]
        internal_id: String,
        /// A line of the original the note covers, `INDEX[:QUANTITY[:UNIT_PRICE]]` (0-based;
        /// the original's quantity and price when left out). Repeat for several; every line
        /// when none is given.
        #[arg(long = "line", value_name = "INDEX[:QTY[:PRICE]]")]
        lines: Vec<String>,
    },
}

/// `INDEX[:QUANTITY[:UNIT_PRICE]]` as a note request's line.
fn note_line(text: &str) -> anyhow::Result<serde_json::Value> {
    let mut parts = text.split(':');
    let index: usize = parts
        .next()
        .unwrap_or_default()
        .trim()
        .parse()
        .with_context(|| format!("--line {text}: the index is a line's 0-based position"))?;
    let mut line = json!({"index": index});
    for name in ["quantity", "unit_price"] {
        if let Some(v) = parts.next().filter(|v| !v.trim().is_empty()) {
            line[name] = json!(v.trim());
        }
    }
    anyhow::ensure!(
        parts.next().is_none(),
        "--line {text}: write INDEX[:QUANTITY[:UNIT_PRICE]]"
    );
    Ok(line)
}

pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let conn = args.conn;
    let request = match args.command {
        DocumentsCommand::List {
            state,
            issuer_tin,
            after,
            limit,
        } => Request::get(&["v1", "documents"])
            .query("state", state)
            .query("issuer_tin", issuer_tin)
            .query("after", after)
            .query("limit", limit),
        DocumentsCommand::Show { id } => Request::get(&["v1", "documents", &id.to_string()]),
        DocumentsCommand::Send { files } => return send(&conn, &files).await,
        DocumentsCommand::Versions { id } => {
            let Some(segments) = key_of(&conn, id).await? else {
                return conn
                    .run(Request::get(&["v1", "documents", &id.to_string()]))
                    .await;
            };
            Request::get(&segments)
        }
        DocumentsCommand::Retry { id } => {
            Request::post(&["v1", "documents", &id.to_string(), "retry"])
        }
        DocumentsCommand::Correct { id, file } => return correct(&conn, id, &file).await,
        DocumentsCommand::Cancel { id, reason } => {
            Request::post(&["v1", "documents", &id.to_string(), "cancel"])
                .json(json!({"reason": reason}))
        }
        DocumentsCommand::Note {
            id,
            kind,
            internal_id,
            lines,
        } => {
            let lines = lines
                .iter()
                .map(|l| note_line(l))
                .collect::<anyhow::Result<Vec<_>>>()?;
            Request::post(&["v1", "documents", &id.to_string(), "notes"]).json(json!({
                "kind": format!("{kind}_note"),
                "internal_id": internal_id,
                "lines": lines,
            }))
        }
    };
    conn.run(request).await
}

/// The `versions` path of stored document `id`'s key; `None` when the gateway does not
/// answer it (the caller shows that answer).
async fn key_of(conn: &Conn, id: i64) -> anyhow::Result<Option<Vec<String>>> {
    let stored = conn
        .send(Request::get(&["v1", "documents", &id.to_string()]))
        .await?;
    if !stored.status.is_success() {
        return Ok(None);
    }
    let key = |name: &str| stored.body[name].as_str().unwrap_or_default().to_owned();
    Ok(Some(vec![
        "v1".to_owned(),
        "documents".to_owned(),
        key("issuer_tin"),
        key("type_code"),
        key("internal_id"),
        "versions".to_owned(),
    ]))
}

/// A document file's text and the content type to send it with.
fn document_file(file: &std::path::Path) -> anyhow::Result<(String, &'static str)> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let text = String::from_utf8(bytes)
        .with_context(|| format!("{} is not UTF-8 text", file.display()))?;
    let content_type = if text.trim_start().starts_with('<') {
        "application/xml"
    } else {
        "application/json"
    };
    Ok((text, content_type))
}

/// Looks the stored document up, then posts the file as its new version.
async fn correct(conn: &Conn, id: i64, file: &std::path::Path) -> anyhow::Result<ExitCode> {
    let (text, content_type) = document_file(file)?;
    let Some(segments) = key_of(conn, id).await? else {
        return conn
            .run(Request::get(&["v1", "documents", &id.to_string()]))
            .await;
    };
    conn.run(Request::post(&segments).raw(text, content_type))
        .await
}

/// `send`: each file posted on its own, its answer printed as `{"file", "status", "answer"}`
/// lines of one JSON array.
async fn send(conn: &Conn, files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let mut out = Vec::with_capacity(files.len());
    let mut refused = false;
    for file in files {
        let (text, content_type) = document_file(file)?;
        let answer = conn
            .send(Request::post(&["v1", "documents"]).raw(text, content_type))
            .await?;
        if answer.status.is_server_error() {
            return crate::erp::finish(&answer);
        }
        refused |= !answer.status.is_success();
        out.push(json!({
            "file": file.display().to_string(),
            "status": answer.status.as_u16(),
            "answer": answer.body,
        }));
    }
    outln!("{}", serde_json::to_string_pretty(&out)?)?;
    Ok(ExitCode::from(u8::from(refused)))
}
