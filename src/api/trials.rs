//! Trial routes: a sweep's trials, filtered, sorted and page by page; one
//! trial with its reports, by its id or by its number in the sweep.
use super::error::ErrorBody;
use super::wire::{Trial, TrialDetail};
use super::{page, parse_id, ApiError, ApiPath, AppState};
use crate::spec::SweepSpec;
use crate::state::TrialState;
use crate::store::{Listing as _, PageStart, StoreError, Sweeps as _, TrialListing, TrialSort};
use axum::extract::{RawQuery, State};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// A page of a sweep's trials.
#[derive(Serialize, ToSchema)]
pub struct TrialList {
    pub sweep_id: i64,
    pub trials: Vec<Trial>,
    /// The `after` of the next page (sorted by another column than
    /// `number`: its `offset`); null on the last.
    pub next: Option<i64>,
}

/// `GET /v1/sweeps/{id}/trials?state=S,...&sort=[-]KEY&limit=N&after=K`:
/// the sweep's trials in the given states (default all), sorted by KEY
/// (default `number`; `-` for descending, nulls last), at most `N` (default
/// 100, at most 1000). Sorted by number, pages start `after` a trial number;
/// by any other key, at an `offset`. `next` is that of the following page,
/// null on the last. A parameter that did not apply to a trial is null.
#[utoipa::path(get, path = "/v1/sweeps/{id}/trials", tag = "trials",
    params(
        ("id" = i64, Path, description = "The sweep's id."),
        ("state" = Option<String>, Query, description = "Only trials in these states, comma-separated: queued, running, completed, pruned, failed, cancelled."),
        ("sort" = Option<String>, Query, description = "number (default), val_accuracy, val_loss, train_loss, epochs_done, started_at or finished_at; `-` first for descending."),
        ("limit" = Option<i64>, Query, description = "Trials per page, 1 to 1000 (default 100)."),
        ("after" = Option<i64>, Query, description = "Sorted by number: only trials numbered past this (a page's `next`)."),
        ("offset" = Option<i64>, Query, description = "Sorted by another key: skip this many trials (a page's `next`)."),
    ),
    responses(
        (status = 200, description = "A page of the sweep's trials.", body = TrialList),
        (status = 400, description = "A bad or unknown query parameter, named in `field`.", body = ErrorBody),
        (status = 404, description = "No such sweep.", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<TrialList>, ApiError> {
    let id = parse_id(&id, "sweep")?;
    let mut listing = listing(query.as_deref().unwrap_or(""))?;
    let spec = spec_of(&state, id).await?;
    let limit = listing.limit;
    // One more than asked tells whether a next page exists.
    listing.limit += 1;
    let mut trials: Vec<Trial> = (state.store.list_trials(id, &listing).await?)
        .into_iter()
        .map(|t| shown(spec.as_ref(), t.into()))
        .collect();
    let next = if trials.len() as i64 > limit {
        trials.truncate(limit as usize);
        match listing.from {
            PageStart::Number(_) => trials.last().map(|t| t.number),
            PageStart::Offset(at) => Some(at + limit),
        }
    } else {
        None
    };
    Ok(Json(TrialList {
        sweep_id: id,
        trials,
        next,
    }))
}

/// What a trial listing's query string asks for.
fn listing(query: &str) -> Result<TrialListing, ApiError> {
    let (mut states, mut sort, mut descending) = (Vec::new(), TrialSort::Number, false);
    let (mut seen_state, mut seen_sort) = (false, false);
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let twice = |field| ApiError::BadParameter {
            field,
            message: "is given more than once".into(),
        };
        if key == "state" {
            if std::mem::replace(&mut seen_state, true) {
                return Err(twice("state"));
            }
            for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                let state = name.parse::<TrialState>().map_err(|_| bad_state(name))?;
                if !states.contains(&state) {
                    states.push(state);
                }
            }
        } else if key == "sort" {
            if std::mem::replace(&mut seen_sort, true) {
                return Err(twice("sort"));
            }
            let key = value.trim();
            descending = key.starts_with('-');
            sort = key
                .trim_start_matches('-')
                .parse()
                .map_err(|e| ApiError::BadParameter {
                    field: "sort",
                    message: format!("{e}, `-` first for descending"),
                })?;
        }
    }
    let after = page::parse(query, "after", -1)?;
    let offset = page::parse(query, "offset", 0)?.cursor;
    let from = match (sort, after.cursor, offset) {
        (_, Some(_), Some(_)) => {
            return Err(ApiError::BadParameter {
                field: "offset",
                message: "a page starts `after` a number or at an `offset`, not both".into(),
            })
        }
        (TrialSort::Number, after, None) => {
            PageStart::Number(after.unwrap_or(if descending { i64::MAX } else { -1 }))
        }
        (TrialSort::Number, None, Some(_)) => {
            return Err(ApiError::BadParameter {
                field: "offset",
                message: "sorted by number, pages start `after` a trial number".into(),
            })
        }
        (_, None, offset) => PageStart::Offset(offset.unwrap_or(0)),
        (_, Some(_), None) => {
            return Err(ApiError::BadParameter {
                field: "after",
                message: format!("sorted by {sort}, pages start at an `offset`"),
            })
        }
    };
    Ok(TrialListing {
        states,
        sort,
        descending,
        from,
        limit: after.limit,
    })
}

fn bad_state(name: &str) -> ApiError {
    let known: Vec<&str> = TrialState::ALL.iter().map(|s| s.as_str()).collect();
    ApiError::BadParameter {
        field: "state",
        message: format!(
            "`{}` is not a trial state; expected {}",
            name.chars().take(40).collect::<String>().escape_debug(),
            known.join(", ")
        ),
    }
}

/// `GET /v1/trials/{id}`: one trial with its epoch reports and training-loss samples.
#[utoipa::path(get, path = "/v1/trials/{id}", tag = "trials",
    params(("id" = i64, Path, description = "The trial's id (unique across sweeps).")),
    responses(
        (status = 200, description = "The trial with its reports.", body = TrialDetail),
        (status = 404, description = "No such trial.", body = ErrorBody),
    ))]
pub async fn show(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<TrialDetail>, ApiError> {
    let id = parse_id(&id, "trial")?;
    detail(&state, id).await
}

/// `GET /v1/sweeps/{id}/trials/{number}`: trial `number` of the sweep (the
/// number the dashboard and the CLI show, from 0), as `GET /v1/trials/{id}`.
#[utoipa::path(get, path = "/v1/sweeps/{id}/trials/{number}", tag = "trials",
    params(
        ("id" = i64, Path, description = "The sweep's id."),
        ("number" = i64, Path, description = "The trial's number in the sweep, from 0."),
    ),
    responses(
        (status = 200, description = "The trial with its reports.", body = TrialDetail),
        (status = 404, description = "No such sweep, or no trial of that number in it.", body = ErrorBody),
    ))]
pub async fn show_numbered(
    State(state): State<AppState>,
    ApiPath((sweep, number)): ApiPath<(String, String)>,
) -> Result<Json<TrialDetail>, ApiError> {
    let sweep = parse_id(&sweep, "sweep")?;
    let number = parse_number(&number)?;
    let id = trial_id(&state, sweep, number)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no trial {number} in sweep {sweep}")))?;
    detail(&state, id).await
}

/// The id of trial `number` of sweep `sweep`; a missing sweep is a 404.
pub(super) async fn trial_id(
    state: &AppState,
    sweep: i64,
    number: i64,
) -> Result<Option<i64>, ApiError> {
    if state.store.sweep_state(sweep).await?.is_none() {
        return Err(ApiError::NotFound(format!("no sweep `{sweep}`")));
    }
    let listing = TrialListing {
        states: Vec::new(),
        sort: TrialSort::Number,
        descending: false,
        from: PageStart::Number(number - 1),
        limit: 1,
    };
    let found = state.store.list_trials(sweep, &listing).await?;
    Ok(found.first().filter(|t| t.number == number).map(|t| t.id))
}

/// A trial number from a path: `0` or a canonical positive decimal.
pub(super) fn parse_number(raw: &str) -> Result<i64, ApiError> {
    match raw {
        "0" => Ok(0),
        raw => parse_id(raw, "trial number"),
    }
}

async fn detail(state: &AppState, id: i64) -> Result<Json<TrialDetail>, ApiError> {
    let trial = state
        .store
        .trial_detail(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no trial `{id}`")))?;
    let spec = spec_of(state, trial.trial.sweep_id).await?;
    let mut detail = TrialDetail::from(trial);
    detail.trial = shown(spec.as_ref(), detail.trial);
    Ok(Json(detail))
}

/// The sweep's spec, to tell which parameters applied to its trials; None
/// when its stored spec cannot be read (the stored parameters show as
/// they are). A missing sweep is a 404.
pub(super) async fn spec_of(state: &AppState, id: i64) -> Result<Option<SweepSpec>, ApiError> {
    match state.store.sweep(id).await {
        Ok(Some(sweep)) => Ok(SweepSpec::from_stored(&sweep.spec).ok()),
        Ok(None) => Err(ApiError::NotFound(format!("no sweep `{id}`"))),
        // Its spec cannot be read: its trials still list, as stored.
        Err(StoreError::BadRow { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The trial with the parameters that did not apply to it as null.
pub(super) fn shown(spec: Option<&SweepSpec>, mut trial: Trial) -> Trial {
    if let Some(spec) = spec {
        trial.params = spec.shown(std::mem::take(&mut trial.params));
    }
    trial
}
