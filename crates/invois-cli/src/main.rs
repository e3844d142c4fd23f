//! The `invois` command. Thin: each subcommand lives in its own module, parses its arguments,
//! and calls a library crate. Only this crate uses `anyhow`.
//!
//! Exit codes: 0 success, 1 a negative answer (invalid document, failed verification),
//! 2 unusable input or a runtime error.
// Functions a reader can hold (clippy.toml sets 120 lines); tests and benches may run longer.
#![warn(clippy::too_many_lines)]

use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// `println!` that returns the write's `io::Result` instead of panicking, so that a reader
/// that went away (`invois validate FILE | head -c1`) ends the command quietly in `main`
/// (as ripgrep does) rather than with "failed printing to stdout".
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*)
    }};
}

mod gateway;
mod input;
mod sandbox;
mod sandbox_report;

mod api;
mod archive;
mod cert;
mod clients;
mod codes;
mod convert;
mod documents;
mod erp;
mod new;
mod receipts;
mod received;
mod render;
mod sign;
mod submit;
mod validate;
mod verify;
mod webhooks;

#[derive(Debug, Parser)]
#[command(name = "invois", version, about = "MyInvois e-invoicing toolkit")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// One variant per subcommand, each backed by `mod <name>` with `Args` and `run`.
#[derive(Debug, Subcommand)]
enum Command {
    /// Print the version and exit.
    Version,
    /// Run the gateway: ERP API, durable outbox, exactly-once submission, polling.
    Gateway(Box<gateway::Args>),
    /// Submit files through the gateway's pipeline in this process; print each final status.
    Submit(Box<submit::Args>),
    /// Run a MyInvois-compatible server locally (identity, every API, rate limits, clock).
    Sandbox(sandbox::Args),
    /// Sign a version 1.1/1.3 document (JSON or XML) with a PKCS#12 or PEM certificate.
    Sign(sign::Args),
    /// Verify document signatures as MyInvois does; name each broken DS rule and its fix.
    Verify(verify::Args),
    /// Inspect signing certificates, or issue test certificates for the sandbox.
    Cert(cert::Args),
    /// Validate documents locally: structure, fields, codes, arithmetic, currency, references.
    Validate(validate::Args),
    /// Convert a document between MyInvois JSON and UBL XML.
    Convert(convert::Args),
    /// Print a filled, valid example document of a type.
    New(new::Args),
    /// The buyer's copy of a validated document as PDF or HTML, with its QR code.
    Render(Box<render::Args>),
    /// Code tables: sync, import, list.
    Codes(codes::Args),
    /// Call MyInvois APIs with the typed client (login, submit, poll, search, ...).
    Api(Box<api::Args>),
    /// Archive: export stored documents and results; backfill documents issued elsewhere.
    Archive(Box<archive::Args>),
    /// Receipts for monthly consolidated e-invoices: import or send them, consolidate a
    /// month, follow its deadline, issue a receipt its own e-invoice.
    Receipts(Box<receipts::Args>),
    /// A running gateway's documents: list, show, retry, correct, cancel, credit/debit/refund
    /// notes (over its ERP API, with an API key).
    Documents(Box<documents::Args>),
    /// Documents issued to the taxpayer, through a running gateway: list with their 72-hour
    /// deadlines, accept, reject.
    Received(Box<received::Args>),
    /// A running gateway's MyInvois logins: resume one MyInvois refused for good.
    Clients(Box<clients::Args>),
    /// A running gateway's webhook delivery log, and replay.
    Webhooks(Box<webhooks::Args>),
}

/// Logs go to stderr: human-readable, or one JSON object per line with
/// `INVOIS_LOG_FORMAT=json`; `RUST_LOG` overrides the level. The long-running services log
/// their steps at `info`; one-shot commands stay quiet below `warn`.
///
/// Colour codes are written only when stderr is a terminal and `NO_COLOR` is unset
/// (<https://no-color.org>): a log file, `journald` or a CI capture would otherwise be full
/// of `ESC[` sequences.
fn init_logging(command: &Command) {
    let default = match command {
        Command::Gateway(_) | Command::Sandbox(_) => "info,sqlx=warn,hyper=warn",
        _ => "warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(log_colours(
            std::io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR").as_deref(),
        ));
    let _ = if std::env::var("INVOIS_LOG_FORMAT").is_ok_and(|v| v == "json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Whether logs are coloured: on a terminal, unless `NO_COLOR` is set to anything but the
/// empty string (as no-color.org asks).
fn log_colours(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.command);
    let result: anyhow::Result<ExitCode> = match cli.command {
        Command::Version => outln!("invois {}", env!("CARGO_PKG_VERSION"))
            .map(|()| ExitCode::SUCCESS)
            .map_err(anyhow::Error::from),
        Command::Gateway(args) => gateway::run(*args).await,
        Command::Submit(args) => submit::run(*args).await,
        Command::Sandbox(args) => sandbox::run(args).await,
        Command::Sign(args) => sign::run(args).await,
        Command::Verify(args) => verify::run(args).await,
        Command::Cert(args) => cert::run(args).await,
        Command::Validate(args) => validate::run(args).await,
        Command::Convert(args) => convert::run(args).await,
        Command::New(args) => new::run(args).await,
        Command::Render(args) => render::run(*args).await,
        Command::Codes(args) => codes::run(args).await,
        Command::Api(args) => api::run(*args).await,
        Command::Archive(args) => archive::run(*args).await,
        Command::Receipts(args) => receipts::run(*args).await,
        Command::Documents(args) => documents::run(*args).await,
        Command::Received(args) => received::run(*args).await,
        Command::Clients(args) => clients::run(*args).await,
        Command::Webhooks(args) => webhooks::run(*args).await,
    };
    match result {
        Ok(code) => code,
        // The reader has gone: nothing is left to say to it, and nothing went wrong here.
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// Whether an error is, somewhere in its chain, a write to a closed pipe.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        super::Cli::command().debug_assert();
    }

    #[test]
    fn log_colours_only_on_a_terminal_without_no_color() {
        use std::ffi::OsStr;
        assert!(super::log_colours(true, None));
        assert!(super::log_colours(true, Some(OsStr::new(""))));
        assert!(!super::log_colours(true, Some(OsStr::new("1"))));
        assert!(!super::log_colours(false, None));
    }
}
