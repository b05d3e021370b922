//! The report's charts, drawn with plotters' SVG backend into strings (README, Report). Each
//! has a title with its unit, labelled axes and a legend. Days are categories on the x axis
//! (one slot per billing day), so bars sit in their day and lines pass through its middle.

use plotters::coord::ranged1d::SegmentValue;
use plotters::coord::ranged1d::SegmentedCoord;
use plotters::coord::types::RangedCoordu32;
use plotters::prelude::*;

/// One named series, a value per slot.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub values: Vec<f64>,
}

impl Series {
    pub fn new(name: impl Into<String>, values: Vec<f64>) -> Series {
        Series { name: name.into(), values }
    }
}

/// What every chart carries: a title (with its unit), axis descriptions, x labels per slot.
pub struct Frame<'a> {
    pub title: &'a str,
    pub x_desc: &'a str,
    pub y_desc: &'a str,
    pub labels: &'a [String],
    pub size: (u32, u32),
    /// Decimals of the y axis labels (money: 2).
    pub y_decimals: usize,
}

/// The colours of the series, in order (colour-blind friendly, Okabe-Ito then Tableau).
const PALETTE: [RGBColor; 10] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(240, 228, 66),
    RGBColor(120, 120, 120),
    RGBColor(140, 86, 75),
    RGBColor(23, 190, 207),
];

pub fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

type Err = String;

fn e<E: std::fmt::Display>(err: E) -> Err {
    err.to_string()
}

/// The y axis label of `v` with thousands separators.
fn axis_value(v: f64, decimals: usize) -> String {
    let scale = 10f64.powi(decimals as i32);
    let n = (v * scale).round() as i128;
    let whole = super::thousands(n / scale as i128);
    if decimals == 0 {
        whole
    } else {
        let frac = (n % scale as i128).unsigned_abs();
        let sign = if n < 0 && whole == "0" { "-" } else { "" };
        format!("{sign}{whole}.{frac:0decimals$}")
    }
}

/// A round upper bound for the y axis (at least 1, so an all-zero chart still has an axis).
fn y_max(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let v = v * 1.08;
    let mag = 10f64.powf(v.log10().floor());
    let step = [1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0]
        .into_iter()
        .find(|s| s * mag >= v)
        .unwrap_or(10.0);
    step * mag
}

type Chart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<SegmentedCoord<RangedCoordu32>, plotters::coord::types::RangedCoordf64>,
>;

/// Draws a chart frame on a fresh SVG string, lets `body` draw the series, then the legend.
fn draw(
    f: &Frame,
    ymax: f64,
    body: impl FnOnce(&mut Chart) -> Result<(), Err>,
) -> Result<String, Err> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, f.size).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        // The u32 range is inclusive: 0..n-1 gives n slots (a single slot needs two values).
        let n = (f.labels.len() as u32).saturating_sub(1).max(1);
        let mut chart = ChartBuilder::on(&root)
            .caption(f.title, ("sans-serif", 20).into_font().style(FontStyle::Bold))
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(80)
            .build_cartesian_2d((0u32..n).into_segmented(), 0f64..y_max(ymax))
            .map_err(e)?;
        let labels = f.labels;
        let every = (labels.len() / 12).max(1);
        let decimals = f.y_decimals;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc(f.x_desc)
            .y_desc(f.y_desc)
            .x_labels(labels.len().min(64))
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) | SegmentValue::Exact(i)
                    if (*i as usize).is_multiple_of(every) =>
                {
                    labels.get(*i as usize).cloned().unwrap_or_default()
                }
                _ => String::new(),
            })
            .y_label_formatter(&|v| axis_value(*v, decimals))
            .axis_desc_style(("sans-serif", 15))
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(e)?;
        body(&mut chart)?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .label_font(("sans-serif", 13))
            .draw()
            .map_err(e)?;
        root.present().map_err(e)?;
    }
    Ok(svg)
}

fn legend_box(c: RGBColor) -> impl Fn((i32, i32)) -> Rectangle<(i32, i32)> {
    move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], c.filled())
}

/// Bars stacked per slot, in series order from the bottom; `lines` drawn over them.
pub fn stacked_bars(f: &Frame, series: &[Series], lines: &[Series]) -> Result<String, Err> {
    let n = f.labels.len();
    let totals: Vec<f64> = (0..n)
        .map(|i| series.iter().map(|s| s.values.get(i).copied().unwrap_or(0.0)).sum())
        .collect();
    let top = totals
        .iter()
        .chain(lines.iter().flat_map(|l| l.values.iter()))
        .copied()
        .fold(0.0, f64::max);
    draw(f, top, |chart| {
        let mut base = vec![0.0; n];
        for (k, s) in series.iter().enumerate() {
            let c = colour(k);
            let mut rects = Vec::new();
            for (i, b) in base.iter_mut().enumerate() {
                let v = s.values.get(i).copied().unwrap_or(0.0);
                if v > 0.0 {
                    let i = i as u32;
                    let mut r = Rectangle::new(
                        [(SegmentValue::Exact(i), *b), (SegmentValue::Exact(i + 1), *b + v)],
                        c.filled(),
                    );
                    r.set_margin(0, 0, 1, 1);
                    rects.push(r);
                }
                *b += v;
            }
            chart.draw_series(rects).map_err(e)?.label(s.name.as_str()).legend(legend_box(c));
        }
        draw_lines(chart, lines, series.len())
    })
}

fn draw_lines(chart: &mut Chart, lines: &[Series], offset: usize) -> Result<(), Err> {
    for (k, s) in lines.iter().enumerate() {
        let c = if lines.len() == 1 && offset > 0 { BLACK } else { colour(offset + k) };
        let style = c.stroke_width(2);
        let points: Vec<_> = s
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| (SegmentValue::CenterOf(i as u32), *v))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), style).point_size(0))
            .map_err(e)?
            .label(s.name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], c.stroke_width(2)));
        chart.draw_series(points.into_iter().map(|p| Circle::new(p, 2, c.filled()))).map_err(e)?;
    }
    Ok(())
}

/// Areas stacked per slot, in series order from the bottom; `lines` drawn over them.
pub fn stacked_areas(f: &Frame, series: &[Series], lines: &[Series]) -> Result<String, Err> {
    let n = f.labels.len();
    // cumulative tops, bottom series first
    let mut tops: Vec<Vec<f64>> = Vec::with_capacity(series.len());
    let mut acc = vec![0.0; n];
    for s in series {
        for (i, a) in acc.iter_mut().enumerate() {
            *a += s.values.get(i).copied().unwrap_or(0.0);
        }
        tops.push(acc.clone());
    }
    let top =
        acc.iter().chain(lines.iter().flat_map(|l| l.values.iter())).copied().fold(0.0, f64::max);
    draw(f, top, |chart| {
        // each layer is its cumulative top filled down to the one below it
        for (k, s) in series.iter().enumerate() {
            let c = colour(k);
            let upper = &tops[k];
            let lower: Vec<f64> = if k == 0 { vec![0.0; n] } else { tops[k - 1].clone() };
            let mut outline: Vec<(SegmentValue<u32>, f64)> = upper
                .iter()
                .enumerate()
                .map(|(i, v)| (SegmentValue::CenterOf(i as u32), *v))
                .collect();
            outline.extend(
                lower.iter().enumerate().rev().map(|(i, v)| (SegmentValue::CenterOf(i as u32), *v)),
            );
            chart
                .draw_series(std::iter::once(Polygon::new(outline, c.mix(0.85).filled())))
                .map_err(e)?
                .label(s.name.as_str())
                .legend(legend_box(c));
        }
        draw_lines(chart, lines, series.len())
    })
}

/// Lines, one per series.
pub fn lines(f: &Frame, lines: &[Series]) -> Result<String, Err> {
    let top = lines.iter().flat_map(|l| l.values.iter()).copied().fold(0.0, f64::max);
    draw(f, top, |chart| draw_lines(chart, lines, 0))
}

/// Bars side by side per slot, one per series.
pub fn grouped_bars(f: &Frame, series: &[Series]) -> Result<String, Err> {
    let top = series.iter().flat_map(|s| s.values.iter()).copied().fold(0.0, f64::max);
    let k = series.len().max(1) as f64;
    draw(f, top, |chart| {
        // a slot's width in pixels, split into k bars through each bar's left and right margins
        let x = |i: u32| chart.backend_coord(&(SegmentValue::Exact(i), 0.0)).0 as f64;
        let w = x(1) - x(0);
        // bars of at most 48 px, the group centred in its slot
        let bar = (w * 0.8 / k).clamp(1.0, 48.0);
        for (j, s) in series.iter().enumerate() {
            let c = colour(j);
            let left = ((w - bar * k) / 2.0 + bar * j as f64).round().max(0.0) as u32;
            let right = (w - left as f64 - bar).round().max(0.0) as u32;
            let rects: Vec<_> = s
                .values
                .iter()
                .enumerate()
                .filter(|(_, v)| **v > 0.0)
                .map(|(i, v)| {
                    let i = i as u32;
                    let mut r = Rectangle::new(
                        [(SegmentValue::Exact(i), 0.0), (SegmentValue::Exact(i + 1), *v)],
                        c.filled(),
                    );
                    r.set_margin(0, 0, left, right);
                    r
                })
                .collect();
            chart.draw_series(rects).map_err(e)?.label(s.name.as_str()).legend(legend_box(c));
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_is_an_svg_with_its_title_axes_and_legend_as_text() {
        let labels: Vec<String> =
            ["09-01", "09-02", "09-03"].iter().map(|s| s.to_string()).collect();
        let f = Frame {
            title: "Revenue (USD)",
            x_desc: "billing day",
            y_desc: "USD",
            labels: &labels,
            size: (600, 300),
            y_decimals: 2,
        };
        let svg = stacked_bars(
            &f,
            &[
                Series::new("audio", vec![1.0, 2.0, 0.0]),
                Series::new("video_hd", vec![0.5, 0.0, 3.0]),
            ],
            &[],
        )
        .unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        for t in ["Revenue (USD)", "billing day", "\nUSD\n", "audio", "video_hd", "09-01"] {
            assert!(svg.contains(t), "{t} missing");
        }
        assert!(svg.matches("<rect").count() >= 4);
        assert_eq!(axis_value(1234.5, 2), "1,234.50");
        assert_eq!(axis_value(1234.4, 0), "1,234");
        assert_eq!(y_max(0.0), 1.0);
        assert!(y_max(93.0) >= 93.0);
    }
}
