//! `GET /v1/sweeps/{id}/plot.svg?kind=...`: the sweep's curves drawn on the
//! server, for reports and for people without a browser.
use super::error::ErrorBody;
use super::{parse_id, ApiError, ApiPath, ApiQuery, AppState};
use crate::metric::MetricName;
use crate::state::TrialState;
use crate::store::{Queue as _, Sweeps as _};
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use plotters::prelude::*;
use serde::Deserialize;
use std::collections::HashMap;
use utoipa::{IntoParams, ToSchema};

/// Query of the plot route.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PlotQuery {
    /// `val_accuracy` (default), `val_loss`, `train_loss` per epoch for every
    /// trial, or `batch_loss`: one trial's training loss every 100 batches.
    #[param(value_type = Option<PlotKind>)]
    kind: Option<String>,
    /// The trial of a `batch_loss` plot (default: the best trial).
    trial: Option<i64>,
}

/// What a plot draws (for the OpenAPI document; the handler checks `KINDS`).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub(super) enum PlotKind {
    ValAccuracy,
    ValLoss,
    TrainLoss,
    BatchLoss,
}

const KINDS: &[&str] = &["val_accuracy", "val_loss", "train_loss", "batch_loss"];

/// Renders the plot as SVG.
#[utoipa::path(get, path = "/v1/sweeps/{id}/plot.svg", tag = "sweeps",
    params(("id" = i64, Path, description = "The sweep's id."), PlotQuery),
    responses(
        (status = 200, description = "The plot.", content_type = "image/svg+xml", body = String),
        (status = 400, description = "A bad query string.", body = ErrorBody),
        (status = 404, description = "No such sweep or trial.", body = ErrorBody),
    ))]
pub async fn svg(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<PlotQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let id = parse_id(&id, "sweep")?;
    let sweep = state
        .store
        .sweep(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no sweep `{id}`")))?;
    let kind = query.kind.as_deref().unwrap_or("val_accuracy");
    // A metric's curves, or (None) one trial's training loss.
    let metric = match kind {
        "batch_loss" => None,
        _ => Some(kind.parse::<MetricName>().map_err(|_| {
            ApiError::BadRequest(format!(
                "kind must be one of {}, got `{kind}`",
                KINDS.join(", ")
            ))
        })?),
    };
    let best = state.store.best_trial(&sweep).await?.map(|t| t.id);
    let svg = match metric {
        None => {
            let trial_id = query.trial.or(best).ok_or_else(|| {
                ApiError::NotFound("no trial given and none has finished yet".into())
            })?;
            let detail = state
                .store
                .trial_detail(trial_id)
                .await?
                .filter(|d| d.trial.sweep_id == id)
                .ok_or_else(|| {
                    ApiError::NotFound(format!("no trial `{trial_id}` in sweep {id}"))
                })?;
            let points: Vec<(f64, f64)> = detail
                .batch_losses
                .iter()
                .map(|b| (b.step as f64, b.loss))
                .collect();
            let title = format!(
                "sweep {id}, trial {}: training loss every 100 batches",
                detail.trial.number
            );
            let series = vec![Series {
                points,
                emphasis: Emphasis::Best,
                label: None,
            }];
            draw(&title, "batch", "training loss", &series)
        }
        Some(metric) => {
            let trials = state.store.trials(id).await?;
            let curves: HashMap<i64, Vec<f64>> = state
                .store
                .curves(id, metric, i64::MAX)
                .await?
                .into_iter()
                .collect();
            let series: Vec<Series> = trials
                .iter()
                .filter_map(|t| {
                    let values = curves.get(&t.id)?;
                    let emphasis = match (Some(t.id) == best, t.state) {
                        (true, _) => Emphasis::Best,
                        (
                            false,
                            TrialState::Pruned | TrialState::Failed | TrialState::Cancelled,
                        ) => Emphasis::Faded,
                        (
                            false,
                            TrialState::Queued | TrialState::Running | TrialState::Completed,
                        ) => Emphasis::Normal,
                    };
                    let points = values
                        .iter()
                        .enumerate()
                        .map(|(i, v)| ((i + 1) as f64, *v))
                        .collect();
                    Some(Series {
                        points,
                        emphasis,
                        label: Some(format!("trial {}", t.number)),
                    })
                })
                .collect();
            draw(
                &format!("sweep {id} ({}): {kind} per epoch", printable(&sweep.name)),
                "epoch",
                kind,
                &series,
            )
        }
    }
    .map_err(|e| ApiError::Internal(format!("drawing a plot: {e}")))?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg))
}

/// Text fit for an SVG title: XML 1.0 has no way to write most control
/// characters, escaped or not, so each becomes U+FFFD (names stored before
/// specs refused them may hold some). plotters escapes `<`, `&` and quotes.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

#[derive(Clone, Copy, PartialEq)]
enum Emphasis {
    Best,
    Normal,
    Faded,
}

struct Series {
    points: Vec<(f64, f64)>,
    emphasis: Emphasis,
    label: Option<String>,
}

/// Lines on shared axes fitted to the data; the best series is drawn last, on top.
fn draw(
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[Series],
) -> Result<String, Box<dyn std::error::Error>> {
    let finite = series
        .iter()
        .flat_map(|s| &s.points)
        .filter(|p| p.1.is_finite());
    let (mut x_max, mut y_min, mut y_max) = (1.0f64, f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in finite {
        x_max = x_max.max(x);
        y_min = y_min.min(y);
        y_max = y_max.max(y);
    }
    if !y_min.is_finite() {
        (y_min, y_max) = (0.0, 1.0);
    }
    let pad = ((y_max - y_min) * 0.05).max(1e-3);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 520)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(1.0..x_max.max(2.0), (y_min - pad)..(y_max + pad))?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .draw()?;
        let mut order: Vec<&Series> = series.iter().collect();
        order.sort_by_key(|s| match s.emphasis {
            Emphasis::Faded => 0,
            Emphasis::Normal => 1,
            Emphasis::Best => 2,
        });
        for (i, s) in order.iter().enumerate() {
            let style = match s.emphasis {
                Emphasis::Best => RED.stroke_width(3),
                Emphasis::Normal => Palette99::pick(i).stroke_width(1),
                Emphasis::Faded => RGBColor(200, 200, 200).stroke_width(1),
            };
            let points = s.points.iter().copied().filter(|p| p.1.is_finite());
            let drawn = chart.draw_series(LineSeries::new(points, style))?;
            if s.emphasis == Emphasis::Best {
                if let Some(label) = &s.label {
                    drawn.label(format!("{label} (best)")).legend(|(x, y)| {
                        PathElement::new([(x, y), (x + 20, y)], RED.stroke_width(3))
                    });
                }
            }
        }
        if series
            .iter()
            .any(|s| s.emphasis == Emphasis::Best && s.label.is_some())
        {
            chart
                .configure_series_labels()
                .border_style(BLACK)
                .background_style(WHITE.mix(0.8))
                .draw()?;
        }
        root.present()?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn control_characters_never_reach_the_svg() {
        assert_eq!(
            printable("lab\u{0}1\n\t\u{1b}[31m"),
            "lab\u{FFFD}1\u{FFFD}\u{FFFD}\u{FFFD}[31m"
        );
        assert_eq!(printable("Größe <b> & 'x'"), "Größe <b> & 'x'");
    }
}
