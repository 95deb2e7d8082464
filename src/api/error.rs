//! The API's one error type and its mapping to HTTP responses.
use crate::spec::SpecError;
use crate::store::StoreError;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong, for a program (`code`) and for a person (`message`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// `invalid_spec`, `bad_request`, `not_found`, `unauthorized`, `forbidden`,
    /// `forbidden_origin`, `misdirected_host`, `conflict`, `lease_lost`, `method_not_allowed`,
    /// `unsupported_media_type`, `too_large`, `unavailable` or `internal`.
    pub code: String,
    pub message: String,
    /// The offending field of a rejected spec, e.g. `parameters.batch_size.values[1]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// Everything a route can answer besides success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    InvalidSpec(#[from] SpecError),
    #[error("{0}")]
    BadRequest(String),
    /// A query parameter out of bounds or unreadable, naming it.
    #[error("{field}: {message}")]
    BadParameter {
        field: &'static str,
        message: String,
    },
    /// A query parameter the route does not take, and those it does.
    #[error("unknown query parameter `{name}`; {}", takes(known))]
    UnknownParameter {
        name: String,
        known: Vec<&'static str>,
    },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    ForbiddenOrigin(String),
    /// The request's `Host` is not one this server answers to.
    #[error("{0}")]
    MisdirectedHost(String),
    #[error("{0}")]
    Conflict(String),
    /// A worker wrote for an attempt whose lease it no longer holds.
    #[error("the lease on trial {trial} attempt {attempt} is no longer held by this worker; nothing was written")]
    LeaseLost { trial: i64, attempt: i64 },
    /// The token presented may not use this route.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("the request body is over the limit of {0} bytes")]
    TooLarge(usize),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("internal error")]
    Store(#[from] StoreError),
    #[error("internal error")]
    Internal(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            ApiError::InvalidSpec(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_spec"),
            ApiError::BadRequest(_)
            | ApiError::BadParameter { .. }
            | ApiError::UnknownParameter { .. } => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::ForbiddenOrigin(_) => (StatusCode::FORBIDDEN, "forbidden_origin"),
            ApiError::MisdirectedHost(_) => (StatusCode::MISDIRECTED_REQUEST, "misdirected_host"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::LeaseLost { .. } => (StatusCode::CONFLICT, "lease_lost"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            ApiError::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::Store(e @ StoreError::Unavailable { source, .. }) => {
                tracing::error!("store: {e} ({source})");
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
            ApiError::Store(e) => {
                tracing::error!("store: {e}");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
            ApiError::Internal(e) => {
                tracing::error!("{e}");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        };
        let error = match &self {
            ApiError::InvalidSpec(e) => ErrorDetail {
                code: code.to_string(),
                message: format!("{}: {}", e.field, e.message),
                field: Some(e.field.clone()),
            },
            ApiError::BadParameter { field, .. } => ErrorDetail {
                code: code.to_string(),
                message: self.to_string(),
                field: Some(field.to_string()),
            },
            ApiError::UnknownParameter { name, .. } => ErrorDetail {
                code: code.to_string(),
                message: self.to_string(),
                field: Some(name.clone()),
            },
            // Says what the client can do about it; nothing internal.
            ApiError::Store(e @ StoreError::Unavailable { .. }) => ErrorDetail {
                code: code.to_string(),
                message: format!("{e}; nothing was changed, try again later"),
                field: None,
            },
            _ => ErrorDetail {
                code: code.to_string(),
                message: self.to_string(),
                field: None,
            },
        };
        let mut response = (status, Json(ErrorBody { error })).into_response();
        if let ApiError::Store(StoreError::Unavailable { .. }) = &self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER));
        }
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

/// What a route's query string may hold, for an error message.
fn takes(known: &[&str]) -> String {
    match known {
        [] => "this route takes no query parameters".into(),
        known => format!("this route takes: {}", known.join(", ")),
    }
}

/// Seconds a client is asked to wait when the database cannot be written.
const RETRY_AFTER: &str = "5";

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        // A path that matched a route but whose parameter cannot be decoded
        // (e.g. percent-encoded bytes that are not UTF-8) names nothing.
        ApiError::NotFound(format!("no such resource: {}", rejection.body_text()))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::BadRequest(format!("query string: {}", rejection.body_text()))
    }
}

/// `Path`, with rejections as JSON errors.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// `Query`, with rejections as JSON errors.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType(
                "the body must be JSON (Content-Type: application/json)".into(),
            ),
            other => ApiError::BadRequest(format!("body: {}", other.body_text())),
        }
    }
}

/// `Json`, with rejections as JSON errors.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);
