//! `invois clients resume CLIENT_ID`: send a login MyInvois refused for good again (once the
//! cause is fixed in the portal), through a running gateway's API (see [`crate::erp`]).

use std::process::ExitCode;

use crate::erp::{Conn, Request};

/// `invois clients`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    conn: Conn,
    #[command(subcommand)]
    command: ClientsCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ClientsCommand {
    /// Try the halted client id's login again now (POST /v1/clients/{client_id}/resume).
    Resume {
        /// The client id whose logins halted.
        client_id: String,
    },
}

pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let ClientsCommand::Resume { client_id } = args.command;
    args.conn
        .run(Request::post(&[
            "v1",
            "clients",
            client_id.as_str(),
            "resume",
        ]))
        .await
}
