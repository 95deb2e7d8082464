//! Line charts: per-epoch curves of every trial, one trial's batch losses,
//! the best value so far over time (a step line over every trial's dot).
use super::draw::{chart, printable, DrawResult, Scale};
use plotters::prelude::*;

#[derive(Clone, Copy, PartialEq)]
pub enum Emphasis {
    Best,
    Normal,
    Faded,
}

pub struct Series {
    pub points: Vec<(f64, f64)>,
    pub emphasis: Emphasis,
    pub label: Option<String>,
}

/// Lines on the given axes; the best series is drawn last, on top, and
/// named in the legend; `dots` are drawn under them as grey points.
pub fn draw(
    title: &str,
    x: &Scale,
    y: &Scale,
    series: &[Series],
    dots: &[(f64, f64)],
) -> DrawResult<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 520)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = chart(&root, title, x, y)?;
        let inside = |p: &(f64, f64)| p.1.is_finite() && p.0.is_finite();
        if !dots.is_empty() {
            chart
                .draw_series(
                    dots.iter()
                        .filter(|p| inside(p))
                        .map(|p| Circle::new(*p, 3, RGBColor(150, 150, 150).filled())),
                )?
                .label("a trial")
                .legend(|(x, y)| Circle::new((x + 10, y), 3, RGBColor(150, 150, 150).filled()));
        }
        let mut order: Vec<&Series> = series.iter().collect();
        order.sort_by_key(|s| match s.emphasis {
            Emphasis::Faded => 0,
            Emphasis::Normal => 1,
            Emphasis::Best => 2,
        });
        for (i, s) in order.iter().enumerate() {
            let style = match s.emphasis {
                Emphasis::Best => RED.stroke_width(3),
                Emphasis::Normal => Palette99::pick(i).stroke_width(1),
                Emphasis::Faded => RGBColor(200, 200, 200).stroke_width(1),
            };
            let points = s.points.iter().copied().filter(|p| inside(p));
            let drawn = chart.draw_series(LineSeries::new(points, style))?;
            if s.emphasis == Emphasis::Best {
                if let Some(label) = &s.label {
                    drawn.label(printable(label)).legend(|(x, y)| {
                        PathElement::new([(x, y), (x + 20, y)], RED.stroke_width(3))
                    });
                }
            }
        }
        let labelled = series
            .iter()
            .any(|s| s.emphasis == Emphasis::Best && s.label.is_some());
        if labelled || !dots.is_empty() {
            chart
                .configure_series_labels()
                .border_style(BLACK)
                .background_style(WHITE.mix(0.8))
                .draw()?;
        }
        root.present()?;
    }
    Ok(svg)
}

/// The points of a step line through `(t, best)` improvements: flat until
/// the next improvement, then up (or down) to it, and on to `until`.
pub fn steps(points: &[(f64, f64)], until: f64) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(points.len() * 2 + 1);
    for (i, &(t, v)) in points.iter().enumerate() {
        if i > 0 {
            out.push((t, points[i - 1].1));
        }
        out.push((t, v));
    }
    if let Some(&(t, v)) = points.last() {
        if until > t {
            out.push((until, v));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::steps;

    #[test]
    fn a_step_line_is_flat_between_improvements() {
        assert_eq!(
            steps(&[(1.0, 0.5), (4.0, 0.7)], 6.0),
            [(1.0, 0.5), (4.0, 0.5), (4.0, 0.7), (6.0, 0.7)]
        );
        assert!(steps(&[], 3.0).is_empty());
    }
}
