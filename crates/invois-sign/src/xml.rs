//! placeholder
use crate::error::SignError;
use crate::signer::Signer;
use crate::verify::Extracted;
use chrono::{DateTime, Utc};
pub(crate) fn extract(_bytes: &[u8]) -> Result<Extracted, String> {
    Err("todo".to_owned())
}
/// Sign an XML document.
pub fn sign_xml(_bytes: &[u8], _signer: &Signer, _t: DateTime<Utc>) -> Result<Vec<u8>, SignError> {
    Err(SignError::Document("todo".to_owned()))
}
