//! Durable storage for the gateway, on SQLite or PostgreSQL (chosen once, by URL, when the
//! [`Db`] is opened; each backend has its own migrations).
//!
//! One repository per aggregate, one file each: [`Documents`] (and their status events),
//! [`Submissions`] (and their polls), the webhook [`Outbox`], [`ApiKeys`] and the
//! [`Archive`] of documents issued elsewhere, the [`Received`] documents issued to the
//! gateway's taxpayer; the shared rate budget lives in [`budget`].
//! Each is plain code over the small abstraction in `dialect.rs`, and reads rows with
//! `#[derive(sqlx::FromRow)]` structs. [`Store`] holds the open [`Db`] and the clock and
//! hands out the repositories (`store.documents().get(id)`).
//!
//! Every state change is one atomic operation guarded by the state it leaves (and, for work a
//! worker holds, by `locked_by`), so a stale or duplicated worker cannot move anything
//! backwards: the guarded update matches no row and the operation returns
//! [`StoreError::StaleTransition`] or [`StoreError::LeaseLost`].
//!
//! Time comes from the [`Clock`] the store was opened with, never from the system clock, so
//! tests move leases and retries forward without sleeping.

use std::fmt;
use std::sync::Arc;

use invois_clock::Clock;

mod api_keys;
mod archive;
pub mod budget;
mod convert;
mod db;
mod dialect;
mod documents;
mod external;
mod leases;
mod login_halts;
mod outbox;
mod prepared;
mod receipts;
mod received;
mod submissions;
mod types;
mod webhook_types;

pub use api_keys::{ApiKeys, KEY_TRUSTED_FOR};
pub use archive::Archive;
pub use db::Db;
pub use documents::Documents;
pub use external::*;
pub use login_halts::{LoginHaltRecord, LoginHalts};
pub use outbox::{Announce, Announcement, Outbox};
pub use receipts::*;
pub use received::{
    AnnounceReceived, Decision, DecisionFilter, Received, ReceivedEvent, ReceivedEventKind,
    ReceivedFilter, ReceivedListing, ReceivedPage, ReceivedRecord, ReceivedSync, ReceivedUpsert,
};
pub use submissions::Submissions;
pub use types::*;
pub use webhook_types::*;

/// The database used when none is configured.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://invois.db";

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No such row.
    #[error("not found: {0}")]
    NotFound(String),
    /// The key exists with different content, or the request contradicts stored state.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The row is not in a state this transition may leave (someone else moved it first).
    #[error("{what} {id} is {actual}, so it cannot {action}")]
    StaleTransition {
        /// "document", "submission", ...
        what: &'static str,
        /// The row id.
        id: i64,
        /// The state it is in.
        actual: String,
        /// What was attempted.
        action: &'static str,
    },
    /// The worker no longer holds the lease on the row.
    #[error("{what} {id} is not held by worker {worker}")]
    LeaseLost {
        /// "document", "webhook", ...
        what: &'static str,
        /// The row id.
        id: i64,
        /// The worker that asked.
        worker: String,
    },
    /// A stored value could not be read back (a bug or a hand-edited database).
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
    /// The database URL is not one this build understands.
    #[error("unsupported database URL {0} (use sqlite://PATH or postgres://...)")]
    UnsupportedUrl(String),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Opens the store a URL names: `sqlite://PATH` (or `sqlite:PATH`) or `postgres://...`
/// (`postgresql://`), running its migrations.
pub async fn open(url: &str, clock: Clock) -> Result<Arc<Store>, StoreError> {
    Ok(Arc::new(Store::open(url, clock).await?))
}

/// The store: the open [`Db`] and the clock every timestamp is read from, handing out one
/// repository per aggregate. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: Db,
    clock: Clock,
    accepted_keys: api_keys::AcceptedKeys,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `SqliteStore { path }` or `PgStore { target }`: never a password.
        self.db.fmt(f)
    }
}

impl Store {
    /// Opens the database a URL names (see [`Db::open`]), running its migrations.
    pub async fn open(url: &str, clock: Clock) -> Result<Store, StoreError> {
        Ok(Store::new(Db::open(url).await?, clock))
    }

    /// A store over an open database.
    pub fn new(db: Db, clock: Clock) -> Store {
        Store {
            db,
            clock,
            accepted_keys: Default::default(),
        }
    }

    /// The open database (for the shared rate budget, and for tests that read the tables).
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Documents and their status events.
    pub fn documents(&self) -> Documents<'_> {
        Documents {
            db: &self.db,
            clock: &self.clock,
        }
    }

    /// Submissions and their polls.
    pub fn submissions(&self) -> Submissions<'_> {
        Submissions {
            db: &self.db,
            clock: &self.clock,
        }
    }

    /// The webhook outbox.
    pub fn outbox(&self) -> Outbox<'_> {
        Outbox {
            db: &self.db,
            clock: &self.clock,
        }
    }

    /// API keys.
    pub fn api_keys(&self) -> ApiKeys<'_> {
        ApiKeys {
            db: &self.db,
            clock: &self.clock,
            accepted: &self.accepted_keys,
        }
    }

    /// Documents other taxpayers issued to the gateway's taxpayer, and the sweep that finds
    /// them.
    pub fn received(&self) -> Received<'_> {
        Received {
            db: &self.db,
            clock: &self.clock,
        }
    }

    /// Documents issued outside the gateway.
    pub fn archive(&self) -> Archive<'_> {
        Archive {
            db: &self.db,
            clock: &self.clock,
        }
    }

    /// Client ids whose logins MyInvois refused for good.
    pub fn login_halts(&self) -> LoginHalts<'_> {
        LoginHalts {
            db: &self.db,
            clock: &self.clock,
        }
    }

    /// Receipts posted for consolidation.
    pub fn receipts(&self) -> Receipts<'_> {
        Receipts {
            db: &self.db,
            clock: &self.clock,
        }
    }

    /// Monthly consolidations and the issuers' supplier details.
    pub fn consolidations(&self) -> Consolidations<'_> {
        Consolidations {
            db: &self.db,
            clock: &self.clock,
        }
    }

    /// Recovers work whose worker vanished (lease expired), in every leased table.
    pub async fn release_expired_leases(&self) -> Result<LeaseRecovery, StoreError> {
        leases::release_expired(&self.db, &self.clock).await
    }

    /// Closes the database's connections.
    pub async fn close(&self) {
        self.db.close().await;
    }
}

/// Which implementation a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Backend {
    /// The backend a URL selects, by scheme.
    pub fn of(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

/// A database URL with any password replaced by `***`, for logs, errors and `Debug`.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() && parsed.set_password(Some("***")).is_err() {
                return "<unprintable url>".to_owned();
            }
            // `password=` in the query string is also accepted by libpq-style URLs.
            if parsed.query_pairs().any(|(k, _)| k == "password") {
                let pairs: Vec<(String, String)> = parsed
                    .query_pairs()
                    .map(|(k, v)| {
                        let v = if k == "password" {
                            "***".to_owned()
                        } else {
                            v.into_owned()
                        };
                        (k.into_owned(), v)
                    })
                    .collect();
                parsed.query_pairs_mut().clear().extend_pairs(pairs);
            }
            parsed.to_string()
        }
        // Not a URL we can parse: print nothing of it that might be a secret.
        Err(_) => "<unparsable url>".to_owned(),
    }
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        let r = redact_url("postgres://app:s3cr3t@db.example:5432/invois");
        assert!(!r.contains("s3cr3t"), "{r}");
        assert!(r.contains("app:***@db.example"), "{r}");
        let r = redact_url("postgres://db/invois?user=a&password=s3cr3t&sslmode=require");
        assert!(!r.contains("s3cr3t"), "{r}");
        assert!(r.contains("sslmode=require"), "{r}");
        assert_eq!(redact_url("not a url s3cr3t"), "<unparsable url>");
    }

    #[test]
    fn backend_from_scheme() {
        assert_eq!(Backend::of(DEFAULT_DATABASE_URL), Some(Backend::Sqlite));
        assert_eq!(Backend::of("sqlite::memory:"), Some(Backend::Sqlite));
        assert_eq!(Backend::of("postgres://x/y"), Some(Backend::Postgres));
        assert_eq!(Backend::of("postgresql://x/y"), Some(Backend::Postgres));
        assert_eq!(Backend::of("mysql://x/y"), None);
    }
}
