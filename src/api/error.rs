//! The API's one error type and its mapping to HTTP responses.
use crate::spec::SpecError;
use crate::store::StoreError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// Everything a route can answer besides success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    InvalidSpec(#[from] SpecError),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    ForbiddenOrigin(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("the request body is over the limit of {0} bytes")]
    TooLarge(usize),
    #[error("internal error")]
    Store(#[from] StoreError),
    #[error("internal error")]
    Internal(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            ApiError::InvalidSpec(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_spec"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::ForbiddenOrigin(_) => (StatusCode::FORBIDDEN, "forbidden_origin"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            ApiError::Store(e) => {
                tracing::error!("store: {e}");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
            ApiError::Internal(e) => {
                tracing::error!("{e}");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        };
        let mut error = json!({"code": code, "message": self.to_string()});
        if let ApiError::InvalidSpec(e) = &self {
            error["field"] = json!(e.field);
            error["message"] = json!(format!("{}: {}", e.field, e.message));
        }
        let mut response = (status, Json(json!({ "error": error }))).into_response();
        if let ApiError::Unauthorized(_) = &self {
            // RFC 6750: say which scheme would get in.
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer realm="hypersweep""#),
            );
        }
        response
    }
}
