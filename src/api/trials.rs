//! Trial routes: a sweep's trials, page by page, and one trial with its reports.
use super::error::ErrorBody;
use super::wire::{Trial, TrialDetail};
use super::{page, parse_id, ApiError, ApiPath, AppState};
use crate::store::Sweeps as _;
use axum::extract::{RawQuery, State};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// A page of a sweep's trials.
#[derive(Serialize, ToSchema)]
pub struct TrialList {
    pub sweep_id: i64,
    pub trials: Vec<Trial>,
    /// The `after` of the next page; null on the last.
    pub next: Option<i64>,
}

/// `GET /v1/sweeps/{id}/trials?limit=N&after=K`: the sweep's trials with
/// numbers above `K` (default: from the first), at most `N` (default 100, at
/// most 1000), in number order, with params, state and latest metrics.
/// `next` is the `after` of the following page, null on the last.
#[utoipa::path(get, path = "/v1/sweeps/{id}/trials", tag = "trials",
    params(
        ("id" = i64, Path, description = "The sweep's id."),
        ("limit" = Option<i64>, Query, description = "Trials per page, 1 to 1000 (default 100)."),
        ("after" = Option<i64>, Query, description = "Only trials numbered above this (a page's `next`)."),
    ),
    responses(
        (status = 200, description = "A page of the sweep's trials.", body = TrialList),
        (status = 400, description = "A bad `limit` or `after`.", body = ErrorBody),
        (status = 404, description = "No such sweep.", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<TrialList>, ApiError> {
    let id = parse_id(&id, "sweep")?;
    let page = page::parse(query.as_deref().unwrap_or(""), "after", -1)?;
    let (limit, after) = (page.limit, page.cursor.unwrap_or(-1));
    // Only the state: a sweep whose spec cannot be read still lists its trials.
    if state.store.sweep_state(id).await?.is_none() {
        return Err(ApiError::NotFound(format!("no sweep `{id}`")));
    }
    // One more than asked tells whether a next page exists.
    let mut trials: Vec<Trial> = (state.store.trials_page(id, after, limit + 1).await?)
        .into_iter()
        .map(Trial::from)
        .collect();
    let next = if trials.len() as i64 > limit {
        trials.truncate(limit as usize);
        trials.last().map(|t| t.number)
    } else {
        None
    };
    Ok(Json(TrialList {
        sweep_id: id,
        trials,
        next,
    }))
}

/// `GET /v1/trials/{id}`: one trial with its epoch reports and training-loss samples.
#[utoipa::path(get, path = "/v1/trials/{id}", tag = "trials",
    params(("id" = i64, Path, description = "The trial's id.")),
    responses(
        (status = 200, description = "The trial with its reports.", body = TrialDetail),
        (status = 404, description = "No such trial.", body = ErrorBody),
    ))]
pub async fn show(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<TrialDetail>, ApiError> {
    let id = parse_id(&id, "trial")?;
    let trial = state
        .store
        .trial_detail(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no trial `{id}`")))?;
    Ok(Json(trial.into()))
}
