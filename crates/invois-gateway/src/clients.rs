//! Which MyInvois login submits a document.
//!
//! A gateway runs under one client id. A taxpayer's own client id submits only that
//! taxpayer's documents; an intermediary's client id submits for many taxpayers, logging in
//! `onbehalfof` each issuer. Either way every login shares the one client's token cache,
//! connections and rate budget, because LHDN counts requests per client id, whichever
//! taxpayer they are for.

use invois_client::{Client, ConfigError};

/// How the configured credentials relate to the documents' issuers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginMode {
    /// The credentials are the issuing taxpayer's own.
    Taxpayer,
    /// The credentials are an intermediary's; each document is sent `onbehalfof` its issuer.
    Intermediary,
}

/// The client the gateway submits with, and the logins derived from it.
#[derive(Debug, Clone)]
pub struct ClientPool {
    base: Client,
    mode: LoginMode,
}

impl ClientPool {
    /// A pool over `base` (built with the gateway's credentials).
    pub fn new(base: Client, mode: LoginMode) -> ClientPool {
        ClientPool {
            base: base.as_taxpayer(),
            mode,
        }
    }

    /// The client id every document is submitted under.
    pub fn client_id(&self) -> &str {
        self.base.client_id()
    }

    /// How the credentials are used.
    pub fn mode(&self) -> LoginMode {
        self.mode
    }

    /// The `onbehalfof` a document issued by `issuer_tin` is sent with.
    pub fn on_behalf_of_for(&self, issuer_tin: &str) -> Option<String> {
        match self.mode {
            LoginMode::Taxpayer => None,
            LoginMode::Intermediary => Some(issuer_tin.trim().to_owned()),
        }
    }

    /// The login for `on_behalf_of` (the taxpayer's own when `None`).
    pub fn client(&self, on_behalf_of: Option<&str>) -> Result<Client, ConfigError> {
        match on_behalf_of {
            None => Ok(self.base.clone()),
            Some(tin) => self.base.on_behalf_of(tin),
        }
    }

    /// The underlying client.
    pub fn base(&self) -> &Client {
        &self.base
    }

    /// What a login sends ([`Client::login_fingerprint`]) and how (taxpayer or intermediary):
    /// another value means a recorded login halt no longer applies.
    pub fn login_fingerprint(&self) -> String {
        let mode = match self.mode {
            LoginMode::Taxpayer => "taxpayer",
            LoginMode::Intermediary => "intermediary",
        };
        format!("{}-{mode}", self.base.login_fingerprint())
    }
}
