//! `GET /v1/datasets`: the datasets sweeps can train on.
use super::{ApiError, AppState};
use crate::data::catalog::DatasetInfo;
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// The datasets sweeps can train on.
#[derive(Serialize, ToSchema)]
pub struct DatasetList {
    pub datasets: Vec<DatasetInfo>,
}

/// Lists the built-in dataset and those found in `data_dir`.
#[utoipa::path(get, path = "/v1/datasets", tag = "datasets",
    responses((status = 200, description = "The datasets.", body = DatasetList)))]
pub async fn list(State(state): State<AppState>) -> Result<Json<DatasetList>, ApiError> {
    let catalog = state.catalog.clone();
    let datasets = tokio::task::spawn_blocking(move || catalog.list())
        .await
        .map_err(|e| ApiError::Internal(format!("listing datasets: {e}")))?;
    Ok(Json(DatasetList { datasets }))
}
