//! `invois sandbox`: run a MyInvois-compatible server locally.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use invois_api::{RateClass, RateProfile};
use invois_sandbox::{Clock, Fixtures, Sandbox, SandboxConfig};

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct Args {
    /// `invois sandbox report`; without a subcommand, run the server.
    #[command(subcommand)]
    command: Option<crate::sandbox_report::Command>,
    /// Address of the MyInvois API (identity and system APIs).
    #[arg(long, default_value = "127.0.0.1:8642", env = "INVOIS_SANDBOX_LISTEN")]
    listen: SocketAddr,
    /// Which MyInvois to stand for: `production` (the official rate limits, and the dated
    /// rules in force in production) or `sandbox` (lower limits, like preprod, and the dated
    /// rules LHDN's sandbox applies, which start earlier); see `invois codes rules`.
    #[arg(long, default_value = "production", value_parser = parse_profile)]
    profile: RateProfile,
    /// Run every time-based rule N times faster (token expiry, rate windows, validation
    /// delay, duplicate and 72-hour windows).
    #[arg(long, default_value_t = 1.0, value_parser = parse_scale)]
    time_scale: f64,
    /// Taxpayers, ERP clients and intermediaries (JSON); the built-in demo fixture otherwise.
    #[arg(long, env = "INVOIS_SANDBOX_FIXTURES")]
    fixtures: Option<PathBuf>,
    /// Serve the admin API (clock, faults, reset, stats) on this address. Off by default.
    #[arg(long)]
    admin_listen: Option<SocketAddr>,
    /// Sandbox-clock time from acceptance to the end of validation, e.g. `2s`, `500ms`, `1m`.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    validation_delay: Duration,
    /// Override one class's budget: `CLASS=RPM`, e.g. `get_submission=10` (repeatable).
    #[arg(long = "rate-limit", value_parser = parse_override)]
    rate_limits: Vec<(RateClass, u32)>,
    /// Calls kept per ERP client id for `invois sandbox report` (older ones are folded into
    /// counters); 0 turns the report's recorder off.
    #[arg(long, default_value_t = invois_sandbox::report::DEFAULT_WINDOW)]
    report_window: usize,
    /// Code directory (as `invois codes sync|import` write it) whose official files replace
    /// the built-in code tables of the Code step [default: ~/.local/share/invois/codes when it
    /// exists].
    #[arg(long, env = "INVOIS_SANDBOX_CODES_DIR")]
    codes_dir: Option<PathBuf>,
    /// Also trust the CA certificates in this PEM (or DER) file for document signatures,
    /// besides the invois test CA (repeatable), e.g. the real MyInvois CA roots.
    #[arg(long = "trust-ca", value_name = "FILE.pem")]
    trust_ca: Vec<PathBuf>,
    /// Make the Core Fields step also enforce line and document sums (not documented as
    /// checked by MyInvois, so off by default).
    #[arg(long)]
    check_arithmetic: bool,
}

impl Args {
    /// The code tables of the Code step: the built-in ones, overridden by a code directory.
    fn codes(&self) -> anyhow::Result<crate::codes::Loaded> {
        crate::codes::load(self.codes_dir.as_deref())
    }
}

fn parse_profile(s: &str) -> Result<RateProfile, String> {
    s.parse()
}

fn parse_scale(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if v.is_finite() && v > 0.0 && v <= 1_000_000.0 {
        Ok(v)
    } else {
        Err("the time scale must be a positive number up to 1000000".to_owned())
    }
}

/// `500ms`, `2s`, `5m`, `1h`, or a bare number of seconds.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration such as 2s or 500ms"))?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        other => return Err(format!("unknown unit `{other}` (use ms, s, m or h)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("`{s}`: {e}"))
}

fn parse_override(s: &str) -> Result<(RateClass, u32), String> {
    let (class, rpm) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not CLASS=RPM"))?;
    let class = RateClass::from_key(class.trim()).ok_or_else(|| {
        let known: Vec<&str> = RateClass::ALL.iter().map(|c| c.key()).collect();
        format!("unknown class `{class}`; known: {}", known.join(", "))
    })?;
    let rpm = rpm
        .trim()
        .parse()
        .map_err(|_| format!("`{rpm}` is not a number of requests per minute"))?;
    Ok((class, rpm))
}

pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let Some(command) = &args.command {
        return crate::sandbox_report::run(command).await;
    }
    let started = std::time::Instant::now();
    let fixtures = match &args.fixtures {
        Some(path) => Fixtures::from_file(path)?,
        None => Fixtures::demo(),
    };
    let codes = args.codes()?;
    outln!("{}", codes.describe())?;
    let codes = codes.tables;
    let mut trust = invois_sign::TrustStore::test_ca().context("the invois test CA")?;
    for file in &args.trust_ca {
        let pem = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        let n = trust
            .add_pem(&pem)
            .with_context(|| format!("no usable CA certificate in {}", file.display()))?;
        outln!("trusting {n} CA certificate(s) from {}", file.display())?;
    }
    let config = SandboxConfig {
        codes: std::sync::Arc::new(codes),
        trust,
        check_arithmetic: args.check_arithmetic,
        profile: args.profile,
        rate_overrides: args.rate_limits.iter().copied().collect::<HashMap<_, _>>(),
        clock: Clock::scaled(args.time_scale),
        validation_delay: args.validation_delay,
        fixtures,
        ..SandboxConfig::default()
    };
    let config = SandboxConfig {
        report_window: Some(args.report_window).filter(|w| *w > 0),
        ..config
    };
    let sandbox = Sandbox::new(config);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let admin = match args.admin_listen {
        Some(a) => Some(
            tokio::net::TcpListener::bind(a)
                .await
                .with_context(|| format!("cannot listen on {a} for the admin API"))?,
        ),
        None => None,
    };

    print_banner(&sandbox, addr, admin.as_ref(), &args)?;
    outln!(
        "ready in {} ms; Ctrl-C stops",
        started.elapsed().as_millis()
    )?;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let admin_task = admin.map(|l| {
        let router = invois_sandbox::admin_router(sandbox.clone());
        let mut rx = stop_rx.clone();
        tokio::spawn(async move {
            invois_sandbox::serve(l, router, async move {
                let _ = rx.wait_for(|stop| *stop).await;
            })
            .await
        })
    });
    let mut rx = stop_rx.clone();
    let api = tokio::spawn(invois_sandbox::serve(
        listener,
        invois_sandbox::router(sandbox.clone()),
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        },
    ));
    shutdown_signal().await;
    eprintln!("shutting down");
    let _ = stop_tx.send(true);
    // In-flight requests get a few seconds to finish; then we stop regardless.
    let wait = async {
        let _ = api.await;
        if let Some(t) = admin_task {
            let _ = t.await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), wait).await;
    Ok(ExitCode::SUCCESS)
}

fn print_banner(
    sandbox: &Sandbox,
    addr: SocketAddr,
    admin: Option<&tokio::net::TcpListener>,
    args: &Args,
) -> std::io::Result<()> {
    outln!("invois sandbox: MyInvois-compatible API at http://{addr}")?;
    outln!("  identity base URL: http://{addr}   (POST /connect/token)")?;
    outln!("  API base URL:      http://{addr}   (/api/v1.0/...)")?;
    if let Some(a) = admin.and_then(|l| l.local_addr().ok()) {
        outln!("  admin API:         http://{a}/admin/...")?;
    }
    outln!(
        "  profile: {:?}, time scale: x{}, validation delay: {:?}",
        args.profile,
        args.time_scale,
        args.validation_delay
    )?;
    let fixtures = sandbox.fixtures();
    outln!(
        "  fixtures: {}",
        match &args.fixtures {
            Some(p) => p.display().to_string(),
            None => "built-in demo".to_owned(),
        }
    )?;
    outln!()?;
    outln!("credentials:")?;
    for c in fixtures.credentials() {
        let secret = c.client_secret.as_deref().unwrap_or("(from fixture file)");
        outln!("  {} {} ({})", c.role, c.name, c.tin)?;
        outln!("    client_id:     {}", c.client_id)?;
        outln!("    client_secret: {secret}")?;
        if !c.represents.is_empty() {
            outln!("    onbehalfof:    {}", c.represents.join(", "))?;
        }
    }
    Ok(())
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert!(parse_duration("2 weeks").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn a_missing_codes_dir_is_an_error_and_none_means_the_built_in_tables() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: Args,
        }
        let missing = std::env::temp_dir().join("invois-no-such-codes-dir");
        let cli = <Cli as clap::Parser>::try_parse_from([
            "sandbox".as_ref(),
            "--codes-dir".as_ref(),
            missing.as_os_str(),
        ])
        .unwrap();
        let err = cli.args.codes().unwrap_err();
        assert!(
            format!("{err:#}").contains(&missing.display().to_string()),
            "{err:#}"
        );
        let cli = <Cli as clap::Parser>::try_parse_from(["sandbox"]).unwrap();
        if cli.args.codes_dir.is_none() {
            let codes = cli.args.codes().unwrap().tables;
            assert_eq!(
                codes.contains(invois_model::Table::Msic, "46510"),
                Some(true)
            );
        }
    }

    #[test]
    fn overrides_and_scales() {
        assert_eq!(
            parse_override("get_submission=10").unwrap(),
            (RateClass::GetSubmission, 10)
        );
        assert!(parse_override("nope=1").is_err());
        assert!(parse_override("get_submission").is_err());
        assert!(parse_scale("0").is_err());
        assert_eq!(parse_scale("60").unwrap(), 60.0);
    }
}
