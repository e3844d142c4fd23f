//! Document APIs: Get Document, Get Document Details, Cancel, Reject, Search Documents (with a
//! windowed, paged stream) and Get Recent Documents.

use std::collections::{HashSet, VecDeque};

use chrono::{DateTime, Utc};
use futures::Stream;
use invois_api::DocumentStatus;
use invois_api::Endpoint;
use invois_api::documents::{
    DocumentDetailsResponse, DocumentPage, InvoiceDirection, ListedDocument,
    MAX_CANCEL_REASON_CHARS, MAX_RESULT_SET, MAX_SEARCH_PAGE_SIZE, MAX_SEARCH_RANGE_DAYS,
    RawDocumentResponse, RecentDocumentsQuery, SearchDocumentsQuery, SearchedDocument, StateChange,
    StateChangeRequest, StateChangeResponse,
};
use invois_api::taxpayer::IdType;

use crate::client::{Call, Client};
use crate::error::Error;
use crate::page::Page;
use crate::submissions::set_query;

/// Document APIs: `client.documents()`.
#[derive(Debug, Clone)]
pub struct Documents {
    client: Client,
}

impl Client {
    /// Document APIs.
    pub fn documents(&self) -> Documents {
        Documents {
            client: self.clone(),
        }
    }
}

fn check_uid(what: &str, uid: &str) -> Result<(), Error> {
    if uid.trim().is_empty() {
        return Err(Error::InvalidRequest(format!("empty {what}")));
    }
    Ok(())
}

impl Documents {
    /// Get Document: metadata and the document as submitted. Keep a local copy rather than
    /// fetching again (60 RPM).
    pub async fn raw(&self, uuid: &str) -> Result<RawDocumentResponse, Error> {
        check_uid("document uuid", uuid)?;
        self.client
            .send_json(Call {
                endpoint: Endpoint::GetDocument,
                url: self.client.url(Endpoint::GetDocument, &[uuid.trim()]),
                json_body: None,
            })
            .await
    }

    /// Get Document Details: metadata and validation results. Meant for the errors of invalid
    /// documents; status comes from Get Submission.
    pub async fn details(&self, uuid: &str) -> Result<DocumentDetailsResponse, Error> {
        check_uid("document uuid", uuid)?;
        self.client
            .send_json(Call {
                endpoint: Endpoint::GetDocumentDetails,
                url: self
                    .client
                    .url(Endpoint::GetDocumentDetails, &[uuid.trim()]),
                json_body: None,
            })
            .await
    }

    /// Cancel Document (issuer, within 72 hours of validation). The reason is 1..=300 chars.
    /// Not retried after an ambiguous failure: read the document's status instead.
    pub async fn cancel(&self, uuid: &str, reason: &str) -> Result<StateChangeResponse, Error> {
        let chars = reason.trim().chars().count();
        if chars == 0 || chars > MAX_CANCEL_REASON_CHARS {
            return Err(Error::InvalidRequest(format!(
                "a cancellation reason must be 1..={MAX_CANCEL_REASON_CHARS} characters, not {chars}"
            )));
        }
        self.state_change(
            Endpoint::CancelDocument,
            uuid,
            StateChange::Cancelled,
            reason,
        )
        .await
    }

    /// Reject Document (receiver, within 72 hours of validation, once). The document stays
    /// `Valid` until the issuer cancels it.
    pub async fn reject(&self, uuid: &str, reason: &str) -> Result<StateChangeResponse, Error> {
        if reason.trim().is_empty() {
            return Err(Error::InvalidRequest(
                "a rejection reason is mandatory".into(),
            ));
        }
        self.state_change(
            Endpoint::RejectDocument,
            uuid,
            StateChange::Rejected,
            reason,
        )
        .await
    }

    async fn state_change(
        &self,
        endpoint: Endpoint,
        uuid: &str,
        status: StateChange,
        reason: &str,
    ) -> Result<StateChangeResponse, Error> {
        check_uid("document uuid", uuid)?;
        let body = serde_json::to_vec(&StateChangeRequest {
            status,
            reason: reason.trim().to_owned(),
        })
        .map_err(|e| Error::InvalidRequest(e.to_string()))?;
        self.client
            .send_json(Call {
                endpoint,
                url: self.client.url(endpoint, &[uuid.trim()]),
                json_body: Some(body.into()),
            })
            .await
    }

    /// Search Documents: the call for retrieval and reconciliation. Give a submission-date or
    /// issue-date range; [`SearchBuilder::into_stream`] takes any range and walks it in
    /// 31-day windows, every page.
    pub fn search(&self) -> SearchBuilder {
        SearchBuilder {
            client: self.client.clone(),
            query: SearchDocumentsQuery::default(),
        }
    }

    /// Reconciliation after [`crate::SubmitError::OutcomeUnknown`]: documents with this
    /// internal id (`codeNumber`) submitted in `[from, to]`, found with Search Documents
    /// (free-text query, then an exact match on `internalId`). An empty answer means the
    /// document did not arrive in that range.
    pub async fn find_by_internal_id(
        &self,
        internal_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ListedDocument>, Error> {
        use futures::TryStreamExt as _;
        if internal_id.trim().is_empty() {
            return Err(Error::InvalidRequest("empty internal id".into()));
        }
        let wanted = internal_id.trim().to_owned();
        self.search()
            .submission_dates(from, to)
            .direction(InvoiceDirection::Sent)
            .search_query(wanted.clone())
            .into_stream()
            .try_filter(|d| futures::future::ready(d.internal_id == wanted))
            .try_collect()
            .await
    }

    /// Get Recent Documents. **Throttled (12 RPM) and meant for troubleshooting only**: it
    /// reaches only the last 31 days and 10,000 documents. For retrieval and reconciliation
    /// use [`Documents::search`].
    pub fn recent(&self) -> RecentBuilder {
        RecentBuilder {
            client: self.client.clone(),
            query: RecentDocumentsQuery::default(),
        }
    }
}

/// Which dates a search range applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateField {
    /// `submissionDateFrom`/`submissionDateTo`.
    Submission,
    /// `issueDateFrom`/`issueDateTo`.
    Issue,
}

/// Builder of Search Documents; doubles as its query.
#[derive(Debug, Clone)]
#[must_use]
pub struct SearchBuilder {
    client: Client,
    query: SearchDocumentsQuery,
}

fn span() -> chrono::Duration {
    chrono::Duration::days(MAX_SEARCH_RANGE_DAYS)
}

impl SearchBuilder {
    /// Documents submitted in `[from, to]`.
    pub fn submission_dates(mut self, from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        self.query.submission_date_from = Some(from);
        self.query.submission_date_to = Some(to);
        self
    }

    /// Documents issued in `[from, to]`.
    pub fn issue_dates(mut self, from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        self.query.issue_date_from = Some(from);
        self.query.issue_date_to = Some(to);
        self
    }

    /// A single document.
    pub fn uuid(mut self, uuid: impl Into<String>) -> Self {
        self.query.uuid = Some(uuid.into());
        self
    }

    /// Sent or received.
    pub fn direction(mut self, d: InvoiceDirection) -> Self {
        self.query.invoice_direction = Some(d);
        self
    }

    /// Status filter.
    pub fn status(mut self, s: DocumentStatus) -> Self {
        self.query.status = Some(s);
        self
    }

    /// Type filter (`01`..`04`, `11`..`14`).
    pub fn document_type(mut self, t: impl Into<String>) -> Self {
        self.query.document_type = Some(t.into());
        self
    }

    /// Free text (uuid, TINs, names, internal id, total; no special characters).
    pub fn search_query(mut self, q: impl Into<String>) -> Self {
        self.query.search_query = Some(q.into());
        self
    }

    /// Page size, 1..=100 (default 100).
    pub fn page_size(mut self, n: u32) -> Self {
        self.query.page_size = Some(n);
        self
    }

    /// 1-based page (for [`SearchBuilder::send`]).
    pub fn page_no(mut self, n: u32) -> Self {
        self.query.page_no = Some(n);
        self
    }

    /// The query as it stands.
    pub fn query(&self) -> &SearchDocumentsQuery {
        &self.query
    }

    fn range(&self) -> Result<(DateField, DateTime<Utc>, DateTime<Utc>), Error> {
        let q = &self.query;
        let pair = |from, to, field| match (from, to) {
            (Some(f), Some(t)) => Ok(Some((field, f, t))),
            (None, None) => Ok(None),
            _ => Err(Error::InvalidRequest(format!(
                "give both ends of the {} date range",
                if field == DateField::Submission {
                    "submission"
                } else {
                    "issue"
                }
            ))),
        };
        let sub = pair(
            q.submission_date_from,
            q.submission_date_to,
            DateField::Submission,
        )?;
        let iss = pair(q.issue_date_from, q.issue_date_to, DateField::Issue)?;
        // Windows walk the submission range when both are given; the issue range stays a
        // plain filter.
        let (field, from, to) = sub.or(iss).ok_or_else(|| {
            Error::InvalidRequest(
                "Search Documents needs a submission-date or issue-date range".into(),
            )
        })?;
        if from >= to {
            return Err(Error::InvalidRequest(format!(
                "the date range must run forwards ({from} is not before {to})"
            )));
        }
        Ok((field, from, to))
    }

    fn check_page_size(&self) -> Result<(), Error> {
        match self.query.page_size {
            Some(n) if n == 0 || n > MAX_SEARCH_PAGE_SIZE => Err(Error::InvalidRequest(format!(
                "Search Documents pageSize must be 1..={MAX_SEARCH_PAGE_SIZE}, not {n}"
            ))),
            _ => Ok(()),
        }
    }

    /// One page. The range must be at most 31 days (use [`SearchBuilder::into_stream`] for
    /// longer ones).
    pub async fn send(self) -> Result<Page<ListedDocument>, Error> {
        self.check_page_size()?;
        let (_, from, to) = self.range()?;
        if to - from > span() {
            return Err(Error::InvalidRequest(format!(
                "a Search Documents range is at most {MAX_SEARCH_RANGE_DAYS} days; use \
                 into_stream() to walk longer ranges"
            )));
        }
        fetch_search_page(&self.client, &self.query).await
    }

    /// Every matching document over any range, newest window first: the range is cut into
    /// 31-day windows (a window that hits the 10,000-result cap is halved), each read page by
    /// page with identical filters. Documents on a shared window boundary are yielded once.
    /// The stream ends after the first error.
    pub fn into_stream(self) -> impl Stream<Item = Result<ListedDocument, Error>> + Send {
        let setup = self.check_page_size().and_then(|()| self.range());
        let state = match setup {
            Ok((field, from, to)) => SearchState {
                client: self.client,
                base: self.query,
                field,
                windows: split_windows(from, to, span()).into(),
                current: None,
                page_no: 1,
                buffer: VecDeque::new(),
                seen_prev: HashSet::new(),
                seen_cur: HashSet::new(),
                error: None,
                done: false,
            },
            Err(e) => SearchState {
                client: self.client,
                base: self.query,
                field: DateField::Submission,
                windows: VecDeque::new(),
                current: None,
                page_no: 1,
                buffer: VecDeque::new(),
                seen_prev: HashSet::new(),
                seen_cur: HashSet::new(),
                error: Some(e),
                done: false,
            },
        };
        futures::stream::unfold(state, |mut st| async move {
            let item = st.next().await?;
            Some((item, st))
        })
    }
}

/// Cuts `[from, to]` into windows of at most `max`, newest first. Neighbours share their
/// boundary instant, so nothing between them is missed.
pub fn split_windows(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    max: chrono::Duration,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut out = Vec::new();
    if from >= to || max <= chrono::Duration::zero() {
        return out;
    }
    let mut end = to;
    while end > from {
        let start = if end - from > max { end - max } else { from };
        out.push((start, end));
        end = start;
    }
    out
}

struct SearchState {
    client: Client,
    base: SearchDocumentsQuery,
    field: DateField,
    windows: VecDeque<(DateTime<Utc>, DateTime<Utc>)>,
    current: Option<(DateTime<Utc>, DateTime<Utc>)>,
    page_no: u32,
    buffer: VecDeque<ListedDocument>,
    seen_prev: HashSet<String>,
    seen_cur: HashSet<String>,
    error: Option<Error>,
    done: bool,
}

impl SearchState {
    async fn next(&mut self) -> Option<Result<ListedDocument, Error>> {
        loop {
            if let Some(doc) = self.buffer.pop_front() {
                return Some(Ok(doc));
            }
            if let Some(e) = self.error.take() {
                self.done = true;
                return Some(Err(e));
            }
            if self.done {
                return None;
            }
            let (from, to) = match self.current {
                Some(w) => w,
                None => {
                    let w = self.windows.pop_front()?;
                    self.current = Some(w);
                    self.page_no = 1;
                    self.seen_prev = std::mem::take(&mut self.seen_cur);
                    w
                }
            };
            let mut q = self.base.clone();
            match self.field {
                DateField::Submission => {
                    q.submission_date_from = Some(from);
                    q.submission_date_to = Some(to);
                }
                DateField::Issue => {
                    q.issue_date_from = Some(from);
                    q.issue_date_to = Some(to);
                }
            }
            q.page_no = Some(self.page_no);
            q.page_size = Some(self.base.page_size.unwrap_or(MAX_SEARCH_PAGE_SIZE));
            let page = match fetch_search_page(&self.client, &q).await {
                Ok(p) => p,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            };
            let total = page.total_count.unwrap_or(0);
            if self.page_no == 1
                && total >= MAX_RESULT_SET
                && to - from > chrono::Duration::seconds(2)
            {
                // The server stops at 10,000 results: halve the window and read both halves
                // (newest first) instead of losing the rest.
                let mid = from + (to - from) / 2;
                tracing::debug!(%from, %to, "search window hit the result cap; halving it");
                self.windows.push_front((from, mid));
                self.windows.push_front((mid, to));
                self.current = None;
                // This window's uuids were not yielded; keep the previous window's set.
                self.seen_cur = std::mem::take(&mut self.seen_prev);
                continue;
            }
            let last =
                page.items.is_empty() || page.total_pages.is_none_or(|tp| self.page_no >= tp);
            for doc in page.items {
                if self.seen_prev.contains(&doc.uuid) || !self.seen_cur.insert(doc.uuid.clone()) {
                    continue;
                }
                self.buffer.push_back(doc);
            }
            if last {
                self.current = None;
            } else {
                self.page_no += 1;
            }
        }
    }
}

async fn fetch_search_page(
    client: &Client,
    query: &SearchDocumentsQuery,
) -> Result<Page<ListedDocument>, Error> {
    let mut url = client.url(Endpoint::SearchDocuments, &[]);
    set_query(&mut url, query)?;
    let page: DocumentPage<SearchedDocument> = client
        .send_json(Call {
            endpoint: Endpoint::SearchDocuments,
            url,
            json_body: None,
        })
        .await?;
    let page_no = query.page_no.unwrap_or(1);
    let total_pages = page.metadata.total_pages;
    Ok(Page::new(
        page.result.into_iter().map(|d| d.0).collect(),
        page_no,
        Some(total_pages),
        Some(page.metadata.total_count),
        page_no < total_pages,
    ))
}

/// Builder of Get Recent Documents (troubleshooting only; see [`Documents::recent`]).
#[derive(Debug, Clone)]
#[must_use]
pub struct RecentBuilder {
    client: Client,
    query: RecentDocumentsQuery,
}

impl RecentBuilder {
    /// 1-based page.
    pub fn page_no(mut self, n: u32) -> Self {
        self.query.page_no = Some(n);
        self
    }

    /// Page size.
    pub fn page_size(mut self, n: u32) -> Self {
        self.query.page_size = Some(n);
        self
    }

    /// Submission date range.
    pub fn submission_dates(mut self, from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        self.query.submission_date_from = Some(from);
        self.query.submission_date_to = Some(to);
        self
    }

    /// Issue date range.
    pub fn issue_dates(mut self, from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        self.query.issue_date_from = Some(from);
        self.query.issue_date_to = Some(to);
        self
    }

    /// Sent or received.
    pub fn direction(mut self, d: InvoiceDirection) -> Self {
        self.query.invoice_direction = Some(d);
        self
    }

    /// Status filter.
    pub fn status(mut self, s: DocumentStatus) -> Self {
        self.query.status = Some(s);
        self
    }

    /// Type filter.
    pub fn document_type(mut self, t: impl Into<String>) -> Self {
        self.query.document_type = Some(t.into());
        self
    }

    /// Receiver filter (direction `Sent` only).
    pub fn receiver(mut self, id_type: IdType, id: impl Into<String>) -> Self {
        self.query.receiver_id_type = Some(id_type);
        self.query.receiver_id = Some(id.into());
        self
    }

    /// Receiver TIN (direction `Sent` only).
    pub fn receiver_tin(mut self, tin: impl Into<String>) -> Self {
        self.query.receiver_tin = Some(tin.into());
        self
    }

    /// Issuer filter (direction `Received` only).
    pub fn issuer(mut self, id_type: IdType, id: impl Into<String>) -> Self {
        self.query.issuer_id_type = Some(id_type);
        self.query.issuer_id = Some(id.into());
        self
    }

    /// Issuer TIN (direction `Received` only).
    pub fn issuer_tin(mut self, tin: impl Into<String>) -> Self {
        self.query.issuer_tin = Some(tin.into());
        self
    }

    /// Sends.
    pub async fn send(self) -> Result<Page<ListedDocument>, Error> {
        let q = &self.query;
        if q.submission_date_from.is_some() != q.submission_date_to.is_some()
            || q.issue_date_from.is_some() != q.issue_date_to.is_some()
        {
            return Err(Error::InvalidRequest(
                "each date range needs both ends".into(),
            ));
        }
        let mut url = self.client.url(Endpoint::GetRecentDocuments, &[]);
        set_query(&mut url, q)?;
        let page: DocumentPage<ListedDocument> = self
            .client
            .send_json(Call {
                endpoint: Endpoint::GetRecentDocuments,
                url,
                json_body: None,
            })
            .await?;
        let page_no = q.page_no.unwrap_or(1);
        let total_pages = page.metadata.total_pages;
        Ok(Page::new(
            page.result,
            page_no,
            Some(total_pages),
            Some(page.metadata.total_count),
            page_no < total_pages,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn windows_cover_the_range_newest_first_and_never_exceed_31_days() {
        let from = d("2025-01-01T00:00:00Z");
        let to = d("2025-04-15T12:00:00Z");
        let w = split_windows(from, to, span());
        assert_eq!(w.first().unwrap().1, to);
        assert_eq!(w.last().unwrap().0, from);
        for pair in w.windows(2) {
            assert_eq!(pair[0].0, pair[1].1, "windows must touch");
        }
        for (a, b) in &w {
            assert!(*b - *a <= chrono::Duration::days(31));
            assert!(a < b);
        }
        // 104.5 days → 4 windows (31+31+31+11.5).
        assert_eq!(w.len(), 4);
        assert_eq!(split_windows(from, from, span()), vec![]);
        let short = split_windows(from, d("2025-01-31T00:00:00Z"), span());
        assert_eq!(short, vec![(from, d("2025-01-31T00:00:00Z"))]);
    }
}
