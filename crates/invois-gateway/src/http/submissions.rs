//! `GET /v1/submissions`: the submission attempts, newest first. Never their payloads (they
//! hold whole documents); the payload's SHA-256 identifies it.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::documents::{limit, positive, query_error};
use super::error::ErrorBody;
use super::{ApiError, ApiState};
use crate::store::{SubmissionFilter, SubmissionId, SubmissionRecord, SubmissionState};

/// The query of `GET /v1/submissions`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// Only attempts in this state.
    #[param(value_type = Option<SubmissionStateName>)]
    state: Option<String>,
    /// The previous page's `next`.
    #[param(value_type = Option<i64>, minimum = 1)]
    before: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

/// The page size when none is given (the store's default).
const DEFAULT_LIMIT: u32 = 100;

/// `GET /v1/submissions?state=&before=&limit=`.
#[utoipa::path(
    get,
    path = "/v1/submissions",
    operation_id = "listSubmissions",
    tag = "submissions",
    params(ListQuery),
    responses(
        (status = 200, description = "One page, newest first.", body = SubmissionPage),
        (status = 400, description = "A bad query parameter.", body = ErrorBody),
    ),
)]
pub(super) async fn list(
    State(state): State<ApiState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<axum::Json<SubmissionPage>, ApiError> {
    let Query(q) = query.map_err(query_error)?;
    let filter = SubmissionFilter {
        state: q
            .state
            .as_deref()
            .map(|s| {
                SubmissionState::parse(s.trim()).ok_or_else(|| {
                    ApiError::bad_request(
                        "state",
                        format!(
                            "unknown submission state `{s}`; one of {}",
                            SubmissionState::ALL
                                .iter()
                                .map(|s| s.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                })
            })
            .transpose()?,
        before: q
            .before
            .as_deref()
            .map(|t| positive("before", t).map(SubmissionId))
            .transpose()?,
        limit: q
            .limit
            .as_deref()
            .map(|t| limit("limit", t))
            .transpose()?
            .unwrap_or(DEFAULT_LIMIT),
    };
    let items = state.store.submissions().list(&filter).await?;
    // A full page may have more behind it; pass `next` as `before`.
    let next = if items.len() as u64 >= u64::from(filter.limit) {
        items.last().map(|s| s.id.0)
    } else {
        None
    };
    Ok(axum::Json(SubmissionPage {
        submissions: items.iter().map(SubmissionView::of).collect(),
        next,
    }))
}

/// One page of `GET /v1/submissions`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub(super) struct SubmissionPage {
    submissions: Vec<SubmissionView>,
    /// Pass as `before` for the next page; null when this page was not full.
    next: Option<i64>,
}

/// The states a submission attempt goes through (schema only: handlers use
/// [`SubmissionState`], and a test checks the two agree).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(
    not(test),
    expect(
        dead_code,
        reason = "never built: it describes SubmissionState::as_str"
    )
)]
pub(super) enum SubmissionStateName {
    Intent,
    Accepted,
    OutcomeUnknown,
    Duplicate,
    Refused,
    Split,
    NotReceived,
}

/// A submission attempt, never its payload (it holds whole documents).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub(super) struct SubmissionView {
    id: i64,
    #[schema(value_type = SubmissionStateName)]
    state: &'static str,
    /// MyInvois' id, once it answered.
    submission_uid: Option<String>,
    document_count: i64,
    /// Identifies the payload without showing it.
    payload_sha256: String,
    client_id: String,
    on_behalf_of: Option<String>,
    last_error: Option<String>,
    polls: i64,
    #[schema(format = DateTime)]
    next_poll_at: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

impl SubmissionView {
    fn of(s: &SubmissionRecord) -> SubmissionView {
        SubmissionView {
            id: s.id.0,
            state: s.state.as_str(),
            submission_uid: s.submission_uid.clone(),
            document_count: s.document_count,
            payload_sha256: s.payload_sha256.clone(),
            client_id: s.client_id.clone(),
            on_behalf_of: s.on_behalf_of.clone(),
            last_error: s.last_error.clone(),
            polls: s.polls,
            next_poll_at: s.next_poll_at.map(|t| t.to_rfc3339()),
            created_at: s.created_at.to_rfc3339(),
            updated_at: s.updated_at.to_rfc3339(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_names_every_submission_state() {
        use SubmissionStateName::*;
        let named = [
            Intent,
            Accepted,
            OutcomeUnknown,
            Duplicate,
            Refused,
            Split,
            NotReceived,
        ]
        .map(|n| serde_json::to_value(n).unwrap());
        let states: Vec<serde_json::Value> = SubmissionState::ALL
            .iter()
            .map(|s| serde_json::Value::from(s.as_str()))
            .collect();
        assert_eq!(named.to_vec(), states);
    }
}
