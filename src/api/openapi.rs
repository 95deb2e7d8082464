//! The OpenAPI document of the API, generated from the handlers'
//! `#[utoipa::path]` annotations and the `ToSchema` types they answer with.
use super::{
    best, datasets, events, export, extend, fork, importance, lifecycle, metrics, plot, submit,
    sweeps, trials, workers,
};

use axum::Json;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::{OpenApi, ToSchema};

/// Every route of the API, described.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "hypersweep",
        description = "Hyperparameter search over HTTP: submit a sweep, watch its trials, ask for the best configuration. Every error is `{\"error\": {\"code\", \"message\", \"field\"?}}`."
    ),
    paths(
        super::healthz,
        metrics::metrics,
        document,
        datasets::list,
        submit::create,
        sweeps::list,
        sweeps::show,
        extend::extend,
        lifecycle::delete,
        fork::fork,
        lifecycle::enqueue,
        best::best,
        sweeps::cancel,
        events::stream,
        plot::svg,
        importance::importance,
        export::json,
        trials::list,
        export::csv,
        trials::show,
        trials::show_numbered,
        workers::list,
        super::session::sign_in,
        super::session::sign_out,
        super::session::sign_out_everywhere,
    ),
    components(schemas(super::error::ErrorBody, plot::PlotKind))
)]
pub struct ApiDoc;

/// `GET /v1/openapi.json`: this document.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API.", body = Object)))]
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// A sweep spec as JSON: the keys of a Weights & Biases sweep config. The
/// server validates it fully; this schema only names the keys.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "name": "lab1",
    "method": "grid",
    "parameters": {"epochs": {"value": 1}, "batch_size": {"values": [32, 64]}},
}))]
#[allow(dead_code)]
pub struct SpecDocument {
    /// Defaults to `sweep`.
    name: Option<String>,
    description: Option<String>,
    /// A dataset of `GET /v1/datasets`; defaults to `mnist-10k`.
    dataset: Option<String>,
    /// `grid`, `random` or `bayes`.
    method: String,
    /// `{name: val_accuracy | val_loss | train_loss, goal: maximize | minimize}`.
    metric: Option<Value>,
    max_trials: Option<u32>,
    max_parallel: Option<u32>,
    /// Trials a worker trains as one fused group, 1 to 256 (1: one at a
    /// time); defaults to the server's `fuse`.
    fuse: Option<u32>,
    seed: Option<u64>,
    /// Per parameter name: `{value}`, `{values}` or `{distribution, min, max}`.
    parameters: Option<BTreeMap<String, Value>>,
    /// `{type: hyperband, min_iter, eta}` or `{type: median, min_iter}`.
    early_terminate: Option<Value>,
    max_minutes: Option<f64>,
    /// `finish` or `stop`.
    at_max_minutes: Option<String>,
    /// `{metric name: value}`: the sweep completes when a trial reaches it.
    target: Option<Value>,
    n_startup_trials: Option<u32>,
    /// Minutes one attempt of a trial may train; at most, and by default,
    /// the server's `max_trial_minutes`.
    trial_timeout_minutes: Option<f64>,
    /// `{sweeps: [ids], trials: [{params}]}`: earlier sweeps on the same
    /// dataset whose finished trials join bayes's history (the parameters
    /// they share), and configurations trained first (numbers 0..k),
    /// counting toward `max_trials`.
    warm_start: Option<Value>,
}
