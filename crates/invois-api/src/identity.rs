//! Identity: `POST /connect/token` (README §2), OAuth 2.0 client credentials.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The header an intermediary sends at login, naming the represented taxpayer
/// (`C25845632020`, or `TIN:ROB`).
pub const ON_BEHALF_OF_HEADER: &str = "onbehalfof";

/// The only grant MyInvois supports.
pub const GRANT_TYPE: &str = "client_credentials";

/// The scope MyInvois issues.
pub const SCOPE: &str = "InvoicingAPI";

/// The form body of a token request. Serialise with `serde_urlencoded`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRequest {
    /// ERP client id.
    pub client_id: String,
    /// ERP client secret.
    pub client_secret: String,
    /// Always `client_credentials`.
    pub grant_type: String,
    /// `InvoicingAPI`; may be omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRequest")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("grant_type", &self.grant_type)
            .field("scope", &self.scope)
            .finish()
    }
}

/// A successful token response.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// The bearer token (a JWT).
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Lifetime in seconds: 3600.
    pub expires_in: u64,
    /// `InvoicingAPI`.
    #[serde(default)]
    pub scope: Option<String>,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"[redacted]")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish()
    }
}

/// RFC 6749 error codes, as the identity service spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TokenErrorCode {
    /// A required parameter is missing or repeated, or the request is malformed.
    InvalidRequest,
    /// Client authentication failed.
    InvalidClient,
    /// The grant is invalid or expired.
    InvalidGrant,
    /// The client may not use this grant (LHDN's documentation spells it British).
    #[serde(rename = "unauthorised_client", alias = "unauthorized_client")]
    UnauthorisedClient,
    /// The grant type is not supported.
    UnsupportedGrantType,
    /// The scope is invalid.
    InvalidScope,
}

impl TokenErrorCode {
    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            TokenErrorCode::InvalidRequest => "invalid_request",
            TokenErrorCode::InvalidClient => "invalid_client",
            TokenErrorCode::InvalidGrant => "invalid_grant",
            TokenErrorCode::UnauthorisedClient => "unauthorised_client",
            TokenErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            TokenErrorCode::InvalidScope => "invalid_scope",
        }
    }
}

/// An RFC 6749 error body (`400`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenError {
    /// The code, kept as a string so that an unknown code still parses.
    pub error: String,
    /// Optional text, e.g. `User blocked`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    /// Not used by MyInvois.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_uri: Option<String>,
}

impl TokenError {
    /// An error with a code and a description.
    pub fn new(code: TokenErrorCode, description: impl Into<String>) -> Self {
        TokenError {
            error: code.as_str().to_owned(),
            error_description: Some(description.into()),
            error_uri: None,
        }
    }

    /// The code, if it is one of the known ones.
    pub fn code(&self) -> Option<TokenErrorCode> {
        serde_json::from_value(serde_json::Value::String(self.error.clone())).ok()
    }
}

/// The soonest a login refused for good ([`login_refused_for_good`]) is sent again unattended:
/// one hour.
///
/// LHDN's Integration Practices ask that a failed login be investigated and resolved, not
/// repeated: sending the same credentials again cannot succeed, and repeated failed logins
/// are what gets a client id throttled. So invois sends a refused login again only when the
/// login configuration changed, an operator asks, or this long has passed; the sandbox's
/// integration report flags a refused login repeated sooner.
pub const REFUSED_LOGIN_RETRY: Duration = Duration::from_secs(3600);

/// Whether a `/connect/token` answer refuses the login for a reason that sending it again
/// cannot fix, so that it must not be repeated (see [`REFUSED_LOGIN_RETRY`]).
///
/// Every `4xx` is such a refusal: `400` with an RFC 6749 code (wrong client id or secret,
/// a blocked or expired ERP user, an intermediary without the taxpayer's authorisation, a
/// malformed request), `401`, `403` (credentials of the other environment, README §1), `404`
/// and the like (a wrong identity URL). Except: `408`, `425` and `429`, which ask for a later
/// try, and a `403` whose body is an HTML page, which is MyInvois' maintenance page, not an
/// answer about the credentials. `5xx` and transport failures are transient.
pub fn login_refused_for_good(status: u16, body: &[u8]) -> bool {
    let later = matches!(status, 408 | 425 | 429);
    let maintenance = status == 403 && looks_like_html(body);
    (400..500).contains(&status) && !later && !maintenance
}

/// Whether a body is an HTML page rather than a JSON error.
fn looks_like_html(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body.get(..64).unwrap_or(body)).to_ascii_lowercase();
    let text = text.trim_start();
    text.starts_with("<!doctype html") || text.starts_with("<html")
}

/// Why a credential is a placeholder rather than a real value; shared by the client's guard
/// (which refuses to send it) and the sandbox (which blocks and counts it), so both agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaceholderReason {
    /// The field is absent.
    Missing,
    /// The field is empty or only whitespace.
    Empty,
    /// The field is `0`.
    Zero,
    /// The field is a template value such as `YOUR_CLIENT_ID` or `{{clientId}}`.
    Template,
}

impl fmt::Display for PlaceholderReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PlaceholderReason::Missing => "missing",
            PlaceholderReason::Empty => "empty",
            PlaceholderReason::Zero => "`0`",
            PlaceholderReason::Template => "a placeholder",
        })
    }
}

/// Classifies a credential value: `None` when it looks real.
///
/// Placeholders are what LHDN's *Integration Practices* page lists (`0`, empty,
/// `YOUR_CLIENT_ID`) and the shapes templates leave behind: `YOUR_…`, `<…>`, `{{…}}`, `${…}`,
/// `xxx…`, `changeme`, `placeholder`, `client_id`/`client_secret` themselves.
pub fn placeholder_reason(value: Option<&str>) -> Option<PlaceholderReason> {
    let Some(value) = value else {
        return Some(PlaceholderReason::Missing);
    };
    let v = value.trim();
    if v.is_empty() {
        return Some(PlaceholderReason::Empty);
    }
    if v == "0" {
        return Some(PlaceholderReason::Zero);
    }
    let lower = v.to_ascii_lowercase();
    let templated = lower.starts_with("your_")
        || lower.starts_with("your-")
        || lower.starts_with("<") && lower.ends_with('>')
        || lower.starts_with("{{") && lower.ends_with("}}")
        || lower.starts_with("${") && lower.ends_with('}')
        || lower.starts_with('{') && lower.ends_with('}') && !lower.contains('-')
        || lower.chars().all(|c| c == 'x' || c == '*')
        || matches!(
            lower.as_str(),
            "changeme"
                | "change_me"
                | "placeholder"
                | "client_id"
                | "client_secret"
                | "clientid"
                | "clientsecret"
                | "secret"
                | "null"
                | "undefined"
                | "none"
                | "todo"
        );
    templated.then_some(PlaceholderReason::Template)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_recognised() {
        for (v, r) in [
            (None, PlaceholderReason::Missing),
            (Some(""), PlaceholderReason::Empty),
            (Some("   "), PlaceholderReason::Empty),
            (Some("0"), PlaceholderReason::Zero),
            (Some("YOUR_CLIENT_ID"), PlaceholderReason::Template),
            (Some("your_client_secret"), PlaceholderReason::Template),
            (Some("{{clientId}}"), PlaceholderReason::Template),
            (Some("<client secret>"), PlaceholderReason::Template),
            (Some("${CLIENT_ID}"), PlaceholderReason::Template),
            (Some("xxxxxxxx"), PlaceholderReason::Template),
            (Some("changeme"), PlaceholderReason::Template),
        ] {
            assert_eq!(placeholder_reason(v), Some(r), "{v:?}");
        }
    }

    #[test]
    fn real_values_pass() {
        for v in [
            "9e21b10c-4a1e-4a64-9d4e-2b3c4d5e6f70",
            "a1b2c3d4-secret",
            "00",
            "x1",
            "{9e21b10c-4a1e-4a64-9d4e-2b3c4d5e6f70}",
        ] {
            assert_eq!(placeholder_reason(Some(v)), None, "{v}");
        }
    }

    #[test]
    fn debug_redacts_secrets() {
        let req = TokenRequest {
            client_id: "id".into(),
            client_secret: "s3cr3t".into(),
            grant_type: GRANT_TYPE.into(),
            scope: None,
        };
        assert!(!format!("{req:?}").contains("s3cr3t"));
        let resp = TokenResponse {
            access_token: "eyJtoken".into(),
            token_type: "Bearer".into(),
            expires_in: 3600,
            scope: None,
        };
        assert!(!format!("{resp:?}").contains("eyJtoken"));
    }

    #[test]
    fn refusals_for_good_are_the_4xx_that_a_later_try_cannot_change() {
        let oauth = br#"{"error":"invalid_client"}"#;
        for status in [400, 401, 403, 404, 405, 415] {
            assert!(login_refused_for_good(status, oauth), "{status}");
            assert!(login_refused_for_good(status, b""), "{status}");
        }
        for status in [200, 408, 425, 429, 500, 502, 503, 504] {
            assert!(!login_refused_for_good(status, oauth), "{status}");
        }
        let page = b"<!DOCTYPE html>\n<html><head><title>403 - Forbidden</title></head></html>";
        assert!(!login_refused_for_good(403, page), "the maintenance page");
        assert!(login_refused_for_good(404, page), "a wrong identity URL");
    }

    #[test]
    fn token_error_codes_use_documented_spelling() {
        let e = TokenError::new(TokenErrorCode::UnauthorisedClient, "x");
        assert_eq!(e.error, "unauthorised_client");
        assert_eq!(e.code(), Some(TokenErrorCode::UnauthorisedClient));
        let us: TokenError = serde_json::from_str(r#"{"error":"unauthorized_client"}"#).unwrap();
        assert_eq!(us.code(), Some(TokenErrorCode::UnauthorisedClient));
    }
}
