//! Platform APIs: document types, versions, notifications.

use chrono::{DateTime, Utc};
use invois_api::Endpoint;
use invois_api::platform::{
    DocumentType, DocumentTypeVersion, DocumentTypesResponse, Notification, NotificationsQuery,
    NotificationsResponse,
};

use crate::client::{Call, Client};
use crate::error::Error;
use crate::page::Page;
use crate::submissions::set_query;

/// Platform APIs: `client.platform()`.
#[derive(Debug, Clone)]
pub struct Platform {
    client: Client,
}

impl Client {
    /// Document types and notifications.
    pub fn platform(&self) -> Platform {
        Platform {
            client: self.clone(),
        }
    }
}

impl Platform {
    /// Get All Document Types (active and deactivated).
    pub async fn document_types(&self) -> Result<Vec<DocumentType>, Error> {
        let r: DocumentTypesResponse = self
            .client
            .send_json(Call {
                endpoint: Endpoint::GetDocumentTypes,
                url: self.client.url(Endpoint::GetDocumentTypes, &[]),
                json_body: None,
            })
            .await?;
        Ok(r.result)
    }

    /// Get Document Type, with its workflow parameters (cancel/reject windows).
    pub async fn document_type(&self, id: u32) -> Result<DocumentType, Error> {
        let id = id.to_string();
        self.client
            .send_json(Call {
                endpoint: Endpoint::GetDocumentType,
                url: self.client.url(Endpoint::GetDocumentType, &[&id]),
                json_body: None,
            })
            .await
    }

    /// Get Document Type Version.
    pub async fn document_type_version(
        &self,
        id: u32,
        version_id: u32,
    ) -> Result<DocumentTypeVersion, Error> {
        let (id, vid) = (id.to_string(), version_id.to_string());
        self.client
            .send_json(Call {
                endpoint: Endpoint::GetDocumentTypeVersion,
                url: self
                    .client
                    .url(Endpoint::GetDocumentTypeVersion, &[&id, &vid]),
                json_body: None,
            })
            .await
    }

    /// Get Notifications.
    pub fn notifications(&self) -> NotificationsBuilder {
        NotificationsBuilder {
            client: self.client.clone(),
            query: NotificationsQuery::default(),
        }
    }
}

/// Builder of Get Notifications.
#[derive(Debug, Clone)]
#[must_use]
pub struct NotificationsBuilder {
    client: Client,
    query: NotificationsQuery,
}

impl NotificationsBuilder {
    /// Date range.
    pub fn dates(mut self, from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        self.query.date_from = Some(from);
        self.query.date_to = Some(to);
        self
    }

    /// Type id (see `invois_api::platform::notification_type`).
    pub fn type_id(mut self, t: u32) -> Self {
        self.query.type_id = Some(t);
        self
    }

    /// `en` or `ms`.
    pub fn language(mut self, l: impl Into<String>) -> Self {
        self.query.language = Some(l.into());
        self
    }

    /// Status id (1 New .. 5 Error).
    pub fn status(mut self, s: u32) -> Self {
        self.query.status = Some(s);
        self
    }

    /// 1-based page.
    pub fn page_no(mut self, n: u32) -> Self {
        self.query.page_no = Some(n);
        self
    }

    /// Page size, at most 100.
    pub fn page_size(mut self, n: u32) -> Self {
        self.query.page_size = Some(n);
        self
    }

    /// Sends.
    pub async fn send(self) -> Result<Page<Notification>, Error> {
        if let Some(n) = self.query.page_size
            && (n == 0 || n > 100)
        {
            return Err(Error::InvalidRequest(format!(
                "notifications pageSize must be 1..=100, not {n}"
            )));
        }
        let mut url = self.client.url(Endpoint::GetNotifications, &[]);
        set_query(&mut url, &self.query)?;
        let r: NotificationsResponse = self
            .client
            .send_json(Call {
                endpoint: Endpoint::GetNotifications,
                url,
                json_body: None,
            })
            .await?;
        Ok(Page::new(
            r.result,
            self.query.page_no.unwrap_or(1),
            None,
            None,
            r.metadata.has_next,
        ))
    }
}
