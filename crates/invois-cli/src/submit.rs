//! `invois submit FILE...`: the gateway's pipeline run in this process on the given files,
//! until each of their documents is final (or Ctrl-C), then one line per file.
//!
//! The files are stored in the same database as `invois gateway` uses (by default
//! `./invois.db`), through the same intake, so running the command twice never submits a
//! document twice: the second run finds them stored and reports their results. Ctrl-C stops
//! after the current step; every state is durable, and running the same command again
//! continues where it stopped. A login MyInvois refuses for good (wrong client id or secret,
//! say) stops the run at once with LHDN's error and the fix (exit 2): one refused login, not
//! one every few seconds, and the documents stay where they were.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use invois_gateway::document_errors::{DocumentError, ErrorStage};
use invois_gateway::intake::{Intake, IntakeError, Parsed};
use invois_gateway::pipeline::{Pipeline, Shutdown};
use invois_gateway::store::{DocumentFilter, DocumentId, DocumentRecord, DocumentState, Store};

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

/// What became of one file.
enum Entry {
    /// Not stored: unreadable, not a document, or a conflict with what is stored.
    NotStored(Vec<DocumentError>),
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
    // Set when MyInvois refused the login for good: sending again cannot succeed until its
    // cause is fixed, so the run stops and says what to fix rather than waiting.
    let mut halted = None;
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
            if let Some(halt) = built.clients.base().login_halt() {
                halted = Some(halt);
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

    let mut results: Vec<FileResult> = entries
        .iter()
        .map(|(file, entry)| file_result(file, entry, &ours, &orphaned))
        .collect();
    if halted.is_some() {
        for r in results.iter_mut().filter(|r| !r.is_final) {
            r.errors.push(DocumentError::new(
                ErrorStage::Submission,
                "login_refused",
                "not sent: MyInvois refused the login (see the error below); fix it, then run \
                 the same command again",
            ));
        }
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&results)?)?;
    } else {
        for r in &results {
            outln!("{r}")?;
        }
    }
    if let Some(halt) = halted {
        // After the lines, so each file's state (still prepared: nothing was lost) shows too.
        bail!("{halt}");
    }
    let pending = results.iter().any(|r| !r.is_final);
    let all_valid = results.iter().all(|r| r.state == "valid");
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
            return Ok(Entry::NotStored(vec![not_stored(
                None,
                format!("cannot read the file: {e}"),
            )]));
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
        return Ok(Entry::NotStored(vec![not_stored(
            None,
            format!(
                "{message}; to send this content as a corrected new version of an invalid or \
                 locally rejected document, pass --correct"
            ),
        )]));
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

/// Why a file was not stored (the gateway's intake refused it, or it could not be read).
fn not_stored(field: Option<String>, message: String) -> DocumentError {
    DocumentError {
        field,
        ..DocumentError::new(ErrorStage::Intake, "not_stored", message)
    }
}

fn intake_error(e: &IntakeError) -> DocumentError {
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
    not_stored(field, message)
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

/// What became of one file: its `--json` object, and its line.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
struct FileResult {
    file: String,
    /// Absent when the file was not stored.
    #[serde(flatten)]
    document: Option<StoredResult>,
    state: String,
    #[serde(rename = "final")]
    is_final: bool,
    /// Every error, whichever stage found it.
    errors: Vec<DocumentError>,
}

/// The stored document a file became.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
struct StoredResult {
    document_id: i64,
    issuer_tin: String,
    type_code: String,
    internal_id: String,
    version: i64,
    stored_now: bool,
    uuid: Option<String>,
    long_id: Option<String>,
    validation_link: Option<String>,
}

fn file_result(
    file: &std::path::Path,
    entry: &Entry,
    docs: &BTreeMap<DocumentId, DocumentRecord>,
    orphaned: &[DocumentId],
) -> FileResult {
    let file = file.display().to_string();
    let (id, created) = match entry {
        Entry::NotStored(errors) => {
            return FileResult {
                file,
                document: None,
                state: "not_stored".to_owned(),
                is_final: true,
                errors: errors.clone(),
            };
        }
        Entry::Stored { id, created } => (*id, *created),
    };
    let Some(d) = docs.get(&id) else {
        // Unreachable: every stored entry was read back.
        return FileResult {
            file,
            document: None,
            state: "unknown".to_owned(),
            is_final: false,
            errors: Vec::new(),
        };
    };
    let mut errors = DocumentError::of(d);
    let orphan = orphaned.contains(&id);
    if orphan {
        errors.push(DocumentError::new(
            ErrorStage::Validation,
            "orphaned",
            "accepted by the built-in sandbox of an earlier run, which is gone, so its \
             validation can never be learnt; submit it with real credentials or another \
             --database",
        ));
    }
    FileResult {
        file,
        document: Some(StoredResult {
            document_id: d.id.0,
            issuer_tin: d.issuer_tin.clone(),
            type_code: d.type_code.clone(),
            internal_id: d.internal_id.clone(),
            version: d.version,
            stored_now: created,
            uuid: d.uuid.clone(),
            long_id: d.long_id.clone(),
            validation_link: d.validation_link.clone(),
        }),
        state: d.state.as_str().to_owned(),
        is_final: d.state.is_final() || orphan,
        errors,
    }
}

/// `FILE: STATE INTERNAL-ID (document N) uuid UUID LINK` or `... — FIELD: ERROR [CODE]; ...`.
impl std::fmt::Display for FileResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file, self.state)?;
        if let Some(d) = &self.document {
            write!(f, " {} (document {}", d.internal_id, d.document_id)?;
            if d.version > 1 {
                write!(f, ", version {}", d.version)?;
            }
            f.write_str(")")?;
            if let Some(uuid) = &d.uuid {
                write!(f, " uuid {uuid}")?;
            }
            if let Some(link) = &d.validation_link {
                write!(f, " {link}")?;
            }
        }
        if !self.errors.is_empty() {
            let shown: Vec<String> = self
                .errors
                .iter()
                .take(ERRORS_SHOWN)
                .map(ToString::to_string)
                .collect();
            write!(f, " — {}", shown.join("; "))?;
            if self.errors.len() > ERRORS_SHOWN {
                write!(
                    f,
                    "; and {} more (--json lists them all)",
                    self.errors.len() - ERRORS_SHOWN
                )?;
            }
        }
        if !self.is_final {
            f.write_str(" — not final yet: run the same command again to continue")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_shows_at_most_three_errors() {
        let errors = (0..5)
            .map(|i| DocumentError {
                field: Some(format!("f{i}")),
                ..DocumentError::new(ErrorStage::LocalValidation, "C001", "m")
            })
            .collect();
        let r = FileResult {
            file: "a.json".to_owned(),
            document: Some(StoredResult {
                document_id: 1,
                issuer_tin: "C1".to_owned(),
                type_code: "01".to_owned(),
                internal_id: "X".to_owned(),
                version: 1,
                stored_now: true,
                uuid: None,
                long_id: None,
                validation_link: None,
            }),
            state: "rejected_locally".to_owned(),
            is_final: true,
            errors,
        };
        let l = r.to_string();
        assert!(
            l.starts_with(
                "a.json: rejected_locally X (document 1) — f0: m [C001]; f1: m [C001]; \
                 f2: m [C001]; and 2 more"
            ),
            "{l}"
        );
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["document_id"], 1);
        assert_eq!(json["final"], true);
        assert_eq!(json["errors"][0]["field"], "f0");
    }
}
