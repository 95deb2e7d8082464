//! What every plot shares: axes with chosen ticks (integers for epochs,
//! their own for listed values, powers of ten on log axes), text fit for
//! SVG, colours, and the line chart of curves.
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::prelude::*;
use std::ops::Range;

/// A drawing error, as plotters gives them.
pub type DrawResult<T> = Result<T, Box<dyn std::error::Error>>;

/// The coordinate of every axis: a number range with chosen tick points
/// (and no light mesh lines between them).
#[derive(Debug, Clone)]
pub struct Coord {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl Ranged for Coord {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let share = (value - self.lo) / (self.hi - self.lo);
        let pixel = limit.0 as f64 + share * (limit.1 - limit.0) as f64;
        pixel.round().clamp(-1e6, 1e6) as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            // The light mesh: none, the ticks are enough.
            return Vec::new();
        }
        self.ticks.clone()
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

/// How tick values are written.
#[derive(Debug, Clone)]
pub enum Labels {
    /// With this many decimals.
    Decimals(usize),
    /// The position is log10 of the value: written as the value.
    Power,
    /// The position is an index into these names.
    Names(Vec<String>),
}

/// One axis: its range, ticks, how they are written, and its title.
#[derive(Debug, Clone)]
pub struct Scale {
    pub lo: f64,
    pub hi: f64,
    pub ticks: Vec<f64>,
    pub labels: Labels,
    pub desc: String,
}

impl Scale {
    /// A linear axis over `[lo, hi]` (widened when empty), at most ~10
    /// ticks, only integers when `integer`.
    pub fn linear(lo: f64, hi: f64, integer: bool, desc: &str) -> Scale {
        let (lo, hi) = widen(lo, hi, if integer { 1.0 } else { 1e-3 });
        let step = nice_step((hi - lo) / 8.0, integer);
        let decimals = if integer {
            0
        } else {
            (-step.log10().floor()).max(0.0) as usize
        };
        let mut ticks = Vec::new();
        let mut k = (lo / step).ceil();
        while k * step <= hi + step * 1e-9 && ticks.len() < 100 {
            ticks.push(k * step);
            k += 1.0;
        }
        Scale {
            lo,
            hi,
            ticks,
            labels: Labels::Decimals(decimals),
            desc: desc.into(),
        }
    }

    /// A log axis over values `[lo, hi]`: positions are log10, ticks at powers of ten.
    pub fn log(lo: f64, hi: f64, desc: &str) -> Scale {
        let (lo, hi) = widen(lo.log10(), hi.log10(), 0.05);
        let mut ticks: Vec<f64> = (lo.ceil() as i64..=hi.floor() as i64)
            .map(|k| k as f64)
            .collect();
        if ticks.len() < 2 {
            ticks = vec![lo, (lo + hi) / 2.0, hi];
        }
        Scale {
            lo,
            hi,
            ticks,
            labels: Labels::Power,
            desc: format!("{desc} (log scale)"),
        }
    }

    /// An axis of named positions `0, 1, ...`, each its own tick.
    pub fn names(names: Vec<String>, desc: &str) -> Scale {
        let n = names.len().max(1) as f64;
        Scale {
            lo: -0.5,
            hi: n - 0.5,
            ticks: (0..names.len()).map(|i| i as f64).collect(),
            labels: Labels::Names(names),
            desc: desc.into(),
        }
    }

    /// The coordinate plotters draws on.
    pub fn coord(&self) -> Coord {
        Coord {
            lo: self.lo,
            hi: self.hi,
            ticks: self.ticks.clone(),
        }
    }

    /// A tick's text.
    pub fn label(&self, x: f64) -> String {
        match &self.labels {
            Labels::Decimals(d) => format!("{x:.d$}"),
            Labels::Power => {
                let v = 10f64.powf(x);
                if (x - x.round()).abs() < 1e-9 {
                    format!("{}", 10f64.powi(x.round() as i32))
                } else {
                    format!("{v:.3e}")
                }
            }
            Labels::Names(names) => {
                let i = x.round();
                if (x - i).abs() < 1e-9 && i >= 0.0 {
                    names
                        .get(i as usize)
                        .map(|n| printable(n))
                        .unwrap_or_default()
                } else {
                    String::new()
                }
            }
        }
    }
}

/// A range of some width: an empty or reversed one widened around its middle.
fn widen(lo: f64, hi: f64, least: f64) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite()) {
        return (0.0, 1.0);
    }
    if hi - lo >= least {
        (lo, hi)
    } else {
        let mid = (lo + hi) / 2.0;
        (mid - least / 2.0, mid + least / 2.0)
    }
}

/// 1, 2 or 5 times a power of ten, at least `raw` (at least 1 for integers).
fn nice_step(raw: f64, integer: bool) -> f64 {
    let raw = if integer {
        raw.max(1.0)
    } else {
        raw.max(1e-12)
    };
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * magnitude)
}

/// The y range of values with a margin; `(0, 1)` when there are none.
pub fn value_scale<'a>(values: impl Iterator<Item = &'a f64>, desc: &str) -> Scale {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(*v);
        hi = hi.max(*v);
    }
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(1e-3);
    Scale::linear(lo - pad, hi + pad, false, desc)
}

/// Text fit for an SVG title: XML 1.0 has no way to write most control
/// characters, escaped or not, so each becomes U+FFFD (names stored before
/// specs refused them may hold some). plotters escapes `<`, `&` and quotes.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

/// A chart of `x` against `y` with a caption, its mesh drawn.
pub fn chart<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    title: &str,
    x: &Scale,
    y: &Scale,
) -> DrawResult<ChartContext<'a, SVGBackend<'b>, Cartesian2d<Coord, Coord>>> {
    let mut chart = ChartBuilder::on(root)
        .caption(printable(title), ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(x_area(y))
        .build_cartesian_2d(x.coord(), y.coord())?;
    chart
        .configure_mesh()
        .x_desc(printable(&x.desc))
        .y_desc(printable(&y.desc))
        .x_label_formatter(&|v| x.label(*v))
        .y_label_formatter(&|v| y.label(*v))
        .draw()?;
    Ok(chart)
}

/// Room for the y axis's labels: wider for names.
fn x_area(y: &Scale) -> u32 {
    match &y.labels {
        Labels::Names(names) => {
            let longest = names.iter().map(|n| n.chars().count()).max().unwrap_or(4);
            (longest as u32 * 8 + 24).clamp(64, 220)
        }
        _ => 72,
    }
}

/// A colour of a scale from low (dark blue) to high (yellow), like viridis.
pub fn viridis(t: f64) -> RGBColor {
    const STOPS: [(u8, u8, u8); 5] = [
        (68, 1, 84),
        (59, 82, 139),
        (33, 145, 140),
        (94, 201, 98),
        (253, 231, 37),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let at = t * (STOPS.len() - 1) as f64;
    let (i, f) = ((at.floor() as usize).min(STOPS.len() - 2), at - at.floor());
    let f = if at >= (STOPS.len() - 1) as f64 {
        1.0
    } else {
        f
    };
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * f).round() as u8;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}
