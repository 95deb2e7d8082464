//! Live progress of a sweep with indicatif: one bar for the sweep (finished
//! trials of all), one per running trial (batches of the current epoch, with
//! its loss and last validation accuracy), and a line whenever the best
//! trial changes. Bars draw to stderr and stay hidden when it is not a
//! terminal; the best-trial lines go to stdout.
use super::show;
use super::watch::{Event, Output};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::io::Write;

const SWEEP_TEMPLATE: &str = "{prefix:.bold} [{bar:30.green/white}] {pos}/{len} trials  {msg}";
/// A trial's bar before its first batches are counted.
const STARTING_TEMPLATE: &str = "{prefix:<22} {msg}";
const TRIAL_TEMPLATE: &str = "{prefix:<22} [{bar:30.cyan/blue}] {pos:>4}/{len:4} batches  {msg}";

/// A bar of a running trial and what its message shows.
struct TrialBar {
    bar: ProgressBar,
    /// Whether it shows batches yet (after the trial's first progress event).
    counting: bool,
    epochs: Option<i64>,
    loss: Option<f64>,
    val_accuracy: Option<f64>,
}

/// The progress display of one sweep.
pub struct Bars {
    multi: MultiProgress,
    sweep: ProgressBar,
    /// Running trials by number.
    running: HashMap<i64, TrialBar>,
    /// Each trial's configuration, by number, once known.
    params: HashMap<i64, Value>,
    finished: HashSet<i64>,
    /// How many trials ended in each state.
    ended: HashMap<String, u64>,
    metric: String,
}

impl Bars {
    /// Bars for `sweep` (the JSON of `GET /v1/sweeps/{id}`).
    pub fn new(sweep: &Value) -> Bars {
        let multi = MultiProgress::new();
        let bar = ProgressBar::new(sweep["trials"]["total"].as_u64().unwrap_or(0))
            .with_style(style(SWEEP_TEMPLATE))
            .with_prefix(format!("sweep {}", sweep["id"]));
        let bar = multi.add(bar);
        Bars {
            multi,
            sweep: bar,
            running: HashMap::new(),
            params: HashMap::new(),
            finished: HashSet::new(),
            ended: HashMap::new(),
            metric: sweep["metric"]["name"]
                .as_str()
                .unwrap_or("val_accuracy")
                .to_string(),
        }
    }

    fn started(&mut self, number: i64, data: &Value) {
        self.remove(number);
        let bar = self
            .multi
            .add(ProgressBar::new(0).with_style(style(STARTING_TEMPLATE)));
        let epochs = self.params.get(&number).and_then(|p| p["epochs"].as_i64());
        let trial = TrialBar {
            bar,
            counting: false,
            epochs,
            loss: None,
            val_accuracy: None,
        };
        trial.show(number, 0);
        let worker = data["worker"].as_str().unwrap_or("a worker");
        trial.bar.set_message(format!("starting on {worker}"));
        self.running.insert(number, trial);
        self.update_sweep();
    }

    fn progress(&mut self, number: i64, data: &Value) {
        let Some(trial) = self.running.get_mut(&number) else {
            return;
        };
        trial.epochs = data["epochs"].as_i64().or(trial.epochs);
        trial.loss = data["loss"].as_f64().or(trial.loss);
        trial.show(number, data["epoch"].as_i64().unwrap_or(0));
        if !trial.counting {
            trial.counting = true;
            trial.bar.set_style(style(TRIAL_TEMPLATE));
        }
        trial.bar.set_length(data["batches"].as_u64().unwrap_or(0));
        trial.bar.set_position(data["batch"].as_u64().unwrap_or(0));
    }

    fn epoch_report(&mut self, number: i64, report: &Value) {
        let Some(trial) = self.running.get_mut(&number) else {
            return;
        };
        trial.val_accuracy = report["val_accuracy"].as_f64();
        trial.loss = report["train_loss"].as_f64().or(trial.loss);
        if let Some(length) = trial.bar.length() {
            trial.bar.set_position(length);
        }
        trial.show(number, report["epoch"].as_i64().unwrap_or(0));
    }

    /// Removes the trial's bar and prints how it ended, unless it never ran
    /// (a cancelled sweep's queued trials).
    fn trial_ended(&mut self, number: i64, state: &str, detail: String) {
        let ran = self.running.contains_key(&number);
        self.remove(number);
        if self.finished.insert(number) {
            *self.ended.entry(state.to_string()).or_default() += 1;
        }
        if ran || state != "cancelled" {
            let _ = self
                .multi
                .println(format!("trial {number} {state}{detail}"));
        }
        self.update_sweep();
    }

    fn best_changed(&mut self, data: &Value) {
        let number = data["number"].as_i64().unwrap_or(-1);
        let metric = data["metric"].as_str().unwrap_or(&self.metric);
        let mut line = format!(
            "best: trial {number} {metric} {}",
            show::metric(data["value"].as_f64())
        );
        if let Some(params) = self.params.get(&number) {
            line.push(' ');
            line.push_str(&show::params_inline(params));
        }
        // A closed stdout loses the line, not the watch.
        self.multi
            .suspend(|| writeln!(std::io::stdout(), "{line}"))
            .ok();
    }

    fn remove(&mut self, number: i64) {
        if let Some(trial) = self.running.remove(&number) {
            trial.bar.finish_and_clear();
            self.multi.remove(&trial.bar);
        }
    }

    fn update_sweep(&self) {
        self.sweep.set_position(self.finished.len() as u64);
        let mut parts = vec![format!("{} running", self.running.len())];
        for state in ["completed", "pruned", "failed", "cancelled"] {
            if let Some(n) = self.ended.get(state) {
                parts.push(format!("{n} {state}"));
            }
        }
        self.sweep.set_message(parts.join(", "));
    }
}

impl TrialBar {
    fn show(&self, number: i64, epoch: i64) {
        let epochs = self.epochs.map_or_else(|| "?".into(), |n| n.to_string());
        self.bar
            .set_prefix(format!("trial {number}: epoch {epoch}/{epochs}"));
        let mut message = Vec::new();
        if let Some(loss) = self.loss {
            message.push(format!("loss {loss:.4}"));
        }
        if let Some(accuracy) = self.val_accuracy {
            message.push(format!("val_accuracy {accuracy:.4}"));
        }
        self.bar.set_message(message.join("  "));
    }
}

impl Output for Bars {
    fn event(&mut self, event: &Event) -> std::io::Result<()> {
        let data = &event.data;
        let number = data["number"].as_i64().unwrap_or(-1);
        match event.kind.as_str() {
            "sweep_created" => {
                if let Some(total) = data["trials"].as_u64() {
                    self.sweep.set_length(total);
                }
            }
            "trial_queued" | "trial_sampled" if !data["params"].is_null() => {
                self.params.insert(number, data["params"].clone());
            }
            "trial_started" => self.started(number, data),
            "trial_progress" => self.progress(number, data),
            "epoch_report" => self.epoch_report(number, &data["report"]),
            "trial_completed" => {
                let accuracy = self.running.get(&number).and_then(|t| t.val_accuracy);
                let detail =
                    accuracy.map_or_else(String::new, |a| format!(": val_accuracy {a:.4}"));
                self.trial_ended(number, "completed", detail);
            }
            "trial_pruned" => {
                let detail = format!(
                    " at epoch {}: {}",
                    data["epoch"],
                    show::value(&data["reason"])
                );
                self.trial_ended(number, "pruned", detail);
            }
            "trial_failed" | "trial_cancelled" => {
                let state = event.kind.trim_start_matches("trial_");
                self.trial_ended(number, state, format!(": {}", show::value(&data["error"])));
            }
            "trial_requeued" => {
                self.remove(number);
                let _ = self.multi.println(format!(
                    "trial {number} requeued: its worker was lost (attempt {})",
                    data["attempt"]
                ));
                self.update_sweep();
            }
            "best_changed" => self.best_changed(data),
            "sweep_completed" | "sweep_cancelled" => self.sweep.finish(),
            _ => {}
        }
        Ok(())
    }

    fn note(&mut self, message: &str) {
        self.multi.suspend(|| eprintln!("{message}"));
    }
}

impl Drop for Bars {
    fn drop(&mut self) {
        for (_, trial) in self.running.drain() {
            trial.bar.finish_and_clear();
        }
        self.sweep.finish_and_clear();
        let _ = self.multi.clear();
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .expect("the bar templates are valid")
        .progress_chars("=> ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_valid() {
        style(SWEEP_TEMPLATE);
        style(STARTING_TEMPLATE);
        style(TRIAL_TEMPLATE);
    }
}
