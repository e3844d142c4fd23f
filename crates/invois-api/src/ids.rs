//! Identifiers: document `uuid` and `submissionUid` are 26 Latin alphanumerics
//! (e.g. `42S512YACQBRSRHYKBXBTGQG22`), README §10.

/// Length of a document uuid or a submission uid.
pub const UID_LEN: usize = 26;

/// Whether `s` has the form of a MyInvois uuid or submission uid.
pub fn is_uid(s: &str) -> bool {
    s.len() == UID_LEN && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The public validation link of a valid document (README §10):
/// `{portal}/{uuid}/share/{longId}`.
pub fn validation_link(portal_base: &str, uuid: &str, long_id: &str) -> String {
    format!(
        "{}/{uuid}/share/{long_id}",
        portal_base.trim_end_matches('/')
    )
}

/// The portal base of LHDN's production environment.
pub const PRODUCTION_PORTAL: &str = "https://myinvois.hasil.gov.my";

/// The portal base of LHDN's pre-production (sandbox) environment.
pub const PREPROD_PORTAL: &str = "https://preprod.myinvois.hasil.gov.my";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_form() {
        assert!(is_uid("42S512YACQBRSRHYKBXBTGQG22"));
        assert!(!is_uid("42S512YACQBRSRHYKBXBTGQG2"));
        assert!(!is_uid("42S512YACQBRSRHYKBXBTGQG2-"));
    }

    #[test]
    fn link() {
        assert_eq!(
            validation_link("https://myinvois.hasil.gov.my/", "U", "L"),
            "https://myinvois.hasil.gov.my/U/share/L"
        );
    }
}
