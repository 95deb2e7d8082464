//! Sweep routes: submit a spec, read a sweep's status, and its best trial.
use super::error::ErrorBody;
use super::openapi::SpecDocument;
use super::wire;
use super::{page, parse_id, ApiError, ApiPath, AppState};
use crate::data::catalog::Catalog;
use crate::data::DataError;
use crate::schedule::{rung_counts, EarlyTerminate, RungStats};
use crate::search;
use crate::spec::{AtDeadline, DatasetShape, Format, SweepSpec};
use crate::store::{Cancel, NewSweep, Sweep, Sweeps as _};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use serde::Serialize;
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use utoipa::ToSchema;

/// `POST /v1/sweeps`: validates the spec (JSON or YAML), queues its trials.
#[utoipa::path(
    post,
    path = "/v1/sweeps",
    tag = "sweeps",
    request_body(
        description = "A sweep spec (the keys of a W&B sweep config), as JSON or YAML.",
        content(
            (SpecDocument = "application/json"),
            (String = "application/yaml"),
        ),
    ),
    responses(
        (status = 201, description = "The sweep, its trials queued.", body = SweepStatus),
        (status = 400, description = "The body is not UTF-8 text.", body = ErrorBody),
        (status = 413, description = "The body is over `max_body_bytes`.", body = ErrorBody),
        (status = 415, description = "Neither JSON nor YAML.", body = ErrorBody),
        (status = 422, description = "The spec is invalid; `field` names the culprit.", body = ErrorBody),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<SweepStatus>), ApiError> {
    let body = body.map_err(|r| match r.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge(state.max_body_bytes),
        _ => ApiError::BadRequest(r.body_text()),
    })?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::BadRequest("the body is not UTF-8 text".into()))?;
    let content_type = headers.get(header::CONTENT_TYPE).map(|v| v.as_bytes());
    let format = Format::of(content_type, text)
        .map_err(|e| ApiError::UnsupportedMediaType(e.to_string()))?;
    let (catalog, limits) = (state.catalog.clone(), state.limits);
    let text = text.to_string();
    // Parsing, validation and the grid's expansion are CPU work (and dataset
    // lookups read file headers): off the async threads, and abandoned
    // between steps once the client has gone (the handler is dropped).
    let gone = Abandoned::default();
    let client_gone = gone.flag();
    let (spec, trials) = tokio::task::spawn_blocking(move || {
        let shape = |name: &str| dataset_shape(&catalog, name);
        let spec = SweepSpec::parse(&text, format, &limits, &shape, rand::random())?;
        if client_gone.load(Ordering::Relaxed) {
            return Err(ApiError::BadRequest("the client has gone".into()));
        }
        let trials = search::plan(&spec);
        Ok::<_, ApiError>((spec, trials))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("parsing a spec: {e}")))??;
    let trials = trials
        .into_iter()
        .map(|t| {
            let params = t.params.map(|p| json!(p));
            (params, t.seed)
        })
        .collect();
    let id = state
        .store
        .create_sweep(NewSweep {
            name: spec.name(),
            dataset: spec.dataset(),
            method: spec.method().as_str(),
            metric: spec.metric(),
            max_parallel: spec.max_parallel(),
            seed: spec.seed(),
            spec: spec.document(),
            early_terminate: spec.early_terminate().map(|r| json!(r)),
            max_minutes: spec.max_minutes(),
            stop_at_deadline: spec.at_max_minutes() == AtDeadline::Stop,
            target: spec.target().map(|t| json!(t)),
            trials,
        })
        .await?;
    let sweep = sweep(&state, id).await?;
    Ok((StatusCode::CREATED, Json(status(&state, sweep).await?)))
}

/// A dataset's shape for the spec, or why a sweep cannot train on it, in
/// the words the spec's `dataset` error gives.
fn dataset_shape(catalog: &Catalog, name: &str) -> Result<DatasetShape, String> {
    match catalog.info(name) {
        Ok(info) => Ok(DatasetShape {
            features: info.features(),
            classes: info.classes,
        }),
        Err(DataError::Unknown(_)) => Err(format!(
            "unknown dataset `{name}`; GET /v1/datasets lists them"
        )),
        Err(e) => Err(format!("dataset `{name}` cannot be read: {e}")),
    }
}

/// Set when dropped: the handler was dropped because its client went away.
#[derive(Default)]
struct Abandoned(Arc<AtomicBool>);

impl Abandoned {
    fn flag(&self) -> Arc<AtomicBool> {
        self.0.clone()
    }
}

impl Drop for Abandoned {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

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
async fn status(state: &AppState, sweep: Sweep) -> Result<SweepStatus, ApiError> {
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
