//! `POST /v1/clients/{client_id}/resume`: an operator's command to send a halted login again
//! (see [`crate::login`]), once the cause is fixed on LHDN's side (a blocked ERP user
//! unblocked, a representation granted). New credentials need a restart instead.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::error::ErrorBody;
use super::{ApiError, ApiState};
use crate::login::{ClientLogin, LoginHaltView, LoginWatch, halt_message};

/// `POST /v1/clients/{client_id}/resume`.
#[utoipa::path(
    post,
    path = "/v1/clients/{client_id}/resume",
    operation_id = "resumeClientLogin",
    tag = "operations",
    params(("client_id" = String, Path, description = "The client id this gateway submits as.")),
    responses(
        (status = 200, description = "The login was sent and accepted (or was not halted): \
         sending goes on.", body = ClientLogin),
        (status = 404, description = "This gateway does not submit as that client id.",
         body = ErrorBody),
        (status = 409, description = "`login_refused`: MyInvois refused the login again; \
         the halt is renewed for an hour. The message has LHDN's answer and the fix.",
         body = ErrorBody),
        (status = 502, description = "`myinvois_unavailable`: the login could not be sent or \
         answered (a transport failure or a 5xx); the halt stays.", body = ErrorBody),
    ),
)]
pub(crate) async fn resume(
    State(state): State<ApiState>,
    Path(client_id): Path<String>,
) -> Result<Json<ClientLogin>, ApiError> {
    if client_id != state.clients.client_id() {
        return Err(ApiError::not_found(format!(
            "this gateway submits as client id {}, not {client_id}",
            state.clients.client_id()
        )));
    }
    let running = || {
        Json(ClientLogin {
            client_id: client_id.clone(),
            state: "running",
            halt: None,
        })
    };
    // This instance's halt, or one another instance recorded (this one never sent the
    // refused login): either way, the login that was refused is the one sent again.
    let recorded = state.store.login_halts().get(&client_id).await?;
    let on_behalf_of = match (state.clients.base().login_halt(), &recorded) {
        (Some(halt), _) => halt.on_behalf_of.clone(),
        (None, Some(record)) => record.on_behalf_of.clone(),
        (None, None) => return Ok(running()),
    };
    let client = state
        .clients
        .client(on_behalf_of.as_deref())
        .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, "myinvois_login", e.to_string()))?;
    let watch = LoginWatch::new(state.store.clone(), state.clients.clone());
    let outcome = client.retry_login().await;
    // Accepted or refused, the client's halt changed: record it now, so this answer, /ready
    // and the webhook agree (the gateway's own watch then finds nothing left to do).
    watch.sync().await?;
    match outcome {
        Ok(_) => {
            tracing::info!(client.id = %client_id, "an operator resumed the logins of client id {client_id}");
            Ok(running())
        }
        Err(e) => match state.store.login_halts().get(&client_id).await? {
            Some(record) if refused_for_good(&e) => {
                let view = LoginHaltView::of(&record);
                tracing::warn!(client.id = %client_id, "resume refused: {}", view.message);
                Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "login_refused",
                    halt_message(&record),
                ))
            }
            _ => Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "myinvois_unavailable",
                format!("the login could not be tried ({e}); the halt stays: try again later"),
            )),
        },
    }
}

/// Whether the login was refused for good (rather than not answered).
fn refused_for_good(e: &invois_client::Error) -> bool {
    matches!(e, invois_client::Error::Login(f)
        if invois_api::identity::login_refused_for_good(f.status, &f.body))
}
