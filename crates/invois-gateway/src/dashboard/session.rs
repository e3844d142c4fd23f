//! Who may see the dashboard: whoever holds an API key, as for the ERP API.
//!
//! The key is typed once into the login form. The browser then holds a session cookie: the
//! key's row id and an expiry, signed with HMAC-SHA256 under a secret made when the gateway
//! starts. So the key itself never sits in the browser, a revoked key's sessions stop at
//! once (each request checks the key is still live), and a restart signs everyone out. The
//! cookie is `HttpOnly` and `SameSite=Strict`, which also keeps other sites from posting the
//! dashboard's action forms.

use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::store::{ApiKeyId, ApiKeyRecord, Store, StoreError};

/// The cookie's name.
pub(super) const COOKIE: &str = "invois_session";

/// How long a session lasts without signing in again.
const LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// Issues and checks session cookies.
pub struct Sessions {
    secret: [u8; 32],
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions").finish_non_exhaustive()
    }
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions::new()
    }
}

impl Sessions {
    /// Sessions under a fresh random secret.
    pub fn new() -> Sessions {
        Sessions {
            secret: rand::random(),
        }
    }

    fn mac(&self, text: &str) -> String {
        // HMAC takes a key of any length; this cannot fail.
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(text.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// The cookie value for `key`, valid from `now` for the session lifetime.
    pub fn issue(&self, key: &ApiKeyRecord, now: DateTime<Utc>) -> String {
        let expires = now.timestamp() + i64::try_from(LIFETIME.as_secs()).unwrap_or(i64::MAX);
        let text = format!("{}.{expires}", key.id.0);
        format!("{text}.{}", self.mac(&text))
    }

    /// The key a cookie value was issued for, if its signature holds and it has not expired.
    pub fn verify(&self, cookie: &str, now: DateTime<Utc>) -> Option<ApiKeyId> {
        let (text, mac) = cookie.rsplit_once('.')?;
        let (id, expires) = text.split_once('.')?;
        // Compared through HMAC's own constant-time check, so timing tells nothing.
        let mut check = Hmac::<Sha256>::new_from_slice(&self.secret).ok()?;
        check.update(text.as_bytes());
        check.verify_slice(&hex::decode(mac).ok()?).ok()?;
        let expires: i64 = expires.parse().ok()?;
        (now.timestamp() < expires).then_some(())?;
        id.parse().ok().map(ApiKeyId)
    }

    /// The live key behind a cookie: signed, unexpired, and not revoked since.
    pub async fn key(
        &self,
        store: &Store,
        cookie: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        let Some(id) = self.verify(cookie, now) else {
            return Ok(None);
        };
        let keys = store.api_keys().list().await?;
        Ok(keys
            .into_iter()
            .find(|k| k.id == id && k.revoked_at.is_none()))
    }
}

/// The `Set-Cookie` value that signs the browser in.
pub(super) fn set_cookie(value: &str) -> String {
    format!(
        "{COOKIE}={value}; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age={}",
        LIFETIME.as_secs()
    )
}

/// The `Set-Cookie` value that signs the browser out.
pub(super) fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// The session cookie's value in a `Cookie` header, if present.
pub(super) fn from_header(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: i64) -> ApiKeyRecord {
        ApiKeyRecord {
            id: ApiKeyId(id),
            name: "k".to_owned(),
            prefix: "ivk_".to_owned(),
            created_at: Utc::now(),
            revoked_at: None,
            scope: crate::store::ApiKeyScope::Full,
        }
    }

    #[test]
    fn a_session_is_the_key_it_was_issued_for_until_it_expires() {
        let sessions = Sessions::new();
        let now = Utc::now();
        let cookie = sessions.issue(&key(7), now);
        assert_eq!(sessions.verify(&cookie, now), Some(ApiKeyId(7)));
        assert_eq!(
            sessions.verify(&cookie, now + chrono::Duration::hours(13)),
            None
        );
        // Another gateway (another secret) does not accept it, nor a forged id.
        assert_eq!(Sessions::new().verify(&cookie, now), None);
        let forged = cookie.replacen('7', "8", 1);
        assert_eq!(sessions.verify(&forged, now), None);
        assert_eq!(sessions.verify("garbage", now), None);
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        assert_eq!(from_header("a=1; invois_session=x.y.z; b=2"), Some("x.y.z"));
        assert_eq!(from_header("a=1"), None);
    }
}
