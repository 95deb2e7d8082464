//! Dashboard sessions: `POST /v1/session` trades the token for a cookie
//! holding a random session id, `DELETE /v1/session` ends this browser's,
//! `DELETE /v1/sessions` every one. The store keeps only a digest of the
//! token and the id (see `digest`).
use super::auth::COOKIE;
use super::{ApiError, AppState};
use crate::config::ApiToken;
use crate::store::Sessions as _;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use sha2::{Digest, Sha256};

/// How long a session lasts: a browser asks for the token once a month at most.
const SESSION_SECONDS: u64 = 30 * 24 * 60 * 60;

/// The session a request came in with: its cookie's id, if it had one.
#[derive(Debug, Clone, Default)]
pub struct Session(pub(super) Option<String>);

/// `POST /v1/session`: the dashboard's sign-in. The request got here with the
/// right token or an open session (the layer saw to that), so the answer
/// opens a session, or renews the one it came with, and sets its id as a
/// cookie that scripts cannot read (`HttpOnly`) and no other site's request
/// carries (`SameSite=Strict`). Without a configured token there is nothing
/// to keep.
#[utoipa::path(post, path = "/v1/session", tag = "meta",
    responses(
        (status = 204, description = "Signed in: the session's id is set as an HttpOnly cookie (none without a configured token)."),
        (status = 401, description = "No token, or the wrong one.", body = super::error::ErrorBody),
    ))]
pub async fn sign_in(
    State(state): State<AppState>,
    session: Option<Extension<Session>>,
) -> Result<Response, ApiError> {
    let Some(token) = &state.api_token else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let id = match session.and_then(|Extension(Session(id))| id) {
        Some(id) => id,
        None => new_session_id(),
    };
    state
        .store
        .open_session(&digest(token, &id), SESSION_SECONDS as i64 * 1000)
        .await?;
    Ok(with_cookie(
        StatusCode::NO_CONTENT.into_response(),
        &format!("{COOKIE}={id}; Path=/; Max-Age={SESSION_SECONDS}; HttpOnly; SameSite=Strict"),
    ))
}

/// `DELETE /v1/session`: signs this browser out: its session ends and the
/// cookie is cleared.
#[utoipa::path(delete, path = "/v1/session", tag = "meta",
    responses(
        (status = 204, description = "Signed out: the session has ended and its cookie is cleared."),
        (status = 401, description = "No token, or the wrong one.", body = super::error::ErrorBody),
    ))]
pub async fn sign_out(
    State(state): State<AppState>,
    session: Option<Extension<Session>>,
) -> Result<Response, ApiError> {
    if let (Some(token), Some(Extension(Session(Some(id))))) = (&state.api_token, session) {
        state.store.close_session(&digest(token, &id)).await?;
    }
    Ok(with_cookie(
        StatusCode::NO_CONTENT.into_response(),
        &format!("{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"),
    ))
}

/// How many sessions `DELETE /v1/sessions` ended.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct SessionsClosed {
    pub closed: u64,
}

/// `DELETE /v1/sessions`: ends every dashboard session (a lost laptop, a
/// shared screen); each browser must give the token again.
#[utoipa::path(delete, path = "/v1/sessions", tag = "meta",
    responses(
        (status = 200, description = "Every session has ended.", body = SessionsClosed),
        (status = 401, description = "No token, or the wrong one.", body = super::error::ErrorBody),
    ))]
pub async fn sign_out_everywhere(
    State(state): State<AppState>,
) -> Result<Json<SessionsClosed>, ApiError> {
    let closed = state.store.close_all_sessions().await?;
    Ok(Json(SessionsClosed { closed }))
}

fn with_cookie(mut response: Response, cookie: &str) -> Response {
    match HeaderValue::from_str(cookie) {
        Ok(cookie) => {
            response.headers_mut().insert(header::SET_COOKIE, cookie);
            response
        }
        // Ids are hex: always header-safe; this is never reached.
        Err(_) => ApiError::Internal("a session cookie is not header-safe".into()).into_response(),
    }
}

/// A new session id: 256 random bits, in hex.
pub(super) fn new_session_id() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the store keeps of a session: a digest of the token and the id, so
/// the id alone is no credential once the token changes.
pub(super) fn digest(token: &ApiToken, id: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(token.expose().as_bytes());
    hasher.update([0u8]);
    hasher.update(id.as_bytes());
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether a cookie value has the shape of a session id.
pub(super) fn is_session_id(value: &str) -> bool {
    value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit())
}
