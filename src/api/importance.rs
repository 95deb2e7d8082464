//! `GET /v1/sweeps/{id}/importance`: how much of the metric's variation
//! each swept parameter explains (fANOVA, see `analysis::importance`).
use super::error::ErrorBody;
use super::plot::query::Query;
use super::sweeps::sweep;
use super::{parse_id, ApiError, ApiPath, AppState};
use crate::analysis::{self, Axis, Observation};
use crate::spec::{Metric, SweepSpec};
use crate::state::TrialState;
use crate::store::{self, Sweeps as _};
use axum::extract::{RawQuery, State};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// Trials read per query while collecting a sweep's trials.
pub(super) const PAGE: i64 = 1000;

/// Each swept parameter's share of the metric's variance.
#[derive(Debug, Serialize, ToSchema)]
pub struct Importance {
    /// Always `fanova`.
    pub method: String,
    pub metric: Metric,
    /// Trials the forest was fitted on.
    pub trials_used: usize,
    /// Highest first, summing to 1 (all 0 when the metric never varied);
    /// empty with fewer than 2 usable trials.
    pub importance: Vec<ParamImportance>,
}

/// One parameter's importance.
#[derive(Debug, Serialize, ToSchema)]
pub struct ParamImportance {
    pub param: String,
    pub importance: f64,
}

/// `GET /v1/sweeps/{id}/importance?include_pruned=false`.
#[utoipa::path(get, path = "/v1/sweeps/{id}/importance", tag = "sweeps",
    params(
        ("id" = i64, Path, description = "The sweep's id."),
        ("include_pruned" = Option<bool>, Query,
            description = "Also fit on pruned trials, with their last value (default false)."),
    ),
    responses(
        (status = 200, description = "Each swept parameter's importance.", body = Importance),
        (status = 400, description = "A bad or unknown query parameter.", body = ErrorBody),
        (status = 404, description = "No such sweep.", body = ErrorBody),
    ))]
pub async fn importance(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Importance>, ApiError> {
    let query = Query::parse(raw.as_deref(), &["include_pruned"])?;
    let include_pruned = query.bool("include_pruned", false)?;
    let id = parse_id(&id, "sweep")?;
    Ok(Json(compute(&state, id, include_pruned).await?))
}

/// The importance answer of sweep `id`, also drawn by `plot.svg?kind=importance`.
pub(super) async fn compute(
    state: &AppState,
    id: i64,
    include_pruned: bool,
) -> Result<Importance, ApiError> {
    let sweep = sweep(state, id).await?;
    let spec = stored_spec(&sweep)?;
    let axes = analysis::axes(&spec);
    let mut observations = Vec::new();
    for_each_trial(state, id, |t| {
        if let Some(value) = scored_value(&sweep, t, include_pruned) {
            observations.push(Observation {
                position: analysis::positions(&spec, &axes, &t.params),
                value,
            });
        }
    })
    .await?;
    let metric = sweep.metric.clone();
    let seed = spec.seed();
    let trials_used = observations.len();
    // The forest is CPU work: off the async threads.
    let shares = tokio::task::spawn_blocking(move || {
        analysis::importance(&axes, &observations, metric.goal, seed)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("computing importance: {e}")))?;
    Ok(Importance {
        method: analysis::METHOD.into(),
        metric: sweep.metric,
        trials_used,
        importance: shares
            .into_iter()
            .map(|(name, importance)| ParamImportance {
                param: name.as_str().into(),
                importance,
            })
            .collect(),
    })
}

/// The validated spec of a stored sweep.
pub(super) fn stored_spec(sweep: &store::Sweep) -> Result<SweepSpec, ApiError> {
    SweepSpec::from_stored(&sweep.spec)
        .map_err(|e| ApiError::Internal(format!("sweep {}'s stored spec: {e}", sweep.id)))
}

/// The value of the sweep's metric a trial is judged by: its last reported,
/// for a completed trial (and a pruned one when `include_pruned`); finite only.
pub(super) fn scored_value(
    sweep: &store::Sweep,
    trial: &store::Trial,
    include_pruned: bool,
) -> Option<f64> {
    let counts = match trial.state {
        TrialState::Completed => true,
        TrialState::Pruned => include_pruned,
        _ => false,
    };
    trial
        .metric(sweep.metric.name)
        .filter(|v| counts && v.is_finite())
}

/// Calls `f` on each of the sweep's trials in number order, reading them a
/// page at a time: a sweep of 100k trials is never one query.
pub(super) async fn for_each_trial(
    state: &AppState,
    id: i64,
    mut f: impl FnMut(&store::Trial),
) -> Result<(), ApiError> {
    let mut after = -1;
    loop {
        let page = state.store.trials_page(id, after, PAGE).await?;
        page.iter().for_each(&mut f);
        match page.last() {
            Some(last) if page.len() as i64 == PAGE => after = last.number,
            _ => return Ok(()),
        }
    }
}

/// The axes of a sweep, for callers that lay its trials out.
pub(super) fn axes_of(sweep: &store::Sweep) -> Result<(SweepSpec, Vec<Axis>), ApiError> {
    let spec = stored_spec(sweep)?;
    let axes = analysis::axes(&spec);
    Ok((spec, axes))
}
