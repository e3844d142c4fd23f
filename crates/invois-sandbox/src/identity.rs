//! Identity: `POST /connect/token` (README §2) and the bearer tokens it issues.
//!
//! Tokens are JWT-shaped (`header.claims.signature`, HS256 with a per-process key) carrying the
//! claims a real MyInvois token carries (`client_id`, `IsIntermediary`, `IntermedTIN`, `name` =
//! `<TIN>:<client_id>`, `TaxTin`, `exp` = `iat` + 3600 on the sandbox clock). A reset rotates
//! the key, so old tokens stop working, as after a real environment refresh.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use invois_api::identity::{
    GRANT_TYPE, ON_BEHALF_OF_HEADER, SCOPE, TokenError, TokenErrorCode, TokenResponse,
    placeholder_reason,
};
use invois_api::{Endpoint, RateClass};
use parking_lot::Mutex;
use ring::hmac;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::extract::{BodyRead, read_body};
use crate::ratelimit::RateDecision;
use crate::{CallContext, Sandbox};

/// Token lifetime in (clock) seconds.
pub const TOKEN_LIFETIME_SECS: i64 = 3600;

/// Who is calling, as the token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The ERP client id that logged in (the rate-limit key).
    pub client_id: String,
    /// The taxpayer the caller acts as: its own TIN, or the represented taxpayer's.
    pub tin: String,
    /// The `onbehalfof` value given at login, for intermediaries.
    pub on_behalf_of: Option<String>,
    /// The intermediary's TIN, for intermediaries.
    pub intermediary_tin: Option<String>,
}

impl Caller {
    /// `<TIN>:<client_id>`, as `createdByUserId` spells the submitting user.
    pub fn user_id(&self) -> String {
        format!("{}:{}", self.tin, self.client_id)
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    nbf: i64,
    iat: i64,
    exp: i64,
    aud: Vec<String>,
    scope: Vec<String>,
    client_id: String,
    #[serde(rename = "IsIntermediary")]
    is_intermediary: String,
    #[serde(rename = "IntermedTIN")]
    intermed_tin: String,
    #[serde(rename = "OnBehalfOf")]
    on_behalf_of: String,
    name: String,
    #[serde(rename = "TaxTin")]
    tax_tin: String,
    #[serde(rename = "IsSystem")]
    is_system: String,
    jti: String,
}

/// Signs and checks tokens. The key rotates on reset.
pub(crate) struct TokenSigner {
    key: Mutex<hmac::Key>,
}

impl TokenSigner {
    pub(crate) fn new() -> TokenSigner {
        TokenSigner {
            key: Mutex::new(Self::fresh_key()),
        }
    }

    fn fresh_key() -> hmac::Key {
        let bytes: [u8; 32] = rand::random();
        hmac::Key::new(hmac::HMAC_SHA256, &bytes)
    }

    pub(crate) fn rotate(&self) {
        *self.key.lock() = Self::fresh_key();
    }

    fn issue(&self, caller: &Caller, now: DateTime<Utc>) -> String {
        let iat = now.timestamp();
        let claims = Claims {
            iss: "https://invois-sandbox.local".to_owned(),
            nbf: iat,
            iat,
            exp: iat + TOKEN_LIFETIME_SECS,
            aud: vec![
                SCOPE.to_owned(),
                "https://invois-sandbox.local/resources".to_owned(),
            ],
            scope: vec![SCOPE.to_owned()],
            client_id: caller.client_id.clone(),
            is_intermediary: if caller.intermediary_tin.is_some() {
                "1"
            } else {
                "0"
            }
            .to_owned(),
            intermed_tin: caller.intermediary_tin.clone().unwrap_or_default(),
            on_behalf_of: caller.on_behalf_of.clone().unwrap_or_default(),
            name: caller.user_id(),
            tax_tin: caller.tin.clone(),
            is_system: "1".to_owned(),
            jti: hex::encode(rand::random::<[u8; 12]>()),
        };
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        // Serialising a struct of strings and integers cannot fail.
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap_or_default());
        let signing_input = format!("{header}.{body}");
        let tag = hmac::sign(&self.key.lock(), signing_input.as_bytes());
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// The caller a token names, if the token is genuine and unexpired at `now`.
    fn verify(&self, token: &str, now: DateTime<Utc>) -> Option<Caller> {
        let (signing_input, sig) = token.rsplit_once('.')?;
        let sig = URL_SAFE_NO_PAD.decode(sig).ok()?;
        hmac::verify(&self.key.lock(), signing_input.as_bytes(), &sig).ok()?;
        let (_, body) = signing_input.split_once('.')?;
        let claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).ok()?).ok()?;
        let now = now.timestamp();
        if now >= claims.exp || now < claims.nbf {
            return None;
        }
        Some(Caller {
            client_id: claims.client_id,
            tin: claims.tax_tin,
            on_behalf_of: Some(claims.on_behalf_of).filter(|s| !s.is_empty()),
            intermediary_tin: Some(claims.intermed_tin).filter(|s| !s.is_empty()),
        })
    }
}

impl Sandbox {
    /// The caller named by an `Authorization: Bearer` header, or `401`.
    pub(crate) fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, AppError> {
        let value = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| AppError::Unauthorized("Missing access token".to_owned()))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| AppError::Unauthorized("Malformed Authorization header".to_owned()))?;
        self.inner
            .tokens
            .verify(token, self.clock().now())
            .ok_or_else(|| AppError::Unauthorized("Invalid or expired access token".to_owned()))
    }
}

fn token_error(code: TokenErrorCode, description: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(TokenError::new(code, description)),
    )
        .into_response()
}

/// `POST /connect/token`.
pub(crate) async fn token(
    axum::extract::State(sandbox): axum::extract::State<Sandbox>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let on_behalf_of = headers
        .get(ON_BEHALF_OF_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    let endpoint = if on_behalf_of.is_some() {
        Endpoint::LoginIntermediary
    } else {
        Endpoint::LoginTaxpayer
    };
    let mut context = CallContext {
        endpoint: Some(endpoint),
        client_id: None,
        on_behalf_of: on_behalf_of.clone(),
        payload_sha256: None,
        blocked_credential: None,
    };
    let mut resp = login(&sandbox, &headers, body, on_behalf_of, &mut context).await;
    resp.extensions_mut().insert(context);
    resp
}

async fn login(
    sandbox: &Sandbox,
    headers: &HeaderMap,
    body: axum::body::Body,
    on_behalf_of: Option<String>,
    context: &mut CallContext,
) -> Response {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return token_error(
            TokenErrorCode::InvalidRequest,
            "The request must be form-encoded (application/x-www-form-urlencoded)",
        );
    }
    let body = match read_body(body, 16 * 1024).await {
        BodyRead::Complete(b) => b,
        BodyRead::TooLarge { .. } | BodyRead::Failed => {
            return token_error(TokenErrorCode::InvalidRequest, "Unreadable request body");
        }
    };
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| -> Option<&str> {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let client_id = field("client_id");
    context.client_id = client_id.map(str::to_owned);

    // Blocked and counted, as LHDN blocks them (README §2, Integration Practices).
    for (name, value) in [
        ("client_id", client_id),
        ("client_secret", field("client_secret")),
        ("grant_type", field("grant_type")),
    ] {
        if let Some(reason) = placeholder_reason(value) {
            sandbox.count_blocked_login(client_id.unwrap_or("(missing)"), name);
            context.blocked_credential = Some(format!("{name} is {reason}"));
            return token_error(
                TokenErrorCode::InvalidRequest,
                format!(
                    "{name} is {reason}; calls with missing or placeholder credentials are blocked"
                ),
            );
        }
    }
    let (Some(client_id), Some(secret), Some(grant_type)) =
        (client_id, field("client_secret"), field("grant_type"))
    else {
        return token_error(TokenErrorCode::InvalidRequest, "Missing parameter");
    };

    let class = if on_behalf_of.is_some() {
        RateClass::LoginIntermediary
    } else {
        RateClass::LoginTaxpayer
    };
    let budget = match sandbox.rate_check(client_id, class) {
        RateDecision::Limited {
            limit,
            retry_after_secs,
            reset,
        } => {
            return AppError::TooManyRequests {
                retry_after_secs,
                limit,
                reset,
            }
            .into_response();
        }
        RateDecision::Allowed { limit, remaining } => Some((limit, remaining)),
        RateDecision::Unlimited => None,
    };
    let mut resp = authorise(
        sandbox,
        field("scope"),
        client_id,
        secret,
        grant_type,
        on_behalf_of,
    );
    if let Some((limit, remaining)) = budget {
        let h = resp.headers_mut();
        h.insert("X-Rate-Limit-Limit", header::HeaderValue::from(limit));
        h.insert(
            "X-Rate-Limit-Remaining",
            header::HeaderValue::from(remaining),
        );
    }
    resp
}

/// The checks after the rate budget: grant, scope, credentials; then the token.
fn authorise(
    sandbox: &Sandbox,
    scope: Option<&str>,
    client_id: &str,
    secret: &str,
    grant_type: &str,
    on_behalf_of: Option<String>,
) -> Response {
    if grant_type != GRANT_TYPE {
        return token_error(
            TokenErrorCode::UnsupportedGrantType,
            format!("grant_type must be `{GRANT_TYPE}`"),
        );
    }
    if let Some(scope) = scope.filter(|s| !s.trim().is_empty())
        && !scope.split_whitespace().all(|s| s == SCOPE)
    {
        return token_error(
            TokenErrorCode::InvalidScope,
            format!("Unknown scope `{scope}`"),
        );
    }

    let caller = match sandbox.resolve_login(client_id, secret, on_behalf_of.as_deref()) {
        Ok(c) => c,
        Err(resp) => {
            sandbox.count_failed_login(client_id);
            return resp;
        }
    };
    let token = sandbox.inner.tokens.issue(&caller, sandbox.clock().now());
    let body = TokenResponse {
        access_token: token,
        token_type: "Bearer".to_owned(),
        expires_in: TOKEN_LIFETIME_SECS as u64,
        scope: Some(SCOPE.to_owned()),
    };
    let mut resp = axum::Json(body).into_response();
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    resp
}

impl Sandbox {
    /// Checks credentials against the fixture.
    #[expect(
        clippy::result_large_err,
        reason = "the error is the response itself, built once per failed login"
    )]
    fn resolve_login(
        &self,
        client_id: &str,
        secret: &str,
        on_behalf_of: Option<&str>,
    ) -> Result<Caller, Response> {
        let fixtures = &self.inner.fixtures;
        let bad_client =
            || token_error(TokenErrorCode::InvalidClient, "Invalid client credentials");
        if let Some(taxpayer) = fixtures
            .taxpayers
            .iter()
            .find(|t| t.clients.iter().any(|c| c.client_id == client_id))
        {
            let ok = taxpayer
                .clients
                .iter()
                .any(|c| c.client_id == client_id && constant_time_eq(&c.client_secret, secret));
            if !ok {
                return Err(bad_client());
            }
            if on_behalf_of.is_some() {
                return Err(token_error(
                    TokenErrorCode::UnauthorisedClient,
                    "This client is not registered as an intermediary; do not send onbehalfof",
                ));
            }
            return Ok(Caller {
                client_id: client_id.to_owned(),
                tin: taxpayer.tin.clone(),
                on_behalf_of: None,
                intermediary_tin: None,
            });
        }
        let Some(intermediary) = fixtures
            .intermediaries
            .iter()
            .find(|i| i.client_id == client_id)
        else {
            return Err(bad_client());
        };
        if !constant_time_eq(&intermediary.client_secret, secret) {
            return Err(bad_client());
        }
        let Some(obo) = on_behalf_of else {
            return Err(token_error(
                TokenErrorCode::InvalidRequest,
                "Intermediary login requires the onbehalfof header",
            ));
        };
        // `TIN` or `TIN:ROB` (README §2).
        let (tin, rob) = match obo.split_once(':') {
            Some((t, r)) => (t.trim(), Some(r.trim())),
            None => (obo, None),
        };
        let represented = intermediary
            .represents
            .iter()
            .any(|t| t.eq_ignore_ascii_case(tin));
        let taxpayer = fixtures.taxpayer(tin).filter(|_| represented);
        let Some(taxpayer) = taxpayer else {
            return Err(token_error(
                TokenErrorCode::UnauthorisedClient,
                format!("The intermediary does not represent taxpayer {tin}"),
            ));
        };
        if let Some(rob) = rob
            && !rob.eq_ignore_ascii_case(&taxpayer.id_value)
        {
            return Err(token_error(
                TokenErrorCode::UnauthorisedClient,
                format!("Registration number {rob} does not match taxpayer {tin}"),
            ));
        }
        Ok(Caller {
            client_id: client_id.to_owned(),
            tin: taxpayer.tin.clone(),
            on_behalf_of: Some(obo.to_owned()),
            intermediary_tin: Some(intermediary.tin.clone()),
        })
    }
}

/// Compares secrets without an early exit on the first differing byte.
fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_until_expiry_and_not_after_rotation() {
        let signer = TokenSigner::new();
        let caller = Caller {
            client_id: "c".into(),
            tin: "C1".into(),
            on_behalf_of: None,
            intermediary_tin: None,
        };
        let t0 = Utc::now();
        let token = signer.issue(&caller, t0);
        assert_eq!(signer.verify(&token, t0), Some(caller.clone()));
        let just_before = t0 + chrono::Duration::seconds(TOKEN_LIFETIME_SECS - 1);
        assert!(signer.verify(&token, just_before).is_some());
        let at_expiry = t0 + chrono::Duration::seconds(TOKEN_LIFETIME_SECS);
        assert!(signer.verify(&token, at_expiry).is_none());
        let mut tampered = token.clone();
        tampered.insert(token.len() / 2, 'x');
        assert!(signer.verify(&tampered, t0).is_none());
        signer.rotate();
        assert!(signer.verify(&token, t0).is_none());
    }
}
