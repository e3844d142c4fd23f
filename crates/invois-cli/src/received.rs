//! `invois received ...`: documents other taxpayers issued to the gateway's taxpayer, through
//! a running gateway's API (see [`crate::erp`]): list them with their 72-hour rejection
//! deadlines, show one, reject one at MyInvois with a reason, or record it as accepted.

use std::process::ExitCode;

use serde_json::json;

use crate::erp::{Conn, Request};

/// `invois received`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    conn: Conn,
    #[command(subcommand)]
    command: ReceivedCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ReceivedCommand {
    /// List received documents, each with its rejection deadline (GET /v1/received).
    List {
        /// Only from this supplier TIN.
        #[arg(long)]
        issuer_tin: Option<String>,
        /// Only in this MyInvois status: valid or cancelled.
        #[arg(long)]
        status: Option<String>,
    },
    /// One received document (GET /v1/received/{uuid}).
    Show {
        /// MyInvois' uuid of the document.
        uuid: String,
    },
    /// Reject it at MyInvois, within 72 hours of its validation, once
    /// (POST /v1/received/{uuid}/reject).
    Reject {
        /// MyInvois' uuid of the document.
        uuid: String,
        /// Why (1 to 300 characters; the supplier sees it).
        #[arg(long)]
        reason: String,
    },
    /// Record that the business accepts it (the gateway's record only: MyInvois has no
    /// acceptance call) (POST /v1/received/{uuid}/accept).
    Accept {
        /// MyInvois' uuid of the document.
        uuid: String,
    },
}

pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let request = match args.command {
        ReceivedCommand::List { issuer_tin, status } => Request::get(&["v1", "received"])
            .query("issuer_tin", issuer_tin)
            .query("status", status),
        ReceivedCommand::Show { uuid } => Request::get(&["v1", "received", uuid.as_str()]),
        ReceivedCommand::Reject { uuid, reason } => {
            Request::post(&["v1", "received", uuid.as_str(), "reject"])
                .json(json!({"reason": reason}))
        }
        ReceivedCommand::Accept { uuid } => {
            Request::post(&["v1", "received", uuid.as_str(), "accept"])
        }
    };
    args.conn.run(request).await
}
