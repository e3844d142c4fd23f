//! `invois submit FILE...`: the gateway's pipeline run in this process on the given files,
//! until each of their documents is final (or Ctrl-C), then one line per file.
//!
//! The files are stored in the same database as `invois gateway` uses (by default
//! `./invois.db`), through the same intake, so running the command twice never submits a
//! document twice: the second run finds them stored and reports their results. Ctrl-C stops
//! after the current step; every state is durable, and running the same command again
//! continues where it stopped.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use invois_gateway::intake::{Intake, IntakeError, Parsed};
use invois_gateway::pipeline::{Pipeline, Shutdown};
use invois_gateway::store::{
    DocumentFilter, DocumentFormat, DocumentId, DocumentRecord, DocumentState, Store,
};
use serde_json::{Value, json};

use crate::gateway::Setup;

/// How many errors a line shows (`--json` has them all).
const ERRORS_SHOWN: usize = 3;

/// `invois submit`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Documents: MyInvois UBL JSON or XML, or invois's own document JSON (detected).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Print a JSON array (one object per file) instead of lines.
    #[arg(long)]
    json: bool,
    /// Store a file whose content changed since it was stored as a corrected new version
    /// (allowed when the stored document is invalid or was rejected locally).
    #[arg(long)]
    correct: bool,
    #[command(flatten)]
    setup: Setup,
}

/// One error, as shown: the field it is about (JSON path, XPath, or a position), what is
/// wrong, and the rule's code when there is one.
#[derive(Debug, Clone, PartialEq)]
struct ErrorLine {
    field: Option<String>,
    message: String,
    code: Option<String>,
}

impl ErrorLine {
    fn to_json(&self) -> Value {
        json!({ "field": self.field, "message": self.message, "code": self.code })
    }
}

impl std::fmt::Display for ErrorLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(code) = &self.code {
            write!(f, " [{code}]")?;
        }
        Ok(())
    }
}

/// What became of one file.
enum Entry {
    /// Not stored: unreadable, not a document, or a conflict with what is stored.
    NotStored(Vec<ErrorLine>),
    /// Stored as this document (`created`: by this run).
    Stored { id: DocumentId, created: bool },
}

pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let built = args.setup.build().await?;
    let store = built.store.clone();
    refuse_other_clients_work(store.as_ref(), built.clients.client_id()).await?;
    let intake = Intake::new(store.clone(), &built.clients);
    let mut entries = Vec::with_capacity(args.files.len());
    for file in &args.files {
        let entry = store_file(&intake, file, args.correct).await?;
        entries.push((file.clone(), entry));
    }
    let mut ours: BTreeMap<DocumentId, DocumentRecord> = BTreeMap::new();
    for (_, entry) in &entries {
        if let Entry::Stored { id, .. } = entry {
            ours.insert(*id, store.documents().get(*id).await?);
        }
    }
    // The built-in sandbox lives only as long as this process, so what an earlier run's
    // sandbox accepted can never be validated now: report it rather than wait forever.
    let orphaned: Vec<DocumentId> = if built.sandbox.is_some() {
        ours.values()
            .filter(|d| d.state == DocumentState::Submitted)
            .map(|d| d.id)
            .collect()
    } else {
        Vec::new()
    };
    let settled = |docs: &BTreeMap<DocumentId, DocumentRecord>| {
        docs.values()
            .all(|d| d.state.is_final() || orphaned.contains(&d.id))
    };

    let mut interrupted = false;
    if !settled(&ours) {
        let pipeline = Pipeline::new(
            store.clone(),
            built.clients.clone(),
            built.signer.clone(),
            built.config.clone(),
        );
        let clock = pipeline.clock().clone();
        let (trigger, shutdown) = Shutdown::new();
        let worker = tokio::spawn({
            let pipeline = pipeline.clone();
            async move { pipeline.run(shutdown).await }
        });
        let bar = progress_bar(ours.len());
        let signal = crate::sandbox::shutdown_signal();
        tokio::pin!(signal);
        loop {
            for doc in ours.values_mut() {
                if !doc.state.is_final() {
                    *doc = store.documents().get(doc.id).await?;
                }
            }
            show_progress(&bar, &ours);
            if settled(&ours) {
                break;
            }
            tokio::select! {
                () = clock.sleep(Duration::from_millis(250)) => {}
                () = &mut signal => {
                    interrupted = true;
                    break;
                }
            }
        }
        bar.finish_and_clear();
        if interrupted {
            eprintln!(
                "interrupted: stopping after the current step; run the same command again to \
                 continue"
            );
        }
        trigger.trigger();
        // Every step is a durable transition; a step cut short is recovered next time.
        let _ = tokio::time::timeout(Duration::from_secs(10), worker).await;
        // Report where each document stands now, after the last step.
        for doc in ours.values_mut() {
            *doc = store.documents().get(doc.id).await?;
        }
    }
    if let Some(sandbox) = built.sandbox {
        sandbox.shutdown().await;
    }

    let results: Vec<Value> = entries
        .iter()
        .map(|(file, entry)| result_json(file, entry, &ours, &orphaned))
        .collect();
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&results)?)?;
    } else {
        for r in &results {
            outln!("{}", line(r))?;
        }
    }
    let pending = results.iter().any(|r| r["final"] == false);
    let all_valid = results.iter().all(|r| r["state"] == "valid");
    Ok(ExitCode::from(if pending {
        2
    } else if all_valid {
        0
    } else {
        1
    }))
}

/// The pipeline submits every stored document with this run's credentials. Documents stored
/// under another client id (another taxpayer, or real credentials while this run uses the
/// built-in sandbox) must not be sent with them, so such unfinished work stops the run.
pub(crate) async fn refuse_other_clients_work(
    store: &Store,
    client_id: &str,
) -> anyhow::Result<()> {
    for state in [
        DocumentState::Received,
        DocumentState::Prepared,
        DocumentState::Batched,
        DocumentState::Submitted,
    ] {
        let mut filter = DocumentFilter {
            state: Some(state),
            limit: 1000,
            ..DocumentFilter::default()
        };
        loop {
            let page = store.documents().list(&filter).await?;
            if let Some(other) = page.items.iter().find(|d| d.client_id != client_id) {
                bail!(
                    "the database holds unfinished documents of client id {} (document {}, \
                     {}), but this run submits as {client_id}; finish them with the same \
                     credentials (`invois gateway`), or use another --database",
                    other.client_id,
                    other.id,
                    other.state
                );
            }
            match page.next {
                Some(next) => filter.after = Some(next),
                None => break,
            }
        }
    }
    Ok(())
}

/// Reads, parses and stores one file. Only a store failure is an error; anything wrong with
/// the file is its entry.
async fn store_file(
    intake: &Intake,
    file: &std::path::Path,
    correct: bool,
) -> anyhow::Result<Entry> {
    let bytes = match crate::input::read_document(file) {
        Ok(b) => b,
        Err(e) => {
            return Ok(Entry::NotStored(vec![ErrorLine {
                field: None,
                message: format!("cannot read the file: {e}"),
                code: None,
            }]));
        }
    };
    let parsed = match intake.parse(&bytes, None) {
        Ok(p) => p,
        Err(e) => return Ok(Entry::NotStored(vec![intake_error(&e)])),
    };
    match intake.store_parsed(parsed.clone()).await {
        Ok(inserted) => Ok(Entry::Stored {
            id: inserted.document.id,
            created: inserted.created,
        }),
        Err(IntakeError::Conflict(message)) => conflict(intake, &parsed, &bytes, correct, message)
            .await
            .map_err(Into::into),
        Err(IntakeError::Store(e)) => Err(e.into()),
        Err(e) => Ok(Entry::NotStored(vec![intake_error(&e)])),
    }
}

/// The file's key is stored with other content: a later version with this very content is
/// an idempotent repeat of a correction; otherwise it is a correction (with `--correct`) or
/// a conflict.
async fn conflict(
    intake: &Intake,
    parsed: &Parsed,
    bytes: &[u8],
    correct: bool,
    message: String,
) -> Result<Entry, IntakeError> {
    let latest = intake
        .store()
        .documents()
        .find(&parsed.key)
        .await
        .map_err(IntakeError::Store)?;
    if let Some(latest) = latest
        && latest.received == parsed.bytes
    {
        return Ok(Entry::Stored {
            id: latest.id,
            created: false,
        });
    }
    if !correct {
        return Ok(Entry::NotStored(vec![ErrorLine {
            field: None,
            message: format!(
                "{message}; to send this content as a corrected new version of an invalid or \
                 locally rejected document, pass --correct"
            ),
            code: None,
        }]));
    }
    match intake.correct(&parsed.key, bytes, None).await {
        Ok(inserted) => Ok(Entry::Stored {
            id: inserted.document.id,
            created: inserted.created,
        }),
        Err(IntakeError::Store(e)) => Err(IntakeError::Store(e)),
        Err(e) => Ok(Entry::NotStored(vec![intake_error(&e)])),
    }
}

fn intake_error(e: &IntakeError) -> ErrorLine {
    let field = e.field();
    let message = match e {
        // These messages start with their path; it is shown as the field already.
        IntakeError::Shape { message, .. } | IntakeError::OwnJson { message, .. }
            if field.is_some() =>
        {
            message.clone()
        }
        // The position is the field; the message need not repeat it.
        IntakeError::Json { message, .. } => format!("the document is not valid JSON: {message}"),
        IntakeError::Xml { message, .. } => {
            format!("the document is not well-formed XML: {message}")
        }
        other => other.to_string(),
    };
    ErrorLine {
        field,
        message,
        code: None,
    }
}

fn progress_bar(len: usize) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(len as u64),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} final  {msg}",
    ) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn show_progress(bar: &indicatif::ProgressBar, docs: &BTreeMap<DocumentId, DocumentRecord>) {
    let count = |f: &dyn Fn(DocumentState) -> bool| docs.values().filter(|d| f(d.state)).count();
    let received = count(&|s| s == DocumentState::Received);
    let prepared = count(&|s| matches!(s, DocumentState::Prepared | DocumentState::Batched));
    let submitted = count(&|s| s == DocumentState::Submitted);
    let done = count(&|s| s.is_final());
    bar.set_position(done as u64);
    bar.set_message(format!(
        "received {received} · prepared {prepared} · submitted {submitted} · final {done}"
    ));
}

/// One file's result as JSON (also the source of its line).
fn result_json(
    file: &std::path::Path,
    entry: &Entry,
    docs: &BTreeMap<DocumentId, DocumentRecord>,
    orphaned: &[DocumentId],
) -> Value {
    let file = file.display().to_string();
    let (id, created) = match entry {
        Entry::NotStored(errors) => {
            return json!({
                "file": file,
                "state": "not_stored",
                "final": true,
                "errors": errors.iter().map(ErrorLine::to_json).collect::<Vec<_>>(),
            });
        }
        Entry::Stored { id, created } => (*id, *created),
    };
    let Some(d) = docs.get(&id) else {
        // Unreachable: every stored entry was read back.
        return json!({ "file": file, "documentId": id.0, "state": "unknown", "final": false });
    };
    let mut errors = document_errors(d);
    let orphan = orphaned.contains(&id);
    if orphan {
        errors.push(ErrorLine {
            field: None,
            message: "accepted by the built-in sandbox of an earlier run, which is gone, so its \
                      validation can never be learnt; submit it with real credentials or \
                      another --database"
                .to_owned(),
            code: None,
        });
    }
    json!({
        "file": file,
        "documentId": d.id.0,
        "issuerTin": d.issuer_tin,
        "typeCode": d.type_code,
        "internalId": d.internal_id,
        "version": d.version,
        "storedNow": created,
        "state": d.state.as_str(),
        "final": d.state.is_final() || orphan,
        "uuid": d.uuid,
        "longId": d.long_id,
        "validationLink": d.validation_link,
        "errors": errors.iter().map(ErrorLine::to_json).collect::<Vec<_>>(),
    })
}

/// `FILE: STATE INTERNAL-ID (document N) uuid UUID LINK` or `... — FIELD: ERROR [CODE]; ...`.
fn line(r: &Value) -> String {
    let s = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
    let mut out = format!("{}: {}", s("file"), s("state"));
    if let Some(id) = r["documentId"].as_i64() {
        out.push_str(&format!(" {} (document {id}", s("internalId")));
        if r["version"].as_i64().is_some_and(|v| v > 1) {
            out.push_str(&format!(", version {}", r["version"]));
        }
        out.push(')');
    }
    if let Some(uuid) = r["uuid"].as_str() {
        out.push_str(&format!(" uuid {uuid}"));
    }
    if let Some(link) = r["validationLink"].as_str() {
        out.push_str(&format!(" {link}"));
    }
    let errors: Vec<String> = r["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    let line = ErrorLine {
                        field: e["field"].as_str().map(str::to_owned),
                        message: e["message"].as_str().unwrap_or_default().to_owned(),
                        code: e["code"].as_str().map(str::to_owned),
                    };
                    line.to_string()
                })
                .collect()
        })
        .unwrap_or_default();
    if !errors.is_empty() {
        out.push_str(" — ");
        out.push_str(&errors[..errors.len().min(ERRORS_SHOWN)].join("; "));
        if errors.len() > ERRORS_SHOWN {
            out.push_str(&format!(
                "; and {} more (--json lists them all)",
                errors.len() - ERRORS_SHOWN
            ));
        }
    }
    if r["final"] == false {
        out.push_str(" — not final yet: run the same command again to continue");
    }
    out
}

/// The errors stored with a document, flattened to fields and messages: local validation
/// findings, a rejection at submission, MyInvois' validation steps, or a refusal.
fn document_errors(d: &DocumentRecord) -> Vec<ErrorLine> {
    let mut out = Vec::new();
    if let Some(errors) = &d.errors {
        let path_key = match d.format {
            DocumentFormat::Xml => "xpath",
            DocumentFormat::Json => "jsonPath",
        };
        for f in errors["findings"].as_array().into_iter().flatten() {
            out.push(ErrorLine {
                field: f[path_key]
                    .as_str()
                    .or(f["jsonPath"].as_str())
                    .map(str::to_owned),
                message: f["rule"].as_str().unwrap_or_default().to_owned(),
                code: f["code"].as_str().map(str::to_owned),
            });
        }
        for step in errors["validationSteps"].as_array().into_iter().flatten() {
            let name = step["name"].as_str().unwrap_or("validation step");
            step_errors(name, &step["error"], &mut out);
        }
        if errors["submission"].is_object() {
            api_errors(&errors["submission"], &mut out);
        }
        if out.is_empty()
            && let Some(message) = errors["error"].as_str()
        {
            out.push(ErrorLine {
                field: None,
                message: message.to_owned(),
                code: None,
            });
        }
    }
    if out.is_empty()
        && matches!(d.state, DocumentState::Failed)
        && let Some(e) = &d.last_error
    {
        out.push(ErrorLine {
            field: None,
            message: e.clone(),
            code: None,
        });
    }
    out
}

/// A validation step's error and its inner errors (the innermost carry the field paths).
fn step_errors(step: &str, e: &Value, out: &mut Vec<ErrorLine>) {
    if !e.is_object() {
        return;
    }
    let inner = e["innerError"].as_array().filter(|a| !a.is_empty());
    match inner {
        Some(inner) => {
            for i in inner {
                step_errors(step, i, out);
            }
        }
        None => out.push(ErrorLine {
            field: e["propertyPath"]
                .as_str()
                .or(e["propertyName"].as_str())
                .map(str::to_owned),
            message: format!(
                "{} ({step})",
                e["error"]
                    .as_str()
                    .unwrap_or("invalid")
                    .trim_end_matches('.')
            ),
            code: e["errorCode"].as_str().map(str::to_owned),
        }),
    }
}

/// A submission rejection and its details.
fn api_errors(e: &Value, out: &mut Vec<ErrorLine>) {
    match e["details"].as_array().filter(|a| !a.is_empty()) {
        Some(details) => {
            for d in details {
                api_errors(d, out);
            }
        }
        None => out.push(ErrorLine {
            field: e["propertyPath"]
                .as_str()
                .or(e["target"].as_str())
                .map(str::to_owned),
            message: e["message"]
                .as_str()
                .unwrap_or("rejected at submission")
                .to_owned(),
            code: e["code"].as_str().map(str::to_owned),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_step_errors_keep_their_paths() {
        let e = json!({
            "errorCode": "Error21", "error": "Signature invalid",
            "innerError": [
                {"errorCode": "DS320", "error": "Digest mismatch.", "propertyPath": "$.UBLExtensions"},
                {"errorCode": "DS311", "error": "TIN differs", "propertyName": "TIN"},
            ]
        });
        let mut out = Vec::new();
        step_errors("Step08", &e, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].field.as_deref(), Some("$.UBLExtensions"));
        assert_eq!(
            out[0].to_string(),
            "$.UBLExtensions: Digest mismatch (Step08) [DS320]"
        );
        assert_eq!(out[1].field.as_deref(), Some("TIN"));
    }

    #[test]
    fn submission_rejections_are_flattened() {
        let e = json!({"code": "ValidationError", "message": "bad", "details": [
            {"code": "CF321", "message": "Issue date too old", "propertyPath": "Invoice.IssueDate"}
        ]});
        let mut out = Vec::new();
        api_errors(&e, &mut out);
        assert_eq!(
            out,
            vec![ErrorLine {
                field: Some("Invoice.IssueDate".to_owned()),
                message: "Issue date too old".to_owned(),
                code: Some("CF321".to_owned()),
            }]
        );
    }

    #[test]
    fn a_line_shows_at_most_three_errors() {
        let errors: Vec<Value> = (0..5)
            .map(|i| json!({"field": format!("f{i}"), "message": "m", "code": null}))
            .collect();
        let r = json!({"file": "a.json", "state": "rejected_locally", "documentId": 1,
            "internalId": "X", "version": 1, "final": true, "errors": errors});
        let l = line(&r);
        assert!(
            l.starts_with(
                "a.json: rejected_locally X (document 1) — f0: m; f1: m; f2: m; and 2 more"
            ),
            "{l}"
        );
    }
}
