//! `POST /v1/sweeps/{id}/fork`: a new sweep from an earlier one's spec with
//! changes, which records its parent.
use super::error::ErrorBody;
use super::openapi::SpecDocument;
use super::submit::{plan_off_thread, read_body, submit, CreatedSweep};
use super::{parse_id, sweeps, ApiError, ApiPath, AppState};
use crate::spec::{self, SpecError, SweepSpec};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{Map, Value};

/// `POST /v1/sweeps/{id}/fork`: the body is a partial spec whose top-level
/// keys replace the parent's (null removes one), except `parameters`,
/// merged per parameter (a parameter set to null is removed). A grid fork
/// that sets no `max_trials` trains its whole grid. The new sweep's
/// `parent_id` is the sweep forked.
#[utoipa::path(post, path = "/v1/sweeps/{id}/fork", tag = "sweeps",
    params(("id" = i64, Path, description = "The sweep to fork.")),
    request_body(
        description = "The spec keys to change, as JSON or YAML; `{}` forks the spec as it is.",
        content(
            (SpecDocument = "application/json"),
            (String = "application/yaml"),
        ),
    ),
    responses(
        (status = 201, description = "The new sweep, its trials queued.", body = CreatedSweep),
        (status = 400, description = "The body is not UTF-8 text.", body = ErrorBody),
        (status = 404, description = "No such sweep.", body = ErrorBody),
        (status = 413, description = "The body is over `max_body_bytes`.", body = ErrorBody),
        (status = 415, description = "Neither JSON nor YAML.", body = ErrorBody),
        (status = 422, description = "The merged spec is invalid; `field` names the culprit.", body = ErrorBody),
    ))]
pub async fn fork(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<CreatedSweep>), ApiError> {
    let id = parse_id(&id, "sweep")?;
    let (text, format) = read_body(&state, &headers, body)?;
    let parent = sweeps::sweep(&state, id).await?;
    let changes = spec::read_document(&text, format, &state.limits)?;
    let merged = merge(parent.spec, changes)?;
    let (spec, trials) = plan_off_thread(&state, move |shape, limits| {
        SweepSpec::from_document(merged, limits, shape, rand::random())
    })
    .await?;
    submit(&state, spec, trials, Some(id)).await
}

/// The parent's spec with the changes made (see `fork`).
fn merge(parent: Value, changes: Value) -> Result<Value, ApiError> {
    let Value::Object(mut spec) = parent else {
        return Err(ApiError::Internal(
            "the parent's spec is not a mapping".into(),
        ));
    };
    let Value::Object(changes) = changes else {
        let message = "must be a mapping of the spec keys to change, e.g. {method: bayes}";
        return Err(SpecError::new("body", message).into());
    };
    let sets_max_trials = changes.contains_key("max_trials");
    for (key, value) in changes {
        match (key.as_str(), value) {
            ("parameters", Value::Object(parameters)) => {
                let merged = spec
                    .entry("parameters")
                    .or_insert_with(|| Value::Object(Map::new()));
                if !merged.is_object() {
                    *merged = Value::Object(Map::new());
                }
                let merged = merged.as_object_mut().expect("a mapping");
                for (name, p) in parameters {
                    match p {
                        Value::Null => merged.remove(&name),
                        p => merged.insert(name, p),
                    };
                }
            }
            (_, Value::Null) => {
                spec.remove(&key);
            }
            (_, value) => {
                spec.insert(key, value);
            }
        }
    }
    // The parent's stored max_trials of a grid is its own grid's size.
    if spec.get("method").and_then(Value::as_str) == Some("grid") && !sets_max_trials {
        spec.remove("max_trials");
    }
    Ok(Value::Object(spec))
}

#[cfg(test)]
mod tests {
    use super::merge;
    use serde_json::json;

    #[test]
    fn top_level_keys_replace_and_parameters_merge() {
        let parent = json!({"method": "random", "max_trials": 4, "target": {"val_accuracy": 0.9},
            "parameters": {"learning_rate": {"value": 0.1}, "epochs": {"value": 1}}});
        let changes = json!({"method": "bayes", "target": null,
            "parameters": {"learning_rate": {"min": 0.01, "max": 0.1}, "epochs": null,
                "batch_size": {"values": [32, 64]}}});
        let merged = merge(parent, changes).unwrap();
        assert_eq!(
            merged,
            json!({"method": "bayes", "max_trials": 4, "parameters": {
                "learning_rate": {"min": 0.01, "max": 0.1}, "batch_size": {"values": [32, 64]}}})
        );
        let grid = merge(json!({"method": "grid", "max_trials": 2}), json!({})).unwrap();
        assert_eq!(
            grid,
            json!({"method": "grid"}),
            "a grid fork trains its whole grid"
        );
        assert!(merge(json!({}), json!([1])).is_err());
    }
}
