//! Plots over time: every trial's metric per epoch, one trial's batch
//! losses, and the best value so far over wall-clock time.
use super::draw::{printable, value_scale, DrawResult, Scale};
use super::lines::{self, Emphasis, Series};
use crate::analysis::{self, time};
use crate::api::importance::{for_each_trial, scored_value};
use crate::api::{ApiError, AppState};
use crate::metric::MetricName;
use crate::state::TrialState;
use crate::store::{self, Queue as _, Sweeps as _};
use std::collections::HashMap;

/// Every trial's `metric` per epoch, the best trial in red.
pub(super) async fn curves(
    state: &AppState,
    sweep: &store::Sweep,
    metric: MetricName,
) -> Result<DrawResult<String>, ApiError> {
    let best = state.store.best_trial(sweep).await?.map(|t| t.id);
    let trials = state.store.trials(sweep.id).await?;
    let curves: HashMap<i64, Vec<f64>> = state
        .store
        .curves(sweep.id, metric, i64::MAX)
        .await?
        .into_iter()
        .collect();
    let series: Vec<Series> = trials
        .iter()
        .filter_map(|t| {
            let values = curves.get(&t.id)?;
            let emphasis = match (Some(t.id) == best, t.state) {
                (true, _) => Emphasis::Best,
                (false, TrialState::Pruned | TrialState::Failed | TrialState::Cancelled) => {
                    Emphasis::Faded
                }
                (false, TrialState::Queued | TrialState::Running | TrialState::Completed) => {
                    Emphasis::Normal
                }
            };
            let points = values
                .iter()
                .enumerate()
                .map(|(i, v)| ((i + 1) as f64, *v))
                .collect();
            Some(Series {
                points,
                emphasis,
                label: Some(format!("best: trial {} (id {})", t.number, t.id)),
            })
        })
        .collect();
    let epochs = series.iter().map(|s| s.points.len()).max().unwrap_or(1);
    let x = Scale::linear(1.0, epochs.max(2) as f64, true, "epoch");
    let y = value_scale(
        series.iter().flat_map(|s| s.points.iter().map(|p| &p.1)),
        metric.as_str(),
    );
    let title = format!(
        "sweep {} ({}): {metric} per epoch",
        sweep.id,
        printable(&sweep.name)
    );
    Ok(lines::draw(&title, &x, &y, &series, &[]))
}

/// One trial's training loss every 100 batches: the trial NUMBER given, or the best.
pub(super) async fn batch_loss(
    state: &AppState,
    sweep: &store::Sweep,
    number: Option<i64>,
) -> Result<DrawResult<String>, ApiError> {
    let id = sweep.id;
    let trial =
        match number {
            Some(n) => {
                let first = state
                    .store
                    .trials_page(id, n - 1, 1)
                    .await?
                    .into_iter()
                    .next();
                first
                    .filter(|t| t.number == n)
                    .ok_or_else(|| ApiError::NotFound(format!("no trial {n} in sweep {id}")))?
            }
            None => state.store.best_trial(sweep).await?.ok_or_else(|| {
                ApiError::NotFound("no trial given and none has finished yet".into())
            })?,
        };
    let detail =
        state.store.trial_detail(trial.id).await?.ok_or_else(|| {
            ApiError::NotFound(format!("no trial {} in sweep {id}", trial.number))
        })?;
    let points: Vec<(f64, f64)> = detail
        .batch_losses
        .iter()
        .map(|b| (b.step as f64, b.loss))
        .collect();
    let title = format!(
        "sweep {id}, trial {} (id {}): training loss every 100 batches",
        trial.number, trial.id
    );
    let last = points.iter().map(|p| p.0).fold(2.0, f64::max);
    let x = Scale::linear(1.0, last, true, "batch");
    let y = value_scale(points.iter().map(|p| &p.1), "training loss");
    let series = [Series {
        points,
        emphasis: Emphasis::Best,
        label: None,
    }];
    Ok(lines::draw(&title, &x, &y, &series, &[]))
}

/// The metric's best so far against seconds (or minutes) since the sweep
/// was created, over each finished trial's value at the time it finished.
pub(super) async fn best_so_far(
    state: &AppState,
    sweep: &store::Sweep,
) -> Result<DrawResult<String>, ApiError> {
    let mut dots = Vec::new();
    for_each_trial(state, sweep.id, |t| {
        let at = t
            .finished_at
            .as_deref()
            .and_then(|f| time::seconds_between(&sweep.created_at, f));
        if let (Some(at), Some(v)) = (at, scored_value(sweep, t, true)) {
            dots.push((at.max(0.0), v));
        }
    })
    .await?;
    let last = dots.iter().map(|d| d.0).fold(0.0, f64::max);
    let (unit, per) = if last > 600.0 {
        ("minutes", 60.0)
    } else {
        ("seconds", 1.0)
    };
    let dots: Vec<(f64, f64)> = dots.into_iter().map(|(t, v)| (t / per, v)).collect();
    let best = analysis::best_so_far(sweep.metric.goal, dots.clone());
    let y = value_scale(dots.iter().map(|d| &d.1), sweep.metric.name.as_str());
    let until = (last / per * 1.05).max(1.0);
    let x = Scale::linear(
        0.0,
        until,
        false,
        &format!("{unit} since the sweep started"),
    );
    let series = [Series {
        points: lines::steps(&best, until),
        emphasis: Emphasis::Best,
        label: Some(format!("best {} so far", sweep.metric.name)),
    }];
    let title = format!(
        "sweep {} ({}): best {} over time",
        sweep.id,
        printable(&sweep.name),
        sweep.metric.name
    );
    Ok(lines::draw(&title, &x, &y, &series, &dots))
}
