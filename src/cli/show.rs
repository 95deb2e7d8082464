//! The client's human-readable text: a submitted sweep, a sweep's final
//! state, its best configuration, and its trials as a table. Pure: JSON in,
//! text out.
use serde_json::Value;

/// A number in four significant digits: `0.003162`, `64`, `1.500e-5`.
pub fn number(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return x.to_string();
    }
    if x.fract() == 0.0 && x.abs() < 1e9 {
        return format!("{x:.0}");
    }
    let magnitude = x.abs().log10().floor() as i32;
    if (-4..6).contains(&magnitude) {
        let decimals = (3 - magnitude).max(0) as usize;
        let text = format!("{x:.decimals$}");
        let text = text.trim_end_matches('0').trim_end_matches('.');
        text.to_string()
    } else {
        format!("{x:.3e}")
    }
}

/// A metric in four decimals, or `-` when there is none.
pub fn metric(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), |x| format!("{x:.4}"))
}

/// A parameter value, short: numbers in four significant digits.
pub fn value(v: &Value) -> String {
    render(v, &|n: &serde_json::Number| {
        n.as_f64().map_or_else(|| n.to_string(), number)
    })
}

/// A parameter value exactly as stored, to reproduce it; `n/a` for one
/// that did not apply (its `when` did not hold).
fn exact(v: &Value) -> String {
    match v {
        Value::Null => NOT_APPLICABLE.into(),
        v => render(v, &|n: &serde_json::Number| n.to_string()),
    }
}

/// How a parameter that did not apply to a trial (null) is shown.
pub const NOT_APPLICABLE: &str = "n/a";

/// A parameter value, short; `n/a` for one that did not apply.
pub fn param(v: &Value) -> String {
    match v {
        Value::Null => NOT_APPLICABLE.into(),
        v => value(v),
    }
}

fn render(v: &Value, num: &dyn Fn(&serde_json::Number) -> String) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Number(n) => num(n),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(|i| render(i, num)).collect();
            format!("[{}]", items.join(", "))
        }
        other => other.to_string(),
    }
}

/// A configuration on one line: `{batch_size: 64, learning_rate: 0.01}`.
pub fn params_inline(params: &Value) -> String {
    match params.as_object() {
        Some(map) => {
            let pairs: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k}: {}", param(v)))
                .collect();
            format!("{{{}}}", pairs.join(", "))
        }
        None => value(params),
    }
}

/// The line `submit` prints for a sweep the server accepted.
pub fn submitted(sweep: &Value) -> String {
    format!(
        "sweep {} submitted: {} trials, {} search on {}",
        sweep["id"],
        sweep["trials"]["total"],
        value(&sweep["method"]),
        value(&sweep["dataset"])
    )
}

/// Where a sweep stands: `sweep 7 completed (ended by max_trials): 4 trials: 3 completed, 1 pruned`.
pub fn summary(sweep: &Value) -> String {
    let state = value(&sweep["state"]);
    let mut line = format!("sweep {} {state}", sweep["id"]);
    if let Some(by) = sweep["ended_by"].as_str().filter(|by| *by != state) {
        line.push_str(&format!(" (ended by {by})"));
    }
    let counts = &sweep["trials"];
    if !counts["total"].is_number() {
        return line;
    }
    let parts: Vec<String> = [
        "completed",
        "pruned",
        "failed",
        "cancelled",
        "running",
        "queued",
    ]
    .iter()
    .filter_map(|k| Some(format!("{} {k}", counts[*k].as_i64().filter(|n| *n > 0)?)))
    .collect();
    line.push_str(&format!(": {} trials", counts["total"]));
    if !parts.is_empty() {
        line.push_str(&format!(": {}", parts.join(", ")));
    }
    line
}

/// The best configuration, its metric and its test metrics, one per line.
pub fn best(best: &Value) -> String {
    let trial = &best["trial"];
    let test = &best["test"];
    let goal = value(&best["metric"]["goal"]);
    let metrics = [
        (
            value(&best["metric"]["name"]),
            format!("{} ({goal})", metric(best["metric"]["value"].as_f64())),
        ),
        ("test accuracy".into(), metric(test["accuracy"].as_f64())),
        ("test loss".into(), metric(test["loss"].as_f64())),
    ];
    let params: Vec<(String, String)> = best["params"]
        .as_object()
        .map(|p| p.iter().map(|(k, v)| (k.clone(), exact(v))).collect())
        .unwrap_or_default();
    let mut text = format!(
        "best of sweep {}: trial {}, {} after {} epochs",
        best["sweep_id"],
        trial["number"],
        value(&trial["state"]),
        trial["epochs_done"]
    );
    text.push_str(&aligned(&metrics, "  "));
    text.push_str("\n  configuration:");
    text.push_str(&aligned(&params, "    "));
    text
}

/// `key  value` lines, values in one column.
fn aligned(rows: &[(String, String)], indent: &str) -> String {
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(k, v)| format!("\n{indent}{k:<width$}  {v}"))
        .collect()
}

/// The trials as a table: one row each, a column per parameter that differs
/// between trials; the parameters they share are listed once above it.
pub fn trials_table(trials: &[Value]) -> String {
    let sampled: Vec<&serde_json::Map<String, Value>> = trials
        .iter()
        .filter_map(|t| t["params"].as_object())
        .collect();
    let mut keys: Vec<&String> = sampled.iter().flat_map(|p| p.keys()).collect();
    keys.sort();
    keys.dedup();
    let (varying, shared): (Vec<&String>, Vec<&String>) = keys
        .into_iter()
        .partition(|k| sampled.iter().any(|p| p.get(*k) != sampled[0].get(*k)));

    let mut header: Vec<String> = ["trial", "state", "epochs", "val_accuracy", "val_loss"]
        .map(String::from)
        .to_vec();
    header.extend(varying.iter().map(|k| k.to_string()));
    header.push("error".into());
    let mut rows = vec![header];
    for t in trials {
        let epochs = match t["params"]["epochs"].as_i64() {
            Some(total) => format!("{}/{total}", t["epochs_done"]),
            None => t["epochs_done"].to_string(),
        };
        let mut row = vec![
            t["number"].to_string(),
            value(&t["state"]),
            epochs,
            metric(t["val_accuracy"].as_f64()),
            metric(t["val_loss"].as_f64()),
        ];
        // A trial not sampled yet has no parameters: `-`, not `n/a`.
        row.extend(varying.iter().map(|k| match t["params"].get(k.as_str()) {
            Some(v) => param(v),
            None => "-".into(),
        }));
        row.push(t["error"].as_str().unwrap_or("").to_string());
        rows.push(row);
    }

    let mut text = String::new();
    if !shared.is_empty() {
        let pairs: Vec<String> = shared
            .iter()
            .map(|k| format!("{k}={}", param(&sampled[0][k.as_str()])))
            .collect();
        text.push_str(&format!("every trial: {}\n", pairs.join(" ")));
    }
    text.push_str(&columns(&rows));
    text
}

/// The sweeps as a table, one row each: id, name, state, method, dataset,
/// trials finished of the total, when it was created.
pub fn sweeps_table(sweeps: &[Value]) -> String {
    let mut rows = vec![[
        "sweep", "name", "state", "method", "dataset", "trials", "created",
    ]
    .map(String::from)
    .to_vec()];
    for s in sweeps {
        let counts = &s["trials"];
        let done: i64 = ["completed", "pruned", "failed", "cancelled"]
            .iter()
            .filter_map(|k| counts[*k].as_i64())
            .sum();
        rows.push(vec![
            s["id"].to_string(),
            value(&s["name"]),
            value(&s["state"]),
            value(&s["method"]),
            value(&s["dataset"]),
            format!("{done}/{}", counts["total"]),
            value(&s["created_at"]),
        ]);
    }
    columns(&rows)
}

/// Rows as columns two spaces apart, each as wide as its widest cell.
fn columns(rows: &[Vec<String>]) -> String {
    let mut text = String::new();
    let columns = rows[0].len();
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (cell, &w))| {
                if c + 1 == columns {
                    cell.clone()
                } else {
                    format!("{cell:<w$}")
                }
            })
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_are_short() {
        assert_eq!(number(0.00316227766), "0.003162");
        assert_eq!(number(64.0), "64");
        assert_eq!(number(0.1), "0.1");
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(1.5e-5), "1.500e-5");
        assert_eq!(number(123.456), "123.5");
        assert_eq!(metric(Some(0.95251)), "0.9525");
        assert_eq!(metric(None), "-");
        assert_eq!(value(&json!([128, 64])), "[128, 64]");
        assert_eq!(
            params_inline(&json!({"learning_rate": 0.1, "optimizer": "sgd"})),
            "{learning_rate: 0.1, optimizer: sgd}"
        );
    }

    #[test]
    fn the_summary_names_state_reason_and_counts() {
        let sweep = json!({"id": 7, "state": "completed", "ended_by": "max_trials",
            "trials": {"queued": 0, "running": 0, "completed": 3, "pruned": 1, "failed": 0, "cancelled": 0, "total": 4}});
        assert_eq!(
            summary(&sweep),
            "sweep 7 completed (ended by max_trials): 4 trials: 3 completed, 1 pruned"
        );
        let sweep = json!({"id": 8, "state": "cancelled", "ended_by": "cancelled",
            "trials": {"cancelled": 2, "total": 2}});
        assert_eq!(summary(&sweep), "sweep 8 cancelled: 2 trials: 2 cancelled");
    }

    #[test]
    fn the_best_shows_metric_test_accuracy_and_exact_params() {
        let answer = json!({
            "sweep_id": 3,
            "metric": {"name": "val_accuracy", "goal": "maximize", "value": 0.95251},
            "params": {"learning_rate": 0.00316227766, "hidden_layers": [128, 64]},
            "test": {"loss": 0.16, "accuracy": 0.948},
            "trial": {"number": 1, "state": "completed", "epochs_done": 2},
        });
        let text = best(&answer);
        assert!(
            text.starts_with("best of sweep 3: trial 1, completed after 2 epochs"),
            "{text}"
        );
        assert!(text.contains("val_accuracy   0.9525 (maximize)"), "{text}");
        assert!(text.contains("test accuracy  0.9480"), "{text}");
        assert!(text.contains("learning_rate  0.00316227766"), "{text}");
        assert!(text.contains("hidden_layers  [128, 64]"), "{text}");
    }

    #[test]
    fn the_table_has_a_column_per_varying_parameter() {
        let trials = [
            json!({"number": 0, "state": "completed", "epochs_done": 2, "val_accuracy": 0.9, "val_loss": 0.3,
                "error": null, "params": {"learning_rate": 0.1, "epochs": 2}}),
            json!({"number": 1, "state": "failed", "epochs_done": 1, "val_accuracy": null, "val_loss": null,
                "error": "diverged", "params": {"learning_rate": 5.0, "epochs": 2}}),
            json!({"number": 2, "state": "queued", "epochs_done": 0, "params": null}),
        ];
        let text = trials_table(&trials);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "every trial: epochs=2");
        assert_eq!(
            lines[1],
            "trial  state      epochs  val_accuracy  val_loss  learning_rate  error"
        );
        assert_eq!(
            lines[2],
            "0      completed  2/2     0.9000        0.3000    0.1"
        );
        assert_eq!(
            lines[3],
            "1      failed     1/2     -             -         5              diverged"
        );
        assert_eq!(
            lines[4],
            "2      queued     0       -             -         -"
        );
    }
}
