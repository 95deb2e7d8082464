//! Trial routes: a sweep's trials, and one trial with its reports.
use super::{parse_id, ApiError, AppState};
use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};

/// `GET /v1/sweeps/{id}/trials`: every trial with params, state and latest metrics.
pub async fn list(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "sweep")?;
    if state.store.sweep(id).await?.is_none() {
        return Err(ApiError::NotFound(format!("no sweep `{id}`")));
    }
    let trials = state.store.trials(id).await?;
    Ok(Json(json!({ "sweep_id": id, "trials": trials })))
}

/// `GET /v1/trials/{id}`: one trial with its epoch reports and training-loss samples.
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "trial")?;
    let trial = state
        .store
        .trial_detail(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no trial `{id}`")))?;
    Ok(Json(json!(trial)))
}
