//! The HTTP API (axum): routes, shared state, and error responses.
mod auth;
mod dashboard;
mod datasets;
mod error;
mod events;
mod openapi;
mod plot;
mod sweeps;
mod trials;

pub use error::{ApiError, ApiPath, ApiQuery};

use crate::config::{ApiToken, Config};
use crate::data::catalog::Catalog;
use crate::spec::Limits;
use crate::store::Store;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};
use axum::{Json, Router};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub catalog: Catalog,
    pub limits: Limits,
    pub max_body_bytes: usize,
    /// The token every request must carry; None for an open server.
    pub api_token: Option<ApiToken>,
}

impl AppState {
    /// State for a server with this store, catalog and configuration.
    pub fn new(store: Store, catalog: Catalog, config: &Config) -> AppState {
        AppState {
            store,
            catalog,
            limits: config.limits,
            max_body_bytes: config.max_body_bytes,
            api_token: config.api_token.clone(),
        }
    }
}

/// Every route of the API.
pub fn router(state: AppState, config: &Config) -> Router {
    Router::new()
        .route("/", get(dashboard::index))
        .route("/assets/{file}", get(dashboard::asset))
        .route("/healthz", get(healthz))
        .route("/v1/openapi.json", get(openapi::document))
        .route("/v1/datasets", get(datasets::list))
        .route("/v1/sweeps", post(sweeps::create).get(sweeps::list))
        .route("/v1/sweeps/{id}", get(sweeps::show))
        .route("/v1/sweeps/{id}/best", get(sweeps::best))
        .route("/v1/sweeps/{id}/cancel", post(sweeps::cancel))
        .route("/v1/sweeps/{id}/events", get(events::stream))
        .route("/v1/sweeps/{id}/plot.svg", get(plot::svg))
        .route("/v1/sweeps/{id}/trials", get(trials::list))
        .route("/v1/trials/{id}", get(trials::show))
        .route("/v1/session", post(auth::sign_in))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        .layer(middleware::from_fn(auth::same_origin))
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .with_state(state)
}

/// The answer of `/healthz`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
}

/// `GET /healthz`: the server is up.
#[utoipa::path(get, path = "/healthz", tag = "meta",
    responses((status = 200, description = "The server is up.", body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

async fn method_not_allowed(method: axum::http::Method) -> ApiError {
    ApiError::MethodNotAllowed(format!("method {method} is not allowed on this route"))
}

/// Parses an id from the path; anything but a positive integer names nothing.
fn parse_id(raw: &str, what: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::NotFound(format!("no {what} `{raw}`")))
}
