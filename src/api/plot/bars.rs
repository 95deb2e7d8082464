//! Importance as a bar chart.
use super::draw::{chart, printable, DrawResult, Scale};
use plotters::prelude::*;

/// Importance as horizontal bars, the most important on top, each with its value.
pub fn bars(title: &str, bars: &[(String, f64)], empty: &str) -> DrawResult<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 120 + 44 * bars.len().max(3) as u32))
            .into_drawing_area();
        root.fill(&WHITE)?;
        let names: Vec<String> = bars.iter().rev().map(|b| b.0.clone()).collect();
        let y = Scale::names(names, "parameter");
        let x = Scale::linear(0.0, 1.0, false, "share of the metric's variance");
        let mut chart = chart(&root, title, &x, &y)?;
        let n = bars.len();
        chart.draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
            let at = (n - 1 - i) as f64;
            Rectangle::new(
                [(0.0, at - 0.35), (v.clamp(0.0, 1.0), at + 0.35)],
                RGBColor(31, 119, 180).filled(),
            )
        }))?;
        let style = ("sans-serif", 14).into_font().color(&BLACK);
        chart.draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
            let at = (n - 1 - i) as f64;
            Text::new(
                format!("{v:.3}"),
                (v.clamp(0.0, 0.9) + 0.01, at + 0.1),
                style.clone(),
            )
        }))?;
        if bars.is_empty() {
            chart.draw_series([Text::new(printable(empty), (0.05, 0.0), style.clone())])?;
        }
        root.present()?;
    }
    Ok(svg)
}
