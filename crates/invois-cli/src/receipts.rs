//! `invois receipts import FILE.csv`: stores a CSV of receipts (the columns of
//! docs/consolidation.md) straight into the gateway's database, for its monthly consolidated
//! e-invoices, and prints each row's result. Exit 0 all stored, 1 some rows refused.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use invois_clock::Clock;
use invois_gateway::consolidation::parse_csv;
use invois_gateway::store::{self, DEFAULT_DATABASE_URL};

/// `invois receipts`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: ReceiptsCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ReceiptsCommand {
    /// Store the receipts of a CSV file (header row: issuer_tin, number, issued_at, amount,
    /// and optionally tax_type, tax_rate, tax_amount, exemption_reason, description,
    /// classification, branch, activity, diplomatic). Safe to re-run: stored receipts are
    /// recognised.
    Import {
        /// The CSV file.
        file: PathBuf,
        /// The gateway's database (`sqlite://PATH` or `postgres://...`).
        #[arg(long, env = "INVOIS_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
        database: String,
    },
}

pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let ReceiptsCommand::Import { file, database } = args.command;
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("cannot read {}", file.display()))?;
    let rows = parse_csv(&text).with_context(|| format!("{}", file.display()))?;
    let store = store::open(&database, Clock::real())
        .await
        .with_context(|| format!("opening the database {}", store::redact_url(&database)))?;
    let mut valid = Vec::new();
    let mut refused = 0usize;
    for (line, row) in &rows {
        match row {
            Ok(r) => valid.push((*line, r.clone())),
            Err(e) => {
                refused += 1;
                outln!("line {line}: refused: {e}")?;
            }
        }
    }
    let receipts: Vec<_> = valid.iter().map(|(_, r)| r.clone()).collect();
    let (mut created, mut repeated) = (0usize, 0usize);
    for ((line, r), outcome) in valid
        .iter()
        .zip(store.receipts().insert_many(&receipts).await?)
    {
        match outcome {
            Ok(i) if i.created => created += 1,
            Ok(_) => repeated += 1,
            Err(e) => {
                refused += 1;
                outln!("line {line}: receipt {}: refused: {e}", r.number)?;
            }
        }
    }
    outln!("{created} receipts stored, {repeated} already stored, {refused} refused")?;
    Ok(ExitCode::from(u8::from(refused > 0)))
}
