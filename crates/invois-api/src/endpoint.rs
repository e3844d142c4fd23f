//! The endpoint table: every MyInvois API with its method, path, rate-limit class and the
//! official requests-per-minute budget (README §5, from LHDN's *Integration Practices* page).
//!
//! Client and sandbox both read this one table, so a budget is never written twice.

use std::fmt;
use std::time::Duration;

/// HTTP method of an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`
    Get,
    /// `POST`
    Post,
    /// `PUT`
    Put,
}

impl Method {
    /// The method as it appears on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
        }
    }
}

/// Which host an endpoint lives on. The identity service is configured separately because
/// tokens are issued by `preprod-identity…` even where the FAQ names the API host (§1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Host {
    /// The identity service (`/connect/token`).
    Identity,
    /// The system API host (`/api/v1.0/...`).
    Api,
}

/// Every MyInvois endpoint (README §2 and §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Endpoint {
    /// `POST /connect/token` as a taxpayer.
    LoginTaxpayer,
    /// `POST /connect/token` with the `onbehalfof` header, as an intermediary.
    LoginIntermediary,
    /// `GET /api/v1.0/documenttypes`
    GetDocumentTypes,
    /// `GET /api/v1.0/documenttypes/{id}`
    GetDocumentType,
    /// `GET /api/v1.0/documenttypes/{id}/versions/{vid}`
    GetDocumentTypeVersion,
    /// `GET /api/v1.0/notifications/taxpayer`
    GetNotifications,
    /// `GET /api/v1.0/taxpayer/validate/{tin}`
    ValidateTaxpayerTin,
    /// `POST /api/v1.0/documentsubmissions`
    SubmitDocuments,
    /// `PUT /api/v1.0/documents/state/{uuid}/state` with status `cancelled`.
    CancelDocument,
    /// `PUT /api/v1.0/documents/state/{uuid}/state` with status `rejected`.
    RejectDocument,
    /// `GET /api/v1.0/documents/recent`
    GetRecentDocuments,
    /// `GET /api/v1.0/documentsubmissions/{submissionUid}`
    GetSubmission,
    /// `GET /api/v1.0/documents/{uuid}/raw`
    GetDocument,
    /// `GET /api/v1.0/documents/{uuid}/details`
    GetDocumentDetails,
    /// `GET /api/v1.0/documents/search`
    SearchDocuments,
    /// `GET /api/v1.0/taxpayer/search/tin`
    SearchTaxpayerTin,
    /// `GET /api/v1.0/taxpayers/qrcodeinfo/{qrCodeText}`
    TaxpayerQrCode,
}

impl Endpoint {
    /// Every endpoint, in the order of the reference.
    pub const ALL: [Endpoint; 17] = [
        Endpoint::LoginTaxpayer,
        Endpoint::LoginIntermediary,
        Endpoint::GetDocumentTypes,
        Endpoint::GetDocumentType,
        Endpoint::GetDocumentTypeVersion,
        Endpoint::GetNotifications,
        Endpoint::ValidateTaxpayerTin,
        Endpoint::SubmitDocuments,
        Endpoint::CancelDocument,
        Endpoint::RejectDocument,
        Endpoint::GetRecentDocuments,
        Endpoint::GetSubmission,
        Endpoint::GetDocument,
        Endpoint::GetDocumentDetails,
        Endpoint::SearchDocuments,
        Endpoint::SearchTaxpayerTin,
        Endpoint::TaxpayerQrCode,
    ];

    /// The HTTP method.
    pub const fn method(self) -> Method {
        match self {
            Endpoint::LoginTaxpayer | Endpoint::LoginIntermediary | Endpoint::SubmitDocuments => {
                Method::Post
            }
            Endpoint::CancelDocument | Endpoint::RejectDocument => Method::Put,
            _ => Method::Get,
        }
    }

    /// The host the endpoint lives on.
    pub const fn host(self) -> Host {
        match self {
            Endpoint::LoginTaxpayer | Endpoint::LoginIntermediary => Host::Identity,
            _ => Host::Api,
        }
    }

    /// The path template, with `{name}` placeholders (the syntax axum routes use too).
    pub const fn path(self) -> &'static str {
        match self {
            Endpoint::LoginTaxpayer | Endpoint::LoginIntermediary => "/connect/token",
            Endpoint::GetDocumentTypes => "/api/v1.0/documenttypes",
            Endpoint::GetDocumentType => "/api/v1.0/documenttypes/{id}",
            Endpoint::GetDocumentTypeVersion => "/api/v1.0/documenttypes/{id}/versions/{vid}",
            Endpoint::GetNotifications => "/api/v1.0/notifications/taxpayer",
            Endpoint::ValidateTaxpayerTin => "/api/v1.0/taxpayer/validate/{tin}",
            Endpoint::SubmitDocuments => "/api/v1.0/documentsubmissions",
            Endpoint::CancelDocument | Endpoint::RejectDocument => {
                "/api/v1.0/documents/state/{uuid}/state"
            }
            Endpoint::GetRecentDocuments => "/api/v1.0/documents/recent",
            Endpoint::GetSubmission => "/api/v1.0/documentsubmissions/{submissionUid}",
            Endpoint::GetDocument => "/api/v1.0/documents/{uuid}/raw",
            Endpoint::GetDocumentDetails => "/api/v1.0/documents/{uuid}/details",
            Endpoint::SearchDocuments => "/api/v1.0/documents/search",
            Endpoint::SearchTaxpayerTin => "/api/v1.0/taxpayer/search/tin",
            Endpoint::TaxpayerQrCode => "/api/v1.0/taxpayers/qrcodeinfo/{qrCodeText}",
        }
    }

    /// The rate-limit class whose budget this endpoint spends.
    pub const fn rate_class(self) -> RateClass {
        match self {
            Endpoint::LoginTaxpayer => RateClass::LoginTaxpayer,
            Endpoint::LoginIntermediary => RateClass::LoginIntermediary,
            Endpoint::GetDocumentTypes
            | Endpoint::GetDocumentType
            | Endpoint::GetDocumentTypeVersion => RateClass::DocumentTypes,
            Endpoint::GetNotifications => RateClass::Notifications,
            Endpoint::ValidateTaxpayerTin => RateClass::ValidateTaxpayerTin,
            Endpoint::SubmitDocuments => RateClass::SubmitDocuments,
            Endpoint::CancelDocument => RateClass::CancelDocument,
            Endpoint::RejectDocument => RateClass::RejectDocument,
            Endpoint::GetRecentDocuments => RateClass::GetRecentDocuments,
            Endpoint::GetSubmission => RateClass::GetSubmission,
            Endpoint::GetDocument => RateClass::GetDocument,
            Endpoint::GetDocumentDetails => RateClass::GetDocumentDetails,
            Endpoint::SearchDocuments => RateClass::SearchDocuments,
            Endpoint::SearchTaxpayerTin => RateClass::SearchTaxpayerTin,
            Endpoint::TaxpayerQrCode => RateClass::TaxpayerQrCode,
        }
    }

    /// The official requests-per-minute budget per client id, if LHDN publishes one.
    pub const fn official_rpm(self) -> Option<u32> {
        self.rate_class().rpm(RateProfile::Production)
    }

    /// A short human name, as LHDN's pages title the API.
    pub const fn name(self) -> &'static str {
        match self {
            Endpoint::LoginTaxpayer => "Login as Taxpayer System",
            Endpoint::LoginIntermediary => "Login as Intermediary System",
            Endpoint::GetDocumentTypes => "Get All Document Types",
            Endpoint::GetDocumentType => "Get Document Type",
            Endpoint::GetDocumentTypeVersion => "Get Document Type Version",
            Endpoint::GetNotifications => "Get Notifications",
            Endpoint::ValidateTaxpayerTin => "Validate Taxpayer's TIN",
            Endpoint::SubmitDocuments => "Submit Documents",
            Endpoint::CancelDocument => "Cancel Document",
            Endpoint::RejectDocument => "Reject Document",
            Endpoint::GetRecentDocuments => "Get Recent Documents",
            Endpoint::GetSubmission => "Get Submission",
            Endpoint::GetDocument => "Get Document",
            Endpoint::GetDocumentDetails => "Get Document Details",
            Endpoint::SearchDocuments => "Search Documents",
            Endpoint::SearchTaxpayerTin => "Search Taxpayer's TIN",
            Endpoint::TaxpayerQrCode => "Taxpayer's QR Code",
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which budget table applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RateProfile {
    /// The official production budgets (README §5).
    #[default]
    Production,
    /// Lower budgets, as LHDN's pre-production environment has since 28 Apr 2025. LHDN
    /// publishes no numbers for it; invois uses roughly half of production, rounded down,
    /// which keeps any integration that passes here safely inside production limits.
    Sandbox,
}

impl std::str::FromStr for RateProfile {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "production" | "prod" => Ok(RateProfile::Production),
            "sandbox" | "preprod" => Ok(RateProfile::Sandbox),
            other => Err(format!(
                "unknown rate profile `{other}`: expected `production` or `sandbox`"
            )),
        }
    }
}

/// A rate-limit class: one budget per client id and class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum RateClass {
    /// Login as Taxpayer System.
    LoginTaxpayer,
    /// Login as Intermediary System.
    LoginIntermediary,
    /// Submit Documents.
    SubmitDocuments,
    /// Get Submission.
    GetSubmission,
    /// Cancel Document.
    CancelDocument,
    /// Reject Document.
    RejectDocument,
    /// Get Document.
    GetDocument,
    /// Get Document Details.
    GetDocumentDetails,
    /// Get Recent Documents.
    GetRecentDocuments,
    /// Search Documents.
    SearchDocuments,
    /// Search Taxpayer's TIN.
    SearchTaxpayerTin,
    /// Validate Taxpayer's TIN.
    ValidateTaxpayerTin,
    /// Taxpayer's QR Code.
    TaxpayerQrCode,
    /// The three document-type APIs (no published limit).
    DocumentTypes,
    /// Get Notifications (no published limit).
    Notifications,
}

impl RateClass {
    /// Every class.
    pub const ALL: [RateClass; 15] = [
        RateClass::LoginTaxpayer,
        RateClass::LoginIntermediary,
        RateClass::SubmitDocuments,
        RateClass::GetSubmission,
        RateClass::CancelDocument,
        RateClass::RejectDocument,
        RateClass::GetDocument,
        RateClass::GetDocumentDetails,
        RateClass::GetRecentDocuments,
        RateClass::SearchDocuments,
        RateClass::SearchTaxpayerTin,
        RateClass::ValidateTaxpayerTin,
        RateClass::TaxpayerQrCode,
        RateClass::DocumentTypes,
        RateClass::Notifications,
    ];

    /// Requests per minute per client id under `profile`; `None` where no limit applies.
    pub const fn rpm(self, profile: RateProfile) -> Option<u32> {
        let official = match self {
            RateClass::LoginTaxpayer | RateClass::LoginIntermediary => 12,
            RateClass::SubmitDocuments => 100,
            RateClass::GetSubmission => 300,
            RateClass::CancelDocument | RateClass::RejectDocument => 12,
            RateClass::GetDocument => 60,
            RateClass::GetDocumentDetails => 125,
            RateClass::GetRecentDocuments | RateClass::SearchDocuments => 12,
            RateClass::SearchTaxpayerTin
            | RateClass::ValidateTaxpayerTin
            | RateClass::TaxpayerQrCode => 60,
            RateClass::DocumentTypes | RateClass::Notifications => return None,
        };
        match profile {
            RateProfile::Production => Some(official),
            RateProfile::Sandbox => Some(official / 2),
        }
    }

    /// The window the budget is counted over: one minute (on the caller's clock).
    pub const WINDOW: Duration = Duration::from_secs(60);

    /// A stable snake-case key, for configuration and reports.
    pub const fn key(self) -> &'static str {
        match self {
            RateClass::LoginTaxpayer => "login_taxpayer",
            RateClass::LoginIntermediary => "login_intermediary",
            RateClass::SubmitDocuments => "submit_documents",
            RateClass::GetSubmission => "get_submission",
            RateClass::CancelDocument => "cancel_document",
            RateClass::RejectDocument => "reject_document",
            RateClass::GetDocument => "get_document",
            RateClass::GetDocumentDetails => "get_document_details",
            RateClass::GetRecentDocuments => "get_recent_documents",
            RateClass::SearchDocuments => "search_documents",
            RateClass::SearchTaxpayerTin => "search_taxpayer_tin",
            RateClass::ValidateTaxpayerTin => "validate_taxpayer_tin",
            RateClass::TaxpayerQrCode => "taxpayer_qr_code",
            RateClass::DocumentTypes => "document_types",
            RateClass::Notifications => "notifications",
        }
    }

    /// Parses [`RateClass::key`].
    pub fn from_key(key: &str) -> Option<RateClass> {
        RateClass::ALL.into_iter().find(|c| c.key() == key)
    }
}

impl fmt::Display for RateClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn official_table_matches_integration_practices() {
        let expect = [
            (Endpoint::LoginTaxpayer, Some(12)),
            (Endpoint::LoginIntermediary, Some(12)),
            (Endpoint::SubmitDocuments, Some(100)),
            (Endpoint::GetSubmission, Some(300)),
            (Endpoint::CancelDocument, Some(12)),
            (Endpoint::RejectDocument, Some(12)),
            (Endpoint::GetDocument, Some(60)),
            (Endpoint::GetDocumentDetails, Some(125)),
            (Endpoint::GetRecentDocuments, Some(12)),
            (Endpoint::SearchDocuments, Some(12)),
            (Endpoint::SearchTaxpayerTin, Some(60)),
            (Endpoint::ValidateTaxpayerTin, Some(60)),
            (Endpoint::TaxpayerQrCode, Some(60)),
            (Endpoint::GetDocumentTypes, None),
            (Endpoint::GetNotifications, None),
        ];
        for (endpoint, rpm) in expect {
            assert_eq!(endpoint.official_rpm(), rpm, "{endpoint}");
        }
    }

    #[test]
    fn sandbox_profile_is_lower_but_never_zero() {
        for class in RateClass::ALL {
            match (
                class.rpm(RateProfile::Production),
                class.rpm(RateProfile::Sandbox),
            ) {
                (Some(p), Some(s)) => assert!(s < p && s > 0, "{class}: {s} vs {p}"),
                (None, None) => {}
                other => panic!("{class}: profiles disagree on limiting: {other:?}"),
            }
        }
    }

    #[test]
    fn cancel_and_reject_share_a_path_but_not_a_budget() {
        assert_eq!(
            Endpoint::CancelDocument.path(),
            Endpoint::RejectDocument.path()
        );
        assert_ne!(
            Endpoint::CancelDocument.rate_class(),
            Endpoint::RejectDocument.rate_class()
        );
        assert_eq!(Endpoint::CancelDocument.method(), Method::Put);
    }

    #[test]
    fn class_keys_round_trip() {
        for class in RateClass::ALL {
            assert_eq!(RateClass::from_key(class.key()), Some(class));
        }
        assert_eq!(RateClass::from_key("nope"), None);
    }

    #[test]
    fn every_api_path_has_the_prefix() {
        for e in Endpoint::ALL {
            match e.host() {
                Host::Api => assert!(e.path().starts_with(crate::API_PREFIX), "{e}"),
                Host::Identity => assert_eq!(e.path(), "/connect/token"),
            }
        }
    }
}
