//! Taxpayer APIs against the fixture: Validate TIN, Search TIN, QR code info (README §4.2).

use axum::extract::State;
use axum::http::StatusCode;
use invois_api::taxpayer::{
    IdType, QrCodeInfo, SearchTinQuery, SearchTinResponse, ValidateTinQuery,
};

use crate::Sandbox;
use crate::error::AppError;
use crate::extract::{ApiPath, ApiQuery, Auth};

/// Whether `tin` has the form of a Malaysian TIN: a 1-2 letter prefix and digits, at most 14
/// characters (README §6.3).
pub(crate) fn tin_form_ok(tin: &str) -> bool {
    let letters = tin.chars().take_while(|c| c.is_ascii_alphabetic()).count();
    let digits = &tin[letters..];
    (1..=2).contains(&letters)
        && !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && tin.len() <= 14
}

/// `GET /api/v1.0/taxpayer/validate/{tin}?idType=&idValue=`.
pub(crate) async fn validate_tin(
    State(sandbox): State<Sandbox>,
    _auth: Auth,
    ApiPath(tin): ApiPath<String>,
    ApiQuery(q): ApiQuery<ValidateTinQuery>,
) -> Result<StatusCode, AppError> {
    if !tin_form_ok(&tin) {
        return Err(AppError::bad_argument(
            "tin",
            format!("`{tin}` is not a valid TIN"),
        ));
    }
    if q.id_value.trim().is_empty() {
        return Err(AppError::bad_argument("idValue", "idValue is mandatory"));
    }
    let found = sandbox.fixtures().taxpayer(&tin).is_some_and(|t| {
        t.id_type == q.id_type && t.id_value.eq_ignore_ascii_case(q.id_value.trim())
    });
    if found {
        Ok(StatusCode::OK)
    } else {
        Err(AppError::NotFound(format!(
            "TIN {tin} with {} {} was not found",
            q.id_type.as_str(),
            q.id_value
        )))
    }
}

/// `GET /api/v1.0/taxpayer/search/tin`.
pub(crate) async fn search_tin(
    State(sandbox): State<Sandbox>,
    _auth: Auth,
    ApiQuery(q): ApiQuery<SearchTinQuery>,
) -> Result<axum::Json<SearchTinResponse>, AppError> {
    match (&q.id_type, &q.id_value) {
        (Some(_), None) => {
            return Err(AppError::bad_argument(
                "idValue",
                "idValue is mandatory with idType",
            ));
        }
        (None, Some(_)) => {
            return Err(AppError::bad_argument(
                "idType",
                "idType is mandatory with idValue",
            ));
        }
        _ => {}
    }
    let name = q
        .taxpayer_name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    if name.is_none() && q.id_type.is_none() {
        return Err(AppError::bad_argument(
            "taxpayerName",
            "Give taxpayerName, or idType and idValue",
        ));
    }
    if let Some(ft) = q.file_type
        && ft != 1
        && ft != 2
    {
        return Err(AppError::bad_argument(
            "fileType",
            "fileType must be 1 or 2",
        ));
    }
    let matches: Vec<&str> = sandbox
        .fixtures()
        .taxpayers
        .iter()
        .filter(|t| name.is_none_or(|n| t.name.to_lowercase().contains(&n.to_lowercase())))
        .filter(|t| match (q.id_type, q.id_value.as_deref()) {
            (Some(ty), Some(v)) => t.id_type == ty && t.id_value.eq_ignore_ascii_case(v.trim()),
            _ => true,
        })
        .filter(|t| match q.file_type {
            Some(1) => t.tin.starts_with("IG") || t.id_type != IdType::Brn,
            Some(2) => !t.tin.starts_with("IG"),
            _ => true,
        })
        .map(|t| t.tin.as_str())
        .collect();
    match matches.as_slice() {
        [] => Err(AppError::NotFound("No taxpayer matches the search criteria".to_owned())),
        [tin] => Ok(axum::Json(SearchTinResponse {
            tin: (*tin).to_owned(),
        })),
        _ => Err(AppError::BadArgument {
            target: "taxpayerName".to_owned(),
            message: "Search criteria in not conclusive and more than one TIN can be found; refine the search".to_owned(),
        }),
    }
}

/// `GET /api/v1.0/taxpayers/qrcodeinfo/{qrCodeText}`.
pub(crate) async fn qr_code(
    State(sandbox): State<Sandbox>,
    _auth: Auth,
    ApiPath(text): ApiPath<String>,
) -> Result<axum::Json<QrCodeInfo>, AppError> {
    let now = sandbox.clock().now();
    let t = sandbox
        .fixtures()
        .taxpayers
        .iter()
        .find(|t| {
            t.qr_code_text
                .as_deref()
                .is_some_and(|q| q.eq_ignore_ascii_case(text.trim()))
        })
        .ok_or_else(|| AppError::NotFound("QR Code Not Found".to_owned()))?;
    let address = t.address.clone().unwrap_or_default();
    Ok(axum::Json(QrCodeInfo {
        tin: t.tin.clone(),
        name: t.name.clone(),
        id_type: t.id_type.as_str().to_owned(),
        id_number: t.id_value.clone(),
        sst: t.sst.clone(),
        email: t.email.clone(),
        contact_number: t.contact_number.clone(),
        ttx: t.ttx.clone(),
        business_activity_description_bm: t.business_activity.clone(),
        business_activity_description_en: t.business_activity.clone(),
        msic: t.msic.clone(),
        address_line0: address.line0,
        address_line1: address.line1,
        address_line2: address.line2,
        postal_zone: address.postal_zone,
        city: address.city,
        state: address.state,
        country: address.country,
        generated_timestamp: Some(invois_api::datetime::format(&now)),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tin_forms() {
        for ok in [
            "C25845632020",
            "IG12345678912",
            "EI00000000010",
            "D1234567890",
        ] {
            assert!(tin_form_ok(ok), "{ok}");
        }
        for bad in ["", "C", "12345", "C12-3", "ABC123", "C123456789012345"] {
            assert!(!tin_form_ok(bad), "{bad}");
        }
    }
}
