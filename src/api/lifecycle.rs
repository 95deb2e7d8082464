//! A sweep's life after submission: a chosen configuration enqueued, the
//! sweep deleted (`extend` changes its budgets, `fork` starts another).
use super::error::ErrorBody;
use super::submit::json_object;
use super::sweeps;
use super::wire;
use super::{parse_id, ApiError, ApiPath, AppState};
use crate::search;
use crate::spec::{SpecError, SweepSpec};
use crate::store::{Deleted, Enqueued, Lifecycle as _};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use rand::SeedableRng;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// A configuration to train next.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct EnqueueRequest {
    /// Values of the sweep's parameters; those left out are drawn from their space.
    params: BTreeMap<String, Value>,
}

/// `POST /v1/sweeps/{id}/trials`: queues a configuration you choose, to
/// train next (before the sweep's other queued trials). It counts toward
/// `max_trials`: it takes the place of the last queued search trial, and
/// when none is queued it is refused (raise `max_trials` with PATCH first).
#[utoipa::path(post, path = "/v1/sweeps/{id}/trials", tag = "trials",
    params(("id" = i64, Path, description = "The sweep's id.")),
    request_body(content = EnqueueRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The queued trial.", body = wire::Trial),
        (status = 404, description = "No such sweep.", body = ErrorBody),
        (status = 409, description = "No queued trial is left to take the place of: raise max_trials first.", body = ErrorBody),
        (status = 422, description = "A parameter unknown, outside the space or not applicable; `field` is `params.<name>`.", body = ErrorBody),
    ))]
pub async fn enqueue(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<wire::Trial>), ApiError> {
    let id = parse_id(&id, "sweep")?;
    let body = json_object(&state, body)?;
    if let Some(key) = body.keys().find(|k| *k != "params") {
        return Err(SpecError::new(key.as_str(), "unknown key; expected params").into());
    }
    let Some(given) = body.get("params") else {
        return Err(SpecError::new("params", "is required: the values to train with").into());
    };
    let sweep = sweeps::sweep(&state, id).await?;
    let spec = SweepSpec::from_stored(&sweep.spec)
        .map_err(|e| ApiError::Internal(format!("sweep {id}'s stored spec: {e}")))?;
    let given = spec.check_given(given, "params")?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(rand::random());
    let params = search::complete(&spec, &given, &mut rng);
    let enqueued = state.store.enqueue_trial(id, &json!(params)).await?;
    state.hub.wake();
    match enqueued {
        Enqueued::NotFound => Err(ApiError::NotFound(format!("no sweep `{id}`"))),
        Enqueued::NoQueued => Err(ApiError::Conflict(format!(
            "sweep {id} has no queued trial left for this one to take the place of: all {} of its max_trials have started. Raise max_trials first: PATCH /v1/sweeps/{id} with {{\"max_trials\": {}}}",
            sweep.max_trials,
            sweep.max_trials + 1
        ))),
        Enqueued::Done(trial) => Ok((StatusCode::CREATED, Json(wire::Trial::from(*trial)))),
    }
}

/// `DELETE /v1/sweeps/{id}`: deletes an ended sweep with its trials,
/// reports, training-loss samples, events and checkpoint files.
#[utoipa::path(delete, path = "/v1/sweeps/{id}", tag = "sweeps",
    params(("id" = i64, Path, description = "The sweep's id.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "No such sweep.", body = ErrorBody),
        (status = 409, description = "The sweep is running: cancel it first.", body = ErrorBody),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id, "sweep")?;
    match state.store.delete_sweep(id).await? {
        Deleted::NotFound => Err(ApiError::NotFound(format!("no sweep `{id}`"))),
        Deleted::Running => Err(ApiError::Conflict(format!(
            "sweep {id} is running; cancel it first (POST /v1/sweeps/{id}/cancel)"
        ))),
        Deleted::Deleted => {
            state.blobs.remove_sweep(id).await;
            Ok(StatusCode::NO_CONTENT)
        }
    }
}
