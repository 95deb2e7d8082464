//! One function per client subcommand; each returns the exit code, or the
//! error that `run` prints.
use super::bars::Bars;
use super::client::{Client, ClientError};
use super::watch::{self, JsonLines, Output};
use super::{show, EXIT_CANCELLED, EXIT_INTERRUPTED, EXIT_OK};
use std::io::Write;
use std::path::Path;

/// `submit FILE [--watch] [--json]`.
pub async fn submit(
    client: &Client,
    file: &Path,
    follow: bool,
    json: bool,
) -> Result<i32, ClientError> {
    let spec = tokio::fs::read_to_string(file)
        .await
        .map_err(|source| ClientError::File {
            path: file.display().to_string(),
            source,
        })?;
    let sweep = client.submit(spec, content_type(file)).await?;
    let id = sweep["id"]
        .as_i64()
        .ok_or_else(|| client.bad_response("the created sweep has no id"))?;
    if json {
        say(&sweep.to_string())?;
    } else {
        say(&show::submitted(&sweep))?;
    }
    for warning in sweep["warnings"].as_array().into_iter().flatten() {
        eprintln!("warning: {}", show::value(warning));
    }
    if follow {
        watch(client, id, json).await
    } else {
        Ok(EXIT_OK)
    }
}

/// `watch ID [--json]`: follows the sweep to its end, then prints its final
/// state and best configuration (to stderr with `--json`, whose stdout is
/// only events).
pub async fn watch(client: &Client, id: i64, json: bool) -> Result<i32, ClientError> {
    // Listened for before the first request: a trial may start, and the
    // user press Ctrl-C, before the sweep's first answer comes.
    let mut interrupt =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
    let interrupted = async {
        match interrupt.as_mut() {
            Some(signal) => signal.recv().await,
            None => std::future::pending().await,
        }
    };
    let sweep = client.sweep(id).await?;
    let mut display: Box<dyn Output> = if json {
        Box::new(JsonLines)
    } else {
        Box::new(Bars::new(&sweep))
    };
    tokio::select! {
        followed = watch::follow(client, id, display.as_mut()) => followed?,
        _ = interrupted => {
            drop(display);
            eprintln!(
                "stopped watching; sweep {id} goes on in the server: \
                 `hypersweep watch {id}` follows it again, `hypersweep cancel {id}` stops it"
            );
            return Ok(EXIT_INTERRUPTED);
        }
    }
    drop(display);

    let sweep = client.sweep(id).await?;
    let best = match client.best(id).await {
        Ok(best) => show::best(&best),
        Err(e) if e.is_not_found() => format!("no best configuration: {e}"),
        Err(e) => return Err(e),
    };
    let text = format!("{}\n{best}", show::summary(&sweep));
    if json {
        eprintln!("{text}");
    } else {
        say(&text)?;
    }
    match sweep["state"].as_str() {
        Some("completed") => Ok(EXIT_OK),
        Some("cancelled") => Ok(EXIT_CANCELLED),
        _ => Err(client.bad_response(format!(
            "the event stream ended but the sweep is {}",
            sweep["state"]
        ))),
    }
}

/// `best ID [--json]`.
pub async fn best(client: &Client, id: i64, json: bool) -> Result<i32, ClientError> {
    let best = client.best(id).await?;
    if json {
        say(&best.to_string())?;
    } else {
        say(&show::best(&best))?;
    }
    Ok(EXIT_OK)
}

/// `trials ID [--json]`.
pub async fn trials(client: &Client, id: i64, json: bool) -> Result<i32, ClientError> {
    let body = client.trials(id).await?;
    if json {
        say(&body.to_string())?;
        return Ok(EXIT_OK);
    }
    let trials = body["trials"]
        .as_array()
        .ok_or_else(|| client.bad_response("no `trials` list"))?;
    say(show::trials_table(trials).trim_end())?;
    Ok(EXIT_OK)
}

/// `cancel ID`: prints the sweep's state after the request.
pub async fn cancel(client: &Client, id: i64) -> Result<i32, ClientError> {
    let sweep = client.cancel(id).await?;
    match sweep["state"].as_str() {
        Some(_) => say(&show::summary(&sweep))?,
        None => say(&sweep.to_string())?,
    }
    Ok(EXIT_OK)
}

/// The content type of a spec file: JSON if its name ends in .json, else YAML.
pub fn content_type(file: &Path) -> &'static str {
    let is_json = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    if is_json {
        "application/json"
    } else {
        "application/yaml"
    }
}

/// Prints a line on stdout; an error rather than a panic when it is closed.
fn say(text: &str) -> Result<(), ClientError> {
    writeln!(std::io::stdout(), "{text}").map_err(ClientError::Output)
}
