//! Test helpers shared by every crate's tests: start a MyInvois sandbox on `127.0.0.1:0`
//! ([`TestSandbox`]), the project's own test documents ([`fixtures`], read through
//! [`corpus`], which also reaches LHDN's official samples when `INVOIS_LHDN_SAMPLES` is set),
//! adapting documents to a sandbox ([`samples`]), XML signatures whose PropsDigest a
//! third-party signer computed ([`props_forms`]), and a database per store backend for suites
//! that run every case on SQLite and PostgreSQL ([`db`]).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use std::time::Duration;
//! let sandbox = invois_testkit::TestSandbox::builder()
//!     .time_scale(60.0)
//!     .validation_delay(Duration::from_secs(1))
//!     .start()
//!     .await?;
//! let base = sandbox.base_url(); // identity and API base URL
//! let who = sandbox.supplier();  // demo taxpayer credentials
//! # let _ = (base, who);
//! sandbox.clock().advance(Duration::from_secs(3600));
//! # Ok(()) }
//! ```
// Functions a reader can hold (clippy.toml sets 120 lines); tests and benches may run longer.
#![warn(clippy::too_many_lines)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use invois_api::{RateClass, RateProfile};
pub use invois_clock::Clock;
pub use invois_sandbox::{
    CallObserver, CallRecord, DemoCredentials, Fixtures, RunningSandbox, Sandbox, SandboxConfig,
    Validator,
};

pub mod corpus;
pub mod db;
pub mod fixtures;
pub mod props_forms;
pub mod samples;

pub use corpus::{Corpus, fixture_json, fixture_xml, unsigned_fixture};
pub use fixtures::{Kind, Version};

/// A bench's knob: the environment variable `name` read as a `T`, or `default` when it is
/// unset or does not parse.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Builds a [`TestSandbox`].
#[derive(Debug)]
pub struct TestSandboxBuilder {
    config: SandboxConfig,
    time_scale: Option<f64>,
    admin: bool,
}

impl TestSandboxBuilder {
    /// Runs the clock `scale` times faster than real time.
    pub fn time_scale(mut self, scale: f64) -> Self {
        self.time_scale = Some(scale);
        self
    }

    /// Uses this clock (takes precedence over `time_scale`).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.config.clock = clock;
        self.time_scale = None;
        self
    }

    /// Official or sandbox budgets.
    pub fn profile(mut self, profile: RateProfile) -> Self {
        self.config.profile = profile;
        self
    }

    /// Overrides one class's budget (requests per minute).
    pub fn rate_limit(mut self, class: RateClass, rpm: u32) -> Self {
        self.config.rate_overrides.insert(class, rpm);
        self
    }

    /// Replaces all budget overrides.
    pub fn rate_limits(mut self, overrides: HashMap<RateClass, u32>) -> Self {
        self.config.rate_overrides = overrides;
        self
    }

    /// Time (on the clock) from acceptance to the end of validation.
    pub fn validation_delay(mut self, delay: Duration) -> Self {
        self.config.validation_delay = delay;
        self
    }

    /// Uses these taxpayers and clients instead of the demo fixture.
    pub fn fixtures(mut self, fixtures: Fixtures) -> Self {
        self.config.fixtures = fixtures;
        self
    }

    /// Appends a validation step.
    pub fn validator(mut self, validator: Arc<dyn Validator>) -> Self {
        self.config.validators.push(validator);
        self
    }

    /// Receives every call.
    pub fn observer(mut self, observer: Arc<dyn CallObserver>) -> Self {
        self.config.observer = observer;
        self
    }

    /// Also starts the admin API.
    pub fn with_admin(mut self) -> Self {
        self.admin = true;
        self
    }

    /// Starts the sandbox on `127.0.0.1:0`. The listener is bound before this returns, so
    /// requests can be sent at once.
    pub async fn start(mut self) -> std::io::Result<TestSandbox> {
        if let Some(scale) = self.time_scale {
            self.config.clock = Clock::scaled(scale);
        }
        let running = invois_sandbox::spawn(self.config, self.admin).await?;
        Ok(TestSandbox { running })
    }
}

/// A sandbox running for a test; stops when dropped.
#[derive(Debug)]
pub struct TestSandbox {
    running: RunningSandbox,
}

impl TestSandbox {
    /// A builder with the defaults: demo fixture, production budgets, real-time clock,
    /// 2-second validation delay.
    pub fn builder() -> TestSandboxBuilder {
        TestSandboxBuilder {
            config: SandboxConfig::default(),
            time_scale: None,
            admin: false,
        }
    }

    /// Starts a sandbox with the defaults, except a short (200 ms) validation delay.
    pub async fn start() -> std::io::Result<TestSandbox> {
        TestSandbox::builder()
            .validation_delay(Duration::from_millis(200))
            .start()
            .await
    }

    /// `http://127.0.0.1:PORT`: both the identity and the API base URL.
    pub fn base_url(&self) -> &str {
        &self.running.base_url
    }

    /// The admin API base URL, if started.
    pub fn admin_url(&self) -> Option<&str> {
        self.running.admin_url.as_deref()
    }

    /// The sandbox's clock.
    pub fn clock(&self) -> &Clock {
        self.running.clock()
    }

    /// The sandbox state (store, faults, counters).
    pub fn sandbox(&self) -> &Sandbox {
        &self.running.sandbox
    }

    /// Every credential of the fixture.
    pub fn credentials(&self) -> &[DemoCredentials] {
        &self.running.credentials
    }

    /// The demo supplier taxpayer (first taxpayer of the fixture).
    pub fn supplier(&self) -> Login {
        self.login_of("taxpayer", 0)
    }

    /// The demo buyer taxpayer (second taxpayer of the fixture).
    pub fn buyer(&self) -> Login {
        self.login_of("taxpayer", 1)
    }

    /// The demo intermediary, with `on_behalf_of` set to the first taxpayer it represents.
    pub fn intermediary(&self) -> Login {
        self.login_of("intermediary", 0)
    }

    fn login_of(&self, role: &str, n: usize) -> Login {
        let fixtures = self.running.sandbox.fixtures();
        let c = self
            .running
            .credentials
            .iter()
            .filter(|c| c.role == role)
            .nth(n)
            .unwrap_or_else(|| panic!("the fixture has no {role} number {n}"));
        let secret = if role == "intermediary" {
            fixtures
                .intermediaries
                .iter()
                .find(|i| i.client_id == c.client_id)
                .map(|i| i.client_secret.clone())
        } else {
            fixtures
                .taxpayers
                .iter()
                .flat_map(|t| t.clients.iter())
                .find(|x| x.client_id == c.client_id)
                .map(|x| x.client_secret.clone())
        }
        .unwrap_or_default();
        let on_behalf_of = c.represents.first().cloned();
        Login {
            tin: on_behalf_of.clone().unwrap_or_else(|| c.tin.clone()),
            client_id: c.client_id.clone(),
            client_secret: secret,
            on_behalf_of,
        }
    }

    /// Stops the server.
    pub async fn shutdown(self) {
        self.running.shutdown().await;
    }
}

/// Credentials to log in with.
#[derive(Clone, PartialEq, Eq)]
pub struct Login {
    /// The TIN the token will act as (the represented taxpayer for an intermediary).
    pub tin: String,
    /// Client id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: String,
    /// `onbehalfof` header value, for intermediaries.
    pub on_behalf_of: Option<String>,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("tin", &self.tin)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("on_behalf_of", &self.on_behalf_of)
            .finish()
    }
}
