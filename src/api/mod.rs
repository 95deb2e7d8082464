//! The HTTP API (axum): routes, shared state, and error responses.
mod auth;
mod best;
mod dashboard;
mod datasets;
mod edge;
mod error;
mod events;
mod export;
mod extend;
mod fork;
mod importance;
mod lifecycle;
mod metrics;
mod openapi;
mod page;
mod plot;
mod query;
mod serve;
mod session;
mod submit;
mod sweeps;
mod trials;
mod wire;
mod worker;
mod workers;

pub use edge::AllowedHosts;
pub use error::{ApiError, ApiJson, ApiPath, ApiQuery};
pub use serve::{serve, ServeOptions};
pub use worker::Hub;

use crate::blobs::Blobs;
use crate::config::{ApiToken, Config};
use crate::data::catalog::Catalog;
use crate::metrics::Registry;
use crate::spec::Limits;
use crate::store::Store;
use axum::extract::{DefaultBodyLimit, MatchedPath};
use axum::middleware;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub catalog: Catalog,
    pub limits: Limits,
    pub max_body_bytes: usize,
    /// The token every request must carry; None for an open server.
    pub api_token: Option<ApiToken>,
    /// Whether `GET /metrics` answers without the token.
    pub metrics_public: bool,
    /// What `GET /metrics` reports beside the database's counts.
    pub metrics: Arc<Registry>,
    /// Where uploaded checkpoints are kept (`crate::blobs`).
    pub blobs: Blobs,
    /// A folder of this server's own, where uploads are received before the
    /// blob store keeps them.
    pub spool: PathBuf,
    /// Tokens that may speak only the worker protocol.
    pub worker_tokens: Vec<ApiToken>,
    /// What the worker protocol's routes share.
    pub hub: Arc<Hub>,
}

impl AppState {
    /// State for a server with this store, catalog and configuration.
    pub fn new(store: Store, catalog: Catalog, config: &Config) -> AppState {
        AppState {
            store: store.clone(),
            catalog,
            limits: config.limits,
            max_body_bytes: config.max_body_bytes,
            api_token: config.api_token.clone(),
            metrics_public: config.metrics_public,
            metrics: Arc::default(),
            blobs: Blobs::new(config.blob_place(), config.checkpoints(), store.clone()),
            spool: config.checkpoints().join("spool"),
            worker_tokens: config.worker_token.iter().cloned().collect(),
            hub: Arc::new(Hub::new(config)),
        }
    }
}

/// Every route of the API, for a server listening on `listen`.
pub fn router(state: AppState, config: &Config, listen: SocketAddr) -> Router {
    let hosts = Arc::new(AllowedHosts::new(&config.allowed_hosts, listen));
    let api = Router::new()
        .route("/", get(dashboard::index))
        .route("/assets/{file}", get(dashboard::asset))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics::metrics))
        .route("/v1/openapi.json", get(openapi::document))
        .route("/v1/datasets", get(datasets::list))
        .route("/v1/sweeps", post(submit::create).get(sweeps::list))
        .route(
            "/v1/sweeps/{id}",
            get(sweeps::show)
                .patch(extend::extend)
                .delete(lifecycle::delete),
        )
        .route("/v1/sweeps/{id}/fork", post(fork::fork))
        .route("/v1/sweeps/{id}/best", get(best::best))
        .route("/v1/sweeps/{id}/cancel", post(sweeps::cancel))
        .route("/v1/sweeps/{id}/events", get(events::stream))
        .route("/v1/sweeps/{id}/export.json", get(export::json))
        .route("/v1/sweeps/{id}/importance", get(importance::importance))
        .route("/v1/sweeps/{id}/plot.svg", get(plot::svg))
        .route(
            "/v1/sweeps/{id}/trials",
            get(trials::list).post(lifecycle::enqueue),
        )
        .route(
            "/v1/sweeps/{id}/trials/{number}",
            get(trials::show_numbered),
        )
        .route("/v1/sweeps/{id}/trials.csv", get(export::csv))
        .route("/v1/trials/{id}", get(trials::show))
        .route("/v1/workers", get(workers::list))
        .route(
            "/v1/session",
            post(session::sign_in).delete(session::sign_out),
        )
        .route("/v1/sessions", delete(session::sign_out_everywhere))
        // Every route above takes only the query parameters it reads.
        .route_layer(middleware::from_fn(query::known_only))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(middleware::from_fn_with_state(
            config.max_body_bytes,
            edge::refuse_announced_oversize,
        ));
    // The worker protocol has limits of its own: checkpoints are large.
    Router::new()
        .merge(worker::router(config.max_body_bytes))
        .merge(api)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        .layer(middleware::from_fn(auth::same_origin))
        .layer(middleware::from_fn_with_state(
            hosts,
            edge::require_known_host,
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &axum::extract::Request| {
                    // The route's pattern, not the path: ids stay out of span names.
                    let route = request
                        .extensions()
                        .get::<MatchedPath>()
                        .map_or("unmatched", |p| p.as_str());
                    tracing::info_span!("request", method = %request.method(), route)
                })
                .on_request(())
                .on_response(DefaultOnResponse::new().level(tracing::Level::DEBUG)),
        )
        .layer(middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::record,
        ))
        .with_state(state)
}

/// The API of `state`, configured by `config`, ready to serve on
/// `listener` until `shutdown` resolves (see `serve`): what the server
/// starts, so that only `api` knows the router and the connection loop.
pub fn run(
    listener: TcpListener,
    state: AppState,
    config: &Config,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<impl Future<Output = ()>> {
    let router = router(state, config, listener.local_addr()?);
    let options = ServeOptions {
        header_read_timeout: Duration::from_secs(config.header_read_timeout_seconds),
        max_connections: config.max_connections,
    };
    Ok(serve(listener, router, options, shutdown))
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

/// Parses an id from the path: only its canonical decimal form (`1`, not
/// `+1` or `01`) names something, so one resource has one URL. The path is
/// percent-decoded first, like the query string (`%31` is `1`).
fn parse_id(raw: &str, what: &str) -> Result<i64, ApiError> {
    let canonical =
        !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) && !raw.starts_with('0');
    canonical
        .then(|| raw.parse::<i64>().ok())
        .flatten()
        .ok_or_else(|| {
            let shown: String = raw.chars().take(40).collect();
            ApiError::NotFound(format!("no {what} `{}`", shown.escape_debug()))
        })
}

#[cfg(test)]
mod tests {
    use super::parse_id;

    #[test]
    fn only_canonical_ids_name_something() {
        assert_eq!(parse_id("1", "sweep").unwrap(), 1);
        assert_eq!(parse_id("9223372036854775807", "sweep").unwrap(), i64::MAX);
        for bad in [
            "+1",
            "01",
            "0",
            "-1",
            "",
            " 1",
            "1 ",
            "1e0",
            "9223372036854775808",
            "１",
        ] {
            assert!(parse_id(bad, "sweep").is_err(), "{bad:?}");
        }
    }
}
