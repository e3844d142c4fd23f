//! `invois gateway`: the ERP-side service (durable outbox, exactly-once submission, polling,
//! ERP API). With no configuration it keeps its state in `./invois.db` and, without MyInvois
//! credentials, submits to a built-in sandbox, and says so.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use invois_api::RateProfile;
use invois_client::{Client, Environment, EnvironmentName};
use invois_clock::Clock;
use invois_gateway::clients::{ClientPool, LoginMode};
use invois_gateway::metrics::Metrics;
use invois_gateway::pipeline::{PipelineConfig, Shutdown};
use invois_gateway::service::Gateway;
use invois_gateway::store::{self, Store};
use invois_gateway::webhooks::{WebhookConfig, WebhookSecret};
use invois_sign::Signer;

/// `invois gateway`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    pub(crate) setup: Setup,
    /// Address of the ERP API.
    #[arg(long, default_value = "127.0.0.1:8080", env = "INVOIS_LISTEN")]
    listen: SocketAddr,
    /// Create an API key with this name, print it once, and exit.
    #[arg(long, value_name = "NAME")]
    create_api_key: Option<String>,
    /// With --create-api-key: the key may only read (GET routes, dashboard pages, PDFs);
    /// every write is refused with 403 `read_only_key`. For an accountant or an auditor.
    #[arg(long, requires = "create_api_key")]
    read_only: bool,
    /// POST every document status change to this URL (signed with HMAC-SHA256).
    #[arg(long, env = "INVOIS_WEBHOOK_URL")]
    webhook_url: Option<url::Url>,
    /// Environment variable holding the webhook signing secret.
    #[arg(long, default_value = "INVOIS_WEBHOOK_SECRET")]
    webhook_secret_env: String,
}

/// What `invois gateway` and `invois submit` share: where state lives and how to reach
/// MyInvois.
#[derive(Debug, clap::Args)]
pub(crate) struct Setup {
    /// Database: `sqlite://PATH` (embedded, the default) or `postgres://...` (several
    /// instances).
    #[arg(long = "database", env = "INVOIS_DATABASE_URL", default_value = store::DEFAULT_DATABASE_URL)]
    pub(crate) database: String,
    /// ERP client id. Without it (and the secret) a built-in sandbox is used.
    #[arg(long, env = "INVOIS_CLIENT_ID")]
    client_id: Option<String>,
    /// ERP client secret.
    #[arg(long, env = "INVOIS_CLIENT_SECRET", hide_env_values = true)]
    client_secret: Option<String>,
    /// `sandbox` (LHDN pre-production) or `production`. It also names whose dated rules are
    /// applied before sending, with --api-base too.
    #[arg(long = "env", env = "INVOIS_ENV", default_value = "sandbox")]
    environment: String,
    /// API base URL (a local `invois sandbox`, a proxy); overrides --env.
    #[arg(long, env = "INVOIS_API_BASE")]
    api_base: Option<String>,
    /// Identity base URL for /connect/token; defaults to the API host.
    #[arg(long, env = "INVOIS_IDENTITY_BASE")]
    identity_base: Option<String>,
    /// Portal base URL for validation links.
    #[arg(long, env = "INVOIS_PORTAL_BASE")]
    portal_base: Option<String>,
    /// The credentials are an intermediary's: send each document `onbehalfof` its supplier.
    #[arg(long, env = "INVOIS_INTERMEDIARY")]
    intermediary: bool,
    /// Rate budgets: `production` or `sandbox`; defaults to the environment's.
    #[arg(long, env = "INVOIS_RATE_PROFILE")]
    rate_profile: Option<RateProfile>,
    /// Run the clock this many times faster (match a sandbox's --time-scale).
    #[arg(long, env = "INVOIS_TIME_SCALE", default_value_t = 1.0)]
    time_scale: f64,
    /// Sign unsigned 1.1/1.3 documents with this certificate (.p12, or PEM with --key).
    #[arg(long, env = "INVOIS_CERT")]
    cert: Option<PathBuf>,
    /// PEM private key for a PEM --cert.
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// Environment variable holding the PKCS#12 password (default INVOIS_CERT_PASSWORD).
    #[arg(long, requires = "cert")]
    password_env: Option<String>,
    /// Also block documents whose line or document sums do not add up (MyInvois does not
    /// document checking them, so by default they are only reported).
    #[arg(long)]
    strict_arithmetic: bool,
    /// Code directory (as `invois codes sync|import` write it) whose official files replace
    /// the built-in code tables [default: ~/.local/share/invois/codes when it exists].
    #[arg(long, env = "INVOIS_CODES_DIR")]
    codes_dir: Option<PathBuf>,
    /// How long a worker holds documents it claimed (tests: recovery after a kill).
    #[arg(long, hide = true, value_parser = crate::sandbox::parse_duration)]
    claim_lease: Option<Duration>,
    /// How long a worker may take between a submission intent and its outcome.
    #[arg(long, hide = true, value_parser = crate::sandbox::parse_duration)]
    submit_lease: Option<Duration>,
    /// How long after an unknown outcome "not found by search" is believed.
    #[arg(long, hide = true, value_parser = crate::sandbox::parse_duration)]
    reconcile_grace: Option<Duration>,
    /// How far around a submission's lifetime the reconciling search looks (clock skew).
    #[arg(long, hide = true, value_parser = crate::sandbox::parse_duration)]
    reconcile_slack: Option<Duration>,
}

/// What [`Setup::build`] assembled.
pub(crate) struct Built {
    pub(crate) store: Arc<Store>,
    pub(crate) clients: ClientPool,
    pub(crate) signer: Option<Arc<Signer>>,
    pub(crate) config: PipelineConfig,
    /// The built-in sandbox, when no credentials were given (kept running while held).
    pub(crate) sandbox: Option<invois_sandbox::RunningSandbox>,
}

impl Setup {
    /// The code tables documents are checked against: the built-in ones, overridden by a code
    /// directory.
    fn codes(&self) -> anyhow::Result<crate::codes::Loaded> {
        crate::codes::load(self.codes_dir.as_deref())
    }

    /// Opens the store and builds the client (starting the built-in sandbox when there are
    /// no credentials), printing what it chose.
    pub(crate) async fn build(&self) -> anyhow::Result<Built> {
        // First, so a wrong --codes-dir fails before anything is opened or started.
        let codes = self.codes()?;
        eprintln!("{}", codes.describe());
        let codes = Arc::new(codes.tables);
        let clock = Clock::scaled(self.time_scale);
        let metrics = Metrics::new();
        // The URL picks the backend once: one pool and one migration run, shared by the store
        // and the rate budget.
        let db = store::Db::open(&self.database)
            .await
            .with_context(|| format!("cannot open {}", store::redact_url(&self.database)))?;
        eprintln!("store: {}", store::redact_url(&self.database));
        // On PostgreSQL the budget lives in the database, so every instance sharing it stays
        // within one client id's limits together; on SQLite (one instance) it is in memory.
        let budget = metrics.wrap_budget(invois_gateway::budget::for_database(&db));
        let store: Arc<Store> = Arc::new(store::Store::new(db, clock.clone()));
        let mut signer = match &self.cert {
            Some(cert) => Some(Arc::new(crate::sign::load_signer(
                cert,
                self.key.as_deref(),
                self.password_env.as_deref(),
            )?)),
            None => None,
        };
        let (client, sandbox, mode, rules) = match (&self.client_id, &self.client_secret) {
            (Some(id), Some(secret)) => {
                let name: EnvironmentName = self.environment.parse()?;
                let rules = match name {
                    EnvironmentName::Sandbox => invois_model::Environment::Sandbox,
                    EnvironmentName::Production => invois_model::Environment::Production,
                };
                let mut b = Client::builder()
                    .environment(Environment::from(name))
                    .rate_profile(self.rate_profile.unwrap_or(match name {
                        EnvironmentName::Sandbox => RateProfile::Sandbox,
                        EnvironmentName::Production => RateProfile::Production,
                    }))
                    .clock(clock.clone())
                    .observer(Arc::new(metrics.clone()))
                    .rate_budget(Arc::clone(&budget))
                    .credentials(id.clone(), secret.as_str());
                if let Some(u) = &self.api_base {
                    b = b.api_base(u.clone());
                }
                if let Some(u) = &self.identity_base {
                    b = b.identity_base(u.clone());
                }
                if let Some(u) = &self.portal_base {
                    b = b.portal_base(u.clone());
                }
                let mode = if self.intermediary {
                    LoginMode::Intermediary
                } else {
                    LoginMode::Taxpayer
                };
                (b.build()?, None, mode, rules)
            }
            (None, None) => {
                let (client, sandbox, test_signer) =
                    builtin_sandbox(clock.clone(), &metrics, Arc::clone(&budget), &codes).await?;
                signer = signer.or(Some(test_signer));
                // The built-in sandbox applies the rules of the environment its profile
                // stands for; the gateway applies the same ones.
                let rules = invois_model::Environment::from(sandbox.sandbox.config().profile);
                (client, Some(sandbox), LoginMode::Taxpayer, rules)
            }
            (Some(_), None) => {
                bail!("a client id but no client secret: set INVOIS_CLIENT_SECRET")
            }
            (None, Some(_)) => bail!("a client secret but no client id: set INVOIS_CLIENT_ID"),
        };
        let defaults = PipelineConfig::default();
        eprintln!("dated rules: those in force in {rules} (see `invois codes rules`)");
        let config = PipelineConfig {
            strict_arithmetic: self.strict_arithmetic,
            environment: rules,
            codes,
            metrics: metrics.clone(),
            claim_lease: self.claim_lease.unwrap_or(defaults.claim_lease),
            submit_lease: self.submit_lease.unwrap_or(defaults.submit_lease),
            reconcile_grace: self.reconcile_grace.unwrap_or(defaults.reconcile_grace),
            reconcile_slack: self.reconcile_slack.unwrap_or(defaults.reconcile_slack),
            ..defaults
        };
        Ok(Built {
            store,
            clients: ClientPool::new(client, mode),
            signer,
            config,
            sandbox,
        })
    }
}

/// Starts the built-in sandbox on a free port with the demo fixture, and a client logged in
/// as its demo supplier with a test certificate the sandbox trusts.
async fn builtin_sandbox(
    clock: Clock,
    metrics: &Metrics,
    budget: Arc<dyn invois_client::RateBudget>,
    codes: &Arc<invois_model::CodeTables>,
) -> anyhow::Result<(Client, invois_sandbox::RunningSandbox, Arc<Signer>)> {
    let config = invois_sandbox::SandboxConfig {
        clock: clock.clone(),
        // The same tables as the gateway's own check, so both sides agree on a code.
        codes: Arc::clone(codes),
        ..invois_sandbox::SandboxConfig::default()
    };
    let running = invois_sandbox::spawn(config, false)
        .await
        .context("cannot start the built-in sandbox")?;
    let fixtures = running.sandbox.fixtures();
    let supplier = fixtures
        .taxpayers
        .first()
        .context("the demo fixture has no taxpayer")?;
    let client_secret = supplier
        .clients
        .first()
        .context("the demo taxpayer has no ERP client")?;
    // No portal base: the client's portal is then its API base, the built-in sandbox, which
    // serves the validation page itself. A preprod link would name a document LHDN never saw.
    let client = Client::builder()
        .api_base(running.base_url.clone())
        .rate_profile(running.sandbox.config().profile)
        .clock(clock)
        .observer(Arc::new(metrics.clone()))
        .rate_budget(budget)
        .credentials(
            client_secret.client_id.clone(),
            client_secret.client_secret.as_str(),
        )
        .build()?;
    let signer = invois_sign::TestCa::well_known()?
        .issue(&invois_sign::TestCertRequest::new(
            &supplier.tin,
            &supplier.id_value,
        ))?
        .signer()?;
    eprintln!(
        "no MyInvois credentials (INVOIS_CLIENT_ID / INVOIS_CLIENT_SECRET): submitting to the \
         built-in sandbox at {} as the demo taxpayer {} ({}), signing with a test certificate. \
         Nothing reaches LHDN; validation links open the sandbox's own page, while it runs.",
        running.base_url, supplier.tin, supplier.name
    );
    Ok((client, running, Arc::new(signer)))
}

pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    if let Some(name) = &args.create_api_key {
        let store = store::open(&args.setup.database, Clock::real()).await?;
        let scope = if args.read_only {
            store::ApiKeyScope::ReadOnly
        } else {
            store::ApiKeyScope::Full
        };
        let (record, secret) = store.api_keys().create_scoped(name, scope).await?;
        eprintln!(
            "{} API key `{}` ({}...) created; it is shown once, here:",
            if args.read_only {
                "Read-only"
            } else {
                "Full-access"
            },
            record.name,
            record.prefix
        );
        outln!("{}", secret.expose())?;
        return Ok(ExitCode::SUCCESS);
    }
    let built = args.setup.build().await?;
    // Never send another client id's stored work with these credentials (for example real
    // documents to the built-in sandbox, when the credentials were forgotten).
    crate::submit::refuse_other_clients_work(built.store.as_ref(), built.clients.client_id())
        .await?;
    if built.store.api_keys().list().await?.is_empty() {
        let (record, secret) = built.store.api_keys().create("default").await?;
        // Shown once so a first run is usable at once; only its hash is stored.
        eprintln!(
            "no API key yet: created `{}`; send it as `Authorization: Bearer <key>`. It is \
             shown once, now:\n{}",
            record.name,
            secret.expose()
        );
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let mut gateway = Gateway::new(built.store, built.clients, built.signer, built.config);
    if let Some(url) = &args.webhook_url {
        let secret = std::env::var(&args.webhook_secret_env).with_context(|| {
            format!(
                "--webhook-url needs a signing secret in the environment variable {}",
                args.webhook_secret_env
            )
        })?;
        anyhow::ensure!(
            secret.len() >= 16,
            "the webhook secret in {} is shorter than 16 characters",
            args.webhook_secret_env
        );
        gateway =
            gateway.with_webhooks(WebhookConfig::new(url.clone(), WebhookSecret::new(secret)))?;
        eprintln!(
            "webhooks: every status change is POSTed to {}://{}",
            url.scheme(),
            url.host_str().unwrap_or("")
        );
    }
    eprintln!(
        "ERP API on http://{addr} (OpenAPI at /openapi.json, dashboard at /dashboard, metrics \
         at /metrics); ready in {} ms; Ctrl-C stops",
        started.elapsed().as_millis()
    );
    let (trigger, shutdown) = Shutdown::new();
    let service = tokio::spawn(gateway.run(listener, shutdown));
    crate::sandbox::shutdown_signal().await;
    eprintln!("shutting down");
    trigger.trigger();
    // Loops stop after their current step; a step cut short is recovered on the next start.
    let _ = tokio::time::timeout(Duration::from_secs(10), service).await;
    if let Some(sandbox) = built.sandbox {
        sandbox.shutdown().await;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        setup: Setup,
    }

    #[test]
    fn a_missing_codes_dir_is_an_error_naming_it() {
        let missing = std::env::temp_dir().join("invois-no-such-codes-dir");
        let cli = <Cli as clap::Parser>::try_parse_from([
            "gateway".as_ref(),
            "--codes-dir".as_ref(),
            missing.as_os_str(),
        ])
        .unwrap();
        let err = cli.setup.codes().unwrap_err();
        assert!(
            format!("{err:#}").contains(&missing.display().to_string()),
            "{err:#}"
        );
    }

    #[test]
    fn a_codes_dir_replaces_its_tables_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("CurrencyCodes.json"),
            r#"[{"Code":"MYR","Currency":"Malaysian Ringgit"}]"#,
        )
        .unwrap();
        let cli = <Cli as clap::Parser>::try_parse_from([
            "gateway".as_ref(),
            "--codes-dir".as_ref(),
            dir.path().as_os_str(),
        ])
        .unwrap();
        let codes = cli.setup.codes().unwrap();
        assert!(
            codes.describe().contains("currencies"),
            "{}",
            codes.describe()
        );
        let tables = codes.tables;
        use invois_model::Table;
        assert_eq!(tables.contains(Table::Currencies, "USD"), Some(false));
        assert_eq!(tables.contains(Table::Countries, "MYS"), Some(true));
    }
}
