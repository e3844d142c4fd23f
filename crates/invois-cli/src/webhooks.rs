//! `invois webhooks deliveries|replay`: the webhook delivery log of a running gateway, and
//! replaying a delivered or dead delivery (see [`crate::erp`]).

use std::process::ExitCode;

use crate::erp::{Conn, Request};

/// `invois webhooks`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    conn: Conn,
    #[command(subcommand)]
    command: WebhooksCommand,
}

#[derive(Debug, clap::Subcommand)]
enum WebhooksCommand {
    /// The delivery log, newest first (GET /v1/webhooks/deliveries).
    Deliveries {
        /// pending, delivering, delivered or dead.
        #[arg(long)]
        state: Option<String>,
        /// Only deliveries about this document id.
        #[arg(long)]
        document: Option<i64>,
        /// The previous page's `next`.
        #[arg(long)]
        before: Option<i64>,
        /// Page size (1 to 1000).
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Send a delivered or dead delivery again, as a new delivery
    /// (POST /v1/webhooks/deliveries/{id}/replay).
    Replay {
        /// The delivery's id.
        id: i64,
    },
}

pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let request = match args.command {
        WebhooksCommand::Deliveries {
            state,
            document,
            before,
            limit,
        } => Request::get(&["v1", "webhooks", "deliveries"])
            .query("state", state)
            .query("document", document)
            .query("before", before)
            .query("limit", limit),
        WebhooksCommand::Replay { id } => {
            Request::post(&["v1", "webhooks", "deliveries", &id.to_string(), "replay"])
        }
    };
    args.conn.run(request).await
}
