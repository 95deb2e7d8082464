//! What a sweep teaches: which parameters matter (fANOVA over a random
//! forest), the best value so far over time, and the axes plots and exports
//! lay trials out on. Pure: no I/O, no async, no store.
pub mod csv;
pub mod forest;
pub mod importance;
pub mod space;
pub mod time;

pub use importance::{importance, Observation, METHOD};
pub use space::{applied, axes, label, positions, Axis, AxisKind};

use crate::spec::Goal;

/// The best value reached by each time: `(seconds, value)` points in any
/// order become a step line, one point per improvement, in time order.
/// Values that are not finite are skipped.
pub fn best_so_far(goal: Goal, mut points: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    points.retain(|p| p.0.is_finite() && p.1.is_finite());
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    let better = |a: f64, b: f64| match goal {
        Goal::Maximize => a > b,
        Goal::Minimize => a < b,
    };
    let mut out: Vec<(f64, f64)> = Vec::new();
    for (t, v) in points {
        match out.last() {
            Some(&(_, best)) if !better(v, best) => {}
            _ => out.push((t, v)),
        }
    }
    out
}

#[cfg(test)]
mod tests;
