//! The subcommands that manage a sweep's life: `list`, `extend`, `enqueue`,
//! `fork`, `delete`, and `trials --csv`.
use super::client::{Client, ClientError};
use super::{show, EXIT_OK};
use clap::Args;
use serde_json::{json, Map, Value};
use std::io::Write;
use std::path::Path;

/// What `extend` changes; at least one is needed.
#[derive(Debug, Args)]
#[group(required = true, multiple = true)]
pub struct Budget {
    /// The new trial budget (at least the trials already started).
    #[arg(long, value_parser = clap::value_parser!(i64).range(1..))]
    pub max_trials: Option<i64>,
    /// The new time budget in minutes from the sweep's start.
    #[arg(long)]
    pub max_minutes: Option<f64>,
    /// End the sweep once its metric reaches this value.
    #[arg(long, conflicts_with = "no_target")]
    pub target: Option<f64>,
    /// Remove the sweep's target.
    #[arg(long)]
    pub no_target: bool,
}

impl Budget {
    /// The body of `PATCH /v1/sweeps/{id}`.
    pub fn body(&self) -> Value {
        let mut body = Map::new();
        if let Some(n) = self.max_trials {
            body.insert("max_trials".into(), json!(n));
        }
        if let Some(m) = self.max_minutes {
            body.insert("max_minutes".into(), json!(m));
        }
        if let Some(t) = self.target {
            body.insert("target".into(), json!(t));
        }
        if self.no_target {
            body.insert("target".into(), Value::Null);
        }
        Value::Object(body)
    }
}

/// `NAME=VALUE`: the value as JSON when it reads as JSON, else as text.
pub fn parse_param(raw: &str) -> Result<(String, Value), String> {
    let (name, value) = raw
        .split_once('=')
        .ok_or_else(|| format!("`{raw}` is not NAME=VALUE"))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(format!("`{raw}` has no parameter name before `=`"));
    }
    let value = serde_json::from_str(value.trim()).unwrap_or_else(|_| json!(value.trim()));
    Ok((name.to_string(), value))
}

/// `list [--limit N] [--json]`.
pub async fn list(client: &Client, limit: i64, json: bool) -> Result<i32, ClientError> {
    let page = client.sweeps(limit).await?;
    if json {
        say(&page.to_string())?;
        return Ok(EXIT_OK);
    }
    let sweeps = page["sweeps"]
        .as_array()
        .ok_or_else(|| client.bad_response("no `sweeps` list"))?;
    say(show::sweeps_table(sweeps).trim_end())?;
    Ok(EXIT_OK)
}

/// `extend ID --max-trials N | --max-minutes M | --target X | --no-target`.
pub async fn extend(client: &Client, id: i64, budget: &Budget) -> Result<i32, ClientError> {
    let sweep = client.extend(id, &budget.body()).await?;
    say(&show::summary(&sweep))?;
    Ok(EXIT_OK)
}

/// `enqueue ID NAME=VALUE...`: prints the queued trial's number and id.
pub async fn enqueue(
    client: &Client,
    id: i64,
    params: &[(String, Value)],
) -> Result<i32, ClientError> {
    let params: Map<String, Value> = params.iter().cloned().collect();
    let trial = client.enqueue(id, &Value::Object(params)).await?;
    say(&format!(
        "trial {} (id {}) of sweep {id} queued: {}",
        trial["number"],
        trial["id"],
        show::params_inline(&trial["params"])
    ))?;
    Ok(EXIT_OK)
}

/// `fork ID FILE`: prints the new sweep like `submit`.
pub async fn fork(client: &Client, id: i64, file: &Path) -> Result<i32, ClientError> {
    let changes = tokio::fs::read_to_string(file)
        .await
        .map_err(|source| ClientError::File {
            path: file.display().to_string(),
            source,
        })?;
    let sweep = client
        .fork(id, changes, super::commands::content_type(file))
        .await?;
    say(&format!(
        "{} (forked from sweep {id})",
        show::submitted(&sweep)
    ))?;
    for warning in sweep["warnings"].as_array().into_iter().flatten() {
        eprintln!("warning: {}", show::value(warning));
    }
    Ok(EXIT_OK)
}

/// `delete ID`.
pub async fn delete(client: &Client, id: i64) -> Result<i32, ClientError> {
    client.delete(id).await?;
    say(&format!("sweep {id} deleted"))?;
    Ok(EXIT_OK)
}

/// `trials ID --csv`: the server's CSV as it is.
pub async fn trials_csv(client: &Client, id: i64) -> Result<i32, ClientError> {
    let csv = client.trials_csv(id).await?;
    write!(std::io::stdout(), "{csv}").map_err(ClientError::Output)?;
    Ok(EXIT_OK)
}

fn say(text: &str) -> Result<(), ClientError> {
    writeln!(std::io::stdout(), "{text}").map_err(ClientError::Output)
}
