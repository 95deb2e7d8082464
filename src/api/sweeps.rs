//! Sweep routes: list sweeps, read a sweep's status, cancel it (`submit`
//! takes new ones).
use super::error::ErrorBody;
use super::wire;
use super::{page, parse_id, ApiError, ApiPath, AppState};
use crate::schedule::{rung_counts, EarlyTerminate, RungStats};
use crate::store::{Cancel, Sweep, Sweeps as _};
use axum::extract::{RawQuery, State};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// A page of the sweeps, newest first.
#[derive(Serialize, ToSchema)]
pub struct SweepList {
    pub sweeps: Vec<wire::Sweep>,
    /// The `before` of the next page; null on the last.
    pub next: Option<i64>,
}

/// `GET /v1/sweeps?limit=N&before=K`: the sweeps with ids below `K`
/// (default: from the newest), at most `N` (default 100, at most 1000),
/// newest first. `next` is the `before` of the following page, null on the last.
#[utoipa::path(get, path = "/v1/sweeps", tag = "sweeps",
    params(
        ("limit" = Option<i64>, Query, description = "Sweeps per page, 1 to 1000 (default 100)."),
        ("before" = Option<i64>, Query, description = "Only sweeps with ids below this (a page's `next`)."),
    ),
    responses(
        (status = 200, description = "A page of the sweeps, newest first.", body = SweepList),
        (status = 400, description = "A bad `limit` or `before`.", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<SweepList>, ApiError> {
    let page = page::parse(query.as_deref().unwrap_or(""), "before", 1)?;
    // One more than asked tells whether a next page exists.
    let mut sweeps = state.store.sweeps_page(page.cursor, page.limit + 1).await?;
    let next = if sweeps.len() as i64 > page.limit {
        sweeps.truncate(page.limit as usize);
        sweeps.last().map(|s| s.id)
    } else {
        None
    };
    let sweeps = sweeps.into_iter().map(wire::Sweep::from).collect();
    Ok(Json(SweepList { sweeps, next }))
}

/// `GET /v1/sweeps/{id}`: state, trial counts, and the best trial so far.
#[utoipa::path(get, path = "/v1/sweeps/{id}", tag = "sweeps",
    params(("id" = i64, Path, description = "The sweep's id.")),
    responses(
        (status = 200, description = "The sweep.", body = SweepStatus),
        (status = 404, description = "No such sweep.", body = ErrorBody),
    ))]
pub async fn show(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<SweepStatus>, ApiError> {
    let sweep = sweep(&state, parse_id(&id, "sweep")?).await?;
    Ok(Json(status(&state, sweep).await?))
}

/// `POST /v1/sweeps/{id}/cancel`: stops queued and running trials; the sweep ends `cancelled`.
#[utoipa::path(post, path = "/v1/sweeps/{id}/cancel", tag = "sweeps",
    params(("id" = i64, Path, description = "The sweep's id.")),
    responses(
        (status = 200, description = "The sweep, now cancelled.", body = SweepStatus),
        (status = 404, description = "No such sweep.", body = ErrorBody),
        (status = 409, description = "The sweep has already ended.", body = ErrorBody),
    ))]
pub async fn cancel(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<SweepStatus>, ApiError> {
    let id = parse_id(&id, "sweep")?;
    match state.store.cancel_sweep(id).await? {
        Cancel::NotFound => Err(ApiError::NotFound(format!("no sweep `{id}`"))),
        Cancel::AlreadyEnded => {
            let sweep = sweep(&state, id).await?;
            Err(ApiError::Conflict(format!(
                "sweep {id} has already ended: {}",
                sweep.state
            )))
        }
        Cancel::Cancelled => {
            let sweep = sweep(&state, id).await?;
            Ok(Json(status(&state, sweep).await?))
        }
    }
}

pub(super) async fn sweep(state: &AppState, id: i64) -> Result<Sweep, ApiError> {
    state
        .store
        .sweep(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no sweep `{id}`")))
}

/// A sweep with a summary of its best trial so far.
#[derive(Serialize, ToSchema)]
pub struct SweepStatus {
    #[serde(flatten)]
    pub sweep: wire::Sweep,
    /// The best finished trial so far, if any.
    pub best: Option<BestSoFar>,
    /// For hyperband: per rung, how many trials reached it and were promoted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rungs: Option<Vec<RungStats>>,
}

/// The best finished trial so far, in short.
#[derive(Serialize, ToSchema)]
pub struct BestSoFar {
    pub trial_id: i64,
    pub number: i64,
    pub value: Option<f64>,
}

/// The sweep with a summary of its best trial so far.
pub(super) async fn status(state: &AppState, sweep: Sweep) -> Result<SweepStatus, ApiError> {
    let best = state.store.best_trial(&sweep).await?.map(|t| BestSoFar {
        trial_id: t.id,
        number: t.number,
        value: t.metric(sweep.metric.name),
    });
    let rungs = rungs(state, &sweep).await?;
    Ok(SweepStatus {
        sweep: sweep.into(),
        best,
        rungs,
    })
}

/// For hyperband: per rung, how many trials reached it and were promoted.
async fn rungs(state: &AppState, sweep: &Sweep) -> Result<Option<Vec<RungStats>>, ApiError> {
    let Some(rule) = sweep.early_terminate.clone() else {
        return Ok(None);
    };
    let Ok(rule) = serde_json::from_value::<EarlyTerminate>(rule) else {
        return Ok(None);
    };
    if !matches!(rule, EarlyTerminate::Hyperband { .. }) {
        return Ok(None);
    }
    let groups = state.store.progress_groups(sweep.id).await?;
    Ok(Some(rung_counts(&rule, &groups)))
}
