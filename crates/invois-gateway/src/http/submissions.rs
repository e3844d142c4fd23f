//! `GET /v1/submissions`: the submission attempts, newest first. Never their payloads (they
//! hold whole documents); the payload's SHA-256 identifies it.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::documents::{limit, positive, query_error};
use super::{ApiError, ApiState};
use crate::store::{SubmissionFilter, SubmissionId, SubmissionRecord, SubmissionState};

/// The query of `GET /v1/submissions`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    state: Option<String>,
    before: Option<String>,
    limit: Option<String>,
}

/// The page size when none is given (the store's default).
const DEFAULT_LIMIT: u32 = 100;

/// `GET /v1/submissions?state=&before=&limit=`.
pub(super) async fn list(
    State(state): State<ApiState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
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
    let items = state.store.list_submissions(&filter).await?;
    // A full page may have more behind it; pass `next` as `before`.
    let next = if items.len() as u64 >= u64::from(filter.limit) {
        items.last().map(|s| s.id.0)
    } else {
        None
    };
    Ok(axum::Json(json!({
        "submissions": items.iter().map(submission_view).collect::<Vec<_>>(),
        "next": next,
    }))
    .into_response())
}

fn submission_view(s: &SubmissionRecord) -> Value {
    json!({
        "id": s.id.0,
        "state": s.state.as_str(),
        "submission_uid": s.submission_uid,
        "document_count": s.document_count,
        "payload_sha256": s.payload_sha256,
        "client_id": s.client_id,
        "on_behalf_of": s.on_behalf_of,
        "last_error": s.last_error,
        "polls": s.polls,
        "next_poll_at": s.next_poll_at.map(|t| t.to_rfc3339()),
        "created_at": s.created_at.to_rfc3339(),
        "updated_at": s.updated_at.to_rfc3339(),
    })
}
