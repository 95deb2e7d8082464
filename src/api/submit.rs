//! Taking a new sweep (`POST /v1/sweeps`), and what a fork shares with it:
//! reading a spec body, checking a warm start against the stored sweeps,
//! and storing the sweep with its planned trials.
use super::error::ErrorBody;
use super::openapi::SpecDocument;
use super::sweeps::{self, SweepStatus};
use super::{ApiError, AppState};
use crate::data::catalog::Catalog;
use crate::data::DataError;
use crate::search::{self, PlannedTrial};
use crate::spec::{AtDeadline, DatasetShape, Format, SpecError, SweepSpec};
use crate::store::{NewSweep, NewTrial, Queue as _, Sweeps as _};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use serde::Serialize;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use utoipa::ToSchema;

/// A new sweep as stored, with what its spec was accepted with.
#[derive(Serialize, ToSchema)]
pub struct CreatedSweep {
    #[serde(flatten)]
    pub status: SweepStatus,
    /// What the spec was accepted with but probably does not mean, e.g. a
    /// loss with goal maximize ("best" is then the worst loss); empty when nothing.
    pub warnings: Vec<String>,
}

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
        (status = 201, description = "The sweep, its trials queued.", body = CreatedSweep),
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
) -> Result<(StatusCode, Json<CreatedSweep>), ApiError> {
    let (text, format) = read_body(&state, &headers, body)?;
    let (spec, trials) = plan_off_thread(&state, move |shape, limits| {
        SweepSpec::parse(&text, format, limits, shape, rand::random())
    })
    .await?;
    submit(&state, spec, trials, None).await
}

/// A spec body as text, and its format.
pub(super) fn read_body(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(String, Format), ApiError> {
    let body = body.map_err(|r| match r.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge(state.max_body_bytes),
        _ => ApiError::BadRequest(r.body_text()),
    })?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::BadRequest("the body is not UTF-8 text".into()))?;
    let content_type = headers.get(header::CONTENT_TYPE).map(|v| v.as_bytes());
    let format = Format::of(content_type, text)
        .map_err(|e| ApiError::UnsupportedMediaType(e.to_string()))?;
    Ok((text.to_string(), format))
}

/// Builds a spec with `build` and plans its trials, off the async threads:
/// parsing, validation and a grid's expansion are CPU work (and dataset
/// lookups read file headers), abandoned between steps once the client
/// has gone (the handler is dropped).
pub(super) async fn plan_off_thread<F>(
    state: &AppState,
    build: F,
) -> Result<(SweepSpec, Vec<PlannedTrial>), ApiError>
where
    F: FnOnce(
            &dyn Fn(&str) -> Result<DatasetShape, String>,
            &crate::spec::Limits,
        ) -> Result<SweepSpec, SpecError>
        + Send
        + 'static,
{
    let (catalog, limits) = (state.catalog.clone(), state.limits);
    let gone = Abandoned::default();
    let client_gone = gone.flag();
    tokio::task::spawn_blocking(move || {
        let shape = |name: &str| dataset_shape(&catalog, name);
        let spec = build(&shape, &limits)?;
        if client_gone.load(Ordering::Relaxed) {
            return Err(ApiError::BadRequest("the client has gone".into()));
        }
        let trials = search::plan(&spec);
        Ok::<_, ApiError>((spec, trials))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("parsing a spec: {e}")))?
}

/// Stores a validated sweep with its planned trials: the 201 answer.
pub(super) async fn submit(
    state: &AppState,
    spec: SweepSpec,
    trials: Vec<PlannedTrial>,
    parent_id: Option<i64>,
) -> Result<(StatusCode, Json<CreatedSweep>), ApiError> {
    check_warm_sweeps(state, &spec).await?;
    let exhausted = trials.len() < spec.max_trials() as usize;
    let trials = trials.into_iter().map(new_trial).collect();
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
            max_trials: i64::from(spec.max_trials()),
            parent_id,
            exhausted,
            trials,
        })
        .await?;
    // Waiting claims take its trials at once.
    state.hub.wake();
    let sweep = sweeps::sweep(state, id).await?;
    let status = sweeps::status(state, sweep).await?;
    let warnings = spec.warnings().to_vec();
    Ok((StatusCode::CREATED, Json(CreatedSweep { status, warnings })))
}

/// A planned trial as the store queues it.
pub(super) fn new_trial(t: PlannedTrial) -> NewTrial {
    NewTrial {
        params: t.params.map(|p| json!(p)),
        seed: t.seed,
        source: t.source.as_str(),
    }
}

/// `warm_start.sweeps` names sweeps that exist and train on this dataset.
async fn check_warm_sweeps(state: &AppState, spec: &SweepSpec) -> Result<(), ApiError> {
    for (i, &id) in spec.warm_start().sweeps.iter().enumerate() {
        let field = format!("warm_start.sweeps[{i}]");
        let why = match state.store.stored_spec(id).await? {
            None => format!("there is no sweep {id}"),
            Some((_, dataset)) if dataset != spec.dataset() => format!(
                "sweep {id} trains on {dataset}, this sweep on {}: a warm start needs the same dataset",
                spec.dataset()
            ),
            Some(_) => continue,
        };
        return Err(SpecError::new(field, why).into());
    }
    Ok(())
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

/// A JSON request body as a mapping, or a 422 naming `body`.
pub(super) fn json_object(
    state: &AppState,
    body: Result<Bytes, BytesRejection>,
) -> Result<serde_json::Map<String, Value>, ApiError> {
    let body = body.map_err(|r| match r.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge(state.max_body_bytes),
        _ => ApiError::BadRequest(r.body_text()),
    })?;
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(SpecError::new("body", "must be a JSON object").into()),
        Err(e) => Err(SpecError::new("body", format!("is not JSON: {e}")).into()),
    }
}
