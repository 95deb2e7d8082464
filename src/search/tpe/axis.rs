//! A distribution's values on the axis TPE models them on.
use crate::search::quantize;
use crate::spec::Distribution;

/// A distribution's internal axis: log or linear, widened by half a step for
/// discrete ones so that the end values get their fair share.
pub(super) struct Axis<'a> {
    pub(super) distribution: &'a Distribution,
    pub(super) log: bool,
    /// Whether values are JSON integers.
    pub(super) integer: bool,
    pub(super) low: f64,
    pub(super) high: f64,
}

impl<'a> Axis<'a> {
    pub(super) fn new(distribution: &'a Distribution, integer: bool) -> Self {
        let (min, max, log, step) = match *distribution {
            Distribution::Uniform { min, max } => (min, max, false, 0.0),
            Distribution::IntUniform { min, max } => (min as f64, max as f64, false, 1.0),
            Distribution::LogUniformValues { min, max } => (min, max, true, 0.0),
            Distribution::QUniform { min, max, q } => (min, max, false, q),
            Distribution::QLogUniformValues { min, max, q } => (min, max, true, q),
        };
        let low = match min - step / 2.0 {
            low if log && low <= 0.0 => min,
            low => low,
        };
        let integer = integer || matches!(distribution, Distribution::IntUniform { .. });
        let inward = |x: f64| if log { x.ln() } else { x };
        let (low, high) = (inward(low), inward(max + step / 2.0));
        Axis {
            distribution,
            log,
            integer,
            low,
            high,
        }
    }

    pub(super) fn inward(&self, x: f64) -> f64 {
        if self.log {
            x.ln()
        } else {
            x
        }
    }

    /// Back to a valid value of the distribution: in range, rounded, quantized.
    pub(super) fn outward(&self, y: f64) -> f64 {
        let x = if self.log { y.exp() } else { y };
        match *self.distribution {
            Distribution::Uniform { min, max } | Distribution::LogUniformValues { min, max } => {
                x.clamp(min, max)
            }
            Distribution::IntUniform { min, max } => x.round().clamp(min as f64, max as f64),
            Distribution::QUniform { min, max, q }
            | Distribution::QLogUniformValues { min, max, q } => quantize(x, min, max, q),
        }
    }
}
