//! Test certificates for the sandbox and for tests: a CA and signing certificates with the
//! MyInvois ERP profile (§9.1). Never use these against LHDN: MyInvois trusts only CAs
//! licensed by MCMC, so documents signed with them fail there with DS329.

use std::sync::OnceLock;

use aws_lc_rs::rand::SecureRandom;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Duration, TimeZone, Utc};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
    SerialNumber,
};

use crate::cert::Certificate;
use crate::error::SignError;
use crate::secret::{Password, SecretKeyDer};
use crate::signer::Signer;

/// The private key of the well-known invois test CA (ECDSA P-256, PKCS#8). It is public on
/// purpose: the sandbox trusts this CA by default so that `invois cert issue-test` output
/// verifies there with no set-up. It protects nothing.
const WELL_KNOWN_CA_KEY: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgLrxF7bCuePFQ2X4jE16n7TnKjvBWhoKZMP5VEWS1DvKhRANCAAT2IPu5Pp3T8rDttu0sOFRbZUUdkg3dnIKNGLCESYqW1QqeiBAP17RH4ncrnV7CtIvCTzmeEF8V00pNk9miUETI";

fn err(e: impl std::fmt::Display) -> SignError {
    SignError::Issue(e.to_string())
}

fn to_time(t: DateTime<Utc>) -> Result<time::OffsetDateTime, SignError> {
    time::OffsetDateTime::from_unix_timestamp(t.timestamp()).map_err(err)
}

fn dn_value(s: &str) -> DnValue {
    match rcgen::string::PrintableString::try_from(s) {
        Ok(p) => DnValue::PrintableString(p),
        Err(_) => DnValue::Utf8String(s.to_owned()),
    }
}

fn random_serial() -> Result<SerialNumber, SignError> {
    let mut b = [0u8; 16];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| err("no system randomness"))?;
    b[0] &= 0x7f;
    b[0] |= 0x01;
    Ok(SerialNumber::from_slice(&b))
}

/// A certificate authority that issues test signing certificates.
pub struct TestCa {
    key: KeyPair,
    params: CertificateParams,
    certificate: Certificate,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa")
            .field("certificate", &self.certificate)
            .field("key", &"<redacted>")
            .finish()
    }
}

fn ca_params(common_name: &str) -> Result<CertificateParams, SignError> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, dn_value("MY"));
    dn.push(DnType::OrganizationName, dn_value("invois test"));
    dn.push(
        DnType::OrganizationalUnitName,
        dn_value("Not for production use"),
    );
    dn.push(DnType::CommonName, dn_value(common_name));
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    // Wide validity so that documents signed at any plausible time verify in the sandbox.
    params.not_before = to_time(
        Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0)
            .single()
            .ok_or_else(|| err("date"))?,
    )?;
    params.not_after = to_time(
        Utc.with_ymd_and_hms(2049, 12, 31, 0, 0, 0)
            .single()
            .ok_or_else(|| err("date"))?,
    )?;
    Ok(params)
}

impl TestCa {
    fn from_key(key: KeyPair, common_name: &str, serial: SerialNumber) -> Result<Self, SignError> {
        let mut params = ca_params(common_name)?;
        params.serial_number = Some(serial);
        let cert = params.self_signed(&key).map_err(err)?;
        let certificate = Certificate::from_der(cert.der())?;
        Ok(Self {
            key,
            params,
            certificate,
        })
    }

    /// The well-known invois test CA, trusted by [`crate::TrustStore::test_ca`]. Its
    /// certificate is built once per process, so every call returns the same DER.
    pub fn well_known() -> Result<Self, SignError> {
        static CERT: OnceLock<Vec<u8>> = OnceLock::new();
        let der = B64.decode(WELL_KNOWN_CA_KEY).map_err(err)?;
        let key = KeyPair::try_from(der.as_slice()).map_err(err)?;
        let mut params = ca_params("invois Test CA")?;
        params.serial_number = Some(SerialNumber::from_slice(&[0x01, 0x1A, 0x55]));
        let der = match CERT.get() {
            Some(d) => d.clone(),
            None => {
                let d = params.self_signed(&key).map_err(err)?.der().to_vec();
                CERT.get_or_init(|| d).clone()
            }
        };
        let certificate = Certificate::from_der(&der)?;
        Ok(Self {
            key,
            params,
            certificate,
        })
    }

    /// A new CA with a fresh random key (for tests of untrusted chains, DS329).
    pub fn generate(common_name: &str) -> Result<Self, SignError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(err)?;
        Self::from_key(key, common_name, random_serial()?)
    }

    /// The CA certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// Issue a signing certificate with a fresh RSA-2048 key.
    pub fn issue(&self, req: &TestCertRequest) -> Result<IssuedCertificate, SignError> {
        let rsa_key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).map_err(err)?;
        let pkcs8 = rsa::pkcs8::EncodePrivateKey::to_pkcs8_der(&rsa_key).map_err(err)?;
        let key_der = SecretKeyDer::new(pkcs8.as_bytes().to_vec());
        // rcgen picks RSA PKCS#1 SHA-256 for an RSA PKCS#8 key.
        let leaf_key = KeyPair::try_from(key_der.expose()).map_err(err)?;

        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CountryName, dn_value("MY"));
        dn.push(DnType::OrganizationName, dn_value(&req.organization));
        if let Some(tin) = &req.tin {
            dn.push(DnType::CustomDnType(vec![2, 5, 4, 97]), dn_value(tin));
        }
        dn.push(DnType::CommonName, dn_value(&req.organization));
        if let Some(brn) = &req.brn {
            dn.push(DnType::CustomDnType(vec![2, 5, 4, 5]), dn_value(brn));
        }
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        if req.non_repudiation {
            params.key_usages.push(KeyUsagePurpose::ContentCommitment);
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::EmailProtection];
        if req.document_signing {
            params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::Other(vec![
                    1, 3, 6, 1, 4, 1, 311, 10, 3, 12,
                ]));
        }
        params.not_before = to_time(req.not_before)?;
        params.not_after = to_time(req.not_after)?;
        params.serial_number = Some(random_serial()?);
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&leaf_key, &issuer).map_err(err)?;
        Ok(IssuedCertificate {
            certificate: Certificate::from_der(cert.der())?,
            ca: self.certificate.clone(),
            key: key_der,
        })
    }
}

/// What to put in a test signing certificate. [`TestCertRequest::new`] gives the ERP profile;
/// the other fields exist to produce certificates that break one rule (for tests).
///
/// Not `#[non_exhaustive]` on purpose: tests build variants with struct-update syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCertRequest {
    /// organizationIdentifier (2.5.4.97); `None` leaves it out.
    pub tin: Option<String>,
    /// serialNumber (2.5.4.5); `None` leaves it out.
    pub brn: Option<String>,
    /// O and CN.
    pub organization: String,
    /// Start of validity.
    pub not_before: DateTime<Utc>,
    /// End of validity.
    pub not_after: DateTime<Utc>,
    /// Include the Non-Repudiation key usage.
    pub non_repudiation: bool,
    /// Include the Document Signing extended key usage.
    pub document_signing: bool,
}

impl TestCertRequest {
    /// The ERP profile for this TIN and BRN, valid from a day ago for two years.
    pub fn new(tin: impl Into<String>, brn: impl Into<String>) -> Self {
        let now = Utc::now();
        Self {
            tin: Some(tin.into()),
            brn: Some(brn.into()),
            organization: "invois Test Taxpayer Sdn Bhd".to_owned(),
            not_before: now - Duration::days(1),
            not_after: now + Duration::days(730),
            non_repudiation: true,
            document_signing: true,
        }
    }
}

/// Cipher for a PKCS#12 file written by [`IssuedCertificate::to_pkcs12`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Pkcs12Cipher {
    /// PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC (what OpenSSL 3 writes).
    Aes256,
    /// pbeWithSHAAnd40BitRC2-CBC (what old OpenSSL and many CAs write; OpenSSL 3 needs -legacy).
    Rc2_40,
    /// pbeWithSHAAnd3-KeyTripleDES-CBC (Windows and Java exports).
    TripleDes,
}

/// A test signing certificate with its key and issuing CA.
#[derive(Clone)]
pub struct IssuedCertificate {
    /// The signing certificate.
    pub certificate: Certificate,
    /// The CA certificate that issued it.
    pub ca: Certificate,
    /// The private key (PKCS#8 DER).
    pub key: SecretKeyDer,
}

impl std::fmt::Debug for IssuedCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCertificate")
            .field("certificate", &self.certificate)
            .field("ca", &self.ca)
            .field("key", &self.key)
            .finish()
    }
}

impl IssuedCertificate {
    /// A signer for this certificate.
    pub fn signer(&self) -> Result<Signer, SignError> {
        Signer::from_parts(self.certificate.clone(), &self.key, vec![self.ca.clone()])
    }

    /// A PKCS#12 file with the key, the certificate and the CA, encrypted with `cipher`
    /// (SHA-1 MAC for the legacy ciphers, as the tools that write them do).
    pub fn to_pkcs12(
        &self,
        password: &Password,
        cipher: Pkcs12Cipher,
    ) -> Result<Vec<u8>, SignError> {
        write_pkcs12(
            &self.certificate,
            &self.key,
            std::slice::from_ref(&self.ca),
            password,
            cipher,
        )
    }
}

/// Write a PKCS#12 file holding a key, its certificate and a chain.
pub fn write_pkcs12(
    certificate: &Certificate,
    key: &SecretKeyDer,
    chain: &[Certificate],
    password: &Password,
    cipher: Pkcs12Cipher,
) -> Result<Vec<u8>, SignError> {
    use p12_keystore::{
        EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, PrivateKey, PrivateKeyChain,
    };
    let pkey = PrivateKey::from_der(key.expose()).map_err(|e| SignError::Pkcs12(e.to_string()))?;
    let mut certs = vec![
        p12_keystore::Certificate::from_der(certificate.der())
            .map_err(|e| SignError::Pkcs12(e.to_string()))?,
    ];
    for c in chain {
        certs.push(
            p12_keystore::Certificate::from_der(c.der())
                .map_err(|e| SignError::Pkcs12(e.to_string()))?,
        );
    }
    let local_key_id =
        certificate.digest().as_bytes()[..20.min(certificate.digest().len())].to_vec();
    let mut ks = KeyStore::new();
    ks.add_entry(
        "invois",
        KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(local_key_id, pkey, certs)),
    );
    let (alg, mac) = match cipher {
        Pkcs12Cipher::Aes256 => (
            EncryptionAlgorithm::PbeWithHmacSha256AndAes256,
            MacAlgorithm::HmacSha256,
        ),
        Pkcs12Cipher::Rc2_40 => (
            EncryptionAlgorithm::PbeWithShaAnd40BitRc4Cbc,
            MacAlgorithm::HmacSha1,
        ),
        Pkcs12Cipher::TripleDes => (
            EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc,
            MacAlgorithm::HmacSha1,
        ),
    };
    ks.writer(password.expose())
        .encryption_algorithm(alg)
        .mac_algorithm(mac)
        .encryption_iterations(2048)
        .mac_iterations(2048)
        .write()
        .map_err(|e| SignError::Pkcs12(e.to_string()))
}

/// Issue a test certificate with the ERP profile from the well-known test CA (trusted by
/// [`crate::TrustStore::test_ca`], the sandbox default). Returns the CA certificate, the
/// signing certificate and its private key.
pub fn issue_test_certificate(
    tin: &str,
    brn: &str,
) -> Result<(Certificate, Certificate, SecretKeyDer), SignError> {
    let issued = TestCa::well_known()?.issue(&TestCertRequest::new(tin, brn))?;
    Ok((issued.ca, issued.certificate, issued.key))
}
