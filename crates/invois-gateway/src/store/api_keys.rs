//! API keys for the ERP API: only each key's SHA-256 is stored; the key itself is shown once
//! at creation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use invois_clock::Clock;

use super::convert::{corrupt, now};
use super::dialect::Sql;
use super::documents::records;
use super::types::{ApiKeyId, ApiKeyRecord, ApiKeyScope, ApiKeySecret};
use super::{Db, StoreError, sha256_hex};

const KEY_COLS: &str = "id, name, prefix, created_at, revoked_at, scope";

/// An `api_keys` row (never the hash).
#[derive(sqlx::FromRow)]
struct KeyRow {
    id: i64,
    name: String,
    prefix: String,
    created_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
    scope: String,
}

impl TryFrom<KeyRow> for ApiKeyRecord {
    type Error = StoreError;

    fn try_from(row: KeyRow) -> Result<ApiKeyRecord, StoreError> {
        Ok(ApiKeyRecord {
            id: ApiKeyId(row.id),
            name: row.name,
            prefix: row.prefix,
            created_at: row.created_at,
            revoked_at: row.revoked_at,
            scope: ApiKeyScope::parse(&row.scope)
                .ok_or_else(|| corrupt("API key scope", &row.scope))?,
        })
    }
}

/// How long an accepted key is taken on trust before the database is asked again. Every
/// ERP request presents its key, and asking the database each time was one statement per
/// document on the hot path. A key revoked by this process is forgotten at once; one
/// revoked elsewhere (`invois api-key revoke`, another instance) stops working within this.
pub const KEY_TRUSTED_FOR: chrono::Duration = chrono::Duration::seconds(5);

/// Keys held at most: a deployment has a handful; past this the memory starts over.
const KEYS_REMEMBERED: usize = 1024;

/// The keys accepted lately, by SHA-256, with when each was last checked. Shared by a
/// store's clones. Only acceptances are kept: an unknown key always asks the database.
#[derive(Clone, Default)]
pub(crate) struct AcceptedKeys(Arc<Mutex<Remembered>>);

impl std::fmt::Debug for AcceptedKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // How many, never which: the hashes are what a presented key is checked against.
        let n = self.0.lock().map_or(0, |keys| keys.len());
        write!(f, "AcceptedKeys({n})")
    }
}

/// Each accepted key's record and when it was last checked, by the key's SHA-256.
type Remembered = HashMap<String, (ApiKeyRecord, DateTime<Utc>)>;

impl AcceptedKeys {
    fn get(&self, hash: &str, now: DateTime<Utc>) -> Option<ApiKeyRecord> {
        let keys = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (record, checked) = keys.get(hash)?;
        // A clock that went back counts as stale too.
        (*checked <= now && now - *checked < KEY_TRUSTED_FOR).then(|| record.clone())
    }

    fn put(&self, hash: String, record: ApiKeyRecord, now: DateTime<Utc>) {
        let mut keys = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if keys.len() >= KEYS_REMEMBERED {
            keys.clear();
        }
        keys.insert(hash, (record, now));
    }

    fn forget_all(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// The API keys repository.
#[derive(Debug, Clone, Copy)]
pub struct ApiKeys<'a> {
    pub(crate) db: &'a Db,
    pub(crate) clock: &'a Clock,
    pub(crate) accepted: &'a AcceptedKeys,
}

impl ApiKeys<'_> {
    /// Creates a key that may do everything; only its SHA-256 is stored. The secret is
    /// returned once.
    pub async fn create(&self, name: &str) -> Result<(ApiKeyRecord, ApiKeySecret), StoreError> {
        self.create_scoped(name, ApiKeyScope::Full).await
    }

    /// Creates a key of `scope`; only its SHA-256 is stored. The secret is returned once.
    #[tracing::instrument(skip_all, fields(api_key.scope = scope.as_str()))]
    pub async fn create_scoped(
        &self,
        name: &str,
        scope: ApiKeyScope,
    ) -> Result<(ApiKeyRecord, ApiKeySecret), StoreError> {
        let secret = format!("ivk_{}", hex::encode(rand::random::<[u8; 32]>()));
        let prefix: String = secret.chars().take(12).collect();
        let sql = Sql::new(format!(
            "INSERT INTO api_keys (name, prefix, key_sha256, created_at, scope) \
             VALUES ($1, $2, $3, $4, $5) RETURNING {KEY_COLS}"
        ))
        .bind(name)
        .bind(&prefix)
        .bind(sha256_hex(secret.as_bytes()))
        .bind(now(self.clock))
        .bind(scope.as_str());
        let row: KeyRow = self.db.writer().fetch_one(sql).await?;
        Ok((row.try_into()?, ApiKeySecret::new(secret)))
    }

    /// The key's record if `presented` is a known, unrevoked key.
    #[tracing::instrument(skip_all)]
    pub async fn verify(&self, presented: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        // Looked up by hash: the comparison never touches the plain key.
        let hash = sha256_hex(presented.as_bytes());
        let now = now(self.clock);
        if let Some(record) = self.accepted.get(&hash, now) {
            return Ok(Some(record));
        }
        let sql = Sql::new(format!(
            "SELECT {KEY_COLS} FROM api_keys WHERE key_sha256 = $1 AND revoked_at IS NULL"
        ))
        .bind(&hash);
        let row: Option<KeyRow> = self.db.reader().fetch_optional(sql).await?;
        let record = row.map(ApiKeyRecord::try_from).transpose()?;
        if let Some(record) = &record {
            self.accepted.put(hash, record.clone(), now);
        }
        Ok(record)
    }

    /// Revokes a key (idempotent).
    #[tracing::instrument(skip_all)]
    pub async fn revoke(&self, id: ApiKeyId) -> Result<ApiKeyRecord, StoreError> {
        let sql = Sql::new(format!(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 \
             RETURNING {KEY_COLS}"
        ))
        .bind(now(self.clock))
        .bind(id.0);
        let row = self.db.writer().fetch_optional::<KeyRow>(sql).await?;
        // After the update: a check that raced it may have just remembered the key.
        self.accepted.forget_all();
        match row {
            Some(row) => row.try_into(),
            None => Err(StoreError::NotFound(format!("API key {id}"))),
        }
    }

    /// Every key's record (never the key), oldest first.
    #[tracing::instrument(skip_all)]
    pub async fn list(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let sql = Sql::new(format!("SELECT {KEY_COLS} FROM api_keys ORDER BY id"));
        records::<KeyRow, _>(self.db.reader().fetch_all(sql).await?)
    }
}
