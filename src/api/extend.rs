//! `PATCH /v1/sweeps/{id}`: a sweep's budgets raised or lowered after
//! submission; an ended sweep runs again.
use super::error::ErrorBody;
use super::submit::{json_object, new_trial};
use super::sweeps::{self, SweepStatus};
use super::{parse_id, ApiError, ApiPath, AppState};
use crate::search::{self, Extension};
use crate::spec::{Method, SpecError, SweepSpec, TrialParams};
use crate::state::TrialState;
use crate::store::{self, Budget, Extended, Lifecycle as _, Sweep, Sweeps as _};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Map, Value};
use std::collections::HashSet;
use utoipa::ToSchema;

/// The budgets `PATCH /v1/sweeps/{id}` changes; each optional.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct BudgetChange {
    /// Trials the sweep trains in all: raising it queues more; not below
    /// the trials that have started. A grid's is at most its size.
    max_trials: Option<u32>,
    /// Minutes from the sweep's creation to its deadline; not below those passed.
    max_minutes: Option<f64>,
    /// A value of the sweep's metric that completes it; null clears it.
    target: Option<f64>,
}

/// A change read from the body.
struct Change {
    max_trials: Option<i64>,
    max_minutes: Option<f64>,
    /// Some(None) clears the target.
    target: Option<Option<f64>>,
}

/// `PATCH /v1/sweeps/{id}`: raises (or lowers) `max_trials`, moves the
/// deadline (`max_minutes`), sets or clears the `target`. More trials are
/// queued as the method plans them: a grid's next points, random's stream
/// continued (never a configuration again on a discrete space), bayes
/// trials sampled from the whole history when claimed. An ended sweep runs
/// again (`sweep_resumed`).
#[utoipa::path(patch, path = "/v1/sweeps/{id}", tag = "sweeps",
    params(("id" = i64, Path, description = "The sweep's id.")),
    request_body(content = BudgetChange, content_type = "application/json"),
    responses(
        (status = 200, description = "The sweep with its new budgets.", body = SweepStatus),
        (status = 404, description = "No such sweep.", body = ErrorBody),
        (status = 409, description = "The sweep's trials kept changing meanwhile; try again.", body = ErrorBody),
        (status = 422, description = "A budget below what has run, over a grid's size, or an unknown key; `field` names it.", body = ErrorBody),
    ))]
pub async fn extend(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<SweepStatus>, ApiError> {
    let id = parse_id(&id, "sweep")?;
    let change = read_change(&json_object(&state, body)?, state.limits.max_trials)?;
    // A trial queued or cancelled meanwhile changes the plan: planned again.
    for _ in 0..5 {
        let sweep = sweeps::sweep(&state, id).await?;
        let budget = state.store.budget(id).await?;
        let trials = state.store.trials(id).await?;
        let extension = plan(&sweep, &trials, budget, &change)?;
        match state.store.extend_sweep(&extension).await? {
            Extended::NotFound => return Err(ApiError::NotFound(format!("no sweep `{id}`"))),
            Extended::Stale => continue,
            Extended::BelowStarted(started) => {
                return Err(SpecError::new(
                    "max_trials",
                    format!("{started} trials have started; max_trials cannot be lower"),
                )
                .into())
            }
            Extended::BelowElapsed(minutes) => {
                return Err(SpecError::new(
                    "max_minutes",
                    format!("{minutes:.2} minutes have passed since the sweep was created; max_minutes cannot be lower"),
                )
                .into())
            }
            Extended::Done { .. } => {
                let sweep = sweeps::sweep(&state, id).await?;
                return Ok(Json(sweeps::status(&state, sweep).await?));
            }
        }
    }
    Err(ApiError::Conflict(format!(
        "sweep {id}'s trials kept changing while its budget was; try again"
    )))
}

/// The PATCH body: known keys, each of its type and in range.
fn read_change(body: &Map<String, Value>, cap: u32) -> Result<Change, ApiError> {
    const KEYS: [&str; 3] = ["max_trials", "max_minutes", "target"];
    if let Some(key) = body.keys().find(|k| !KEYS.contains(&k.as_str())) {
        let message = format!("unknown key; expected one of {}", KEYS.join(", "));
        return Err(SpecError::new(key.as_str(), message).into());
    }
    if body.is_empty() {
        let message = format!("names nothing to change; give one of {}", KEYS.join(", "));
        return Err(SpecError::new("body", message).into());
    }
    let max_trials = match body.get("max_trials") {
        None => None,
        Some(v) => match v.as_u64() {
            Some(n) if n >= 1 && n <= u64::from(cap) => Some(n as i64),
            _ => {
                let message =
                    format!("must be an integer from 1 to this server's cap of {cap}, got {v}");
                return Err(SpecError::new("max_trials", message).into());
            }
        },
    };
    let max_minutes = match body.get("max_minutes") {
        None => None,
        Some(v) => match v.as_f64() {
            Some(m) if m > 0.0 && m <= 525_600.0 => Some(m),
            _ => {
                let message =
                    format!("must be a number of minutes above 0 (at most a year), got {v}");
                return Err(SpecError::new("max_minutes", message).into());
            }
        },
    };
    let target = match body.get("target") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(v) => match v.as_f64().filter(|x| x.is_finite()) {
            Some(x) => Some(Some(x)),
            None => {
                let message = format!("must be a number of the sweep's metric, or null, got {v}");
                return Err(SpecError::new("target", message).into());
            }
        },
    };
    Ok(Change {
        max_trials,
        max_minutes,
        target,
    })
}

/// The extension a change makes of a sweep as it stands.
fn plan(
    sweep: &Sweep,
    trials: &[store::Trial],
    budget: Budget,
    change: &Change,
) -> Result<store::Extension, ApiError> {
    let mut document = sweep.spec.clone();
    let Some(map) = document.as_object_mut() else {
        return Err(ApiError::Internal(format!(
            "sweep {}'s spec is not a mapping",
            sweep.id
        )));
    };
    if let Some(n) = change.max_trials {
        map.insert("max_trials".into(), n.into());
    }
    if let Some(m) = change.max_minutes {
        map.insert("max_minutes".into(), m.into());
    }
    match change.target {
        Some(Some(value)) => {
            map.insert(
                "target".into(),
                json!({ sweep.metric.name.as_str(): value }),
            );
        }
        Some(None) => {
            map.remove("target");
        }
        None => {}
    }
    let spec = SweepSpec::from_stored(&document).map_err(|e| {
        // The stored spec was valid: what fails is a change, named by its key.
        let key = ["target", "max_minutes", "max_trials"]
            .into_iter()
            .find(|k| e.field.starts_with(k))
            .unwrap_or("body");
        SpecError::new(key, e.message)
    })?;
    let max_trials = change.max_trials.unwrap_or(sweep.max_trials);
    if spec.method() == Method::Grid {
        let size = spec.space_size().unwrap_or(u64::MAX);
        if max_trials as u64 > size {
            let message = format!("the grid has {size} configurations; max_trials cannot be more");
            return Err(SpecError::new("max_trials", message).into());
        }
    }
    let taken: HashSet<String> = trials
        .iter()
        .filter(|t| t.started_at.is_some() || t.state == TrialState::Queued)
        .filter_map(|t| serde_json::from_value::<TrialParams>(t.params.clone()).ok())
        .map(|p| spec.config_key(&p))
        .collect();
    let needed = (max_trials - budget.used).max(0) as usize;
    let new = search::extend(
        &spec,
        &Extension {
            taken: &taken,
            position: trials.iter().filter(|t| t.source != "warm_start").count(),
            first_number: (budget.last_number + 1) as u32,
            count: needed,
        },
    );
    Ok(store::Extension {
        sweep_id: sweep.id,
        max_trials,
        max_minutes: change.max_minutes,
        target: change.target.map(|_| spec.target().map(|t| json!(t))),
        spec: spec.document().clone(),
        exhausted: new.len() < needed,
        trials: new.into_iter().map(new_trial).collect(),
        planned_from: budget,
    })
}
