//! What a run prints and stores: a text summary, a JSON file, and a plot of
//! latency by percentile.

use std::path::Path;

use anyhow::{Context, Result};
use plotters::prelude::*;
use serde::Serialize;

use crate::client::Outcome;

/// The percentiles reported.
const PERCENTILES: [(&str, f64); 5] = [
    ("p50", 50.0),
    ("p90", 90.0),
    ("p99", 99.0),
    ("p99_9", 99.9),
    ("p99_99", 99.99),
];

#[derive(Serialize)]
pub struct Summary {
    pub label: String,
    pub setup: serde_json::Value,
    pub answers: u64,
    pub timed: u64,
    pub seconds: f64,
    pub throughput: f64,
    /// Microseconds.
    pub latency_us: serde_json::Map<String, serde_json::Value>,
    pub wrong: u64,
    pub wrong_by_kind: Vec<serde_json::Value>,
    pub errors: Vec<serde_json::Value>,
    pub unanswered: u64,
    /// Answers `503 overloaded` (connections shed past the server's cap).
    pub shed: u64,
    /// Mean body size of the answers, bytes.
    pub mean_body_bytes: u64,
    /// CPU time the server spent per answer, when its pid was given.
    pub server_cpu_us_per_request: Option<f64>,
    /// The percentile curve: (percentile, microseconds).
    pub curve: Vec<(f64, u64)>,
}

pub fn summarize(
    label: &str,
    setup: serde_json::Value,
    out: &Outcome,
    server_cpu_ns: Option<u64>,
) -> Summary {
    let h = &out.latency;
    let mut latency = serde_json::Map::new();
    for (name, p) in PERCENTILES {
        latency.insert(name.into(), h.value_at_percentile(p).into());
    }
    latency.insert("max".into(), h.max().into());
    latency.insert("mean".into(), (h.mean().round() as u64).into());
    let seconds = out.timed_span.as_secs_f64();
    let curve = h
        .iter_quantiles(2)
        .map(|v| (v.quantile_iterated_to() * 100.0, v.value_iterated_to()))
        .collect();
    Summary {
        label: label.to_owned(),
        setup,
        answers: out.answers,
        timed: out.timed,
        seconds,
        throughput: if seconds > 0.0 {
            out.timed as f64 / seconds
        } else {
            0.0
        },
        latency_us: latency,
        wrong: out.wrong.iter().map(|(_, n, _)| n).sum(),
        wrong_by_kind: out
            .wrong
            .iter()
            .map(|(k, n, e)| serde_json::json!({"kind": k, "count": n, "example": e}))
            .collect(),
        errors: out
            .errors
            .iter()
            .map(|(k, n)| serde_json::json!({"error": k, "connections": n}))
            .collect(),
        unanswered: out.unanswered,
        shed: out.shed,
        mean_body_bytes: out.body_bytes.checked_div(out.answers).unwrap_or(0),
        server_cpu_us_per_request: server_cpu_ns
            .filter(|_| out.answers > 0)
            .map(|ns| ns as f64 / 1000.0 / out.answers as f64),
        curve,
    }
}

impl Summary {
    pub fn text(&self) -> String {
        let l = &self.latency_us;
        let ms = |k: &str| l[k].as_u64().unwrap_or(0) as f64 / 1000.0;
        let mut s = format!(
            "{}: {:.0} answers/s over {:.1} s ({} timed, {} in all)\n  latency ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}\n",
            self.label,
            self.throughput,
            self.seconds,
            self.timed,
            self.answers,
            ms("p50"),
            ms("p90"),
            ms("p99"),
            ms("p99_9"),
            ms("max"),
        );
        if let Some(cpu) = self.server_cpu_us_per_request {
            s += &format!("  server CPU: {cpu:.2} µs per answer\n");
        }
        s += &format!("  answers of {} bytes on average\n", self.mean_body_bytes);
        s += &format!(
            "  wrong answers: {}, unanswered: {}, shed (503 overloaded): {}\n",
            self.wrong, self.unanswered, self.shed
        );
        for w in &self.wrong_by_kind {
            s += &format!(
                "    {} × {}  e.g. {}\n",
                w["count"], w["kind"], w["example"]
            );
        }
        for e in &self.errors {
            s += &format!(
                "    connection error ({} connections): {}\n",
                e["connections"], e["error"]
            );
        }
        s
    }

    pub fn write_json(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
    }
}

/// A run as a plot shows it: its label and its percentile curve.
pub type Curve = (String, Vec<(f64, u64)>);

/// Latency against percentile, the percentile axis in "nines" (1 = p90,
/// 2 = p99, 3 = p99.9), for one or more runs.
pub fn plot(runs: &[Curve], path: &Path) -> Result<()> {
    let nines = |p: f64| -(1.0 - (p / 100.0).min(0.99999)).log10();
    let max_x = 5.0f64;
    let max_y = runs
        .iter()
        .flat_map(|(_, curve)| {
            curve
                .iter()
                .filter(|(p, _)| nines(*p) <= max_x)
                .map(|(_, v)| *v)
        })
        .max()
        .unwrap_or(1) as f64
        / 1000.0
        * 1.1;
    let root = SVGBackend::new(path, (900, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("latency by percentile", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..max_x, 0f64..max_y.max(0.01))?;
    chart
        .configure_mesh()
        .x_desc("percentile (0 = p0, 1 = p90, 2 = p99, 3 = p99.9, 4 = p99.99)")
        .y_desc("latency (ms)")
        .draw()?;
    let colours = [BLUE, RED, GREEN, MAGENTA, CYAN, BLACK];
    for (i, (label, curve)) in runs.iter().enumerate() {
        let colour = colours[i % colours.len()];
        let points: Vec<(f64, f64)> = curve
            .iter()
            .map(|(p, v)| (nines(*p), *v as f64 / 1000.0))
            .filter(|(x, _)| *x <= max_x)
            .collect();
        chart
            .draw_series(LineSeries::new(points, &colour))?
            .label(label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    root.present()?;
    Ok(())
}
