//! Where the client talks to, and as whom.

use std::fmt;
use std::str::FromStr;

use invois_api::identity::placeholder_reason;
use invois_api::ids::{PREPROD_PORTAL, PRODUCTION_PORTAL};
use url::Url;

use crate::error::ConfigError;
use crate::secret::ClientSecret;

/// LHDN's production API host (README §1).
pub const PRODUCTION_API: &str = "https://api.myinvois.hasil.gov.my";
/// LHDN's pre-production (sandbox) API host.
pub const PREPROD_API: &str = "https://preprod-api.myinvois.hasil.gov.my";

/// A MyInvois environment: the API host, the identity host and the portal that serves
/// validation links. The identity host is its own setting because LHDN's FAQ names the API
/// host while real tokens are issued by `…-identity…` hosts (README §1, §12.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    /// Base URL of `/api/v1.0/...`.
    pub api_base: Url,
    /// Base URL of `/connect/token`.
    pub identity_base: Url,
    /// Base URL of validation links (`{portal}/{uuid}/share/{longId}`).
    pub portal_base: Url,
}

fn parse_base(what: &'static str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value.trim()).map_err(|e| ConfigError::InvalidUrl {
        what,
        value: value.to_owned(),
        reason: e.to_string(),
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(ConfigError::InvalidUrl {
            what,
            value: value.to_owned(),
            reason: "expected an http or https base URL".to_owned(),
        });
    }
    Ok(url)
}

impl Environment {
    /// LHDN production.
    pub fn production() -> Environment {
        Environment::fixed(PRODUCTION_API, PRODUCTION_API, PRODUCTION_PORTAL)
    }

    /// LHDN pre-production ("sandbox").
    pub fn preprod() -> Environment {
        Environment::fixed(PREPROD_API, PREPROD_API, PREPROD_PORTAL)
    }

    fn fixed(api: &str, identity: &str, portal: &str) -> Environment {
        // These constants are known-good URLs; a parse failure is a programming error caught
        // by `fixed_environments_parse`.
        let parse = |s: &str| Url::parse(s).unwrap_or_else(|_| unreachable!("constant URL {s}"));
        Environment {
            api_base: parse(api),
            identity_base: parse(identity),
            portal_base: parse(portal),
        }
    }

    /// A custom environment (a local sandbox, a proxy). The identity host defaults to the API
    /// host, and the portal to the API host too, so validation links point somewhere local.
    pub fn custom(api_base: &str) -> Result<Environment, ConfigError> {
        let api = parse_base("API base URL", api_base)?;
        Ok(Environment {
            identity_base: api.clone(),
            portal_base: api.clone(),
            api_base: api,
        })
    }

    /// Replaces the identity host.
    pub fn with_identity_base(mut self, identity_base: &str) -> Result<Environment, ConfigError> {
        self.identity_base = parse_base("identity base URL", identity_base)?;
        Ok(self)
    }

    /// Replaces the portal host.
    pub fn with_portal_base(mut self, portal_base: &str) -> Result<Environment, ConfigError> {
        self.portal_base = parse_base("portal base URL", portal_base)?;
        Ok(self)
    }

    /// The portal base as a string without a trailing slash.
    pub fn portal(&self) -> &str {
        self.portal_base.as_str().trim_end_matches('/')
    }
}

/// The environment names accepted on the command line and in `INVOIS_ENV`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvironmentName {
    /// LHDN pre-production.
    Sandbox,
    /// LHDN production.
    Production,
}

impl FromStr for EnvironmentName {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sandbox" | "preprod" | "pre-production" => Ok(EnvironmentName::Sandbox),
            "production" | "prod" => Ok(EnvironmentName::Production),
            other => Err(ConfigError::UnknownEnvironment(other.to_owned())),
        }
    }
}

impl From<EnvironmentName> for Environment {
    fn from(name: EnvironmentName) -> Self {
        match name {
            EnvironmentName::Sandbox => Environment::preprod(),
            EnvironmentName::Production => Environment::production(),
        }
    }
}

/// Which credential field a guard error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialField {
    /// `client_id`.
    ClientId,
    /// `client_secret`.
    ClientSecret,
    /// The `onbehalfof` TIN of an intermediary login.
    OnBehalfOf,
}

impl fmt::Display for CredentialField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CredentialField::ClientId => "client id",
            CredentialField::ClientSecret => "client secret",
            CredentialField::OnBehalfOf => "onbehalfof TIN",
        })
    }
}

/// An ERP system's credentials. Checked when built: an empty, `0` or placeholder value
/// (`YOUR_CLIENT_ID`, `{{clientSecret}}`, ...) is refused here, so `/connect/token` is never
/// called with it (LHDN blocks and flags such calls).
#[derive(Clone)]
pub struct Credentials {
    client_id: String,
    client_secret: ClientSecret,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .finish()
    }
}

impl Credentials {
    /// Checks and wraps a client id and secret.
    pub fn new(
        client_id: impl Into<String>,
        client_secret: impl Into<ClientSecret>,
    ) -> Result<Credentials, ConfigError> {
        let client_id = client_id.into();
        let client_secret = client_secret.into();
        check_credential(CredentialField::ClientId, Some(&client_id))?;
        check_credential(CredentialField::ClientSecret, Some(client_secret.expose()))?;
        Ok(Credentials {
            client_id: client_id.trim().to_owned(),
            client_secret,
        })
    }

    /// The client id (not a secret: it appears in logs and budget keys).
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The secret.
    pub fn client_secret(&self) -> &ClientSecret {
        &self.client_secret
    }
}

/// The credential guard: refuses a missing, empty, `0` or template value with a message that
/// says which field and why, and never echoes a secret.
pub fn check_credential(field: CredentialField, value: Option<&str>) -> Result<(), ConfigError> {
    match placeholder_reason(value) {
        None => Ok(()),
        Some(reason) => Err(ConfigError::PlaceholderCredential { field, reason }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_environments_parse() {
        let p = Environment::production();
        assert_eq!(p.api_base.host_str(), Some("api.myinvois.hasil.gov.my"));
        assert_eq!(p.portal(), "https://myinvois.hasil.gov.my");
        let s = Environment::from("sandbox".parse::<EnvironmentName>().unwrap());
        assert_eq!(
            s.identity_base.host_str(),
            Some("preprod-api.myinvois.hasil.gov.my")
        );
    }

    #[test]
    fn identity_host_is_separate() {
        let e = Environment::custom("http://127.0.0.1:9000")
            .unwrap()
            .with_identity_base("http://127.0.0.1:9001/")
            .unwrap();
        assert_eq!(e.api_base.port(), Some(9000));
        assert_eq!(e.identity_base.port(), Some(9001));
        assert!(Environment::custom("not a url").is_err());
        assert!(Environment::custom("ftp://x").is_err());
    }

    #[test]
    fn guard_names_the_field_and_never_the_secret() {
        for (id, secret, field) in [
            ("", "s3cret-value", CredentialField::ClientId),
            ("0", "s3cret-value", CredentialField::ClientId),
            ("YOUR_CLIENT_ID", "s3cret-value", CredentialField::ClientId),
            (
                "9e21b10c",
                "YOUR_CLIENT_SECRET",
                CredentialField::ClientSecret,
            ),
            ("9e21b10c", "  ", CredentialField::ClientSecret),
            ("9e21b10c", "0", CredentialField::ClientSecret),
        ] {
            let err = Credentials::new(id, secret).unwrap_err();
            match &err {
                ConfigError::PlaceholderCredential { field: f, .. } => assert_eq!(*f, field),
                other => panic!("unexpected {other:?}"),
            }
            assert!(!err.to_string().contains("s3cret-value"), "{err}");
            assert!(err.to_string().contains(&field.to_string()), "{err}");
        }
        let ok = Credentials::new("9e21b10c", "real-secret-123").unwrap();
        assert!(!format!("{ok:?}").contains("real-secret-123"));
    }
}
