//! Each kind of plot: its data read from the store, laid out on its axes
//! (those over time and epochs are in `timeline`).
use super::draw::{printable, value_scale, Scale};
use super::scatter::{self, SlicePoint};
use super::{bars, timeline, Plot};
use crate::analysis::{self, Axis, AxisKind};
use crate::api::importance::{axes_of, compute, for_each_trial, scored_value};
use crate::api::sweeps::sweep;
use crate::api::{ApiError, AppState};
use crate::state::TrialState;
use crate::store;

/// The SVG of `plot` for sweep `id`.
pub(super) async fn render(state: &AppState, id: i64, plot: Plot) -> Result<String, ApiError> {
    let sweep = sweep(state, id).await?;
    let name = printable(&sweep.name);
    let svg = match plot {
        Plot::Curves(metric) => timeline::curves(state, &sweep, metric).await?,
        Plot::BatchLoss(number) => timeline::batch_loss(state, &sweep, number).await?,
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
            bars::bars(
                &title,
                &bars,
                "fewer than 2 finished trials: nothing to compare yet",
            )
        }
        Plot::BestSoFar => timeline::best_so_far(state, &sweep).await?,
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
            let metric = [sweep.metric.name.as_str(), goal_word(&sweep)];
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
