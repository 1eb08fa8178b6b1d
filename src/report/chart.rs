//! Charts of a report as PNG: the cost trend, calls and errors, latency percentiles and
//! DAU over the period, drawn with plotters on its bitmap backend with an embedded font
//! (DejaVu Sans, subset to Latin-1: no system font is looked up) and encoded with `png`.
//!
//! Each point is the mean over its step (`rate(…[step])`), so a week or a month is not
//! sampled from 5-minute rates; DAU is the fleet recording rule. Every chart has alt text
//! that says, in words and numbers, what it shows.

use std::sync::Once;
use std::time::Duration;

use jiff::Timestamp;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::FontStyle;

use super::period::Period;
use super::prom::{PromError, Prometheus};

/// The regular face, also embedded in PDFs.
pub const FONT: &[u8] = include_bytes!("font/DejaVuSans-subset.ttf");
/// The bold face.
pub const FONT_BOLD: &[u8] = include_bytes!("font/DejaVuSans-Bold-subset.ttf");

/// Points per chart.
const POINTS: u32 = 120;
/// Pixels.
const WIDTH: u32 = 900;
const HEIGHT: u32 = 300;

/// One rendered chart.
#[derive(Clone, Debug)]
pub struct Chart {
    /// Id, e.g. `cost`.
    pub id: &'static str,
    /// Caption.
    pub title: String,
    /// Alternative text: what the chart shows, in words and numbers.
    pub alt: String,
    /// The PNG.
    pub png: Vec<u8>,
    /// Its pixels, RGB8 (the PDF embeds them deflated).
    pub rgb: Vec<u8>,
    /// Pixels.
    pub width: u32,
    /// Pixels.
    pub height: u32,
}

struct ChartDef {
    id: &'static str,
    title: &'static str,
    unit: &'static str,
    /// (legend, PromQL with `$STEP`).
    lines: &'static [(&'static str, &'static str)],
}

const CHARTS: [ChartDef; 4] = [
    ChartDef {
        id: "cost",
        title: "LLM cost per hour",
        unit: "USD/h",
        lines: &[("cost", "sum(rate(llm_cost_usd_total[$STEP])) * 3600")],
    },
    ChartDef {
        id: "calls",
        title: "LLM calls and errors per minute",
        unit: "per min",
        lines: &[
            ("calls", "sum(rate(llm_requests_total[$STEP])) * 60"),
            (
                "errors",
                r#"sum(rate(llm_requests_total{outcome="error"}[$STEP])) * 60"#,
            ),
        ],
    },
    ChartDef {
        id: "latency",
        title: "LLM call latency percentiles",
        unit: "seconds",
        lines: &[
            (
                "p50",
                "histogram_quantile(0.5, sum by (le) (rate(llm_request_duration_seconds_bucket[$STEP])))",
            ),
            (
                "p95",
                "histogram_quantile(0.95, sum by (le) (rate(llm_request_duration_seconds_bucket[$STEP])))",
            ),
            (
                "p99",
                "histogram_quantile(0.99, sum by (le) (rate(llm_request_duration_seconds_bucket[$STEP])))",
            ),
        ],
    },
    ChartDef {
        id: "dau",
        title: "Daily active users",
        unit: "users",
        lines: &[(
            "DAU",
            r#"sum(window_segment:chat_users:estimate{segment="all",window="1d"})"#,
        )],
    },
];

const COLOURS: [RGBColor; 3] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
];

/// Queries and draws every chart that has data; a chart without any point is left out
/// (and named in the returned list of charts without data).
pub async fn charts(
    prometheus: &Prometheus,
    period: &Period,
) -> Result<(Vec<Chart>, Vec<&'static str>), PromError> {
    let step = Duration::from_secs((period.seconds() / u64::from(POINTS)).max(15));
    let mut drawn = Vec::new();
    let mut empty = Vec::new();
    for def in &CHARTS {
        let mut lines = Vec::new();
        for (name, expr) in def.lines {
            let promql = expr.replace("$STEP", &format!("{}s", step.as_secs()));
            let series = prometheus
                .query_range(&promql, period.start, period.end, step)
                .await?;
            let points: Vec<(f64, f64)> = series.into_iter().flat_map(|s| s.points).collect();
            if !points.is_empty() {
                lines.push((*name, points));
            }
        }
        if lines.is_empty() {
            empty.push(def.id);
            continue;
        }
        match draw(def, period, &lines) {
            Ok(chart) => drawn.push(chart),
            Err(e) => {
                tracing::warn!(chart = def.id, error = %e, "cannot draw a chart");
                empty.push(def.id);
            }
        }
    }
    Ok((drawn, empty))
}

fn register_fonts() {
    static FONTS: Once = Once::new();
    FONTS.call_once(|| {
        // The fonts are compiled in and known to parse (a unit test draws with them).
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
        let _ = plotters::style::register_font("sans-serif", FontStyle::Bold, FONT_BOLD);
    });
}

fn draw(
    def: &ChartDef,
    period: &Period,
    lines: &[(&str, Vec<(f64, f64)>)],
) -> Result<Chart, String> {
    register_fonts();
    let (t0, t1) = (
        period.start.as_second() as f64,
        period.end.as_second() as f64,
    );
    let top = lines
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(_, v)| *v))
        .fold(0.0_f64, f64::max);
    let top = if top > 0.0 { top * 1.1 } else { 1.0 };
    let mut rgb = vec![255u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
        let err = |e: &dyn std::fmt::Display| e.to_string();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("{} ({})", def.title, def.unit),
                ("sans-serif", 20).into_font().style(FontStyle::Bold),
            )
            .margin(12)
            .x_label_area_size(28)
            .y_label_area_size(64)
            .build_cartesian_2d(t0..t1, 0.0..top)
            .map_err(|e| err(&e))?;
        let time = |t: &f64| axis_time(*t, period.seconds());
        chart
            .configure_mesh()
            .x_labels(6)
            .y_labels(5)
            .x_label_formatter(&time)
            .y_label_formatter(&|v| short(*v))
            .label_style(("sans-serif", 13))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(|e| err(&e))?;
        draw_lines(&mut chart, lines)?;
        root.present().map_err(|e| err(&e))?;
    }
    Ok(Chart {
        id: def.id,
        title: def.title.to_owned(),
        alt: alt(def, period, lines),
        png: encode_png(&rgb, WIDTH, HEIGHT)?,
        rgb,
        width: WIDTH,
        height: HEIGHT,
    })
}

type Plot<'a, 'b> =
    ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// The lines, with dots where they are sparse, and their legend.
fn draw_lines<'a>(
    chart: &mut Plot<'a, 'a>,
    lines: &[(&str, Vec<(f64, f64)>)],
) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    for (i, (name, points)) in lines.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        // Few points (a young Prometheus, a long period) would draw little or no line.
        if points.len() <= 40 {
            chart
                .draw_series(points.iter().map(|p| Circle::new(*p, 3, colour.filled())))
                .map_err(|e| err(&e))?;
        }
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                colour.stroke_width(2),
            ))
            .map_err(|e| err(&e))?
            .label(*name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], colour.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .label_font(("sans-serif", 13))
        .background_style(WHITE.mix(0.8))
        .border_style(RGBColor(200, 200, 200))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(|e| err(&e))
}

/// What the chart shows, for screen readers and mail clients that block images.
fn alt(def: &ChartDef, period: &Period, lines: &[(&str, Vec<(f64, f64)>)]) -> String {
    let mut text = format!(
        "Line chart of {} in {}, from {} to {}",
        def.title.to_lowercase(),
        def.unit,
        period.start,
        period.end
    );
    for (name, points) in lines {
        let values = points.iter().map(|(_, v)| *v);
        let min = values.clone().fold(f64::INFINITY, f64::min);
        let max = values.clone().fold(f64::NEG_INFINITY, f64::max);
        let mean = values.sum::<f64>() / points.len() as f64;
        text.push_str(&format!(
            "; {name}: {} points, lowest {}, highest {}, mean {}",
            points.len(),
            short(min),
            short(max),
            short(mean)
        ));
    }
    text.push('.');
    text
}

/// An axis time in UTC: hours for a day, dates beyond.
fn axis_time(t: f64, period_seconds: u64) -> String {
    let Ok(ts) = Timestamp::from_second(t as i64) else {
        return String::new();
    };
    let format = if period_seconds <= 86_400 {
        "%H:%M"
    } else {
        "%m-%d"
    };
    ts.strftime(format).to_string()
}

/// A compact number: 3 significant figures, with k and M.
pub fn short(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.3}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else if a == 0.0 {
        "0".to_owned()
    } else {
        format!("{v:.3}")
    }
}

/// RGB8 pixels as a PNG.
pub fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(rgb.len() / 8);
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Default);
    encoder.set_adaptive_filter(png::AdaptiveFilterType::Adaptive);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(rgb).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::period::PeriodKind;

    #[test]
    fn draws_text_and_lines_with_the_embedded_font() {
        let end: Timestamp = "2026-12-03T08:00:00Z".parse().unwrap();
        let period = Period::ending(PeriodKind::Day, end);
        let t0 = period.start.as_second() as f64;
        let points: Vec<(f64, f64)> = (0..100)
            .map(|i| (t0 + f64::from(i) * 864.0, f64::from(i % 7)))
            .collect();
        let chart = draw(&CHARTS[0], &period, &[("cost", points)]).unwrap();
        assert!(chart.png.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert!(
            chart.alt.contains("100 points, lowest 0, highest 6.00"),
            "{}",
            chart.alt
        );
        // Decode it back: the line's blue and the text's dark grey are both drawn.
        let decoder = png::Decoder::new(std::io::Cursor::new(&chart.png));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        let pixels: Vec<&[u8]> = buf[..info.buffer_size()].chunks(3).collect();
        assert!(pixels.iter().any(|p| *p == [31, 119, 180]), "no line");
        assert!(
            pixels
                .iter()
                .filter(|p| p[0] < 80 && p[1] < 80 && p[2] < 80)
                .count()
                > 500,
            "no text"
        );
    }
}
