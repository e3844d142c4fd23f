//! Newtypes that keep secrets out of `Debug` output, logs and error messages.

/// A password (for a PKCS#12 file). `Debug` never shows it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wrap a password.
    pub fn new(p: impl Into<String>) -> Self {
        Self(p.into())
    }

    /// The password itself; call only where it is used.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl From<&str> for Password {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl From<String> for Password {
    fn from(s: String) -> Self {
        Self::new(s)
    }
}

impl Drop for Password {
    fn drop(&mut self) {
        // Best effort: overwrite the bytes before the allocation is freed.
        let v = std::mem::take(&mut self.0).into_bytes();
        let mut v = v;
        for b in v.iter_mut() {
            *b = 0;
        }
        std::hint::black_box(&v);
    }
}

/// Private key bytes (PKCS#8 DER). `Debug` never shows them.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKeyDer(Vec<u8>);

impl SecretKeyDer {
    pub(crate) fn new(v: Vec<u8>) -> Self {
        Self(v)
    }

    /// The DER bytes; call only where they are written out.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The key as a PKCS#8 PEM (`PRIVATE KEY`) text.
    pub fn to_pem(&self) -> String {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&self.0);
        let mut s = String::from("-----BEGIN PRIVATE KEY-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            s.push_str(&String::from_utf8_lossy(chunk));
            s.push('\n');
        }
        s.push_str("-----END PRIVATE KEY-----\n");
        s
    }
}

impl std::fmt::Debug for SecretKeyDer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKeyDer(<redacted>)")
    }
}

impl Drop for SecretKeyDer {
    fn drop(&mut self) {
        for b in self.0.iter_mut() {
            *b = 0;
        }
        std::hint::black_box(&self.0);
    }
}
