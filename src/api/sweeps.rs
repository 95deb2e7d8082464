//! Sweep routes: submit a spec, read a sweep's status, and its best trial.
use super::{parse_id, ApiError, AppState};
use crate::data::DataError;
use crate::schedule::{rung_stats, Curve, EarlyTerminate, RungStats, TrialProgress};
use crate::search;
use crate::spec::{AtDeadline, DatasetShape, Format, Method, SweepSpec};
use crate::store::{Cancel, NewSweep, Sweep};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};
use std::collections::HashMap;

/// `POST /v1/sweeps`: validates the spec (JSON or YAML), queues its trials.
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body = body.map_err(|r| match r.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge(state.max_body_bytes),
        _ => ApiError::BadRequest(r.body_text()),
    })?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::BadRequest("the body is not UTF-8 text".into()))?;
    let format = format_of(&headers, text)?;
    let (catalog, limits) = (state.catalog.clone(), state.limits);
    let text = text.to_string();
    // Looking datasets up reads file headers: off the async threads.
    let spec = tokio::task::spawn_blocking(move || {
        let shape = |name: &str| match catalog.info(name) {
            Ok(info) => Ok(DatasetShape {
                features: info.features(),
                classes: info.classes,
            }),
            Err(DataError::Unknown(_)) => Err(format!(
                "unknown dataset `{name}`; GET /v1/datasets lists them"
            )),
            Err(e) => Err(format!("dataset `{name}` cannot be read: {e}")),
        };
        SweepSpec::parse(&text, format, &limits, &shape, rand::random())
    })
    .await
    .map_err(|e| ApiError::Internal(format!("parsing a spec: {e}")))??;

    let trials = search::configurations(&spec)
        .into_iter()
        .enumerate()
        .map(|(number, params)| {
            let params = params.map(|p| serde_json::to_value(p).expect("params serialize"));
            (params, search::trial_seed(spec.seed, number as u32))
        })
        .collect();
    let id = state
        .store
        .create_sweep(NewSweep {
            name: &spec.name,
            dataset: &spec.dataset,
            method: match spec.method {
                Method::Grid => "grid",
                Method::Random => "random",
                Method::Bayes => "bayes",
            },
            metric: &spec.metric,
            max_parallel: spec.max_parallel,
            seed: spec.seed,
            spec: &spec.document,
            early_terminate: spec.early_terminate.as_ref().map(|r| json!(r)),
            max_minutes: spec.max_minutes,
            stop_at_deadline: spec.at_max_minutes == AtDeadline::Stop,
            target: spec.target.as_ref().map(|t| json!(t)),
            trials,
        })
        .await?;
    let sweep = sweep(&state, id).await?;
    Ok((StatusCode::CREATED, Json(status(&state, sweep).await?)))
}

/// `GET /v1/sweeps`: every sweep, newest first.
pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "sweeps": state.store.sweeps().await? })))
}

/// `GET /v1/sweeps/{id}`: state, trial counts, and the best trial so far.
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let sweep = sweep(&state, parse_id(&id, "sweep")?).await?;
    Ok(Json(status(&state, sweep).await?))
}

/// `GET /v1/sweeps/{id}/best`: the best finished trial and its test metrics.
pub async fn best(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let sweep = sweep(&state, parse_id(&id, "sweep")?).await?;
    let trial = state.store.best_trial(&sweep).await?.ok_or_else(|| {
        ApiError::NotFound(format!(
            "no trial of sweep {} has finished yet ({} queued, {} running)",
            sweep.id, sweep.trials.queued, sweep.trials.running
        ))
    })?;
    Ok(Json(json!({
        "sweep_id": sweep.id,
        "metric": {"name": sweep.metric.name, "goal": sweep.metric.goal, "value": trial.metric(&sweep.metric.name)},
        "params": trial.params,
        "test": {"loss": trial.test_loss, "accuracy": trial.test_accuracy},
        "trial": trial,
    })))
}

/// `POST /v1/sweeps/{id}/cancel`: stops queued and running trials; the sweep ends `cancelled`.
pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
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

async fn sweep(state: &AppState, id: i64) -> Result<Sweep, ApiError> {
    state
        .store
        .sweep(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no sweep `{id}`")))
}

/// The sweep as JSON with a summary of its best trial so far.
async fn status(state: &AppState, sweep: Sweep) -> Result<Value, ApiError> {
    let best = state.store.best_trial(&sweep).await?.map(
        |t| json!({"trial_id": t.id, "number": t.number, "value": t.metric(&sweep.metric.name)}),
    );
    let rungs = rungs(state, &sweep).await?;
    let mut value = json!(sweep);
    value["best"] = best.unwrap_or(Value::Null);
    if let Some(rungs) = rungs {
        value["rungs"] = json!(rungs);
    }
    Ok(value)
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
    let trials = state.store.trials(sweep.id).await?;
    let curves: HashMap<i64, Vec<f64>> = state
        .store
        .curves(sweep.id, &sweep.metric.name, i64::MAX)
        .await?
        .into_iter()
        .collect();
    let progress: Vec<TrialProgress> = trials
        .iter()
        .filter_map(|t| {
            let epochs = t.params.get("epochs")?.as_u64()? as u32;
            Some(TrialProgress {
                curve: Curve {
                    trial: t.id,
                    values: curves.get(&t.id).map(Vec::as_slice).unwrap_or(&[]),
                },
                max_epochs: epochs,
                pruned: t.state == "pruned",
            })
        })
        .collect();
    Ok(Some(rung_stats(&rule, &progress)))
}

/// JSON or YAML from the content type; without one, JSON if it looks like JSON.
fn format_of(headers: &HeaderMap, body: &str) -> Result<Format, ApiError> {
    let Some(content_type) = headers.get(header::CONTENT_TYPE) else {
        return Ok(if body.trim_start().starts_with('{') {
            Format::Json
        } else {
            Format::Yaml
        });
    };
    let content_type = content_type.to_str().unwrap_or("").to_ascii_lowercase();
    let essence = content_type.split(';').next().unwrap_or("").trim();
    match essence {
        "application/json" => Ok(Format::Json),
        "application/yaml" | "application/x-yaml" | "text/yaml" | "text/x-yaml" | "text/plain" => {
            Ok(Format::Yaml)
        }
        // curl --data-binary sends this unless told otherwise.
        "application/x-www-form-urlencoded" => Ok(if body.trim_start().starts_with('{') {
            Format::Json
        } else {
            Format::Yaml
        }),
        other => Err(ApiError::UnsupportedMediaType(format!(
            "content-type `{other}` is not supported: send application/json or application/yaml"
        ))),
    }
}
