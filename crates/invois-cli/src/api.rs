//! `invois api ...`: call MyInvois endpoints with the typed client and print JSON.
//!
//! Configuration comes from flags or the environment (`INVOIS_CLIENT_ID`,
//! `INVOIS_CLIENT_SECRET`, `INVOIS_ENV`, `INVOIS_API_BASE`, `INVOIS_IDENTITY_BASE`,
//! `INVOIS_ON_BEHALF_OF`, ...). Placeholder credentials are refused before any request.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::{DateTime, NaiveDate, Utc};
use futures::StreamExt;
use invois_client::api::documents::InvoiceDirection;
use invois_client::api::submission::{DocumentFormat, DocumentSubmission};
use invois_client::api::taxpayer::IdType;
use invois_client::api::{DocumentStatus, RateProfile};
use invois_client::{
    Client, DocumentResult, Environment, EnvironmentName, SubmissionOutcome, SubmitError,
};
use serde_json::{Value, json};

/// `invois api`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    config: ApiConfig,
    #[command(subcommand)]
    command: ApiCommand,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ApiConfig {
    /// ERP client id.
    #[arg(long, env = "INVOIS_CLIENT_ID", global = true)]
    client_id: Option<String>,
    /// ERP client secret.
    #[arg(
        long,
        env = "INVOIS_CLIENT_SECRET",
        hide_env_values = true,
        global = true
    )]
    client_secret: Option<String>,
    /// `sandbox` (LHDN pre-production) or `production`.
    #[arg(
        long = "env",
        env = "INVOIS_ENV",
        default_value = "sandbox",
        global = true
    )]
    environment: String,
    /// API base URL (a local sandbox, a proxy); overrides --env.
    #[arg(long, env = "INVOIS_API_BASE", global = true)]
    api_base: Option<String>,
    /// Identity base URL for /connect/token; defaults to the API host.
    #[arg(long, env = "INVOIS_IDENTITY_BASE", global = true)]
    identity_base: Option<String>,
    /// Portal base URL for validation links.
    #[arg(long, env = "INVOIS_PORTAL_BASE", global = true)]
    portal_base: Option<String>,
    /// Log in as an intermediary for this taxpayer (`TIN` or `TIN:ROB`).
    #[arg(long, env = "INVOIS_ON_BEHALF_OF", global = true)]
    on_behalf_of: Option<String>,
    /// Rate budgets: `production` or `sandbox`; defaults to the environment's.
    #[arg(long, env = "INVOIS_RATE_PROFILE", global = true)]
    rate_profile: Option<RateProfile>,
    /// Run the client's clock this many times faster (match a sandbox's --time-scale).
    #[arg(long, env = "INVOIS_TIME_SCALE", default_value_t = 1.0, global = true)]
    time_scale: f64,
    /// Sign unsigned 1.1/1.3 documents on the way out with this certificate (.p12, or PEM
    /// with --key).
    #[arg(long, env = "INVOIS_CERT", global = true)]
    cert: Option<PathBuf>,
    /// PEM private key for a PEM --cert.
    #[arg(long, requires = "cert", global = true)]
    key: Option<PathBuf>,
    /// Environment variable holding the PKCS#12 password (default INVOIS_CERT_PASSWORD).
    #[arg(long, requires = "cert", global = true)]
    password_env: Option<String>,
}

#[derive(Debug, clap::Subcommand)]
enum ApiCommand {
    /// Log in and print the token's lifetime (never the token).
    Login,
    /// Get All Document Types.
    DocumentTypes,
    /// Get Document Type (with --version: Get Document Type Version).
    DocumentType {
        /// Numeric id.
        id: u32,
        /// Version id.
        #[arg(long)]
        version: Option<u32>,
    },
    /// Get Notifications.
    Notifications {
        /// From (YYYY-MM-DD or RFC 3339).
        #[arg(long, requires = "to")]
        from: Option<String>,
        /// To.
        #[arg(long, requires = "from")]
        to: Option<String>,
        /// Type id.
        #[arg(long = "type")]
        type_id: Option<u32>,
        /// Page.
        #[arg(long)]
        page: Option<u32>,
        /// Page size (max 100).
        #[arg(long)]
        page_size: Option<u32>,
    },
    /// Submit Documents: each FILE is sent byte for byte (base64, SHA-256 of the exact bytes).
    Submit {
        /// Document files (.json or .xml), at most 100.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Code numbers, one per file in order; read from the document's ID when omitted.
        #[arg(long = "code-number")]
        code_numbers: Vec<String>,
        /// Poll Get Submission until every document is validated.
        #[arg(long)]
        wait: bool,
    },
    /// Get Submission.
    Submission {
        /// Submission uid.
        uid: String,
        /// Poll until every document is validated (details for invalid ones).
        #[arg(long)]
        wait: bool,
        /// Page.
        #[arg(long, conflicts_with = "wait")]
        page: Option<u32>,
        /// Page size (max 100).
        #[arg(long, conflicts_with = "wait")]
        page_size: Option<u32>,
    },
    /// Get Document (metadata; --raw adds the document, --details the validation results).
    Document {
        /// Document uuid.
        uuid: String,
        /// Get Document Details.
        #[arg(long, conflicts_with = "raw")]
        details: bool,
        /// Get Document (raw), including the document itself.
        #[arg(long)]
        raw: bool,
    },
    /// Search Documents over any range (split into 31-day windows, every page).
    Search(SearchArgs),
    /// Get Recent Documents (throttled; for troubleshooting, prefer `search`).
    Recent {
        /// Page.
        #[arg(long)]
        page: Option<u32>,
        /// Page size.
        #[arg(long)]
        page_size: Option<u32>,
        /// `sent` or `received`.
        #[arg(long)]
        direction: Option<String>,
        /// Status.
        #[arg(long)]
        status: Option<String>,
    },
    /// Cancel Document (issuer, within 72 hours).
    Cancel {
        /// Document uuid.
        uuid: String,
        /// Reason (at most 300 characters).
        #[arg(long)]
        reason: String,
    },
    /// Reject Document (receiver, within 72 hours, once).
    Reject {
        /// Document uuid.
        uuid: String,
        /// Reason.
        #[arg(long)]
        reason: String,
    },
    /// Taxpayer TIN search and validation.
    Tin {
        #[command(subcommand)]
        command: TinCommand,
    },
    /// Taxpayer's QR Code info.
    Qr {
        /// The GUID decoded from the taxpayer's QR code.
        text: String,
    },
}

// `invois api search` (no doc comment: the variant's is its help).
#[derive(Debug, clap::Args)]
struct SearchArgs {
    /// From (YYYY-MM-DD or RFC 3339).
    #[arg(long)]
    from: String,
    /// To (YYYY-MM-DD, meaning the end of that day, or RFC 3339).
    #[arg(long)]
    to: String,
    /// Which dates: `submission` or `issue`.
    #[arg(long, default_value = "submission")]
    by: String,
    /// `sent` or `received`.
    #[arg(long)]
    direction: Option<String>,
    /// Valid, Invalid, Cancelled or Submitted.
    #[arg(long)]
    status: Option<String>,
    /// Document type code, e.g. 01.
    #[arg(long = "type")]
    document_type: Option<String>,
    /// Free-text search.
    #[arg(long)]
    query: Option<String>,
    /// Only this page (range at most 31 days).
    #[arg(long)]
    page: Option<u32>,
    /// Stop after this many documents.
    #[arg(long)]
    limit: Option<usize>,
}

#[derive(Debug, clap::Subcommand)]
enum TinCommand {
    /// Search Taxpayer's TIN by name and/or ID.
    Search {
        /// Taxpayer name.
        #[arg(long)]
        name: Option<String>,
        /// NRIC, PASSPORT, BRN or ARMY.
        #[arg(long, requires = "id_value")]
        id_type: Option<String>,
        /// ID value.
        #[arg(long, requires = "id_type")]
        id_value: Option<String>,
        /// 1 individual, 2 non-individual.
        #[arg(long)]
        file_type: Option<u8>,
    },
    /// Validate Taxpayer's TIN (exit 1 when not found).
    Validate {
        /// TIN.
        tin: String,
        /// NRIC, PASSPORT, BRN or ARMY.
        #[arg(long)]
        id_type: String,
        /// ID value.
        #[arg(long)]
        id_value: String,
    },
}

pub(crate) fn build_client(c: &ApiConfig) -> anyhow::Result<Client> {
    let name: EnvironmentName = c.environment.parse()?;
    let mut b = Client::builder()
        .environment(Environment::from(name))
        .rate_profile(c.rate_profile.unwrap_or(match name {
            EnvironmentName::Sandbox => RateProfile::Sandbox,
            EnvironmentName::Production => RateProfile::Production,
        }))
        .time_scale(c.time_scale);
    match (&c.client_id, &c.client_secret) {
        (Some(id), Some(secret)) => b = b.credentials(id.clone(), secret.as_str()),
        (None, _) => bail!(
            "no client id: pass --client-id or set INVOIS_CLIENT_ID (and the secret in \
             INVOIS_CLIENT_SECRET)"
        ),
        (_, None) => bail!("no client secret: set INVOIS_CLIENT_SECRET or pass --client-secret"),
    }
    if let Some(u) = &c.api_base {
        b = b.api_base(u.clone());
    }
    if let Some(u) = &c.identity_base {
        b = b.identity_base(u.clone());
    }
    if let Some(u) = &c.portal_base {
        b = b.portal_base(u.clone());
    }
    if let Some(t) = &c.on_behalf_of {
        b = b.on_behalf_of(t.clone());
    }
    if let Some(cert) = &c.cert {
        let signer = crate::sign::load_signer(cert, c.key.as_deref(), c.password_env.as_deref())?;
        b = b.signer(std::sync::Arc::new(signer));
    }
    Ok(b.build()?)
}

pub(crate) fn print(value: &impl serde::Serialize) -> anyhow::Result<()> {
    use std::io::Write as _;
    let text = serde_json::to_string_pretty(value)?;
    match writeln!(std::io::stdout().lock(), "{text}") {
        // A closed pipe (`| head`) is the reader's choice, not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Parses `YYYY-MM-DD` (start or end of that day, UTC) or RFC 3339.
pub(crate) fn parse_date(s: &str, end_of_day: bool) -> anyhow::Result<DateTime<Utc>> {
    if let Some(dt) = invois_client::api::datetime::parse(s) {
        return Ok(dt);
    }
    let d = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .with_context(|| format!("`{s}` is not a date (YYYY-MM-DD) or an RFC 3339 date-time"))?;
    let t = if end_of_day {
        d.and_hms_opt(23, 59, 59)
    } else {
        d.and_hms_opt(0, 0, 0)
    };
    Ok(t.context("invalid time")?.and_utc())
}

fn parse_direction(s: &str) -> anyhow::Result<InvoiceDirection> {
    match s.to_ascii_lowercase().as_str() {
        "sent" => Ok(InvoiceDirection::Sent),
        "received" => Ok(InvoiceDirection::Received),
        _ => bail!("direction must be `sent` or `received`, not `{s}`"),
    }
}

fn parse_status(s: &str) -> anyhow::Result<DocumentStatus> {
    DocumentStatus::parse(s).with_context(|| {
        format!("status must be Valid, Invalid, Cancelled or Submitted, not `{s}`")
    })
}

fn parse_id_type(s: &str) -> anyhow::Result<IdType> {
    match s.to_ascii_uppercase().as_str() {
        "NRIC" => Ok(IdType::Nric),
        "PASSPORT" => Ok(IdType::Passport),
        "BRN" => Ok(IdType::Brn),
        "ARMY" => Ok(IdType::Army),
        _ => bail!("id type must be NRIC, PASSPORT, BRN or ARMY, not `{s}`"),
    }
}

fn detect_format(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<DocumentFormat> {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("json") => return Ok(DocumentFormat::Json),
        Some("xml") => return Ok(DocumentFormat::Xml),
        _ => {}
    }
    let first = bytes
        .iter()
        .find(|b| !b.is_ascii_whitespace() && **b != 0xEF && **b != 0xBB && **b != 0xBF);
    match first {
        Some(b'{') => Ok(DocumentFormat::Json),
        Some(b'<') => Ok(DocumentFormat::Xml),
        _ => bail!("{}: cannot tell JSON from XML", path.display()),
    }
}

/// The document's own number (`cbc:ID` of the Invoice), for `codeNumber`.
fn code_number(format: DocumentFormat, bytes: &[u8]) -> Option<String> {
    match format {
        DocumentFormat::Json => {
            let v: Value = serde_json::from_slice(bytes).ok()?;
            v.get("Invoice")?
                .get(0)?
                .get("ID")?
                .get(0)?
                .get("_")?
                .as_str()
                .map(str::to_owned)
        }
        DocumentFormat::Xml => {
            let text = std::str::from_utf8(bytes).ok()?;
            // The signature block also holds a cbc:ID; the invoice's own comes after it.
            let after_ext = match text.find("</ext:UBLExtensions>") {
                Some(i) => &text[i..],
                None => text,
            };
            let start = after_ext.find("<cbc:ID>")? + "<cbc:ID>".len();
            let end = after_ext[start..].find("</cbc:ID>")? + start;
            Some(after_ext[start..end].trim().to_owned())
        }
    }
}

fn outcome_json(o: &SubmissionOutcome) -> Value {
    json!({
        "submissionUid": o.submission_uid,
        "overallStatus": o.overall_status,
        "polls": o.polls,
        "documents": o.documents.iter().map(document_result_json).collect::<Vec<_>>(),
    })
}

fn document_result_json(d: &DocumentResult) -> Value {
    json!({
        "uuid": d.uuid,
        "internalId": d.internal_id,
        "status": d.status,
        "longId": d.long_id,
        "validationLink": d.validation_link,
        "errors": d.errors,
        "detailsError": d.details_error,
    })
}

fn outcome_code(o: &SubmissionOutcome) -> ExitCode {
    if o.documents
        .iter()
        .all(|d| d.status == DocumentStatus::Valid)
    {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let client = build_client(&args.config)?;
    match args.command {
        ApiCommand::Login => login(&client).await,
        ApiCommand::DocumentTypes => answer(&client.platform().document_types().await?),
        ApiCommand::DocumentType { id, version } => match version {
            Some(v) => answer(&client.platform().document_type_version(id, v).await?),
            None => answer(&client.platform().document_type(id).await?),
        },
        ApiCommand::Notifications {
            from,
            to,
            type_id,
            page,
            page_size,
        } => notifications(&client, from.zip(to), type_id, page, page_size).await,
        ApiCommand::Submit {
            files,
            code_numbers,
            wait,
        } => submit(&client, &files, &code_numbers, wait).await,
        ApiCommand::Submission {
            uid,
            wait,
            page,
            page_size,
        } => submission(&client, uid, wait, page, page_size).await,
        ApiCommand::Document { uuid, details, raw } => document(&client, &uuid, details, raw).await,
        ApiCommand::Search(search) => search_documents(&client, search).await,
        ApiCommand::Recent {
            page,
            page_size,
            direction,
            status,
        } => recent(&client, page, page_size, direction, status).await,
        ApiCommand::Cancel { uuid, reason } => {
            answer(&client.documents().cancel(&uuid, &reason).await?)
        }
        ApiCommand::Reject { uuid, reason } => {
            answer(&client.documents().reject(&uuid, &reason).await?)
        }
        ApiCommand::Tin { command } => tin(&client, command).await,
        ApiCommand::Qr { text } => answer(&client.taxpayers().qr_code_info(&text).await?),
    }
}

/// Prints an answer; the command succeeded.
fn answer(value: &impl serde::Serialize) -> anyhow::Result<ExitCode> {
    print(value)?;
    Ok(ExitCode::SUCCESS)
}

/// `login`: the token's lifetime, never the token.
async fn login(client: &Client) -> anyhow::Result<ExitCode> {
    let lifetime = client.login().await?;
    answer(&json!({
        "clientId": client.client_id(),
        "onBehalfOf": client.represented_taxpayer(),
        "tokenValidForSeconds": lifetime.as_secs(),
    }))
}

/// `notifications`: one page of Get Notifications.
async fn notifications(
    client: &Client,
    dates: Option<(String, String)>,
    type_id: Option<u32>,
    page: Option<u32>,
    page_size: Option<u32>,
) -> anyhow::Result<ExitCode> {
    let mut b = client.platform().notifications();
    if let Some((f, t)) = dates {
        b = b.dates(parse_date(&f, false)?, parse_date(&t, true)?);
    }
    if let Some(t) = type_id {
        b = b.type_id(t);
    }
    if let Some(p) = page {
        b = b.page_no(p);
    }
    if let Some(s) = page_size {
        b = b.page_size(s);
    }
    let page = b.send().await?;
    answer(&json!({ "result": page.items, "hasNext": page.has_next }))
}

/// `submit`: one submission of the files, and with `wait` its outcome. Exit 1 when MyInvois
/// rejected a document at once or found one not valid.
async fn submit(
    client: &Client,
    files: &[PathBuf],
    code_numbers: &[String],
    wait: bool,
) -> anyhow::Result<ExitCode> {
    let docs = read_submissions(client, files, code_numbers)?;
    let submitted = match client.submissions().submit(docs).send().await {
        Ok(s) => s,
        Err(e @ SubmitError::OutcomeUnknown { .. }) => {
            // Say it plainly: resending now could submit the documents twice.
            eprintln!(
                "the submission may have reached MyInvois; do not resend before checking \
                 (invois api search --query <code number>)"
            );
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    };
    let summary = json!({
        "submissionUid": submitted.submission_uid,
        "acceptedDocuments": submitted.accepted_documents,
        "rejectedDocuments": submitted.rejected_documents,
        "payloadHash": submitted.payload_hash,
        "correlationId": submitted.correlation_id,
    });
    let some_rejected = !submitted.rejected_documents.is_empty();
    let code = match (wait, &submitted.submission_uid) {
        (true, Some(uid)) => {
            let outcome = client
                .submissions()
                .poll(uid.clone())
                .expected_documents(submitted.accepted_documents.len())
                .send()
                .await?;
            print(&json!({ "submission": summary, "outcome": outcome_json(&outcome) }))?;
            outcome_code(&outcome)
        }
        _ => {
            print(&summary)?;
            ExitCode::SUCCESS
        }
    };
    Ok(if some_rejected {
        ExitCode::from(1)
    } else {
        code
    })
}

/// Reads each file into a document submission: its format, its code number (given, or read
/// from the document), parsed by the client, and signed when a certificate is configured.
fn read_submissions(
    client: &Client,
    files: &[PathBuf],
    code_numbers: &[String],
) -> anyhow::Result<Vec<DocumentSubmission>> {
    if !code_numbers.is_empty() && code_numbers.len() != files.len() {
        bail!(
            "{} --code-number values for {} files: give one per file or none",
            code_numbers.len(),
            files.len()
        );
    }
    let mut docs: Vec<DocumentSubmission> = Vec::with_capacity(files.len());
    for (i, path) in files.iter().enumerate() {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let format = detect_format(path, &bytes)?;
        let code = match code_numbers.get(i) {
            Some(c) => c.clone(),
            None => code_number(format, &bytes).with_context(|| {
                format!(
                    "{}: no invoice ID found; pass --code-number",
                    path.display()
                )
            })?,
        };
        // Parses the document, and signs a 1.1/1.3 one when --cert is given.
        let doc = client
            .document_submission(&bytes, Some(&code))
            .with_context(|| format!("{}", path.display()))?;
        docs.push(doc);
    }
    Ok(docs)
}

/// `submission`: one page of Get Submission, or with `wait` the poller's outcome (exit 1
/// when a document is not valid).
async fn submission(
    client: &Client,
    uid: String,
    wait: bool,
    page: Option<u32>,
    page_size: Option<u32>,
) -> anyhow::Result<ExitCode> {
    if wait {
        let outcome = client
            .submissions()
            .poll(uid)
            .no_first_wait()
            .send()
            .await?;
        print(&outcome_json(&outcome))?;
        return Ok(outcome_code(&outcome));
    }
    let mut b = client.submissions().get(uid);
    if let Some(p) = page {
        b = b.page_no(p);
    }
    if let Some(s) = page_size {
        b = b.page_size(s);
    }
    answer(&b.send().await?)
}

/// `document`: metadata, the raw document, or its validation details.
async fn document(
    client: &Client,
    uuid: &str,
    details: bool,
    raw: bool,
) -> anyhow::Result<ExitCode> {
    if details {
        answer(&client.documents().details(uuid).await?)
    } else if raw {
        answer(&client.documents().raw(uuid).await?)
    } else {
        let mut doc = client.documents().raw(uuid).await?;
        // Metadata only: the document itself can be large; --raw prints it.
        doc.document = String::new();
        answer(&doc.summary)
    }
}

/// `search`: one page when `--page` is given, otherwise every window and page (up to
/// `--limit` documents).
async fn search_documents(client: &Client, args: SearchArgs) -> anyhow::Result<ExitCode> {
    let (from, to) = (parse_date(&args.from, false)?, parse_date(&args.to, true)?);
    let mut b = client.documents().search();
    b = match args.by.to_ascii_lowercase().as_str() {
        "submission" => b.submission_dates(from, to),
        "issue" => b.issue_dates(from, to),
        other => bail!("--by must be `submission` or `issue`, not `{other}`"),
    };
    if let Some(d) = args.direction {
        b = b.direction(parse_direction(&d)?);
    }
    if let Some(s) = args.status {
        b = b.status(parse_status(&s)?);
    }
    if let Some(t) = args.document_type {
        b = b.document_type(t);
    }
    if let Some(q) = args.query {
        b = b.search_query(q);
    }
    if let Some(p) = args.page {
        let page = b.page_no(p).send().await?;
        return answer(&json!({
            "result": page.items,
            "pageNo": page.page_no,
            "totalPages": page.total_pages,
            "totalCount": page.total_count,
        }));
    }
    let mut stream = std::pin::pin!(b.into_stream());
    let mut out = Vec::new();
    while let Some(doc) = stream.next().await {
        out.push(doc?);
        if args.limit.is_some_and(|l| out.len() >= l) {
            break;
        }
    }
    answer(&out)
}

/// `recent`: one page of Get Recent Documents.
async fn recent(
    client: &Client,
    page: Option<u32>,
    page_size: Option<u32>,
    direction: Option<String>,
    status: Option<String>,
) -> anyhow::Result<ExitCode> {
    let mut b = client.documents().recent();
    if let Some(p) = page {
        b = b.page_no(p);
    }
    if let Some(s) = page_size {
        b = b.page_size(s);
    }
    if let Some(d) = direction {
        b = b.direction(parse_direction(&d)?);
    }
    if let Some(s) = status {
        b = b.status(parse_status(&s)?);
    }
    let page = b.send().await?;
    answer(&json!({
        "result": page.items,
        "pageNo": page.page_no,
        "totalPages": page.total_pages,
        "totalCount": page.total_count,
    }))
}

/// `tin search` and `tin validate` (exit 1 when the TIN is not valid).
async fn tin(client: &Client, command: TinCommand) -> anyhow::Result<ExitCode> {
    match command {
        TinCommand::Search {
            name,
            id_type,
            id_value,
            file_type,
        } => {
            let mut b = client.taxpayers().search_tin();
            if let Some(n) = name {
                b = b.name(n);
            }
            if let (Some(t), Some(v)) = (id_type, id_value) {
                b = b.id(parse_id_type(&t)?, v);
            }
            if let Some(f) = file_type {
                b = b.file_type(f);
            }
            answer(&b.send().await?)
        }
        TinCommand::Validate {
            tin,
            id_type,
            id_value,
        } => {
            let valid = client
                .taxpayers()
                .validate_tin(&tin, parse_id_type(&id_type)?, &id_value)
                .await?;
            print(&json!({ "tin": tin, "valid": valid }))?;
            Ok(if valid {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_number_skips_the_signature_id() {
        let xml = br#"<Invoice><ext:UBLExtensions><cbc:ID>urn:oasis:names:specification:ubl:signature:1</cbc:ID></ext:UBLExtensions><cbc:ID>INV-7</cbc:ID></Invoice>"#;
        assert_eq!(
            code_number(DocumentFormat::Xml, xml).as_deref(),
            Some("INV-7")
        );
        let json = br#"{"_D":"x","Invoice":[{"ID":[{"_":"JSON-1"}]}]}"#;
        assert_eq!(
            code_number(DocumentFormat::Json, json).as_deref(),
            Some("JSON-1")
        );
    }

    #[test]
    fn dates_accept_days_and_instants() {
        assert_eq!(
            parse_date("2025-01-31", true).unwrap().to_rfc3339(),
            "2025-01-31T23:59:59+00:00"
        );
        assert_eq!(
            parse_date("2025-01-31T01:02:03Z", true)
                .unwrap()
                .to_rfc3339(),
            "2025-01-31T01:02:03+00:00"
        );
        assert!(parse_date("yesterday", false).is_err());
    }

    #[test]
    fn every_document_has_its_code_number() {
        for corpus in invois_testkit::Corpus::available() {
            let mut checked = 0;
            for format in [invois_model::Format::Json, invois_model::Format::Xml] {
                for path in corpus.files(format) {
                    let bytes = std::fs::read(&path).unwrap();
                    let format = detect_format(&path, &bytes).unwrap();
                    let code = code_number(format, &bytes);
                    assert!(
                        code.as_deref().is_some_and(|c| !c.is_empty()),
                        "{}",
                        path.display()
                    );
                    checked += 1;
                }
            }
            assert!(checked > 40, "{}: {checked}", corpus.name());
        }
    }

    #[derive(clap::Parser)]
    struct TestCli {
        #[command(flatten)]
        args: Args,
    }

    fn args(base: &str, id: &str, secret: &str, rest: &[&str]) -> Args {
        use clap::Parser as _;
        let mut argv = vec![
            "invois-api",
            "--api-base",
            base,
            "--client-id",
            id,
            "--client-secret",
            secret,
            "--time-scale",
            "60",
        ];
        argv.extend_from_slice(rest);
        TestCli::parse_from(argv).args
    }

    #[tokio::test]
    async fn commands_run_against_the_sandbox() {
        use invois_testkit::samples;
        let sandbox = invois_testkit::TestSandbox::builder()
            .time_scale(60.0)
            .validation_delay(std::time::Duration::from_secs(2))
            .start()
            .await
            .unwrap();
        let who = sandbox.supplier();
        let (base, id, secret) = (sandbox.base_url(), &who.client_id, &who.client_secret);
        let ok = |code: ExitCode| format!("{code:?}") == format!("{:?}", ExitCode::SUCCESS);

        assert!(ok(run(args(base, id, secret, &["login"])).await.unwrap()));
        assert!(ok(run(args(base, id, secret, &["document-types"]))
            .await
            .unwrap()));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("invoice.json");
        let mut doc = invois_testkit::fixture_json(
            invois_testkit::Version::V1_0,
            invois_testkit::Kind::Invoice,
        );
        let issued = sandbox.clock().now() - chrono::Duration::minutes(2);
        samples::adapt_json(&mut doc, "CLI-1", issued, &who.tin, &sandbox.buyer().tin);
        std::fs::write(&path, samples::minified(&doc)).unwrap();
        let path = path.to_string_lossy().into_owned();
        // 0 when every document is valid, 1 when one is not: both are answers, not errors.
        run(args(base, id, secret, &["submit", &path, "--wait"]))
            .await
            .unwrap();

        // Placeholders fail before any request.
        let err = run(args(base, "YOUR_CLIENT_ID", secret, &["login"]))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("placeholder"), "{err}");
        assert!(
            sandbox
                .sandbox()
                .client_counters("YOUR_CLIENT_ID")
                .blocked_logins
                .is_empty()
        );
    }
}
