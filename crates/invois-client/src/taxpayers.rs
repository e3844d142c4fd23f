//! Taxpayer APIs: Validate TIN, Search TIN, QR code info. LHDN asks callers to cache these
//! answers; calling them before every submission may be flagged as abuse.

use invois_api::Endpoint;
use invois_api::taxpayer::{
    IdType, QrCodeInfo, SearchTinQuery, SearchTinResponse, ValidateTinQuery,
};

use crate::client::{Call, Client};
use crate::error::Error;
use crate::submissions::set_query;

/// Taxpayer APIs: `client.taxpayers()`.
#[derive(Debug, Clone)]
pub struct Taxpayers {
    client: Client,
}

impl Client {
    /// TIN validation and search, QR code info.
    pub fn taxpayers(&self) -> Taxpayers {
        Taxpayers {
            client: self.clone(),
        }
    }
}

impl Taxpayers {
    /// Validate Taxpayer's TIN: `Ok(true)` for 200, `Ok(false)` for 404 (no such TIN and ID
    /// combination); other answers are errors.
    pub async fn validate_tin(
        &self,
        tin: &str,
        id_type: IdType,
        id_value: &str,
    ) -> Result<bool, Error> {
        if tin.trim().is_empty() || id_value.trim().is_empty() {
            return Err(Error::InvalidRequest(
                "TIN, idType and idValue are all mandatory".into(),
            ));
        }
        let mut url = self
            .client
            .url(Endpoint::ValidateTaxpayerTin, &[tin.trim()]);
        set_query(
            &mut url,
            &ValidateTinQuery {
                id_type,
                id_value: id_value.trim().to_owned(),
            },
        )?;
        match self
            .client
            .send(Call {
                endpoint: Endpoint::ValidateTaxpayerTin,
                url,
                json_body: None,
            })
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.status() == Some(404) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Search Taxpayer's TIN.
    pub fn search_tin(&self) -> SearchTinBuilder {
        SearchTinBuilder {
            client: self.client.clone(),
            query: SearchTinQuery::default(),
        }
    }

    /// Taxpayer's QR Code: `qr_code_text` is the GUID decoded from the taxpayer's QR.
    pub async fn qr_code_info(&self, qr_code_text: &str) -> Result<QrCodeInfo, Error> {
        if qr_code_text.trim().is_empty() {
            return Err(Error::InvalidRequest("empty QR code text".into()));
        }
        self.client
            .send_json(Call {
                endpoint: Endpoint::TaxpayerQrCode,
                url: self
                    .client
                    .url(Endpoint::TaxpayerQrCode, &[qr_code_text.trim()]),
                json_body: None,
            })
            .await
    }
}

/// Builder of Search Taxpayer's TIN: a name, or an ID type and value, or both.
#[derive(Debug, Clone)]
#[must_use]
pub struct SearchTinBuilder {
    client: Client,
    query: SearchTinQuery,
}

impl SearchTinBuilder {
    /// By ID.
    pub fn id(mut self, id_type: IdType, id_value: impl Into<String>) -> Self {
        self.query.id_type = Some(id_type);
        self.query.id_value = Some(id_value.into());
        self
    }

    /// By name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.query.taxpayer_name = Some(name.into());
        self
    }

    /// `1` individual / IG TIN, `2` non-individual.
    pub fn file_type(mut self, t: u8) -> Self {
        self.query.file_type = Some(t);
        self
    }

    /// Sends.
    pub async fn send(self) -> Result<SearchTinResponse, Error> {
        if self.query.taxpayer_name.is_none() && self.query.id_type.is_none() {
            return Err(Error::InvalidRequest(
                "Search TIN needs a taxpayer name, or an ID type and value".into(),
            ));
        }
        let mut url = self.client.url(Endpoint::SearchTaxpayerTin, &[]);
        set_query(&mut url, &self.query)?;
        self.client
            .send_json(Call {
                endpoint: Endpoint::SearchTaxpayerTin,
                url,
                json_body: None,
            })
            .await
    }
}
