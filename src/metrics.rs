//! What `GET /metrics` reports, kept in memory (pure): counters, gauges and
//! histograms, and their rendering in the Prometheus text exposition format
//! 0.0.4. The API feeds it (request durations, the event log's tail); the
//! supervisor counts its live worker processes into it.
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

/// Buckets (seconds) of an API request's duration: Prometheus' defaults.
pub const HTTP_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Buckets (seconds) of one training epoch: from a tiny MNIST subset to an hour.
pub const EPOCH_BUCKETS: &[f64] = &[
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];

/// A cumulative histogram over fixed upper bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    bounds: &'static [f64],
    /// Observations at most each bound (not cumulative; summed when rendered).
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    /// An empty histogram over `bounds` (ascending).
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }

    /// Records one value; a NaN counts toward `+Inf` only.
    pub fn observe(&mut self, value: f64) {
        if let Some(i) = self.bounds.iter().position(|b| value <= *b) {
            self.counts[i] += 1;
        }
        if value.is_finite() {
            self.sum += value;
        }
        self.count += 1;
    }

    /// How many values were recorded.
    pub fn count(&self) -> u64 {
        self.count
    }
}

/// The event log as the server has read it so far: a cursor and what the
/// events up to it add to.
#[derive(Debug, Clone, PartialEq)]
pub struct Tail {
    /// Id of the last event counted.
    pub cursor: i64,
    pub events: u64,
    pub epochs: u64,
    pub epoch_seconds: Histogram,
}

/// One event of the log, as the metrics see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EventTick {
    pub id: i64,
    /// The epoch's seconds when the event is an epoch report.
    pub epoch_seconds: Option<f64>,
}

impl Tail {
    /// Counts the events after the cursor, in id order; events at or before
    /// it (read by a concurrent scrape) are skipped, so each counts once.
    pub fn advance(&mut self, ticks: &[EventTick]) {
        for tick in ticks {
            if tick.id <= self.cursor {
                continue;
            }
            self.cursor = tick.id;
            self.events += 1;
            if let Some(seconds) = tick.epoch_seconds {
                self.epochs += 1;
                self.epoch_seconds.observe(seconds);
            }
        }
    }
}

/// An API request's labels: the route's pattern, the method, the status.
pub type RequestKey = (String, String, u16);

/// Everything `/metrics` reports that is not read from the database.
#[derive(Debug)]
pub struct Registry {
    /// Worker processes alive now (the supervisor's).
    pub workers_connected: AtomicI64,
    requests: Mutex<BTreeMap<RequestKey, Histogram>>,
    tail: Mutex<Tail>,
}

impl Default for Registry {
    fn default() -> Registry {
        Registry {
            workers_connected: AtomicI64::new(0),
            requests: Mutex::default(),
            tail: Mutex::new(Tail {
                cursor: 0,
                events: 0,
                epochs: 0,
                epoch_seconds: Histogram::new(EPOCH_BUCKETS),
            }),
        }
    }
}

impl Registry {
    /// Records an API request that took `seconds`.
    pub fn observe_request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        requests
            .entry((route.to_string(), method.to_string(), status))
            .or_insert_with(|| Histogram::new(HTTP_BUCKETS))
            .observe(seconds);
    }

    /// The event log's cursor: read the events after it, then `advance`.
    pub fn cursor(&self) -> i64 {
        self.tail.lock().unwrap_or_else(|e| e.into_inner()).cursor
    }

    /// Counts events read from the log (see `Tail::advance`).
    pub fn advance(&self, ticks: &[EventTick]) {
        self.tail
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .advance(ticks);
    }

    /// A worker process started (+1) or ended (-1).
    pub fn worker_delta(&self, delta: i64) {
        self.workers_connected.fetch_add(delta, Ordering::Relaxed);
    }

    /// The exposition of everything, given the database's counts of trials
    /// and sweeps by state (every state listed, zeros included).
    pub fn render(&self, trials: &[(&str, i64)], sweeps: &[(&str, i64)]) -> String {
        let mut out = Exposition::default();
        out.family("hypersweep_trials", "Trials by state.", "gauge");
        for (state, n) in trials {
            out.sample("hypersweep_trials", &[("state", state)], *n as f64);
        }
        out.family("hypersweep_sweeps", "Sweeps by state.", "gauge");
        for (state, n) in sweeps {
            out.sample("hypersweep_sweeps", &[("state", state)], *n as f64);
        }
        let workers = self.workers_connected.load(Ordering::Relaxed).max(0);
        out.family(
            "hypersweep_workers_connected",
            "Worker processes alive, as the server's supervisor counts them.",
            "gauge",
        );
        out.sample("hypersweep_workers_connected", &[], workers as f64);
        let tail = self.tail.lock().unwrap_or_else(|e| e.into_inner()).clone();
        out.family(
            "hypersweep_epochs_trained_total",
            "Epochs trained (epoch reports written) since this server started reading the log.",
            "counter",
        );
        out.sample("hypersweep_epochs_trained_total", &[], tail.epochs as f64);
        out.family(
            "hypersweep_epoch_seconds",
            "Seconds one training epoch took.",
            "histogram",
        );
        out.histogram("hypersweep_epoch_seconds", &[], &tail.epoch_seconds);
        out.family(
            "hypersweep_events_written_total",
            "Events written to the event log.",
            "counter",
        );
        out.sample("hypersweep_events_written_total", &[], tail.events as f64);
        let requests = self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        out.family(
            "hypersweep_http_request_duration_seconds",
            "Seconds the API took to answer, by route pattern, method and status.",
            "histogram",
        );
        for ((route, method, status), histogram) in &requests {
            let status = status.to_string();
            let labels = [
                ("route", route.as_str()),
                ("method", method),
                ("status", &status),
            ];
            out.histogram(
                "hypersweep_http_request_duration_seconds",
                &labels,
                histogram,
            );
        }
        out.text
    }
}

/// A document in the text exposition format being written.
#[derive(Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    fn family(&mut self, name: &str, help: &str, kind: &str) {
        let _ = writeln!(self.text, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let _ = writeln!(self.text, "{name}{} {}", label_set(labels), number(value));
    }

    fn histogram(&mut self, name: &str, labels: &[(&str, &str)], h: &Histogram) {
        let mut cumulative = 0;
        for (bound, n) in h.bounds.iter().zip(&h.counts) {
            cumulative += n;
            let le = number(*bound);
            let with_le: Vec<_> = labels
                .iter()
                .copied()
                .chain([("le", le.as_str())])
                .collect();
            self.sample(&format!("{name}_bucket"), &with_le, cumulative as f64);
        }
        let with_inf: Vec<_> = labels.iter().copied().chain([("le", "+Inf")]).collect();
        self.sample(&format!("{name}_bucket"), &with_inf, h.count as f64);
        self.sample(&format!("{name}_sum"), labels, h.sum);
        self.sample(&format!("{name}_count"), labels, h.count as f64);
    }
}

/// `{a="x",b="y"}`, or nothing for no labels.
fn label_set(labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// A label value with `\`, `"` and newlines escaped.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A HELP text with `\` and newlines escaped.
fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A sample value as the format spells it (Go's float syntax, `+Inf`, `NaN`).
fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_render_cumulative_buckets_sum_and_count() {
        let mut h = Histogram::new(&[1.0, 2.0]);
        for v in [0.5, 1.5, 1.7, 9.0] {
            h.observe(v);
        }
        let mut out = Exposition::default();
        out.histogram("x", &[("route", "/a\"b")], &h);
        assert_eq!(
            out.text,
            "x_bucket{route=\"/a\\\"b\",le=\"1\"} 1\nx_bucket{route=\"/a\\\"b\",le=\"2\"} 3\n\
             x_bucket{route=\"/a\\\"b\",le=\"+Inf\"} 4\nx_sum{route=\"/a\\\"b\"} 12.7\n\
             x_count{route=\"/a\\\"b\"} 4\n"
        );
    }

    #[test]
    fn the_tail_counts_each_event_once() {
        let registry = Registry::default();
        let ticks = [
            EventTick {
                id: 3,
                epoch_seconds: Some(0.2),
            },
            EventTick {
                id: 5,
                epoch_seconds: None,
            },
        ];
        registry.advance(&ticks);
        registry.advance(&ticks); // a concurrent scrape read the same rows
        let tail = registry.tail.lock().unwrap().clone();
        assert_eq!((tail.cursor, tail.events, tail.epochs), (5, 2, 1));
        assert_eq!(tail.epoch_seconds.count(), 1);
    }

    #[test]
    fn every_family_has_help_and_type() {
        let registry = Registry::default();
        registry.observe_request("/v1/sweeps/{id}", "GET", 200, 0.003);
        let text = registry.render(&[("queued", 2)], &[("running", 1)]);
        for name in [
            "hypersweep_trials",
            "hypersweep_sweeps",
            "hypersweep_workers_connected",
            "hypersweep_epochs_trained_total",
            "hypersweep_epoch_seconds",
            "hypersweep_events_written_total",
            "hypersweep_http_request_duration_seconds",
        ] {
            assert!(text.contains(&format!("# TYPE {name} ")), "{name}");
            assert!(text.contains(&format!("# HELP {name} ")), "{name}");
        }
        assert!(text.contains("hypersweep_trials{state=\"queued\"} 2\n"));
        assert!(text.contains(
            "hypersweep_http_request_duration_seconds_bucket{route=\"/v1/sweeps/{id}\",method=\"GET\",status=\"200\",le=\"0.005\"} 1\n"
        ));
    }
}
