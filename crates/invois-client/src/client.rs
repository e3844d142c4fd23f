//! The client, its builder, and the one request path every call goes through:
//! rate budget → token → send → classify → (maybe) retry.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::header::{ACCEPT, ACCEPT_LANGUAGE, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use invois_api::endpoint::{Host, Method};
use invois_api::identity::{GRANT_TYPE, ON_BEHALF_OF_HEADER, SCOPE, TokenRequest, TokenResponse};
use invois_api::{CORRELATION_ID_HEADER, Endpoint, ErrorEnvelope, RateClass, RateProfile};
use invois_clock::Clock;
use serde::de::DeserializeOwned;
use url::Url;

use crate::config::{CredentialField, Credentials, Environment, check_credential};
use crate::error::{ConfigError, Error, HttpFailure, LoginHalt, TransportKind};
use crate::observer::{CallEvent, CallOutcome, ClientObserver, NoopObserver};
use crate::poller::PollConfig;
use crate::rate::{Admission, BudgetError, BudgetKey, InProcessBudget, RateBudget, RateLimits};
use crate::retry::{RetryPolicy, parse_retry_after};
use crate::secret::{AccessToken, ClientSecret};

/// Builds a [`Client`].
#[must_use]
pub struct ClientBuilder {
    environment: Option<Environment>,
    api_base: Option<String>,
    identity_base: Option<String>,
    portal_base: Option<String>,
    client_id: Option<String>,
    client_secret: Option<ClientSecret>,
    on_behalf_of: Option<String>,
    limits: RateLimits,
    budget: Option<Arc<dyn RateBudget>>,
    clock: Option<Clock>,
    retry: RetryPolicy,
    request_timeout: Duration,
    connect_timeout: Duration,
    token_refresh_margin: Duration,
    refused_login_retry: Duration,
    poll: PollConfig,
    observer: Option<Arc<dyn ClientObserver>>,
    signer: Option<Arc<invois_sign::Signer>>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("environment", &self.environment)
            .field("api_base", &self.api_base)
            .field("identity_base", &self.identity_base)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("on_behalf_of", &self.on_behalf_of)
            .field("signer", &self.signer)
            .finish_non_exhaustive()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            environment: None,
            api_base: None,
            identity_base: None,
            portal_base: None,
            client_id: None,
            client_secret: None,
            on_behalf_of: None,
            limits: RateLimits::default(),
            budget: None,
            clock: None,
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            token_refresh_margin: Duration::from_secs(60),
            refused_login_retry: invois_api::identity::REFUSED_LOGIN_RETRY,
            poll: PollConfig::default(),
            observer: None,
            signer: None,
        }
    }
}

impl ClientBuilder {
    /// LHDN production or pre-production, or a custom [`Environment`].
    pub fn environment(mut self, env: impl Into<Environment>) -> Self {
        self.environment = Some(env.into());
        self
    }

    /// A custom API base URL (overrides the environment's).
    pub fn api_base(mut self, url: impl Into<String>) -> Self {
        self.api_base = Some(url.into());
        self
    }

    /// A custom identity base URL, for `/connect/token` (overrides the environment's).
    pub fn identity_base(mut self, url: impl Into<String>) -> Self {
        self.identity_base = Some(url.into());
        self
    }

    /// A custom portal base URL, for validation links.
    pub fn portal_base(mut self, url: impl Into<String>) -> Self {
        self.portal_base = Some(url.into());
        self
    }

    /// The ERP client id and secret. Checked by [`ClientBuilder::build`].
    pub fn credentials(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<ClientSecret>,
    ) -> Self {
        self.client_id = Some(client_id.into());
        self.client_secret = Some(client_secret.into());
        self
    }

    /// Log in as an intermediary acting for this taxpayer (`TIN` or `TIN:ROB`).
    pub fn on_behalf_of(mut self, tin: impl Into<String>) -> Self {
        self.on_behalf_of = Some(tin.into());
        self
    }

    /// The budget table (official production, sandbox, overrides). Default: production.
    pub fn rate_limits(mut self, limits: RateLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Shorthand for `rate_limits(RateLimits::profile(profile))`.
    pub fn rate_profile(mut self, profile: RateProfile) -> Self {
        self.limits = RateLimits::profile(profile);
        self
    }

    /// Where budgets are kept. Default: a fresh [`InProcessBudget`]. Share one store between
    /// clients (or implement [`RateBudget`] on a database) to share budgets.
    pub fn rate_budget(mut self, budget: Arc<dyn RateBudget>) -> Self {
        self.budget = Some(budget);
        self
    }

    /// The clock every wait reads. Default: real time.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Shorthand for `clock(Clock::scaled(scale))`: match a sandbox's `--time-scale`.
    pub fn time_scale(mut self, scale: f64) -> Self {
        self.clock = Some(Clock::scaled(scale));
        self
    }

    /// The retry policy.
    pub fn retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Whole-request timeout (real time). Default 60 s.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Connect timeout (real time). Default 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long before `expires_in` runs out a token is replaced (clock time). Default 60 s.
    pub fn token_refresh_margin(mut self, margin: Duration) -> Self {
        self.token_refresh_margin = margin;
        self
    }

    /// How long after a login refused for good (see [`LoginHalt`]) the client sends one
    /// again by itself (clock time). Default: an hour
    /// ([`invois_api::identity::REFUSED_LOGIN_RETRY`]).
    pub fn refused_login_retry(mut self, wait: Duration) -> Self {
        self.refused_login_retry = wait;
        self
    }

    /// The submission poller's pacing.
    pub fn poll_config(mut self, poll: PollConfig) -> Self {
        self.poll = poll;
        self
    }

    /// Receives events for metrics. Default: none.
    pub fn observer(mut self, observer: Arc<dyn ClientObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Signs documents on the way out (see [`Client::document_submission`]): versions 1.1 and
    /// 1.3 that carry no signature yet are signed with this certificate, at the client clock's
    /// time, before they are encoded.
    pub fn signer(mut self, signer: Arc<invois_sign::Signer>) -> Self {
        self.signer = Some(signer);
        self
    }

    /// Checks everything and builds the client. Placeholder credentials fail here.
    pub fn build(self) -> Result<Client, ConfigError> {
        let (Some(id), Some(secret)) = (self.client_id, self.client_secret) else {
            return Err(ConfigError::MissingCredentials);
        };
        let credentials = Credentials::new(id, secret)?;
        let mut env = match (self.environment, &self.api_base) {
            (_, Some(api)) => {
                let mut e = Environment::custom(api)?;
                if self.portal_base.is_none() {
                    e.portal_base = e.api_base.clone();
                }
                e
            }
            (Some(e), None) => e,
            (None, None) => Environment::preprod(),
        };
        if let Some(identity) = &self.identity_base {
            env = env.with_identity_base(identity)?;
        }
        if let Some(portal) = &self.portal_base {
            env = env.with_portal_base(portal)?;
        }
        if let Some(tin) = &self.on_behalf_of {
            check_credential(CredentialField::OnBehalfOf, Some(tin))?;
        }
        let http = reqwest::Client::builder()
            // Never follow a redirect with a bearer token or a secret in the request.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.request_timeout)
            .connect_timeout(self.connect_timeout)
            .user_agent(concat!("invois-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ConfigError::HttpClient(e.to_string()))?;
        let inner = Inner {
            http,
            env,
            credentials,
            limits: self.limits,
            budget: self.budget.unwrap_or_else(InProcessBudget::shared),
            clock: self.clock.unwrap_or_default(),
            retry: self.retry,
            refresh_margin: self.token_refresh_margin,
            refused_login_retry: self.refused_login_retry,
            login_halt: tokio::sync::watch::Sender::new(None),
            poll: self.poll,
            observer: self.observer.unwrap_or_else(|| Arc::new(NoopObserver)),
            signer: self.signer,
            tokens: parking_lot::Mutex::new(HashMap::new()),
        };
        Ok(Client {
            inner: Arc::new(inner),
            on_behalf_of: self.on_behalf_of.map(|s| Arc::from(s.trim())),
        })
    }
}

/// A MyInvois client. Cheap to clone: clones share the token cache, the rate budget and the
/// HTTP connection pool.
/// How much longer than published a rate window is counted (see `Client::acquire`): one
/// second, about 1.7% of a one-minute window.
pub(crate) const RATE_WINDOW_MARGIN: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
    on_behalf_of: Option<Arc<str>>,
}

pub(crate) struct Inner {
    http: reqwest::Client,
    pub(crate) env: Environment,
    credentials: Credentials,
    limits: RateLimits,
    budget: Arc<dyn RateBudget>,
    pub(crate) clock: Clock,
    pub(crate) retry: RetryPolicy,
    refresh_margin: Duration,
    refused_login_retry: Duration,
    /// Set while logins are halted after a refusal for good; one per client id, whichever
    /// `onbehalfof`, because the credentials refused are the client id's. A watch, so that a
    /// service can surface each change as it happens.
    login_halt: tokio::sync::watch::Sender<Option<Arc<LoginHalt>>>,
    pub(crate) poll: PollConfig,
    observer: Arc<dyn ClientObserver>,
    pub(crate) signer: Option<Arc<invois_sign::Signer>>,
    /// One slot per `onbehalfof` (None: the taxpayer itself); the client id is fixed per
    /// client, so together they key one token per (client id, onbehalfof).
    tokens: parking_lot::Mutex<HashMap<Option<Arc<str>>, Arc<TokenSlot>>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("api_base", &self.inner.env.api_base.as_str())
            .field("identity_base", &self.inner.env.identity_base.as_str())
            .field("credentials", &self.inner.credentials)
            .field("on_behalf_of", &self.on_behalf_of)
            .field("rate_limits", &self.inner.limits)
            .field("retry", &self.inner.retry)
            .field("clock", &self.inner.clock)
            .field("signer", &self.inner.signer)
            .finish_non_exhaustive()
    }
}

/// Whether a token request keeps to a login halt ([`Client::retry_login`] does not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gate {
    Respect,
    Ignore,
}

/// A token URL as shown to people: no user info, query or fragment.
fn token_url(url: &Url) -> String {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_query(None);
    url.set_fragment(None);
    url.to_string()
}

#[derive(Default)]
struct TokenSlot {
    // A tokio mutex held across the login request: that is the single flight. Callers that
    // find it locked wait, then find the fresh token.
    state: tokio::sync::Mutex<SlotState>,
    /// Login attempts finished through this slot. A waiter that sees it move while it waited,
    /// and finds no token, knows the login it waited for failed, and reports that instead of
    /// trying again.
    completed: std::sync::atomic::AtomicU64,
}

#[derive(Default)]
struct SlotState {
    token: Option<CachedToken>,
    last_error: Option<Error>,
}

struct CachedToken {
    token: AccessToken,
    refresh_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

/// A successful response.
#[derive(Debug, Clone)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) correlation_id: Option<String>,
    pub(crate) body: Bytes,
}

/// What one attempt produced.
pub(crate) enum Attempt {
    Response {
        status: u16,
        headers: HeaderMap,
        body: Bytes,
    },
    Transport(TransportKind, String),
}

/// A request to make: endpoint, URL, optional JSON body (bytes, so that a retry and the
/// payload hash use exactly what was sent).
pub(crate) struct Call {
    pub(crate) endpoint: Endpoint,
    pub(crate) url: Url,
    pub(crate) json_body: Option<Bytes>,
}

fn chrono_span(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl Client {
    /// A builder.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The same client (same token cache, budgets and connections) logging in as an
    /// intermediary for `tin`.
    pub fn on_behalf_of(&self, tin: &str) -> Result<Client, ConfigError> {
        check_credential(CredentialField::OnBehalfOf, Some(tin))?;
        Ok(Client {
            inner: Arc::clone(&self.inner),
            on_behalf_of: Some(Arc::from(tin.trim())),
        })
    }

    /// The same client logging in as the taxpayer itself.
    pub fn as_taxpayer(&self) -> Client {
        Client {
            inner: Arc::clone(&self.inner),
            on_behalf_of: None,
        }
    }

    /// The taxpayer an intermediary login acts for.
    pub fn represented_taxpayer(&self) -> Option<&str> {
        self.on_behalf_of.as_deref()
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        self.inner.credentials.client_id()
    }

    /// The environment.
    pub fn environment(&self) -> &Environment {
        &self.inner.env
    }

    /// The clock every wait reads.
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// The budget table.
    pub fn rate_limits(&self) -> &RateLimits {
        &self.inner.limits
    }

    /// The budget store.
    pub fn rate_budget(&self) -> &Arc<dyn RateBudget> {
        &self.inner.budget
    }

    /// The URL of an endpoint with its path parameters filled in (percent-encoded).
    pub(crate) fn url(&self, endpoint: Endpoint, params: &[&str]) -> Url {
        let base = match endpoint.host() {
            Host::Identity => &self.inner.env.identity_base,
            Host::Api => &self.inner.env.api_base,
        };
        let mut url = base.clone();
        let mut params = params.iter();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty();
            for seg in endpoint.path().split('/').filter(|s| !s.is_empty()) {
                if seg.starts_with('{') {
                    segments.push(params.next().copied().unwrap_or_default());
                } else {
                    segments.push(seg);
                }
            }
        }
        url
    }

    /// Logs in now if no valid token is cached, and returns the token's remaining lifetime
    /// on the clock. Used by `invois api login`; other calls log in on demand.
    pub async fn login(&self) -> Result<Duration, Error> {
        let (_, refresh_at) = self.token().await?;
        Ok((refresh_at - self.inner.clock.now())
            .to_std()
            .unwrap_or_default()
            + self.inner.refresh_margin)
    }

    /// Sends one login now, even while logins are halted (an operator's command after fixing
    /// the cause), and returns the token's remaining lifetime. A success lifts the halt; a
    /// refusal renews it (from now, one more refusal in a row).
    pub async fn retry_login(&self) -> Result<Duration, Error> {
        let (_, refresh_at) = self.token_with(Gate::Ignore).await?;
        Ok((refresh_at - self.inner.clock.now())
            .to_std()
            .unwrap_or_default()
            + self.inner.refresh_margin)
    }

    /// The halt on this client id's logins, if one is in force.
    pub fn login_halt(&self) -> Option<Arc<LoginHalt>> {
        self.inner.login_halt.borrow().clone()
    }

    /// Every change of [`Client::login_halt`], for a service that surfaces it.
    pub fn watch_login_halt(&self) -> tokio::sync::watch::Receiver<Option<Arc<LoginHalt>>> {
        self.inner.login_halt.subscribe()
    }

    /// Puts a halt recorded earlier back in force (a service restarted with the same login
    /// configuration: see [`Client::login_fingerprint`]), so the restart sends no login
    /// before the halt's `retry_at`.
    pub fn restore_login_halt(&self, halt: LoginHalt) {
        self.inner.login_halt.send_replace(Some(Arc::new(halt)));
    }

    /// A digest of what a login sends: the token URL, the client id and the secret. Equal
    /// digests mean an unchanged login configuration, so a recorded halt still applies.
    /// One-way (16 hex digits of a SHA-256): the secret cannot be read back from it.
    pub fn login_fingerprint(&self) -> String {
        use sha2::Digest as _;
        let creds = &self.inner.credentials;
        let mut hash = sha2::Sha256::new();
        for part in [
            "invois login configuration v1",
            self.inner.env.identity_base.as_str(),
            creds.client_id(),
            creds.client_secret().expose(),
        ] {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        hex::encode(hash.finalize().get(..8).unwrap_or_default())
    }

    /// Records a login refused for good: logins halt until `retry_at`.
    fn halt_logins(&self, failure: &HttpFailure) {
        let now = self.inner.clock.now();
        let previous = self.login_halt();
        let halt = LoginHalt {
            client_id: self.client_id().to_owned(),
            on_behalf_of: self.on_behalf_of.as_deref().map(str::to_owned),
            token_url: token_url(&self.url(failure.endpoint, &[])),
            failure: failure.clone(),
            halted_at: previous.as_ref().map_or(now, |p| p.halted_at),
            refused_at: now,
            retry_at: now + chrono_span(self.inner.refused_login_retry),
            refusals: previous.map_or(1, |p| p.refusals.saturating_add(1)),
        };
        // Told at info: the caller gets the error, and a service surfaces the halt itself.
        tracing::info!(
            client.id = %halt.client_id,
            status = failure.status,
            code = failure.code().unwrap_or_default(),
            correlation_id = failure.correlation_id.as_deref().unwrap_or_default(),
            retry_at = %halt.retry_at,
            "login of client id {} refused for good; logins halted", halt.client_id
        );
        self.inner.login_halt.send_replace(Some(Arc::new(halt)));
    }

    fn slot(&self) -> Arc<TokenSlot> {
        let mut tokens = self.inner.tokens.lock();
        Arc::clone(tokens.entry(self.on_behalf_of.clone()).or_default())
    }

    /// A valid token, fetched at most once however many callers ask at the same time.
    async fn token(&self) -> Result<(AccessToken, DateTime<Utc>), Error> {
        self.token_with(Gate::Respect).await
    }

    async fn token_with(&self, gate: Gate) -> Result<(AccessToken, DateTime<Utc>), Error> {
        use std::sync::atomic::Ordering;
        let slot = self.slot();
        let seen = slot.completed.load(Ordering::Acquire);
        let mut state = slot.state.lock().await;
        if gate == Gate::Respect
            && let Some(t) = &state.token
            && self.inner.clock.now() < t.refresh_at
        {
            return Ok((t.token.clone(), t.refresh_at));
        }
        if slot.completed.load(Ordering::Acquire) != seen
            && let Some(err) = &state.last_error
        {
            // The login this caller waited for failed; report it rather than sending
            // another one (50 waiters must not become 50 logins).
            return Err(err.duplicate());
        }
        if gate == Gate::Respect
            && let Some(halt) = self.login_halt()
            && self.inner.clock.now() < halt.retry_at
        {
            // Refused for good earlier: sending the same login again cannot help. A token
            // still unexpired stays usable; nothing new is asked for.
            if let Some(old) = &state.token
                && self.inner.clock.now() < old.expires_at
            {
                return Ok((old.token.clone(), old.refresh_at));
            }
            return Err(Error::LoginHalted(halt));
        }
        let result = self.fetch_token().await;
        slot.completed.fetch_add(1, Ordering::AcqRel);
        match result {
            Ok(t) => {
                let out = (t.token.clone(), t.refresh_at);
                state.token = Some(t);
                state.last_error = None;
                if self.login_halt().is_some() {
                    tracing::info!(client.id = %self.client_id(), "login of client id {} accepted; logins resume", self.client_id());
                    self.inner.login_halt.send_replace(None);
                }
                Ok(out)
            }
            Err(e) => {
                if let Error::Login(failure) = &e
                    && invois_api::identity::login_refused_for_good(failure.status, &failure.body)
                {
                    self.halt_logins(failure);
                }
                let now = self.inner.clock.now();
                if let Some(old) = state.token.as_mut()
                    && now < old.expires_at
                {
                    // The refresh failed but the old token has not expired: keep using it,
                    // and try again a little later (not on every call) while it lasts.
                    tracing::warn!(client.id = %self.client_id(), error = %e, "token refresh failed; using the current token until it expires");
                    let left = old.expires_at - now;
                    old.refresh_at = now + (left / 2).min(chrono::Duration::seconds(10));
                    return Ok((old.token.clone(), old.refresh_at));
                }
                state.token = None;
                state.last_error = Some(e.duplicate());
                Err(e)
            }
        }
    }

    /// Drops `failed` from the cache if it is still the cached token (a 401 invalidates once,
    /// not once per concurrent caller).
    async fn invalidate(&self, failed: &AccessToken) {
        let slot = self.slot();
        let mut state = slot.state.lock().await;
        if state.token.as_ref().is_some_and(|t| &t.token == failed) {
            tracing::debug!(client.id = %self.client_id(), "token refused with 401; dropping it");
            state.token = None;
        }
    }

    async fn fetch_token(&self) -> Result<CachedToken, Error> {
        let creds = &self.inner.credentials;
        // The guard ran when the credentials were built; checked again here because this is
        // the one place a secret leaves the process.
        check_credential(CredentialField::ClientId, Some(creds.client_id()))?;
        check_credential(
            CredentialField::ClientSecret,
            Some(creds.client_secret().expose()),
        )?;
        let endpoint = if self.on_behalf_of.is_some() {
            Endpoint::LoginIntermediary
        } else {
            Endpoint::LoginTaxpayer
        };
        let form = token_form(creds)?;
        let url = self.url(endpoint, &[]);
        let mut transient = 0u32;
        let mut throttled = 0u32;
        loop {
            self.acquire(endpoint.rate_class()).await?;
            let mut req = self
                .inner
                .http
                .post(url.clone())
                .header(ACCEPT, "application/json")
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(form.clone());
            if let Some(tin) = &self.on_behalf_of {
                req = req.header(ON_BEHALF_OF_HEADER, tin.as_ref());
            }
            tracing::debug!(client.id = %creds.client_id(), endpoint = %endpoint, "requesting an access token");
            self.inner
                .observer
                .on_login(creds.client_id(), self.on_behalf_of.as_deref());
            match self.run(endpoint, req).await {
                Attempt::Transport(kind, message) => {
                    if transient < self.inner.retry.max_retries {
                        transient += 1;
                        self.retry_after_backoff(endpoint, transient).await;
                        continue;
                    }
                    return Err(Error::Transport {
                        endpoint,
                        kind,
                        message,
                    });
                }
                Attempt::Response {
                    status,
                    headers,
                    body,
                } => {
                    if (200..300).contains(&status) {
                        return self.cached_token(endpoint, status, &headers, &body);
                    }
                    let failure = self.failure(endpoint, status, &headers, body);
                    if status == 429 {
                        if self.throttle(endpoint, &failure, &mut throttled).await? {
                            continue;
                        }
                    } else if status >= 500
                        && transient < self.inner.retry.max_retries
                        && self.server_retry_ok(&failure)
                    {
                        transient += 1;
                        self.retry_server_error(endpoint, transient, &failure).await;
                        continue;
                    }
                    return Err(Error::Login(Box::new(failure)));
                }
            }
        }
    }

    /// The token in a 2xx login response, with when to refresh it and when it expires.
    fn cached_token(
        &self,
        endpoint: Endpoint,
        status: u16,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> Result<CachedToken, Error> {
        let correlation_id = correlation_id(headers);
        let t: TokenResponse =
            decode(endpoint, status, correlation_id.as_deref(), body).map_err(|e| match e {
                // The body may hold a token: never keep it in an error.
                Error::Decode {
                    endpoint,
                    status,
                    path,
                    message,
                    correlation_id,
                    ..
                } => Error::Decode {
                    endpoint,
                    status,
                    // serde quotes the bad value, which here is the token.
                    message: if path.contains("access_token") {
                        "access_token is not a string".to_owned()
                    } else {
                        message
                    },
                    path,
                    correlation_id,
                    body: Bytes::from_static(b"[token response redacted]"),
                },
                other => other,
            })?;
        let now = self.inner.clock.now();
        let lifetime = Duration::from_secs(t.expires_in);
        let margin = if lifetime > self.inner.refresh_margin * 2 {
            self.inner.refresh_margin
        } else {
            lifetime / 2
        };
        Ok(CachedToken {
            token: AccessToken::new(t.access_token),
            refresh_at: now + chrono_span(lifetime - margin),
            expires_at: now + chrono_span(lifetime),
        })
    }

    /// Waits until `class` has budget for this client id, then counts the request.
    ///
    /// Windows are counted [`RATE_WINDOW_MARGIN`] longer than published.
    #[tracing::instrument(level = "debug", skip_all)]
    pub(crate) async fn acquire(&self, class: RateClass) -> Result<(), BudgetError> {
        // The budget counts a request when it is granted, MyInvois when it arrives; the gap
        // varies (a shared budget's database round trip, connection set-up), so a request
        // granted exactly one window after another could arrive inside that window. Counting
        // windows slightly long keeps every arrival inside the published limit.
        let quota = self.inner.limits.quota(class).map(|q| crate::rate::Quota {
            window: q.window + RATE_WINDOW_MARGIN,
            ..q
        });
        let key = BudgetKey {
            client_id: self.client_id(),
            class,
        };
        loop {
            match self
                .inner
                .budget
                .try_acquire(key, quota, self.inner.clock.now())
                .await?
            {
                Admission::Granted => return Ok(()),
                Admission::WaitUntil(at) => {
                    self.inner.observer.on_rate_wait(class, at);
                    tracing::debug!(client.id = %self.client_id(), rate.class = %class, wait_until = %at, "waiting for rate budget");
                    self.inner.clock.sleep_until(at).await;
                }
            }
        }
    }

    /// Reports a retry and sleeps its jittered backoff on the clock.
    pub(crate) async fn retry_after_backoff(&self, endpoint: Endpoint, attempt: u32) {
        self.inner.observer.on_retry(endpoint, attempt);
        let d = self.inner.retry.backoff(attempt);
        self.inner.clock.sleep(d).await;
    }

    /// Whether a 5xx may be retried: not when its `Retry-After` is longer than the policy
    /// allows (the caller is better told at once).
    fn server_retry_ok(&self, failure: &HttpFailure) -> bool {
        failure
            .retry_after
            .is_none_or(|d| d <= self.inner.retry.max_retry_after)
    }

    /// Waits before retrying a 5xx: its `Retry-After` (a 503 may carry one) when that is
    /// longer than the backoff.
    async fn retry_server_error(&self, endpoint: Endpoint, attempt: u32, failure: &HttpFailure) {
        self.inner.observer.on_retry(endpoint, attempt);
        let d = self
            .inner
            .retry
            .backoff(attempt)
            .max(failure.retry_after.unwrap_or_default());
        self.inner.clock.sleep(d).await;
    }

    /// Handles a 429: pauses the class for `Retry-After` and says whether to retry.
    pub(crate) async fn throttle(
        &self,
        endpoint: Endpoint,
        failure: &HttpFailure,
        throttled: &mut u32,
    ) -> Result<bool, Error> {
        let wait = failure
            .retry_after
            .unwrap_or(self.inner.retry.default_retry_after);
        let until = self.inner.clock.now() + chrono_span(wait);
        self.inner
            .observer
            .on_throttled(endpoint.rate_class(), wait);
        tracing::info!(client.id = %self.client_id(), endpoint = %endpoint, retry_after_ms = wait.as_millis() as u64, "429 from {endpoint}; pausing its class");
        self.inner
            .budget
            .pause(
                BudgetKey {
                    client_id: self.client_id(),
                    class: endpoint.rate_class(),
                },
                until,
            )
            .await?;
        if *throttled < self.inner.retry.max_throttle_retries
            && wait <= self.inner.retry.max_retry_after
        {
            *throttled += 1;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    #[tracing::instrument(level = "debug", skip_all, name = "http")]
    async fn run(&self, endpoint: Endpoint, req: reqwest::RequestBuilder) -> Attempt {
        let started = std::time::Instant::now();
        let attempt = match req.send().await {
            Err(e) => transport(&e),
            Ok(resp) => {
                let status = resp.status().as_u16();
                let headers = resp.headers().clone();
                match resp.bytes().await {
                    Ok(body) => Attempt::Response {
                        status,
                        headers,
                        body,
                    },
                    Err(e) => transport(&e),
                }
            }
        };
        let (outcome, correlation_id) = match &attempt {
            Attempt::Response {
                status, headers, ..
            } => (CallOutcome::Status(*status), correlation_id(headers)),
            Attempt::Transport(kind, _) => (CallOutcome::Transport(*kind), None),
        };
        self.inner.observer.on_call(&CallEvent {
            endpoint,
            outcome,
            elapsed: started.elapsed(),
            correlation_id,
        });
        attempt
    }

    /// One authenticated attempt: budget, token, send.
    pub(crate) async fn attempt(&self, call: &Call) -> Result<(Attempt, AccessToken), Error> {
        self.acquire(call.endpoint.rate_class()).await?;
        let (token, _) = self.token().await?;
        let method = match call.endpoint.method() {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
        };
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
            .map_err(|_| Error::InvalidRequest("the access token is not a valid header".into()))?;
        auth.set_sensitive(true);
        let mut req = self
            .inner
            .http
            .request(method, call.url.clone())
            .header(ACCEPT, "application/json")
            .header(ACCEPT_LANGUAGE, "en")
            .header(AUTHORIZATION, auth);
        if let Some(body) = &call.json_body {
            req = req
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        tracing::debug!(endpoint = %call.endpoint, url.path = call.url.path(), "calling {}", call.endpoint);
        Ok((self.run(call.endpoint, req).await, token))
    }

    /// Sends a call that is safe to repeat after an ambiguous failure only if it is a read.
    pub(crate) async fn send(&self, call: Call) -> Result<Response, Error> {
        let retry_ambiguous = call.endpoint.method() == Method::Get;
        let mut transient = 0u32;
        let mut throttled = 0u32;
        let mut refreshed = false;
        loop {
            let (attempt, token) = self.attempt(&call).await?;
            match attempt {
                Attempt::Transport(kind, message) => {
                    // A connect failure sent nothing, so even a write may try again.
                    let safe = retry_ambiguous || kind == TransportKind::Connect;
                    if safe && transient < self.inner.retry.max_retries {
                        transient += 1;
                        self.retry_after_backoff(call.endpoint, transient).await;
                        continue;
                    }
                    return Err(Error::Transport {
                        endpoint: call.endpoint,
                        kind,
                        message,
                    });
                }
                Attempt::Response {
                    status,
                    headers,
                    body,
                } => {
                    if (200..300).contains(&status) {
                        return Ok(Response {
                            status,
                            correlation_id: correlation_id(&headers),
                            body,
                        });
                    }
                    if status == 401 && !refreshed {
                        refreshed = true;
                        self.invalidate(&token).await;
                        continue;
                    }
                    let failure = self.failure(call.endpoint, status, &headers, body);
                    if status == 429 {
                        if self
                            .throttle(call.endpoint, &failure, &mut throttled)
                            .await?
                        {
                            continue;
                        }
                    } else if status >= 500
                        && retry_ambiguous
                        && transient < self.inner.retry.max_retries
                        && self.server_retry_ok(&failure)
                    {
                        transient += 1;
                        self.retry_server_error(call.endpoint, transient, &failure)
                            .await;
                        continue;
                    }
                    return Err(Error::Http(Box::new(failure)));
                }
            }
        }
    }

    /// Sends and decodes.
    pub(crate) async fn send_json<T: DeserializeOwned>(&self, call: Call) -> Result<T, Error> {
        let endpoint = call.endpoint;
        let r = self.send(call).await?;
        decode(endpoint, r.status, r.correlation_id.as_deref(), &r.body)
    }

    /// Invalidates `token` after a 401 (used by the submit path, which runs its own loop).
    pub(crate) async fn invalidate_token(&self, token: &AccessToken) {
        self.invalidate(token).await;
    }

    pub(crate) fn failure(
        &self,
        endpoint: Endpoint,
        status: u16,
        headers: &HeaderMap,
        body: Bytes,
    ) -> HttpFailure {
        let now = self.inner.clock.now();
        let retry_after = headers
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, now))
            .or_else(|| {
                // The documented reset header, for a 429 without Retry-After.
                (status == 429)
                    .then(|| headers.get("X-Rate-Limit-Reset"))
                    .flatten()
                    .and_then(|v| v.to_str().ok())
                    .and_then(invois_api::datetime::parse)
                    .map(|at| (at - now).to_std().unwrap_or_default())
            });
        HttpFailure {
            endpoint,
            status,
            correlation_id: correlation_id(headers),
            envelope: ErrorEnvelope::parse(&body),
            body,
            retry_after,
        }
    }
}

fn transport(e: &reqwest::Error) -> Attempt {
    let kind = if e.is_connect() {
        TransportKind::Connect
    } else if e.is_timeout() {
        TransportKind::Timeout
    } else {
        TransportKind::Other
    };
    // The error text names the URL (never a token: those travel in headers) and the cause.
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    Attempt::Transport(kind, message)
}

/// The client-credentials form of a token request.
fn token_form(creds: &Credentials) -> Result<Bytes, Error> {
    let form = serde_urlencoded::to_string(TokenRequest {
        client_id: creds.client_id().to_owned(),
        client_secret: creds.client_secret().expose().to_owned(),
        grant_type: GRANT_TYPE.to_owned(),
        scope: Some(SCOPE.to_owned()),
    })
    .map_err(|e| Error::InvalidRequest(format!("token form: {e}")))?;
    Ok(Bytes::from(form))
}

pub(crate) fn correlation_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get(CORRELATION_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Decodes JSON, naming the path of the first value that does not fit.
pub(crate) fn decode<T: DeserializeOwned>(
    endpoint: Endpoint,
    status: u16,
    correlation_id: Option<&str>,
    body: &Bytes,
) -> Result<T, Error> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| Error::Decode {
        endpoint,
        status,
        path: e.path().to_string(),
        message: e.inner().to_string(),
        correlation_id: correlation_id.map(str::to_owned),
        body: body.clone(),
    })
}

impl Error {
    /// A copy of this error for the callers that waited on the same login.
    pub(crate) fn duplicate(&self) -> Error {
        match self {
            Error::Config(c) => Error::Config(c.clone()),
            Error::InvalidRequest(m) => Error::InvalidRequest(m.clone()),
            Error::Http(f) => Error::Http(f.clone()),
            Error::Login(f) => Error::Login(f.clone()),
            Error::LoginHalted(h) => Error::LoginHalted(Arc::clone(h)),
            Error::Transport {
                endpoint,
                kind,
                message,
            } => Error::Transport {
                endpoint: *endpoint,
                kind: *kind,
                message: message.clone(),
            },
            Error::Decode {
                endpoint,
                status,
                path,
                message,
                correlation_id,
                body,
            } => Error::Decode {
                endpoint: *endpoint,
                status: *status,
                path: path.clone(),
                message: message.clone(),
                correlation_id: correlation_id.clone(),
                body: body.clone(),
            },
            Error::Budget(b) => Error::Budget(BudgetError(b.0.to_string().into())),
            Error::PollTimeout {
                submission_uid,
                waited,
            } => Error::PollTimeout {
                submission_uid: submission_uid.clone(),
                waited: *waited,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use invois_api::ids::{PREPROD_PORTAL, PRODUCTION_PORTAL};

    fn client(api: &str) -> Client {
        Client::builder()
            .api_base(api)
            .credentials("9e21b10c-aaaa", "real-secret-value")
            .build()
            .unwrap()
    }

    #[test]
    fn urls_fill_and_encode_parameters() {
        let c = client("http://127.0.0.1:1/prefix/");
        let u = c.url(Endpoint::GetDocumentDetails, &["ABC DEF/1"]);
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:1/prefix/api/v1.0/documents/ABC%20DEF%2F1/details"
        );
        let t = c.url(Endpoint::LoginTaxpayer, &[]);
        assert_eq!(t.as_str(), "http://127.0.0.1:1/prefix/connect/token");
        let v = c.url(Endpoint::GetDocumentTypeVersion, &["45", "2"]);
        assert!(v.path().ends_with("/documenttypes/45/versions/2"), "{v}");
    }

    #[test]
    fn builder_refuses_placeholders_and_missing_credentials() {
        let e = Client::builder().build().unwrap_err();
        assert_eq!(e, ConfigError::MissingCredentials);
        let e = Client::builder()
            .credentials("YOUR_CLIENT_ID", "YOUR_CLIENT_SECRET")
            .build()
            .unwrap_err();
        assert!(matches!(
            e,
            ConfigError::PlaceholderCredential {
                field: CredentialField::ClientId,
                ..
            }
        ));
        let e = Client::builder()
            .credentials("id-1", "s")
            .on_behalf_of("{{tin}}")
            .build()
            .unwrap_err();
        assert!(matches!(
            e,
            ConfigError::PlaceholderCredential {
                field: CredentialField::OnBehalfOf,
                ..
            }
        ));
    }

    #[test]
    fn debug_shows_no_secret() {
        let c = client("http://127.0.0.1:1");
        let d = format!("{c:?}");
        assert!(!d.contains("real-secret-value"), "{d}");
        assert!(d.contains("9e21b10c-aaaa"));
        let b = Client::builder().credentials("id", "real-secret-value");
        assert!(!format!("{b:?}").contains("real-secret-value"));
    }

    #[test]
    fn identity_host_is_configured_separately() {
        let c = Client::builder()
            .api_base("http://127.0.0.1:1")
            .identity_base("http://127.0.0.1:2/id")
            .credentials("id-1", "s-1")
            .build()
            .unwrap();
        assert_eq!(
            c.url(Endpoint::LoginIntermediary, &[]).as_str(),
            "http://127.0.0.1:2/id/connect/token"
        );
        assert_eq!(
            c.url(Endpoint::GetDocumentTypes, &[]).as_str(),
            "http://127.0.0.1:1/api/v1.0/documenttypes"
        );
    }

    /// Validation links (and QR codes) point at the portal of the API in use: LHDN's two
    /// portals for their environments, and the API base itself for any other API (an `invois
    /// sandbox`, the gateway's built-in one), which serves the page; `portal_base` overrides.
    #[test]
    fn the_portal_belongs_to_the_api_in_use() {
        let portal = |b: ClientBuilder| {
            b.credentials("id-1", "s-1")
                .build()
                .unwrap()
                .environment()
                .portal()
                .to_owned()
        };
        let sandbox = "http://127.0.0.1:7001";
        for (builder, want) in [
            (Client::builder(), PREPROD_PORTAL),
            (
                Client::builder().environment(Environment::preprod()),
                PREPROD_PORTAL,
            ),
            (
                Client::builder().environment(Environment::production()),
                PRODUCTION_PORTAL,
            ),
            (Client::builder().api_base(sandbox), sandbox),
            (
                Client::builder()
                    .environment(Environment::production())
                    .api_base(sandbox),
                sandbox,
            ),
            (
                Client::builder()
                    .api_base(sandbox)
                    .portal_base("https://portal.example"),
                "https://portal.example",
            ),
        ] {
            assert_eq!(portal(builder), want);
        }
    }
}
