//! Trial routes: a sweep's trials, and one trial with its reports.
use super::error::ErrorBody;
use super::{parse_id, ApiError, ApiPath, AppState};
use crate::store::{Trial, TrialDetail};
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// A sweep's trials.
#[derive(Serialize, ToSchema)]
pub struct TrialList {
    pub sweep_id: i64,
    pub trials: Vec<Trial>,
}

/// `GET /v1/sweeps/{id}/trials`: every trial with params, state and latest metrics.
#[utoipa::path(get, path = "/v1/sweeps/{id}/trials", tag = "trials",
    params(("id" = i64, Path, description = "The sweep's id.")),
    responses(
        (status = 200, description = "Every trial of the sweep.", body = TrialList),
        (status = 404, description = "No such sweep.", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<TrialList>, ApiError> {
    let id = parse_id(&id, "sweep")?;
    if state.store.sweep(id).await?.is_none() {
        return Err(ApiError::NotFound(format!("no sweep `{id}`")));
    }
    let trials = state.store.trials(id).await?;
    Ok(Json(TrialList {
        sweep_id: id,
        trials,
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
    Ok(Json(trial))
}
