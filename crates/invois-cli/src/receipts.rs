//! `invois receipts ...`: the receipts of monthly consolidated e-invoices.
//!
//! - `import FILE.csv` stores a CSV of receipts (the columns of docs/consolidation.md)
//!   straight into the gateway's database and prints each row's result (exit 0 all stored,
//!   1 some rows refused).
//! - The others call a running gateway's API (see [`crate::erp`]): `send` posts a CSV or
//!   JSON file of receipts, `list` lists them, `issuer` shows or stores an issuer's supplier
//!   details, `consolidate` builds a closed month now, `consolidations` shows the months with
//!   their deadlines and exclusions, and `individual` issues a receipt its own e-invoice at
//!   its buyer's request.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use invois_clock::Clock;
use invois_gateway::consolidation::parse_csv;
use invois_gateway::store::{self, DEFAULT_DATABASE_URL};
use reqwest::Method;
use serde_json::{Value, json};

use crate::erp::{Conn, Request};

/// `invois receipts`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    conn: Conn,
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
    /// Send a file of receipts to a running gateway (POST /v1/receipts): CSV (`.csv`, the
    /// columns of `import`) or JSON (one receipt or `{"receipts": [...]}`). Prints each
    /// entry's result; exit 1 when some were refused.
    Send {
        /// The CSV or JSON file.
        file: PathBuf,
    },
    /// List receipts (GET /v1/receipts).
    List {
        /// Only this issuer's.
        #[arg(long)]
        issuer_tin: Option<String>,
        /// Only this month's, YYYY-MM.
        #[arg(long)]
        month: Option<String>,
        /// open, consolidated, excluded or individual.
        #[arg(long)]
        state: Option<String>,
        /// Ids after this one (the previous page's `next`).
        #[arg(long)]
        after: Option<i64>,
        /// Page size (1 to 1000).
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Show an issuer's supplier details, or store them with --set (GET or PUT
    /// /v1/issuers/{tin}).
    Issuer {
        /// The supplier's TIN.
        tin: String,
        /// A JSON file of the details to store (docs/consolidation.md, "Set-up").
        #[arg(long, value_name = "FILE")]
        set: Option<PathBuf>,
    },
    /// Build a closed month's consolidated e-invoices now, rather than waiting for the
    /// month-end loop (POST /v1/consolidations).
    Consolidate {
        /// The supplier's TIN.
        #[arg(long)]
        issuer_tin: String,
        /// The month, YYYY-MM.
        #[arg(long)]
        month: String,
    },
    /// The consolidated months with their documents, deadlines and exclusions
    /// (GET /v1/consolidations, or /v1/consolidations/{id} for one).
    Consolidations {
        /// One consolidation's id.
        id: Option<i64>,
        /// Only this issuer's.
        #[arg(long, conflicts_with = "id")]
        issuer_tin: Option<String>,
    },
    /// Issue a receipt its own e-invoice at its buyer's request: it leaves its month's
    /// consolidation, or is refused once consolidated (POST /v1/receipts/{number}/individual).
    Individual {
        /// The receipt number.
        number: String,
        /// The supplier's TIN.
        #[arg(long)]
        issuer_tin: String,
        /// A JSON file of the buyer's details (the shape of the supplier's).
        #[arg(long, value_name = "FILE")]
        buyer: PathBuf,
    },
}

fn read_json(path: &std::path::Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let conn = args.conn;
    let request = match args.command {
        ReceiptsCommand::Import { file, database } => return import(&file, &database).await,
        ReceiptsCommand::Send { file } => return send(&conn, &file).await,
        ReceiptsCommand::List {
            issuer_tin,
            month,
            state,
            after,
            limit,
        } => Request::get(&["v1", "receipts"])
            .query("issuer_tin", issuer_tin)
            .query("month", month)
            .query("state", state)
            .query("after", after)
            .query("limit", limit),
        ReceiptsCommand::Issuer { tin, set: None } => {
            Request::get(&["v1", "issuers", tin.as_str()])
        }
        ReceiptsCommand::Issuer {
            tin,
            set: Some(file),
        } => Request::new(Method::PUT, &["v1", "issuers", tin.as_str()]).json(read_json(&file)?),
        ReceiptsCommand::Consolidate { issuer_tin, month } => {
            Request::post(&["v1", "consolidations"])
                .json(json!({"issuer_tin": issuer_tin, "month": month}))
        }
        ReceiptsCommand::Consolidations { id: Some(id), .. } => {
            Request::get(&["v1", "consolidations", &id.to_string()])
        }
        ReceiptsCommand::Consolidations {
            id: None,
            issuer_tin,
        } => Request::get(&["v1", "consolidations"]).query("issuer_tin", issuer_tin),
        ReceiptsCommand::Individual {
            number,
            issuer_tin,
            buyer,
        } => Request::post(&["v1", "receipts", number.as_str(), "individual"])
            .json(json!({"issuer_tin": issuer_tin, "buyer": read_json(&buyer)?})),
    };
    conn.run(request).await
}

/// `send`: the file to POST /v1/receipts; exit 1 when the gateway refused some entries
/// (answered 207).
async fn send(conn: &Conn, file: &std::path::Path) -> anyhow::Result<ExitCode> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let csv = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let request = Request::post(&["v1", "receipts"]);
    let request = if csv {
        request.raw(text, "text/csv")
    } else {
        request.raw(text, "application/json")
    };
    let answer = conn.send(request).await?;
    let code = crate::erp::finish(&answer)?;
    if answer.status == reqwest::StatusCode::MULTI_STATUS {
        return Ok(ExitCode::from(1));
    }
    Ok(code)
}

/// `import`: the CSV straight into the database.
async fn import(file: &std::path::Path, database: &str) -> anyhow::Result<ExitCode> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let rows = parse_csv(&text).with_context(|| format!("{}", file.display()))?;
    let store = store::open(database, Clock::real())
        .await
        .with_context(|| format!("opening the database {}", store::redact_url(database)))?;
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
