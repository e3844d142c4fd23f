//! The integration report: what an ERP's calls say about how it uses MyInvois.
//!
//! LHDN's Integration Practices page lists anti-patterns whose offenders get throttled
//! (README §5): a new token for every call, tracking a submission by polling per-document
//! APIs, resending a submission regardless of the result, Get Recent Documents where Search
//! Documents serves, and token calls with missing or placeholder credentials. The same page
//! asks that a failed login be investigated and resolved, not repeated, so a refused login
//! sent again within the hour is a finding too. The sandbox sees every call, so it can tell
//! an integrator before LHDN does, whatever language the ERP is written in.
//!
//! The [`Recorder`] is fed one [`CallRecord`] per call by the API middleware. Recording is
//! cheap and bounded: one short lock, a few map operations, a push into a per-client ring of
//! the last `window` calls; older calls are folded into per-endpoint counters and finding
//! counters (each finding keeps its first [`MAX_EXAMPLES`] examples). Detection runs as calls
//! arrive, because by the time a report is asked for the evidence may have left the window;
//! only the token finding, which compares totals, is derived when the report is built.

use std::collections::{BTreeMap, HashMap, VecDeque};

use axum::http::{HeaderMap, Uri, header};
use chrono::{DateTime, Utc};
use invois_api::identity::{REFUSED_LOGIN_RETRY, login_refused_for_good};
use invois_api::{DocumentStatus, Endpoint, RateClass};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

pub mod render;

use crate::identity::TOKEN_LIFETIME_SECS;
use crate::{CallRecord, Sandbox};

/// Calls kept per client id by default.
pub const DEFAULT_WINDOW: usize = 10_000;
/// Examples kept per finding.
pub const MAX_EXAMPLES: usize = 5;
/// LHDN asks for Get Submission to be polled no faster than every 3 seconds (README §4.2).
pub const MIN_POLL_INTERVAL_SECS: i64 = 3;
/// Get Recent Documents is for troubleshooting: a second call within this many seconds is
/// treated as using it for lookups that Search Documents serves.
pub const RECENT_REPEAT_SECS: i64 = 600;
/// Submissions per client whose last poll time is remembered (for the poll interval).
const TRACKED_SUBMISSIONS: usize = 4096;
/// Payload hashes per client remembered (for resends).
const TRACKED_PAYLOADS: usize = 4096;
/// Distinct (client id, onbehalfof) pairs tracked; beyond that calls are pooled, so a flood
/// of invented client ids cannot grow memory without bound.
const MAX_CLIENTS: usize = 1024;
/// The key calls without a client id are filed under.
pub const UNKNOWN_CLIENT: &str = "(none)";
const OVERFLOW_CLIENT: &str = "(other clients)";

/// What a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FindingKind {
    /// More tokens than token lifetimes justify (anti-pattern 1).
    TokenPerCall,
    /// Per-document APIs or document lists called for documents still being validated
    /// (anti-pattern 2).
    PollingDocuments,
    /// The same submission payload sent again after a 2xx or a 422 duplicate (anti-pattern 3).
    ResentSubmission,
    /// Get Recent Documents used where Search Documents serves (anti-pattern 4).
    RecentInsteadOfSearch,
    /// Token requests with missing, empty, `0` or placeholder parameters (anti-pattern 5).
    PlaceholderCredentials,
    /// Calls made while a `Retry-After` was still running.
    CallDuringRetryAfter,
    /// `429` responses received.
    RateLimited,
    /// Get Submission polled faster than every 3 seconds.
    FastSubmissionPolling,
    /// Get Document Details fetched for Valid documents.
    DetailsForValidDocuments,
    /// A refused login sent again within the hour, with no accepted login in between.
    RepeatedFailedLogins,
}

impl FindingKind {
    /// Every kind, in report order.
    pub const ALL: [FindingKind; 10] = [
        FindingKind::TokenPerCall,
        FindingKind::PollingDocuments,
        FindingKind::ResentSubmission,
        FindingKind::RecentInsteadOfSearch,
        FindingKind::PlaceholderCredentials,
        FindingKind::CallDuringRetryAfter,
        FindingKind::RateLimited,
        FindingKind::FastSubmissionPolling,
        FindingKind::DetailsForValidDocuments,
        FindingKind::RepeatedFailedLogins,
    ];

    /// The number on LHDN's Integration Practices list, for the five listed anti-patterns.
    pub const fn anti_pattern(self) -> Option<u8> {
        match self {
            FindingKind::TokenPerCall => Some(1),
            FindingKind::PollingDocuments => Some(2),
            FindingKind::ResentSubmission => Some(3),
            FindingKind::RecentInsteadOfSearch => Some(4),
            FindingKind::PlaceholderCredentials => Some(5),
            _ => None,
        }
    }

    /// A one-line title.
    pub const fn title(self) -> &'static str {
        match self {
            FindingKind::TokenPerCall => "A new token for (almost) every call",
            FindingKind::PollingDocuments => {
                "Submission tracked by polling document APIs while it is in progress"
            }
            FindingKind::ResentSubmission => "Submission resent regardless of the result",
            FindingKind::RecentInsteadOfSearch => {
                "Get Recent Documents used where Search Documents serves"
            }
            FindingKind::PlaceholderCredentials => {
                "Token requests with missing or placeholder credentials"
            }
            FindingKind::CallDuringRetryAfter => "Calls made while Retry-After was running",
            FindingKind::RateLimited => "Rate limited (429)",
            FindingKind::FastSubmissionPolling => "Get Submission polled faster than every 3 s",
            FindingKind::DetailsForValidDocuments => {
                "Get Document Details fetched for Valid documents"
            }
            FindingKind::RepeatedFailedLogins => "Failed logins repeated instead of investigated",
        }
    }

    /// What to do instead.
    pub const fn advice(self) -> &'static str {
        match self {
            FindingKind::TokenPerCall => {
                "Cache the access token and reuse it until shortly before it expires (expires_in = 3600 s)."
            }
            FindingKind::PollingDocuments => {
                "Track a submission with Get Submission (every 3-5 s) until it leaves 'in progress'; fetch documents afterwards."
            }
            FindingKind::ResentSubmission => {
                "Read the result: a 202 means accepted (poll it), a 422 duplicate means it was already accepted. Resend only when the outcome is unknown."
            }
            FindingKind::RecentInsteadOfSearch => {
                "Get Recent Documents (12 RPM) is for troubleshooting; use Search Documents with filters for lookups and reconciliation."
            }
            FindingKind::PlaceholderCredentials => {
                "Configure the real client id and secret before calling; LHDN blocks and throttles these calls."
            }
            FindingKind::CallDuringRetryAfter => {
                "After a 429, wait the Retry-After seconds before calling that endpoint again."
            }
            FindingKind::RateLimited => {
                "Pace calls per endpoint below its budget (X-Rate-Limit-Remaining tells how many are left)."
            }
            FindingKind::FastSubmissionPolling => {
                "Poll Get Submission every 3-5 seconds, not faster."
            }
            FindingKind::DetailsForValidDocuments => {
                "Get Submission already says a document is Valid; fetch details only for Invalid documents (to read the errors)."
            }
            FindingKind::RepeatedFailedLogins => {
                "A refused login (wrong or expired client id or secret, a blocked ERP user, the other environment's credentials) fails the same way every time: stop sending, fix the cause in the MyInvois portal, then log in again. Unattended, try again at most once an hour."
            }
        }
    }
}

/// One call quoted as evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Example {
    /// When (sandbox clock).
    pub at: DateTime<Utc>,
    /// The endpoint's name.
    pub endpoint: Option<String>,
    /// HTTP status.
    pub status: u16,
    /// The response's correlation id (also in the `correlationId` header the ERP received).
    pub correlation_id: String,
    /// What about it.
    pub note: String,
}

/// One finding with its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// Kind.
    pub kind: FindingKind,
    /// The Integration Practices anti-pattern number, if it is one of the five.
    pub anti_pattern: Option<u8>,
    /// Title.
    pub title: String,
    /// What to do instead.
    pub advice: String,
    /// Offending calls.
    pub count: u64,
    /// A sentence with the key figures.
    pub summary: String,
    /// Counts by endpoint, field or reason.
    pub counts: BTreeMap<String, u64>,
    /// The first offending calls.
    pub examples: Vec<Example>,
    /// First offending call.
    pub first_at: Option<DateTime<Utc>>,
    /// Last offending call.
    pub last_at: Option<DateTime<Utc>>,
}

/// Calls of one endpoint (every call, not only those in the window).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointSummary {
    /// The endpoint's name.
    pub endpoint: String,
    /// Calls.
    pub calls: u64,
    /// Calls by HTTP status.
    pub statuses: BTreeMap<u16, u64>,
    /// First call.
    pub first_at: DateTime<Utc>,
    /// Last call.
    pub last_at: DateTime<Utc>,
}

/// One call in the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimelineEntry {
    /// When (sandbox clock).
    pub at: DateTime<Utc>,
    /// The endpoint's name.
    pub endpoint: String,
    /// HTTP status.
    pub status: u16,
    /// Correlation id.
    pub correlation_id: String,
    /// The submission uid or document uuid, if any.
    pub resource: Option<String>,
}

/// The report of one (client id, onbehalfof).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientReport {
    /// Client id (or [`UNKNOWN_CLIENT`] for calls without one).
    pub client_id: String,
    /// `onbehalfof`, for intermediaries.
    pub on_behalf_of: Option<String>,
    /// Every call recorded.
    pub calls: u64,
    /// Calls older than the window, folded into counters.
    pub folded_calls: u64,
    /// First call.
    pub first_at: Option<DateTime<Utc>>,
    /// Last call.
    pub last_at: Option<DateTime<Utc>>,
    /// Findings, most important first. Empty: nothing to fix.
    pub findings: Vec<Finding>,
    /// Calls per endpoint.
    pub endpoints: Vec<EndpointSummary>,
    /// The calls in the window, oldest first.
    pub timeline: Vec<TimelineEntry>,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// When it was built (sandbox clock).
    pub generated_at: DateTime<Utc>,
    /// Calls kept per client.
    pub window: usize,
    /// One entry per (client id, onbehalfof) seen.
    pub clients: Vec<ClientReport>,
}

impl Report {
    /// Findings over every client.
    pub fn finding_count(&self) -> usize {
        self.clients.iter().map(|c| c.findings.len()).sum()
    }
}

/// What a document listing asked for, beyond [`CallRecord::filters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Listing {
    /// Only documents received from others (`invoiceDirection=Received`): such a listing
    /// cannot be following the caller's own submissions, so it is not polling.
    received_only: bool,
}

/// Fills what the request says: the resource in the path, list filters.
pub(crate) fn describe_request(record: &mut CallRecord, uri: &Uri) -> Listing {
    let Some(endpoint) = record.endpoint else {
        return Listing::default();
    };
    let path = uri.path().trim_end_matches('/');
    let mut segments = path.rsplit('/');
    record.resource = match endpoint {
        Endpoint::GetSubmission => segments.next(),
        Endpoint::GetDocument | Endpoint::GetDocumentDetails | Endpoint::CancelDocument => {
            segments.nth(1)
        }
        _ => None,
    }
    .filter(|s| !s.is_empty())
    .map(str::to_owned);
    if matches!(
        endpoint,
        Endpoint::GetRecentDocuments | Endpoint::SearchDocuments
    ) && let Some(q) = uri.query()
    {
        record.filters = url::form_urlencoded::parse(q.as_bytes())
            .filter(|(k, v)| {
                !v.trim().is_empty()
                    && !k.eq_ignore_ascii_case("pageNo")
                    && !k.eq_ignore_ascii_case("pageSize")
            })
            .map(|(k, _)| k.into_owned())
            .collect();
        // Search spells it invoiceDirection, Recent InvoiceDirection.
        let received_only = url::form_urlencoded::parse(q.as_bytes()).any(|(k, v)| {
            k.eq_ignore_ascii_case("invoiceDirection") && v.trim().eq_ignore_ascii_case("Received")
        });
        return Listing { received_only };
    }
    Listing::default()
}

/// Fills what only the response or the store knows.
pub(crate) fn describe_response(
    sandbox: &Sandbox,
    record: &mut CallRecord,
    listing: Listing,
    headers: &HeaderMap,
) {
    record.retry_after_secs = headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    match record.endpoint {
        Some(Endpoint::GetDocument | Endpoint::GetDocumentDetails) => {
            if let Some(uuid) = &record.resource {
                record.document_status =
                    sandbox.inner.store.lock().document(uuid).map(|d| d.status);
            }
        }
        // These two are limited to 12 calls a minute, so a scan of the store is affordable.
        Some(Endpoint::GetRecentDocuments | Endpoint::SearchDocuments)
            if !listing.received_only =>
        {
            if let Some(client) = &record.client_id {
                let store = sandbox.inner.store.lock();
                let mut uids: Vec<String> = store
                    .submissions
                    .values()
                    .filter(|s| &s.submitter.client_id == client)
                    .filter(|s| {
                        s.documents.iter().any(|u| {
                            store
                                .document(u)
                                .is_some_and(|d| d.status == DocumentStatus::Submitted)
                        })
                    })
                    .map(|s| s.uid.clone())
                    .collect();
                uids.sort();
                record.submissions_in_progress = uids;
            }
        }
        _ => {}
    }
}

/// One call as kept in the window.
#[derive(Debug, Clone)]
struct Entry {
    at: DateTime<Utc>,
    endpoint: Option<Endpoint>,
    status: u16,
    correlation_id: String,
    resource: Option<String>,
}

#[derive(Debug, Clone)]
struct EndpointAgg {
    calls: u64,
    statuses: BTreeMap<u16, u64>,
    first_at: DateTime<Utc>,
    last_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
struct FindingAcc {
    count: u64,
    counts: BTreeMap<String, u64>,
    examples: Vec<Example>,
    first_at: Option<DateTime<Utc>>,
    last_at: Option<DateTime<Utc>>,
}

/// Successful token requests of one client.
#[derive(Debug, Clone, Default)]
struct Tokens {
    issued: u64,
    first_at: Option<DateTime<Utc>>,
    last_at: Option<DateTime<Utc>>,
    /// Tokens requested while the previous one had more than a quarter of its life left.
    early: u64,
    examples: Vec<Example>,
}

#[derive(Debug, Clone)]
struct PayloadSeen {
    at: DateTime<Utc>,
    status: u16,
    correlation_id: String,
}

#[derive(Debug, Default)]
struct ClientLog {
    calls: u64,
    folded: u64,
    first_at: Option<DateTime<Utc>>,
    last_at: Option<DateTime<Utc>>,
    window: VecDeque<Entry>,
    endpoints: BTreeMap<Endpoint, EndpointAgg>,
    findings: BTreeMap<FindingKind, FindingAcc>,
    tokens: Tokens,
    retry_until: HashMap<RateClass, DateTime<Utc>>,
    last_poll: HashMap<String, DateTime<Utc>>,
    payloads: HashMap<String, PayloadSeen>,
    payload_order: VecDeque<String>,
    last_recent: Option<DateTime<Utc>>,
    /// The last refused login (time, correlation id) since the last accepted one.
    last_refused_login: Option<(DateTime<Utc>, String)>,
}

fn example(r: &CallRecord, note: String) -> Example {
    Example {
        at: r.at,
        endpoint: r.endpoint.map(|e| e.name().to_owned()),
        status: r.status,
        correlation_id: r.correlation_id.clone(),
        note,
    }
}

fn secs(d: chrono::Duration) -> f64 {
    d.num_milliseconds() as f64 / 1000.0
}

impl ClientLog {
    fn flag(
        &mut self,
        kind: FindingKind,
        r: &CallRecord,
        key: &str,
        note: impl FnOnce() -> String,
    ) {
        let acc = self.findings.entry(kind).or_default();
        acc.count += 1;
        *acc.counts.entry(key.to_owned()).or_default() += 1;
        acc.first_at.get_or_insert(r.at);
        acc.last_at = Some(r.at);
        if acc.examples.len() < MAX_EXAMPLES {
            acc.examples.push(example(r, note()));
        }
    }

    fn ingest(&mut self, r: &CallRecord, window: usize) {
        self.calls += 1;
        self.first_at.get_or_insert(r.at);
        self.last_at = Some(r.at);
        if let Some(ep) = r.endpoint {
            let agg = self.endpoints.entry(ep).or_insert_with(|| EndpointAgg {
                calls: 0,
                statuses: BTreeMap::new(),
                first_at: r.at,
                last_at: r.at,
            });
            agg.calls += 1;
            *agg.statuses.entry(r.status).or_default() += 1;
            agg.last_at = r.at;
            self.detect(ep, r);
        }
        if window > 0 {
            if self.window.len() >= window {
                self.window.pop_front();
                self.folded += 1;
            }
            self.window.push_back(Entry {
                at: r.at,
                endpoint: r.endpoint,
                status: r.status,
                correlation_id: r.correlation_id.clone(),
                resource: r.resource.clone(),
            });
        } else {
            self.folded += 1;
        }
    }

    /// Run every detector that applies to this call.
    fn detect(&mut self, ep: Endpoint, r: &CallRecord) {
        self.detect_rate_limits(ep, r);
        match ep {
            Endpoint::LoginTaxpayer | Endpoint::LoginIntermediary => self.detect_login(r),
            Endpoint::GetSubmission => self.detect_submission_polling(ep, r),
            Endpoint::GetDocument | Endpoint::GetDocumentDetails => {
                self.detect_document_reads(ep, r);
            }
            Endpoint::GetRecentDocuments | Endpoint::SearchDocuments => {
                self.detect_document_listing(ep, r);
            }
            Endpoint::SubmitDocuments => self.detect_resent_submission(r),
            _ => {}
        }
    }

    /// A call before an earlier 429's Retry-After ended, and the 429s themselves; any
    /// endpoint, tracked per rate class.
    fn detect_rate_limits(&mut self, ep: Endpoint, r: &CallRecord) {
        let name = ep.name();
        let class = ep.rate_class();
        if let Some(until) = self.retry_until.get(&class).copied()
            && r.at < until
        {
            self.flag(FindingKind::CallDuringRetryAfter, r, name, || {
                format!(
                    "called {:.1} s before the Retry-After of an earlier 429 ended",
                    secs(until - r.at)
                )
            });
        }
        if r.status == 429 {
            if let Some(s) = r.retry_after_secs {
                let s = i64::try_from(s).unwrap_or(i64::MAX / 2_000).min(86_400);
                self.retry_until
                    .insert(class, r.at + chrono::Duration::seconds(s));
            }
            self.flag(FindingKind::RateLimited, r, name, || {
                format!(
                    "429, Retry-After {} s",
                    r.retry_after_secs
                        .map_or_else(|| "?".to_owned(), |s| s.to_string())
                )
            });
        }
    }

    /// Placeholder credentials, tokens fetched while the previous one was still good, and
    /// refused logins sent again.
    fn detect_login(&mut self, r: &CallRecord) {
        if let Some(reason) = &r.blocked_credential {
            self.flag(FindingKind::PlaceholderCredentials, r, reason, || {
                reason.clone()
            });
        } else if r.status == 200 {
            self.last_refused_login = None;
            self.token_issued(r);
        } else if login_refused_for_good(r.status, b"") {
            // The sandbox's own refusals are JSON, never the maintenance page, so the status
            // decides alone.
            self.detect_repeated_refusal(r);
        }
    }

    /// A login refused for good, sent again within the hour with no accepted login in
    /// between: the same credentials get the same answer (LHDN: a failed login is
    /// investigated and resolved, not repeated).
    fn detect_repeated_refusal(&mut self, r: &CallRecord) {
        if let Some((prev, prev_id)) = self.last_refused_login.take()
            && r.at - prev < chrono::Duration::from_std(REFUSED_LOGIN_RETRY).unwrap_or_default()
        {
            let client = r.client_id.as_deref().unwrap_or(UNKNOWN_CLIENT);
            let key = format!("HTTP {}", r.status);
            self.flag(FindingKind::RepeatedFailedLogins, r, &key, || {
                format!(
                    "client id {client}: login refused again {:.1} s after the refusal at {} \
                     (correlationId {prev_id}), with no accepted login in between",
                    secs(r.at - prev),
                    prev.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                )
            });
        }
        self.last_refused_login = Some((r.at, r.correlation_id.clone()));
    }

    /// Get Submission polled faster than the documented interval, per submission.
    fn detect_submission_polling(&mut self, ep: Endpoint, r: &CallRecord) {
        let name = ep.name();
        if let Some(uid) = &r.resource {
            if let Some(prev) = self.last_poll.get(uid).copied() {
                let gap = r.at - prev;
                if gap < chrono::Duration::seconds(MIN_POLL_INTERVAL_SECS) {
                    self.flag(FindingKind::FastSubmissionPolling, r, name, || {
                        format!(
                            "submission {uid} polled {:.2} s after the previous poll",
                            secs(gap)
                        )
                    });
                }
            }
            if self.last_poll.len() >= TRACKED_SUBMISSIONS && !self.last_poll.contains_key(uid) {
                // Forget polls older than a minute: too old to be "too fast".
                let cutoff = r.at - chrono::Duration::seconds(60);
                self.last_poll.retain(|_, t| *t > cutoff);
                if self.last_poll.len() >= TRACKED_SUBMISSIONS {
                    self.last_poll.clear();
                }
            }
            self.last_poll.insert(uid.clone(), r.at);
        }
    }

    /// Documents read while still being validated, or their details fetched once Valid.
    fn detect_document_reads(&mut self, ep: Endpoint, r: &CallRecord) {
        let name = ep.name();
        let uuid = r.resource.as_deref().unwrap_or("?");
        match r.document_status {
            Some(DocumentStatus::Submitted) => {
                self.flag(FindingKind::PollingDocuments, r, name, || {
                    format!("document {uuid} was still being validated")
                });
            }
            Some(DocumentStatus::Valid) if ep == Endpoint::GetDocumentDetails => {
                self.flag(FindingKind::DetailsForValidDocuments, r, name, || {
                    format!("document {uuid} was already Valid")
                });
            }
            _ => {}
        }
    }

    /// Recent or Search Documents used to poll for results, and Get Recent Documents used
    /// as a search (filtered, or called again and again).
    fn detect_document_listing(&mut self, ep: Endpoint, r: &CallRecord) {
        let name = ep.name();
        if !r.submissions_in_progress.is_empty() {
            self.flag(FindingKind::PollingDocuments, r, name, || {
                format!(
                    "called while submission(s) {} were still in progress",
                    r.submissions_in_progress.join(", ")
                )
            });
        }
        if ep == Endpoint::GetRecentDocuments {
            if !r.filters.is_empty() {
                self.flag(FindingKind::RecentInsteadOfSearch, r, "filtered", || {
                    format!(
                        "filtered by {}: a search, which Search Documents serves",
                        r.filters.join(", ")
                    )
                });
            } else if let Some(prev) = self.last_recent
                && r.at - prev < chrono::Duration::seconds(RECENT_REPEAT_SECS)
            {
                self.flag(FindingKind::RecentInsteadOfSearch, r, "repeated", || {
                    format!(
                        "called again {:.1} s after the previous call",
                        secs(r.at - prev)
                    )
                });
            }
            self.last_recent = Some(r.at);
        }
    }

    /// The same payload submitted again after a 2xx or a 422 duplicate.
    fn detect_resent_submission(&mut self, r: &CallRecord) {
        if let Some(hash) = &r.payload_sha256 {
            if let Some(prev) = self.payloads.get(hash) {
                let note = format!(
                    "same payload (SHA-256 {}…) as call {} {:.1} s earlier, which returned {}",
                    hash.get(..12).unwrap_or(hash),
                    prev.correlation_id,
                    secs(r.at - prev.at),
                    prev.status
                );
                let key = if prev.status == 422 {
                    "after a 422 duplicate"
                } else {
                    "after a 2xx"
                };
                self.flag(FindingKind::ResentSubmission, r, key, || note);
            } else if (200..300).contains(&r.status) || r.status == 422 {
                if self.payload_order.len() >= TRACKED_PAYLOADS
                    && let Some(old) = self.payload_order.pop_front()
                {
                    self.payloads.remove(&old);
                }
                self.payload_order.push_back(hash.clone());
                self.payloads.insert(
                    hash.clone(),
                    PayloadSeen {
                        at: r.at,
                        status: r.status,
                        correlation_id: r.correlation_id.clone(),
                    },
                );
            }
        }
    }

    fn token_issued(&mut self, r: &CallRecord) {
        let t = &mut self.tokens;
        if let Some(prev) = t.last_at {
            let age = (r.at - prev).num_seconds();
            // The previous token still had more than a quarter of its hour to live.
            if age < TOKEN_LIFETIME_SECS * 3 / 4 {
                t.early += 1;
                if t.examples.len() < MAX_EXAMPLES {
                    t.examples.push(example(
                        r,
                        format!(
                            "new token {age} s after the previous one, which was valid for {} s more",
                            TOKEN_LIFETIME_SECS - age
                        ),
                    ));
                }
            }
        }
        t.issued += 1;
        t.first_at.get_or_insert(r.at);
        t.last_at = Some(r.at);
    }

    /// Tokens a careful client needs: one per lifetime elapsed, plus one.
    fn token_finding(&self) -> Option<Finding> {
        let t = &self.tokens;
        let (first, last) = (t.first_at?, t.last_at?);
        let elapsed = (last - first).num_seconds().max(0);
        let justified = (elapsed as u64).div_ceil(TOKEN_LIFETIME_SECS as u64) + 1;
        if t.issued <= justified || t.early == 0 {
            return None;
        }
        let kind = FindingKind::TokenPerCall;
        Some(Finding {
            kind,
            anti_pattern: kind.anti_pattern(),
            title: kind.title().to_owned(),
            advice: kind.advice().to_owned(),
            count: t.issued,
            summary: format!(
                "{} tokens issued over {elapsed} s; token lifetimes justify at most {justified}; {} were requested while the previous token was still valid",
                t.issued, t.early
            ),
            counts: BTreeMap::from([
                ("issued".to_owned(), t.issued),
                ("justified".to_owned(), justified),
                ("while previous valid".to_owned(), t.early),
            ]),
            examples: t.examples.clone(),
            first_at: t.first_at,
            last_at: t.last_at,
        })
    }

    fn report(&self, client_id: &str, on_behalf_of: Option<&str>) -> ClientReport {
        let mut findings: Vec<Finding> = self.token_finding().into_iter().collect();
        for kind in FindingKind::ALL {
            let Some(acc) = self.findings.get(&kind) else {
                continue;
            };
            let by = acc
                .counts
                .iter()
                .map(|(k, n)| format!("{k}: {n}"))
                .collect::<Vec<_>>()
                .join("; ");
            findings.push(Finding {
                kind,
                anti_pattern: kind.anti_pattern(),
                title: kind.title().to_owned(),
                advice: kind.advice().to_owned(),
                count: acc.count,
                summary: format!("{} call(s) ({by})", acc.count),
                counts: acc.counts.clone(),
                examples: acc.examples.clone(),
                first_at: acc.first_at,
                last_at: acc.last_at,
            });
        }
        ClientReport {
            client_id: client_id.to_owned(),
            on_behalf_of: on_behalf_of.map(str::to_owned),
            calls: self.calls,
            folded_calls: self.folded,
            first_at: self.first_at,
            last_at: self.last_at,
            findings,
            endpoints: self
                .endpoints
                .iter()
                .map(|(ep, a)| EndpointSummary {
                    endpoint: ep.name().to_owned(),
                    calls: a.calls,
                    statuses: a.statuses.clone(),
                    first_at: a.first_at,
                    last_at: a.last_at,
                })
                .collect(),
            timeline: self
                .window
                .iter()
                .map(|e| TimelineEntry {
                    at: e.at,
                    endpoint: e.endpoint.map_or("(unknown)", Endpoint::name).to_owned(),
                    status: e.status,
                    correlation_id: e.correlation_id.clone(),
                    resource: e.resource.clone(),
                })
                .collect(),
        }
    }
}

/// Per client id, the logs of each `onbehalfof` (few per client, so a short list).
type Clients = HashMap<String, Vec<(Option<String>, ClientLog)>>;

/// Records calls for the report. Built by the sandbox when
/// [`crate::SandboxConfig::report_window`] is set.
#[derive(Debug)]
pub struct Recorder {
    window: usize,
    clients: Mutex<Clients>,
}

impl Recorder {
    /// A recorder keeping the last `window` calls of each client.
    pub fn new(window: usize) -> Recorder {
        Recorder {
            window,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// Forgets everything.
    pub fn clear(&self) {
        self.clients.lock().clear();
    }

    /// Records one call.
    pub fn record(&self, r: &CallRecord) {
        let client = r.client_id.as_deref().unwrap_or(UNKNOWN_CLIENT);
        let obo = r.on_behalf_of.as_deref();
        let mut clients = self.clients.lock();
        let pairs: usize = clients.len();
        let client = if pairs >= MAX_CLIENTS && !clients.contains_key(client) {
            OVERFLOW_CLIENT
        } else {
            client
        };
        let logs = match clients.get_mut(client) {
            Some(l) => l,
            None => clients.entry(client.to_owned()).or_default(),
        };
        let idx = match logs.iter().position(|(o, _)| o.as_deref() == obo) {
            Some(i) => i,
            None => {
                logs.push((obo.map(str::to_owned), ClientLog::default()));
                logs.len() - 1
            }
        };
        if let Some((_, log)) = logs.get_mut(idx) {
            log.ingest(r, self.window);
        }
    }

    /// The report at `now`, for every client or only `client_id`.
    pub fn report(&self, client_id: Option<&str>, now: DateTime<Utc>) -> Report {
        let clients = self.clients.lock();
        let mut out: Vec<ClientReport> = clients
            .iter()
            .filter(|(c, _)| client_id.is_none_or(|want| want == c.as_str()))
            .flat_map(|(c, logs)| logs.iter().map(move |(o, log)| log.report(c, o.as_deref())))
            .collect();
        out.sort_by(|a, b| (&a.client_id, &a.on_behalf_of).cmp(&(&b.client_id, &b.on_behalf_of)));
        Report {
            generated_at: now,
            window: self.window,
            clients: out,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ReportQuery {
    #[serde(default)]
    client_id: Option<String>,
}

fn build(sandbox: &Sandbox, q: &ReportQuery) -> Result<Report, crate::AppError> {
    sandbox
        .report(q.client_id.as_deref().filter(|c| !c.is_empty()))
        .ok_or_else(|| {
            crate::AppError::NotFound(
                "The report recorder is off (start the sandbox with a report window)".to_owned(),
            )
        })
}

/// `GET /admin/report`.
pub(crate) async fn admin_json(
    axum::extract::State(sandbox): axum::extract::State<Sandbox>,
    crate::extract::ApiQuery(q): crate::extract::ApiQuery<ReportQuery>,
) -> Result<axum::Json<Report>, crate::AppError> {
    build(&sandbox, &q).map(axum::Json)
}

/// `GET /admin/report.html`.
pub(crate) async fn admin_html(
    axum::extract::State(sandbox): axum::extract::State<Sandbox>,
    crate::extract::ApiQuery(q): crate::extract::ApiQuery<ReportQuery>,
) -> Result<axum::response::Html<String>, crate::AppError> {
    build(&sandbox, &q).map(|r| axum::response::Html(render::html(&r)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(at: DateTime<Utc>, endpoint: Endpoint, resource: Option<String>) -> CallRecord {
        CallRecord {
            at,
            endpoint: Some(endpoint),
            client_id: Some("c".to_owned()),
            on_behalf_of: None,
            status: 202,
            correlation_id: "X:1".to_owned(),
            payload_sha256: None,
            resource,
            document_status: None,
            submissions_in_progress: Vec::new(),
            filters: Vec::new(),
            retry_after_secs: None,
            blocked_credential: None,
        }
    }

    #[test]
    fn memory_stays_bounded_over_a_long_run() {
        let recorder = Recorder::new(100);
        let t0 = Utc::now();
        for i in 0..50_000i64 {
            let at = t0 + chrono::Duration::seconds(i * 4);
            recorder.record(&call(at, Endpoint::GetSubmission, Some(format!("S{i}"))));
            let mut submit = call(at, Endpoint::SubmitDocuments, None);
            submit.payload_sha256 = Some(format!("{i:064x}"));
            recorder.record(&submit);
        }
        let clients = recorder.clients.lock();
        let (_, log) = &clients["c"][0];
        assert_eq!(log.calls, 100_000);
        assert_eq!(log.window.len(), 100);
        assert_eq!(log.folded, 99_900);
        assert!(log.last_poll.len() <= TRACKED_SUBMISSIONS);
        assert!(log.payloads.len() <= TRACKED_PAYLOADS);
        assert_eq!(log.payload_order.len(), log.payloads.len());
        assert!(log.findings.is_empty(), "{:?}", log.findings);
    }

    #[test]
    fn invented_client_ids_are_pooled_beyond_the_cap() {
        let recorder = Recorder::new(10);
        let t0 = Utc::now();
        for i in 0..(MAX_CLIENTS + 50) {
            let mut r = call(t0, Endpoint::LoginTaxpayer, None);
            r.client_id = Some(format!("client-{i}"));
            recorder.record(&r);
        }
        let report = recorder.report(None, t0);
        assert_eq!(report.clients.len(), MAX_CLIENTS + 1);
        let pooled = report
            .clients
            .iter()
            .find(|c| c.client_id == OVERFLOW_CLIENT)
            .expect("pool");
        assert_eq!(pooled.calls, 50);
    }

    #[test]
    fn tokens_once_an_hour_are_fine_and_twice_a_minute_are_not() {
        let recorder = Recorder::new(10);
        let t0 = Utc::now();
        let mut login = call(t0, Endpoint::LoginTaxpayer, None);
        login.status = 200;
        // A careful client: a new token every 55 minutes over ten hours.
        for i in 0..11 {
            login.at = t0 + chrono::Duration::minutes(55 * i);
            recorder.record(&login);
        }
        assert_eq!(recorder.report(None, t0).finding_count(), 0);
        for i in 0..4 {
            login.at = t0 + chrono::Duration::minutes(605) + chrono::Duration::seconds(30 * i);
            recorder.record(&login);
        }
        let report = recorder.report(None, t0);
        let f = &report.clients[0].findings[0];
        assert_eq!(f.kind, FindingKind::TokenPerCall);
        assert_eq!(f.counts["issued"], 15);
        assert_eq!(f.counts["while previous valid"], 3);
        assert_eq!(f.counts["justified"], 12);
    }
}
