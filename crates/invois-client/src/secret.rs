//! Secrets as newtypes whose `Debug` and `Display` never show the value.
//!
//! A client secret or an access token must never reach a log line, an error message or a
//! panic message. Wrapping them means a careless `{:?}` prints `[redacted]`; reading the
//! value takes an explicit `expose()`.

use std::fmt;

macro_rules! secret_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            /// Wraps a value.
            pub fn new(value: impl Into<String>) -> Self {
                $name(value.into())
            }

            /// The value. Call only where it goes on the wire.
            pub fn expose(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "([redacted])"))
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                $name(value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                $name(value.to_owned())
            }
        }
    };
}

secret_type!(
    /// An ERP client secret.
    ClientSecret
);
secret_type!(
    /// A bearer token from `/connect/token`.
    AccessToken
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s = ClientSecret::new("hunter2-secret");
        let t = AccessToken::new("eyJhbGciOi.token");
        assert_eq!(format!("{s:?}"), "ClientSecret([redacted])");
        assert!(!format!("{t:?}").contains("eyJ"));
        assert_eq!(s.expose(), "hunter2-secret");
    }
}
