//! Plots of the metric against parameters: a slice (one parameter, the
//! metric on y), a contour (two parameters, the metric as colour over an
//! interpolated grid, with a colour scale).
use super::draw::{chart, printable, viridis, DrawResult, Scale};
use plotters::prelude::*;

/// A trial on a slice: its position, its value, and whether it was pruned.
pub struct SlicePoint {
    pub x: f64,
    pub value: f64,
    pub pruned: bool,
}

/// The metric against one parameter: completed trials blue, pruned grey.
pub fn slice(title: &str, x: &Scale, y: &Scale, points: &[SlicePoint]) -> DrawResult<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 520)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = chart(&root, title, x, y)?;
        for (pruned, label, colour) in [
            (true, "pruned", RGBColor(170, 170, 170)),
            (false, "completed", RGBColor(31, 119, 180)),
        ] {
            let mine: Vec<(f64, f64)> = points
                .iter()
                .filter(|p| p.pruned == pruned && p.x.is_finite() && p.value.is_finite())
                .map(|p| (p.x, p.value))
                .collect();
            if mine.is_empty() {
                continue;
            }
            chart
                .draw_series(mine.iter().map(|p| Circle::new(*p, 4, colour.filled())))?
                .label(label)
                .legend(move |(x, y)| Circle::new((x + 10, y), 4, colour.filled()));
        }
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .draw()?;
        root.present()?;
    }
    Ok(svg)
}

/// Cells per side of a contour's interpolated grid.
const GRID: usize = 32;
/// At most this many trials shape the grid (every one is still drawn).
const GRID_POINTS: usize = 2000;

/// The metric against two parameters: each trial a dot coloured by its
/// value over a grid interpolated between them (inverse distance), and a
/// colour scale naming the values.
pub fn contour(
    title: &str,
    x: &Scale,
    y: &Scale,
    points: &[(f64, f64, f64)],
    metric: &[&str],
) -> DrawResult<String> {
    let points: Vec<(f64, f64, f64)> = points
        .iter()
        .copied()
        .filter(|p| p.0.is_finite() && p.1.is_finite() && p.2.is_finite())
        .collect();
    let (lo, hi) = points
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), p| {
            (l.min(p.2), h.max(p.2))
        });
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    let shade = |v: f64| {
        if hi > lo {
            viridis((v - lo) / (hi - lo))
        } else {
            viridis(0.5)
        }
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, 560)).into_drawing_area();
        root.fill(&WHITE)?;
        let (plot, legend) = root.split_horizontally(840);
        let mut chart = chart(&plot, title, x, y)?;
        if !points.is_empty() {
            let (wx, wy) = ((x.hi - x.lo) / GRID as f64, (y.hi - y.lo) / GRID as f64);
            let shaping = &points[..points.len().min(GRID_POINTS)];
            let mut cells = Vec::with_capacity(GRID * GRID);
            for i in 0..GRID {
                for j in 0..GRID {
                    let (cx, cy) = (x.lo + (i as f64 + 0.5) * wx, y.lo + (j as f64 + 0.5) * wy);
                    let v = interpolate(shaping, cx, cy, x.hi - x.lo, y.hi - y.lo);
                    let corner = (x.lo + i as f64 * wx, y.lo + j as f64 * wy);
                    let far = (corner.0 + wx, corner.1 + wy);
                    cells.push(Rectangle::new([corner, far], shade(v).mix(0.45).filled()));
                }
            }
            chart.draw_series(cells)?;
        }
        chart.draw_series(points.iter().map(|p| {
            EmptyElement::at((p.0, p.1))
                + Circle::new((0, 0), 5, shade(p.2).filled())
                + Circle::new((0, 0), 5, BLACK.stroke_width(1))
        }))?;
        colour_scale(&legend, lo, hi, metric, &shade)?;
        root.present()?;
    }
    Ok(svg)
}

/// The inverse-distance-weighted value at `(cx, cy)`, distances measured
/// in shares of each axis's span.
fn interpolate(points: &[(f64, f64, f64)], cx: f64, cy: f64, sx: f64, sy: f64) -> f64 {
    let (mut num, mut den) = (0.0, 0.0);
    for &(px, py, v) in points {
        let d2 = ((px - cx) / sx).powi(2) + ((py - cy) / sy).powi(2);
        if d2 < 1e-12 {
            return v;
        }
        let w = 1.0 / d2;
        num += w * v;
        den += w;
    }
    num / den
}

/// A vertical colour bar from `lo` (bottom) to `hi` (top), labelled.
fn colour_scale(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    lo: f64,
    hi: f64,
    metric: &[&str],
    shade: &dyn Fn(f64) -> RGBColor,
) -> DrawResult<()> {
    let (top, bottom, left) = (70i32, 470i32, 10i32);
    let steps = 40;
    for k in 0..steps {
        let t0 = bottom - (bottom - top) * (k + 1) / steps;
        let t1 = bottom - (bottom - top) * k / steps;
        let v = lo + (hi - lo) * (k as f64 + 0.5) / steps as f64;
        area.draw(&Rectangle::new(
            [(left, t0), (left + 24, t1)],
            shade(v).filled(),
        ))?;
    }
    area.draw(&Rectangle::new(
        [(left, top), (left + 24, bottom)],
        BLACK.stroke_width(1),
    ))?;
    let style = ("sans-serif", 13).into_font().color(&BLACK);
    for (k, y) in [
        (hi, top),
        ((lo + hi) / 2.0, (top + bottom) / 2),
        (lo, bottom),
    ] {
        area.draw(&Text::new(
            format!("{k:.4}"),
            (left + 30, y - 6),
            style.clone(),
        ))?;
    }
    for (i, line) in metric.iter().enumerate() {
        let at = (left, top - 44 + 16 * i as i32);
        area.draw(&Text::new(printable(line), at, style.clone()))?;
    }
    Ok(())
}
