//! The report's chart: warm median per query and engine, as grouped bars on a log
//! scale, drawn with plotters into a PNG. Text needs a TrueType font from the system
//! (Debian's `fonts-dejavu-core`).

use std::path::Path;

use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use super::report::Report;

const FONTS: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

fn load_font() -> Result<(), String> {
    static LOADED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    LOADED
        .get_or_init(|| {
            let bytes = FONTS
                .iter()
                .find_map(|path| std::fs::read(path).ok())
                .ok_or("no TrueType font found for the chart: install fonts-dejavu-core")?;
            register_font(
                "sans-serif",
                FontStyle::Normal,
                Box::leak(bytes.into_boxed_slice()),
            )
            .map_err(|_| "the font for the chart cannot be read".to_string())
        })
        .clone()
}

/// Draws the chart of `report` into `path`.
pub fn draw(report: &Report, path: &Path) -> Result<(), String> {
    load_font()?;
    draw_bars(report, path).map_err(|e| format!("cannot draw {}: {e}", path.display()))
}

fn draw_bars(report: &Report, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let engines: Vec<&str> = report.engines.iter().map(|e| e.name.as_str()).collect();
    let bars: Vec<Vec<Option<f64>>> = report
        .queries
        .iter()
        .map(|q| {
            engines
                .iter()
                .map(|e| q.engines.get(*e).filter(|r| r.ok()).and_then(|r| r.median))
                .collect()
        })
        .collect();
    let all = bars.iter().flatten().flatten();
    let hi = all.clone().fold(0.01_f64, |a, &b| a.max(b)) * 2.0;
    let lo = all.fold(hi, |a, &b| a.min(b)).min(hi / 10.0) / 2.0;
    let n = report.queries.len();

    // Wide enough for every query's label (TPC-DS has 99).
    let width = (40 * n as u32 + 200).max(1600);
    let root = BitMapBackend::new(path, (width, 800)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "{} SF{} on {} cores: warm median per query, seconds (log scale, lower is better)",
                report.suite, report.scale_factor, report.machine.cores
            ),
            ("sans-serif", 26),
        )
        .margin(20)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5_f64..n as f64 - 0.5, (lo..hi).log_scale())?;
    let queries: Vec<usize> = report.queries.iter().map(|q| q.query).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&|x| match x.fract() == 0.0 {
            true => queries
                .get(*x as usize)
                .map_or(String::new(), |q| format!("Q{q}")),
            false => String::new(),
        })
        .y_desc("seconds")
        .label_style(("sans-serif", 16))
        .draw()?;
    let width = 0.8 / engines.len().max(1) as f64;
    for (e, engine) in engines.iter().enumerate() {
        let color = Palette99::pick(e).to_rgba();
        let rects = bars.iter().enumerate().filter_map(|(i, values)| {
            let x0 = i as f64 - 0.4 + e as f64 * width;
            values[e].map(|v| Rectangle::new([(x0, lo), (x0 + width, v)], color.filled()))
        });
        chart
            .draw_series(rects)?
            .label(*engine)
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font(("sans-serif", 18))
        .draw()?;
    root.present()?;
    Ok(())
}
