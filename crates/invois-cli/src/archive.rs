//! `invois archive ...`: write the gateway's stored documents and results out of its
//! database (`export`), and record documents issued outside the gateway from Search
//! Documents (`backfill`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::{DateTime, NaiveDate, Utc};
use invois_client::Clock;
use invois_gateway::archive::{self, ExportFilter};
use invois_gateway::store::{self, DEFAULT_DATABASE_URL, DocumentState};
use serde_json::json;

use crate::api::{ApiConfig, build_client, parse_date, print};

/// `invois archive`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: ArchiveCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ArchiveCommand {
    /// Write every stored document version (received and submitted bytes, result, status
    /// events), the submissions' payload hashes and a JSONL manifest to a directory.
    Export {
        /// The gateway's database (`sqlite://PATH` or `postgres://...`).
        #[arg(long, env = "INVOIS_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
        database: String,
        /// Output directory (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Only documents received from (YYYY-MM-DD or RFC 3339).
        #[arg(long)]
        from: Option<String>,
        /// Only documents received until (YYYY-MM-DD includes that whole day, or RFC 3339,
        /// exclusive).
        #[arg(long)]
        to: Option<String>,
        /// Only documents in this state (received, prepared, rejected_locally, batched,
        /// submitted, valid, invalid, cancelled, failed).
        #[arg(long)]
        state: Option<String>,
    },
    /// Record documents submitted in a date range that the gateway did not submit (issued in
    /// the MyInvois portal, say), using Search Documents. Safe to re-run.
    Backfill {
        /// The gateway's database (`sqlite://PATH` or `postgres://...`).
        #[arg(long, env = "INVOIS_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
        database: String,
        /// Submitted from (YYYY-MM-DD or RFC 3339).
        #[arg(long)]
        from: String,
        /// Submitted until (YYYY-MM-DD means the end of that day, or RFC 3339).
        #[arg(long)]
        to: String,
        #[command(flatten)]
        config: Box<ApiConfig>,
    },
}

/// The exclusive upper bound `--to` names: the start of the next day for a bare date.
fn exclusive_end(s: &str) -> anyhow::Result<DateTime<Utc>> {
    if let Some(dt) = invois_client::api::datetime::parse(s) {
        return Ok(dt);
    }
    let d = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").with_context(|| {
        format!("--to `{s}` is not a date (YYYY-MM-DD) or an RFC 3339 date-time")
    })?;
    let next = d
        .succ_opt()
        .context("--to is past the last representable date")?;
    Ok(next.and_hms_opt(0, 0, 0).context("invalid time")?.and_utc())
}

fn parse_state(s: &str) -> anyhow::Result<DocumentState> {
    match DocumentState::parse(&s.to_ascii_lowercase()) {
        Some(state) => Ok(state),
        None => {
            let all: Vec<&str> = DocumentState::ALL.iter().map(|s| s.as_str()).collect();
            bail!("--state must be one of {}, not `{s}`", all.join(", "))
        }
    }
}

pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        ArchiveCommand::Export {
            database,
            out,
            from,
            to,
            state,
        } => {
            let filter = ExportFilter {
                received_from: from.as_deref().map(|f| parse_date(f, false)).transpose()?,
                received_before: to.as_deref().map(exclusive_end).transpose()?,
                state: state.as_deref().map(parse_state).transpose()?,
            };
            let store = store::open(&database, Clock::real())
                .await
                .with_context(|| {
                    format!("opening the database {}", store::redact_url(&database))
                })?;
            let summary = archive::export(&store, &out, &filter).await?;
            print(&json!({
                "out": out,
                "manifest": summary.manifest,
                "documents": summary.documents,
                "submissions": summary.submissions,
                "external": summary.external,
                "files": summary.files,
                "bytes": summary.bytes,
            }))?;
        }
        ArchiveCommand::Backfill {
            database,
            from,
            to,
            config,
        } => {
            let from = parse_date(&from, false)?;
            let to = parse_date(&to, true)?;
            let client = build_client(&config)?;
            let store = store::open(&database, Clock::real())
                .await
                .with_context(|| {
                    format!("opening the database {}", store::redact_url(&database))
                })?;
            let s = archive::backfill(&client, &store, from, to).await?;
            print(&json!({
                "listed": s.listed,
                "inserted": s.inserted,
                "updated": s.updated,
                "unchanged": s.unchanged,
                "ownSkipped": s.own,
            }))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser)]
    struct TestCli {
        #[command(flatten)]
        args: Args,
    }

    fn parse(argv: &[&str]) -> Args {
        use clap::Parser as _;
        let mut all = vec!["invois-archive"];
        all.extend_from_slice(argv);
        TestCli::parse_from(all).args
    }

    #[test]
    fn to_dates_are_inclusive_days_and_states_are_named() {
        assert_eq!(
            exclusive_end("2026-03-01").unwrap(),
            "2026-03-02T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            exclusive_end("2026-03-01T10:00:00Z").unwrap(),
            "2026-03-01T10:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert!(exclusive_end("yesterday").is_err());
        assert_eq!(parse_state("Valid").unwrap(), DocumentState::Valid);
        let err = parse_state("done").unwrap_err().to_string();
        assert!(
            err.contains("--state") && err.contains("rejected_locally"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn export_writes_the_stored_documents() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("g.db").display());
        let s = store::open(&url, Clock::real()).await.unwrap();
        s.documents()
            .insert(store::NewDocument {
                issuer_tin: "C1".to_owned(),
                type_code: "01".to_owned(),
                internal_id: "INV/1".to_owned(),
                version: 1,
                format: store::DocumentFormat::Xml,
                client_id: "c".to_owned(),
                on_behalf_of: None,
                received: b"<Invoice/>".to_vec(),
            })
            .await
            .unwrap();
        let out = dir.path().join("out");
        let out_s = out.to_string_lossy().into_owned();
        let code = run(parse(&["export", "--database", &url, "--out", &out_s]))
            .await
            .unwrap();
        assert_eq!(format!("{code:?}"), format!("{:?}", ExitCode::SUCCESS));
        let received = out.join("documents/00000001-C1-01-INV_1-v1/received.xml");
        assert_eq!(std::fs::read(received).unwrap(), b"<Invoice/>");
        let manifest = std::fs::read_to_string(out.join("manifest.jsonl")).unwrap();
        assert_eq!(manifest.lines().count(), 1);

        // A state filter that matches nothing writes an empty manifest.
        let out2 = dir.path().join("out2");
        let out2_s = out2.to_string_lossy().into_owned();
        run(parse(&[
            "export",
            "--database",
            &url,
            "--out",
            &out2_s,
            "--state",
            "valid",
        ]))
        .await
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(out2.join("manifest.jsonl")).unwrap(),
            ""
        );
    }

    #[tokio::test]
    async fn backfill_records_what_was_submitted_elsewhere() {
        use invois_client::DocumentSubmissionExt as _;
        use invois_client::api::submission::{DocumentFormat, DocumentSubmission};
        use invois_testkit::samples;
        let sandbox = invois_testkit::TestSandbox::builder()
            .time_scale(60.0)
            .start()
            .await
            .unwrap();
        let who = sandbox.supplier();
        // One invoice issued outside the gateway.
        let client = invois_client::Client::builder()
            .api_base(sandbox.base_url())
            .credentials(who.client_id.clone(), who.client_secret.as_str())
            .clock(sandbox.clock().clone())
            .build()
            .unwrap();
        let mut doc = invois_testkit::fixture_json(
            invois_testkit::Version::V1_0,
            invois_testkit::Kind::Invoice,
        );
        let issued = sandbox.clock().now() - chrono::Duration::minutes(2);
        samples::adapt_json(
            &mut doc,
            "OUTSIDE-1",
            issued,
            &who.tin,
            &sandbox.buyer().tin,
        );
        let sent = client
            .submissions()
            .submit(vec![DocumentSubmission::from_bytes(
                DocumentFormat::Json,
                &samples::minified(&doc),
                "OUTSIDE-1",
            )])
            .send()
            .await
            .unwrap();
        assert_eq!(sent.accepted_documents.len(), 1);

        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("g.db").display());
        let now = sandbox.clock().now();
        let from = (now - chrono::Duration::days(1)).to_rfc3339();
        let to = (now + chrono::Duration::minutes(1)).to_rfc3339();
        let argv = [
            "backfill",
            "--database",
            &url,
            "--from",
            &from,
            "--to",
            &to,
            "--api-base",
            sandbox.base_url(),
            "--client-id",
            &who.client_id,
            "--client-secret",
            &who.client_secret,
            "--time-scale",
            "60",
        ];
        run(parse(&argv)).await.unwrap();
        run(parse(&argv)).await.unwrap();
        let s = store::open(&url, Clock::real()).await.unwrap();
        let external = s.archive().list(0, 0).await.unwrap();
        assert_eq!(external.len(), 1, "recorded once across two runs");
        assert_eq!(external[0].document.uuid, sent.accepted_documents[0].uuid);
        assert_eq!(external[0].document.internal_id, "OUTSIDE-1");
    }
}
