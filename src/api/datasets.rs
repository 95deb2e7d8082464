//! `GET /v1/datasets`: the datasets sweeps can train on.
use super::{ApiError, AppState};
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

/// Lists the built-in dataset and those found in `data_dir`.
pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let catalog = state.catalog.clone();
    let datasets = tokio::task::spawn_blocking(move || catalog.list())
        .await
        .map_err(|e| ApiError::Internal(format!("listing datasets: {e}")))?;
    Ok(Json(json!({ "datasets": datasets })))
}
