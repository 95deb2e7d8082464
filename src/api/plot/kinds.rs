//! Each kind of plot: its data read from the store, laid out on its axes.
use super::draw::{printable, value_scale, DrawResult, Scale};
use super::lines::{self, Emphasis, Series};
use super::scatter::{self, SlicePoint};
use super::Plot;
use crate::analysis::{self, time, Axis, AxisKind};
use crate::api::importance::{axes_of, compute, for_each_trial, scored_value};
use crate::api::sweeps::sweep;
use crate::api::{ApiError, AppState};
use crate::metric::MetricName;
use crate::state::TrialState;
use crate::store::{self, Queue as _, Sweeps as _};
use std::collections::HashMap;

/// The SVG of `plot` for sweep `id`.
pub(super) async fn render(state: &AppState, id: i64, plot: Plot) -> Result<String, ApiError> {
    let sweep = sweep(state, id).await?;
    let name = printable(&sweep.name);
    let svg = match plot {
        Plot::Curves(metric) => curves(state, &sweep, metric).await?,
        Plot::BatchLoss(number) => batch_loss(state, &sweep, number).await?,
        Plot::Importance { include_pruned } => {
            let answer = compute(state, id, include_pruned).await?;
            let bars: Vec<(String, f64)> = answer
                .importance
                .iter()
                .map(|p| (p.param.clone(), p.importance))
                .collect();
            let title = format!(
                "sweep {id} ({name}): importance for {} ({}, {} trials)",
                sweep.metric.name, answer.method, answer.trials_used
            );
            scatter::bars(
                &title,
                &bars,
                "fewer than 2 finished trials: nothing to compare yet",
            )
        }
        Plot::BestSoFar => best_so_far(state, &sweep).await?,
        Plot::Slice(param) => {
            let (spec, axes) = axes_of(&sweep)?;
            let axis = find(&axes, &param, "param")?;
            let mut points = Vec::new();
            let mut missing = 0;
            for_each_trial(state, id, |t| {
                if let Some(value) = scored_value(&sweep, t, true) {
                    match analysis::positions(&spec, std::slice::from_ref(axis), &t.params)[0] {
                        Some(x) => points.push(SlicePoint {
                            x,
                            value,
                            pruned: t.state == TrialState::Pruned,
                        }),
                        None => missing += 1,
                    }
                }
            })
            .await?;
            let title = format!(
                "sweep {id} ({name}): {} against {}{}",
                sweep.metric.name,
                axis.name.as_str(),
                not_drawn(missing)
            );
            let y = value_scale(points.iter().map(|p| &p.value), sweep.metric.name.as_str());
            scatter::slice(&title, &scale(axis), &y, &points)
        }
        Plot::Contour {
            x,
            y,
            include_pruned,
        } => {
            let (spec, axes) = axes_of(&sweep)?;
            let pair = [find(&axes, &x, "x")?.clone(), find(&axes, &y, "y")?.clone()];
            let mut points = Vec::new();
            let mut missing = 0;
            for_each_trial(state, id, |t| {
                if let Some(value) = scored_value(&sweep, t, include_pruned) {
                    match analysis::positions(&spec, &pair, &t.params)[..] {
                        [Some(a), Some(b)] => points.push((a, b, value)),
                        _ => missing += 1,
                    }
                }
            })
            .await?;
            let title = format!(
                "sweep {id} ({name}): {} over {} and {}{}",
                sweep.metric.name,
                pair[0].name.as_str(),
                pair[1].name.as_str(),
                not_drawn(missing)
            );
            let metric = format!("{} ({})", sweep.metric.name, goal_word(&sweep));
            scatter::contour(&title, &scale(&pair[0]), &scale(&pair[1]), &points, &metric)
        }
    };
    svg.map_err(|e| ApiError::Internal(format!("drawing a plot: {e}")))
}

/// The swept parameter `name`, or a 400 on `field` listing them.
fn find<'a>(axes: &'a [Axis], name: &str, field: &'static str) -> Result<&'a Axis, ApiError> {
    axes.iter()
        .find(|a| a.name.as_str() == name)
        .ok_or_else(|| {
            let names: Vec<&str> = axes.iter().map(|a| a.name.as_str()).collect();
            ApiError::BadParameter {
                field,
                message: format!(
                    "`{}` is not a swept parameter of this sweep; its are: {}",
                    super::query::short(name),
                    if names.is_empty() {
                        "none".into()
                    } else {
                        names.join(", ")
                    }
                ),
            }
        })
}

/// The axis a swept parameter is drawn on.
fn scale(axis: &Axis) -> Scale {
    let desc = axis.name.as_str();
    match &axis.kind {
        AxisKind::Numeric {
            min,
            max,
            log: true,
        } => Scale::log(*min, *max, desc),
        AxisKind::Numeric { min, max, .. } => {
            let integer = matches!(
                axis.name,
                crate::spec::ParamName::BatchSize | crate::spec::ParamName::Epochs
            );
            Scale::linear(*min, *max, integer, desc)
        }
        AxisKind::Categorical { levels } => Scale::names(
            (0..levels.len()).map(|i| axis.level_label(i)).collect(),
            desc,
        ),
    }
}

fn not_drawn(missing: usize) -> String {
    match missing {
        0 => String::new(),
        n => format!(" ({n} where it does not apply not drawn)"),
    }
}

fn goal_word(sweep: &store::Sweep) -> &'static str {
    match sweep.metric.goal {
        crate::spec::Goal::Maximize => "higher is better",
        crate::spec::Goal::Minimize => "lower is better",
    }
}

/// Every trial's `metric` per epoch, the best trial in red.
async fn curves(
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
                label: Some(format!("trial {} (id {})", t.number, t.id)),
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
async fn batch_loss(
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
async fn best_so_far(
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
    let x = Scale::linear(
        0.0,
        (last / per).max(1.0),
        false,
        &format!("{unit} since the sweep started"),
    );
    let series = [Series {
        points: lines::steps(&best, last / per),
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
