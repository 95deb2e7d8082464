//! `GET /v1/sweeps/{id}/plot.svg?kind=...`: the sweep drawn on the server,
//! for reports and for people without a browser: curves per epoch, one
//! trial's batch losses, importance, best so far, slice and contour.
mod bars;
mod draw;
mod kinds;
mod lines;
pub(super) mod query;
mod scatter;
mod timeline;

use super::error::ErrorBody;
use super::{parse_id, ApiError, ApiPath, AppState};
use crate::metric::MetricName;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::IntoResponse;
use query::Query;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

/// Query of the plot route (for the OpenAPI document; the handler reads
/// the raw query so that every error names its parameter).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct PlotQuery {
    /// `val_accuracy` (default), `val_loss`, `train_loss` per epoch for every
    /// trial; `batch_loss`: one trial's training loss every 100 batches;
    /// `importance`: each parameter's importance as bars; `best_so_far`: the
    /// metric's best over wall-clock time; `slice`: the metric against
    /// `param`; `contour`: the metric against `x` and `y`.
    #[param(value_type = Option<PlotKind>)]
    kind: Option<String>,
    /// The trial NUMBER within the sweep (0, 1, ...) of a `batch_loss` plot
    /// (default: the best trial).
    #[param(minimum = 0)]
    trial: Option<i64>,
    /// The swept parameter of a `slice` plot.
    param: Option<String>,
    /// The swept parameter on the x axis of a `contour` plot.
    x: Option<String>,
    /// The swept parameter on the y axis of a `contour` plot.
    y: Option<String>,
    /// `importance` and `contour`: also use pruned trials, with their last
    /// value (default false).
    include_pruned: Option<bool>,
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
    Importance,
    BestSoFar,
    Slice,
    Contour,
}

const KINDS: &[&str] = &[
    "val_accuracy",
    "val_loss",
    "train_loss",
    "batch_loss",
    "importance",
    "best_so_far",
    "slice",
    "contour",
];

/// The query parameters the route takes, and which kinds take each.
const PARAMETERS: &[(&str, &[&str])] = &[
    ("kind", KINDS),
    ("trial", &["batch_loss"]),
    ("param", &["slice"]),
    ("x", &["contour"]),
    ("y", &["contour"]),
    ("include_pruned", &["importance", "contour"]),
];

/// What to draw, read from the query.
pub(super) enum Plot {
    Curves(MetricName),
    BatchLoss(Option<i64>),
    Importance {
        include_pruned: bool,
    },
    BestSoFar,
    Slice(String),
    Contour {
        x: String,
        y: String,
        include_pruned: bool,
    },
}

/// Renders the plot as SVG.
#[utoipa::path(get, path = "/v1/sweeps/{id}/plot.svg", tag = "sweeps",
    params(("id" = i64, Path, description = "The sweep's id."), PlotQuery),
    responses(
        (status = 200, description = "The plot.", content_type = "image/svg+xml", body = String),
        (status = 400, description = "A bad or unknown query parameter, named in `field`.", body = ErrorBody),
        (status = 404, description = "No such sweep or trial.", body = ErrorBody),
    ))]
pub async fn svg(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    RawQuery(raw): RawQuery,
) -> Result<impl IntoResponse, ApiError> {
    let plot = read(raw.as_deref())?;
    let id = parse_id(&id, "sweep")?;
    let svg = kinds::render(&state, id, plot).await?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg))
}

/// The plot a query string asks for; errors name the parameter at fault.
fn read(raw: Option<&str>) -> Result<Plot, ApiError> {
    let names: Vec<&'static str> = PARAMETERS.iter().map(|p| p.0).collect();
    let query = Query::parse(raw, &names)?;
    let kind = query.get("kind").unwrap_or("val_accuracy");
    if !KINDS.contains(&kind) {
        return Err(ApiError::BadParameter {
            field: "kind",
            message: format!(
                "must be one of {}, got `{}`",
                KINDS.join(", "),
                query::short(kind)
            ),
        });
    }
    let trial = query.number("trial")?;
    let include_pruned = query.bool("include_pruned", false)?;
    for (name, kinds) in &PARAMETERS[1..] {
        if query.get(name).is_some() && !kinds.contains(&kind) {
            return Err(ApiError::BadParameter {
                field: name,
                message: format!("applies only to kind={}", kinds.join(" or kind=")),
            });
        }
    }
    let named = |field: &'static str| {
        query
            .get(field)
            .map(str::to_string)
            .ok_or_else(|| ApiError::BadParameter {
                field,
                message: format!("kind={kind} needs it: the name of a swept parameter"),
            })
    };
    Ok(match kind {
        "batch_loss" => Plot::BatchLoss(trial),
        "importance" => Plot::Importance { include_pruned },
        "best_so_far" => Plot::BestSoFar,
        "slice" => Plot::Slice(named("param")?),
        "contour" => {
            let (x, y) = (named("x")?, named("y")?);
            if x == y {
                return Err(ApiError::BadParameter {
                    field: "y",
                    message: format!("must differ from x (both are `{}`)", query::short(&x)),
                });
            }
            Plot::Contour {
                x,
                y,
                include_pruned,
            }
        }
        metric => Plot::Curves(metric.parse().map_err(|_| ApiError::BadParameter {
            field: "kind",
            message: format!("`{metric}` is not a metric"),
        })?),
    })
}

#[cfg(test)]
mod tests {
    use super::draw::printable;
    use super::*;

    fn field(raw: &str) -> String {
        match read(Some(raw)) {
            Err(ApiError::BadParameter { field, .. }) => field.to_string(),
            Err(ApiError::UnknownParameter { field, .. }) => field,
            Err(other) => panic!("{raw}: {other:?}"),
            Ok(_) => panic!("{raw}: accepted"),
        }
    }

    #[test]
    fn every_bad_query_names_its_parameter() {
        for (raw, name) in [
            ("kind=pie", "kind"),
            ("kind=%FF", "kind"),
            ("trial=abc", "trial"),
            ("kind=batch_loss&trial=abc", "trial"),
            ("kind=batch_loss&trial=-3", "trial"),
            ("colour=red", "colour"),
            ("kind=slice", "param"),
            ("kind=val_loss&param=dropout", "param"),
            ("kind=contour&x=dropout", "y"),
            ("kind=contour&x=dropout&y=dropout", "y"),
            ("kind=importance&include_pruned=maybe", "include_pruned"),
            ("kind=slice&param=a&param=b", "param"),
        ] {
            assert_eq!(field(raw), name, "{raw}");
        }
        assert!(matches!(
            read(None),
            Ok(Plot::Curves(MetricName::ValAccuracy))
        ));
        assert!(matches!(
            read(Some("kind=batch_loss&trial=3")),
            Ok(Plot::BatchLoss(Some(3)))
        ));
        assert!(matches!(
            read(Some(
                "kind=contour&x=dropout&y=learning_rate&include_pruned=true"
            )),
            Ok(Plot::Contour {
                include_pruned: true,
                ..
            })
        ));
    }

    #[test]
    fn control_characters_never_reach_the_svg() {
        assert_eq!(
            printable("lab\u{0}1\n\t\u{1b}[31m"),
            "lab\u{FFFD}1\u{FFFD}\u{FFFD}\u{FFFD}[31m"
        );
        assert_eq!(printable("Größe <b> & 'x'"), "Größe <b> & 'x'");
    }
}
