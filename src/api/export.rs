//! A sweep's data to take away: `trials.csv` (a row per trial) and
//! `export.json` (the sweep, its spec, every trial with every epoch
//! report). Both are streamed a page of trials at a time, so that a sweep
//! of 100k trials is neither one query nor one buffer.
use super::error::ErrorBody;
use super::importance::{axes_of, PAGE};
use super::sweeps::sweep;
use super::wire;
use super::{parse_id, ApiError, ApiPath, AppState};
use crate::analysis::{self, csv, Axis};
use crate::spec::{Goal, SweepSpec};
use crate::store::{self, Sweeps as _};
use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;
use utoipa::ToSchema;

/// The shape of `export.json` (for the OpenAPI document; it is streamed).
#[derive(Serialize, ToSchema)]
pub struct Export {
    pub sweep: wire::Sweep,
    pub trials: Vec<ExportedTrial>,
}

/// A trial with its epoch reports.
#[derive(Serialize, ToSchema)]
pub struct ExportedTrial {
    #[serde(flatten)]
    pub trial: wire::Trial,
    pub epochs: Vec<wire::StoredReport>,
}

/// `GET /v1/sweeps/{id}/trials.csv`: one row per trial, in number order.
#[utoipa::path(get, path = "/v1/sweeps/{id}/trials.csv", tag = "trials",
    params(("id" = i64, Path, description = "The sweep's id.")),
    responses(
        (status = 200, description = "Columns: id, number, state, one per swept parameter (empty where it does not apply), val_accuracy, val_loss, train_loss (the last epoch's), best_<metric> (over the trial's epochs), epochs_done, seconds (started to finished), reason (why it failed or was pruned). RFC 4180.",
            content_type = "text/csv", body = String),
        (status = 400, description = "A query parameter (the route takes none).", body = ErrorBody),
        (status = 404, description = "No such sweep.", body = ErrorBody),
    ))]
pub async fn csv(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let sweep = sweep(&state, parse_id(&id, "sweep")?).await?;
    let (spec, axes) = axes_of(&sweep)?;
    let mut header_row: Vec<String> = ["id", "number", "state"].map(String::from).to_vec();
    header_row.extend(axes.iter().map(|a| a.name.as_str().to_string()));
    header_row.extend(
        [
            "val_accuracy",
            "val_loss",
            "train_loss",
            &format!("best_{}", sweep.metric.name),
            "epochs_done",
            "seconds",
            "reason",
        ]
        .map(String::from),
    );
    let sweep_id = sweep.id;
    let layout = Arc::new((sweep, spec, axes));
    let body = pages(
        state,
        sweep_id,
        csv::record(&header_row),
        String::new(),
        move |d, _| {
            let (sweep, spec, axes) = &*layout;
            csv_row(sweep, spec, axes, d)
        },
    );
    let filename = format!("attachment; filename=\"sweep-{id}-trials.csv\"");
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, filename),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

/// `GET /v1/sweeps/{id}/export.json`: the sweep, every trial, every epoch report.
#[utoipa::path(get, path = "/v1/sweeps/{id}/export.json", tag = "sweeps",
    params(("id" = i64, Path, description = "The sweep's id.")),
    responses(
        (status = 200, description = "The sweep (spec included) and every trial with its epoch reports.", body = Export),
        (status = 400, description = "A query parameter (the route takes none).", body = ErrorBody),
        (status = 404, description = "No such sweep.", body = ErrorBody),
    ))]
pub async fn json(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let sweep = sweep(&state, parse_id(&id, "sweep")?).await?;
    let (spec, _) = axes_of(&sweep)?;
    let sweep_id = sweep.id;
    let head = serde_json::to_string(&wire::Sweep::from(sweep))
        .map_err(|e| ApiError::Internal(format!("writing an export: {e}")))?;
    let spec = Arc::new(spec);
    let body = pages(
        state,
        sweep_id,
        format!("{{\"sweep\":{head},\"trials\":["),
        "]}".into(),
        move |d, first| {
            let mut trial = wire::Trial::from(d.trial);
            trial.params = not_applicable_as_null(&spec, trial.params);
            let item = ExportedTrial {
                trial,
                epochs: d.epochs.into_iter().map(wire::StoredReport::from).collect(),
            };
            let text = serde_json::to_string(&item).unwrap_or_else(|_| "null".into());
            if first {
                text
            } else {
                format!(",{text}")
            }
        },
    );
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(body),
    )
        .into_response())
}

/// `head`, then `row(trial, first)` for every trial of the sweep, a page
/// at a time, then `tail`.
fn pages(
    state: AppState,
    sweep_id: i64,
    head: String,
    tail: String,
    row: impl Fn(store::TrialDetail, bool) -> String + Send + Sync + 'static,
) -> impl Stream<Item = Result<String, ApiError>> + Send {
    enum Step {
        Head,
        After(i64, bool),
        Done,
    }
    let row = Arc::new(row);
    stream::try_unfold(Step::Head, move |step| {
        let (state, row, head, tail) = (state.clone(), row.clone(), head.clone(), tail.clone());
        async move {
            let (after, mut first) = match step {
                Step::Head => return Ok(Some((head, Step::After(-1, true)))),
                Step::After(after, first) => (after, first),
                Step::Done => return Ok(None),
            };
            let page = state.store.trials_page(sweep_id, after, PAGE).await?;
            let mut out = String::new();
            for trial in &page {
                // Only a trial that has trained an epoch has reports to read.
                let detail = if trial.epochs_done > 0 {
                    match state.store.trial_detail(trial.id).await? {
                        Some(detail) => detail,
                        None => continue,
                    }
                } else {
                    store::TrialDetail {
                        trial: trial.clone(),
                        epochs: Vec::new(),
                        batch_losses: Vec::new(),
                    }
                };
                out.push_str(&row(detail, first));
                first = false;
            }
            let next = match page.last() {
                Some(last) if page.len() as i64 == PAGE => Step::After(last.number, first),
                _ => {
                    out.push_str(&tail);
                    Step::Done
                }
            };
            Ok(Some((out, next)))
        }
    })
}

/// A trial's CSV record (see `csv`'s columns).
fn csv_row(sweep: &store::Sweep, spec: &SweepSpec, axes: &[Axis], d: store::TrialDetail) -> String {
    let t = &d.trial;
    let chosen = analysis::applied(spec, &t.params);
    let metric = sweep.metric.name;
    let values = d.epochs.iter().map(|e| e.report.metric(metric));
    let best = match sweep.metric.goal {
        Goal::Maximize => values.fold(None, |b: Option<f64>, v| Some(b.map_or(v, |b| b.max(v)))),
        Goal::Minimize => values.fold(None, |b: Option<f64>, v| Some(b.map_or(v, |b| b.min(v)))),
    };
    let seconds = match (&t.started_at, &t.finished_at) {
        (Some(s), Some(f)) => analysis::time::seconds_between(s, f),
        _ => None,
    };
    let mut fields = vec![t.id.to_string(), t.number.to_string(), t.state.to_string()];
    fields.extend(
        axes.iter()
            .map(|a| chosen.get(&a.name).map(analysis::label).unwrap_or_default()),
    );
    fields.extend([
        csv::number(t.val_accuracy),
        csv::number(t.val_loss),
        csv::number(t.train_loss),
        csv::number(best),
        t.epochs_done.to_string(),
        csv::number(seconds.map(|s| (s * 1000.0).round() / 1000.0)),
        t.error.clone().unwrap_or_default(),
    ]);
    csv::record(&fields)
}

/// A trial's params with every parameter that did not apply (its `when`
/// does not hold) null, as every answer shows them.
pub(super) fn not_applicable_as_null(spec: &SweepSpec, params: Value) -> Value {
    let Value::Object(mut map) = params else {
        return params;
    };
    let chosen = analysis::applied(spec, &Value::Object(map.clone()));
    for name in spec.conditions().keys() {
        if !chosen.contains_key(name) {
            map.insert(name.as_str().into(), Value::Null);
        }
    }
    Value::Object(map)
}
