//! `GET /metrics` in the Prometheus text format, and the middleware that
//! times every request for it.
use super::{ApiError, AppState};
use crate::metrics::Registry;
use crate::store::Tallies as _;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Instant;

/// Events read from the log per query while catching up with it.
const BATCH: i64 = 5000;

/// The content type of the text exposition format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /metrics`: trials and sweeps by state, live workers, epochs
/// trained, epoch seconds, API latency and events written.
#[utoipa::path(get, path = "/metrics", tag = "meta",
    responses(
        (status = 200, description = "The metrics in the Prometheus text exposition format 0.0.4.",
            content_type = "text/plain", body = String),
        (status = 401, description = "The API token is missing or wrong (unless `metrics_public`).",
            body = super::error::ErrorBody),
    ))]
pub async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    // Catch up with the event log: counts and epoch seconds since the cursor.
    loop {
        let after = state.metrics.cursor();
        let ticks = state.store.event_ticks(after, BATCH).await?;
        state.metrics.advance(&ticks);
        if (ticks.len() as i64) < BATCH {
            break;
        }
    }
    let counts = state.store.state_counts().await?;
    let trials: Vec<_> = counts
        .trials
        .iter()
        .map(|(s, n)| (s.as_str(), *n))
        .collect();
    let sweeps: Vec<_> = counts
        .sweeps
        .iter()
        .map(|(s, n)| (s.as_str(), *n))
        .collect();
    let body = state.metrics.render(&trials, &sweeps);
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response())
}

/// Middleware: records how long each request took, by the route's pattern
/// (`/v1/sweeps/{id}`, `unmatched` for none), method and status.
pub async fn record(
    State(registry): State<Arc<Registry>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_string();
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let seconds = started.elapsed().as_secs_f64();
    registry.observe_request(&route, method, response.status().as_u16(), seconds);
    response
}

/// A method's label: the standard ones, `other` for any other (a client
/// may send any token as a method; labels must stay few).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}
