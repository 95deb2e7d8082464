//! `GET /v1/sweeps/{id}/best`: the best trial so far, its configuration,
//! metric and test scores.
use super::error::ErrorBody;
use super::sweeps::sweep;
use super::wire;
use super::{parse_id, ApiError, ApiPath, AppState};
use crate::spec::{Goal, SweepSpec};
use crate::store::Sweeps as _;
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// The best finished trial of a sweep.
#[derive(Serialize, ToSchema)]
pub struct BestTrial {
    pub sweep_id: i64,
    pub metric: BestMetric,
    /// The trial's configuration.
    pub params: Value,
    /// Loss and accuracy on the dataset's test split.
    pub test: TestMetrics,
    pub trial: wire::Trial,
}

/// The sweep's metric and the best trial's value of it.
#[derive(Serialize, ToSchema)]
pub struct BestMetric {
    pub name: String,
    pub goal: Goal,
    pub value: Option<f64>,
}

/// Metrics on the test split, measured when the trial completed.
#[derive(Serialize, ToSchema)]
pub struct TestMetrics {
    pub loss: Option<f64>,
    pub accuracy: Option<f64>,
}

/// `GET /v1/sweeps/{id}/best`: the best finished trial and its test metrics.
#[utoipa::path(get, path = "/v1/sweeps/{id}/best", tag = "sweeps",
    params(("id" = i64, Path, description = "The sweep's id.")),
    responses(
        (status = 200, description = "The best finished trial.", body = BestTrial),
        (status = 404, description = "No such sweep, or no trial has finished yet.", body = ErrorBody),
    ))]
pub async fn best(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<BestTrial>, ApiError> {
    let sweep = sweep(&state, parse_id(&id, "sweep")?).await?;
    let trial = state.store.best_trial(&sweep).await?.ok_or_else(|| {
        ApiError::NotFound(format!(
            "no trial of sweep {} has finished yet ({} queued, {} running)",
            sweep.id, sweep.trials.queued, sweep.trials.running
        ))
    })?;
    // Parameters that did not apply to the trial show as null.
    let spec = SweepSpec::from_stored(&sweep.spec).ok();
    Ok(Json(BestTrial {
        sweep_id: sweep.id,
        metric: BestMetric {
            value: trial.metric(sweep.metric.name),
            name: sweep.metric.name.to_string(),
            goal: sweep.metric.goal,
        },
        params: match &spec {
            Some(spec) => spec.shown(trial.params.clone()),
            None => trial.params.clone(),
        },
        test: TestMetrics {
            loss: trial.test_loss,
            accuracy: trial.test_accuracy,
        },
        trial: super::trials::shown(spec.as_ref(), trial.into()),
    }))
}
