//! `invois sandbox report`: what a running sandbox saw an ERP do, judged against LHDN's
//! Integration Practices. The sandbox records every call; this fetches the JSON report from
//! its admin API and renders it as text (default), JSON or one self-contained HTML page.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use invois_sandbox::report::{Report, render};

/// Subcommands of `invois sandbox` (none: run the server).
#[derive(Debug, Clone, clap::Subcommand)]
pub(crate) enum Command {
    /// The integration report of a running sandbox: findings (throttling anti-patterns) with
    /// evidence, calls per endpoint and a timeline.
    Report(Args),
}

#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Args {
    /// The running sandbox's admin API, as started with `invois sandbox --admin-listen ADDR`
    /// (e.g. `http://127.0.0.1:8643` or `127.0.0.1:8643`).
    #[arg(long, env = "INVOIS_SANDBOX_ADMIN")]
    admin: String,
    /// Only this ERP client id.
    #[arg(long)]
    client_id: Option<String>,
    /// Print the JSON report.
    #[arg(long, conflicts_with = "html")]
    json: bool,
    /// Print one self-contained HTML page (findings, then a timeline per endpoint).
    #[arg(long)]
    html: bool,
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Exit with 1 when there is any finding (for CI).
    #[arg(long)]
    fail_on_findings: bool,
}

pub(crate) async fn run(command: &Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Report(args) => report(args).await,
    }
}

fn admin_base(admin: &str) -> String {
    let admin = admin.trim().trim_end_matches('/');
    if admin.starts_with("http://") || admin.starts_with("https://") {
        admin.to_owned()
    } else {
        format!("http://{admin}")
    }
}

async fn report(args: &Args) -> anyhow::Result<ExitCode> {
    let base = admin_base(&args.admin);
    let mut url = reqwest::Url::parse(&format!("{base}/admin/report"))
        .with_context(|| format!("`{}` is not an address", args.admin))?;
    if let Some(c) = &args.client_id {
        url.query_pairs_mut().append_pair("clientId", c);
    }
    let resp = reqwest::Client::new()
        .get(url.clone())
        .send()
        .await
        .with_context(|| {
            format!("cannot reach the sandbox admin API at {base} (start it with --admin-listen)")
        })?;
    let status = resp.status();
    let body = resp.text().await.context("reading the report")?;
    if !status.is_success() {
        bail!("{url} answered {status}: {body}");
    }
    let report: Report =
        serde_json::from_str(&body).with_context(|| format!("{url} did not return a report"))?;
    let out = if args.json {
        serde_json::to_string_pretty(&report)?
    } else if args.html {
        render::html(&report)
    } else {
        render::text(&report)
    };
    match &args.output {
        Some(path) => {
            std::fs::write(path, out).with_context(|| format!("cannot write {}", path.display()))?
        }
        None => {
            use std::io::Write as _;
            let mut stdout = std::io::stdout().lock();
            // A closed pipe (`| head`) is not an error.
            let _ = stdout.write_all(out.as_bytes());
            if !out.ends_with('\n') {
                let _ = stdout.write_all(b"\n");
            }
        }
    }
    Ok(if args.fail_on_findings && report.finding_count() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_addresses() {
        assert_eq!(admin_base("127.0.0.1:8643"), "http://127.0.0.1:8643");
        assert_eq!(admin_base("http://h:1/"), "http://h:1");
    }
}
