//! The report of a TPC-H or TPC-DS run: what was measured ([`Report`], written as JSON) and its Markdown
//! rendering: a summary per engine with geometric means and ratios, a table per query,
//! the concurrency and scaling runs, and every failure and mismatch.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Report {
    /// `TPC-H` or `TPC-DS`, and the short name of its reports' files.
    pub suite: String,
    pub suite_key: String,
    pub date: String,
    pub scale_factor: f64,
    pub machine: Machine,
    pub settings: Settings,
    pub engines: Vec<EngineSummary>,
    /// Loading the Parquet files into Quarry's Iceberg tables (CTAS), when this run did.
    pub load_seconds: Option<f64>,
    pub queries: Vec<QueryReport>,
    /// Geometric-mean ratios of Quarry's warm medians to each other engine's.
    pub ratios: BTreeMap<String, f64>,
    pub concurrency: Vec<ConcurrencyRun>,
    pub scaling: Vec<ScalingRun>,
    /// Every failure and every answer that differs, in words.
    pub problems: Vec<String>,
    pub total_seconds: f64,
}

#[derive(Debug, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct Settings {
    pub iterations: usize,
    pub executors: usize,
    pub timeout_seconds: u64,
    pub queries: Vec<usize>,
    pub reference: String,
    pub tolerance: String,
}

#[derive(Debug, Serialize)]
pub struct EngineSummary {
    pub name: String,
    pub version: String,
    pub description: String,
    pub setup_seconds: f64,
    /// Peak resident memory of the engine's process over the serial runs.
    pub peak_memory_bytes: Option<u64>,
    /// Queries answered correctly in every run.
    pub queries_ok: usize,
    /// Sum and geometric mean of the warm medians over the queries every engine answered.
    pub total_seconds: f64,
    pub geomean_seconds: f64,
}

#[derive(Debug, Default, Serialize)]
pub struct Runs {
    pub cold: Option<f64>,
    pub warm: Vec<f64>,
    pub median: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub rows: Option<usize>,
    pub error: Option<String>,
    pub mismatch: Option<String>,
}

impl Runs {
    pub fn ok(&self) -> bool {
        self.error.is_none() && self.mismatch.is_none() && self.median.is_some()
    }

    pub fn summarize(&mut self) {
        let mut warm = self.warm.clone();
        warm.sort_by(f64::total_cmp);
        self.median = warm.get(warm.len() / 2).copied();
        self.min = warm.first().copied();
        self.max = warm.last().copied();
    }
}

#[derive(Debug, Serialize)]
pub struct QueryReport {
    pub query: usize,
    pub engines: BTreeMap<String, Runs>,
}

#[derive(Debug, Serialize)]
pub struct ConcurrencyRun {
    pub engine: String,
    pub clients: usize,
    pub statements: usize,
    pub wall_seconds: f64,
    pub queries_per_hour: f64,
    /// The same statements one at a time: the sum of the warm medians times clients.
    pub serial_seconds: f64,
    pub failures: Vec<String>,
    pub peak_memory_bytes: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct ScalingRun {
    pub executors: usize,
    pub total_seconds: f64,
    pub geomean_seconds: f64,
    pub per_query: BTreeMap<usize, f64>,
    pub failures: Vec<String>,
}

pub fn geomean(values: &[f64]) -> f64 {
    match values.is_empty() {
        true => f64::NAN,
        false => (values.iter().map(|v| v.ln()).sum::<f64>() / values.len() as f64).exp(),
    }
}

fn seconds(v: Option<f64>) -> String {
    v.map_or("–".into(), |s| format!("{s:.3}"))
}

fn gib(bytes: Option<u64>) -> String {
    bytes.map_or("–".into(), |b| {
        format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64)
    })
}

impl Report {
    fn engine_names(&self) -> Vec<&str> {
        self.engines.iter().map(|e| e.name.as_str()).collect()
    }

    /// Quarry's warm median over another engine's, per query.
    pub fn ratio(&self, query: &QueryReport, other: &str) -> Option<f64> {
        let quarry = query.engines.get("Quarry").filter(|r| r.ok())?.median?;
        let other = query.engines.get(other).filter(|r| r.ok())?.median?;
        Some(quarry / other)
    }

    pub fn markdown(&self, chart: Option<&str>) -> String {
        let mut md = String::new();
        let names = self.engine_names();
        let (suite, sf) = (&self.suite, self.scale_factor);
        let _ = writeln!(md, "# {suite} SF{sf} — {}\n", self.date);
        let _ = writeln!(
            md,
            "Machine: {} ({} cores, {:.0} GiB). Each engine in a process of its own on the same \
             Parquet data, interleaved query by query: one cold run (the first in a fresh \
             process), then {} warm runs; times are medians of the warm runs, in seconds, \
             from sending a query to holding its whole answer. Quarry: {} executors, \
             queried through Flight SQL, on Iceberg tables loaded from the same files. \
             Answers are checked against {} ({}). Whole run: {:.0} s.\n",
            self.machine.cpu,
            self.machine.cores,
            self.machine.memory_bytes as f64 / (1u64 << 30) as f64,
            self.settings.iterations,
            self.settings.executors,
            self.settings.reference,
            self.settings.tolerance,
            self.total_seconds,
        );
        if let Some(chart) = chart {
            let _ = writeln!(md, "![warm medians per query]({chart})\n");
        }
        self.summary_table(&mut md);
        self.query_table(&mut md, &names);
        self.slowest(&mut md);
        self.concurrency_table(&mut md);
        self.scaling_table(&mut md);
        let _ = writeln!(md, "## Failures and mismatches\n");
        match self.problems.is_empty() {
            true => {
                let _ = writeln!(
                    md,
                    "None: every query ran on every engine and all answers agree."
                );
            }
            false => {
                for problem in &self.problems {
                    let _ = writeln!(md, "- {problem}");
                }
            }
        }
        md
    }

    fn summary_table(&self, md: &mut String) {
        let _ = writeln!(md, "## Summary\n");
        let _ = writeln!(
            md,
            "Totals and geometric means are over the queries every engine answered correctly.\n"
        );
        let _ = writeln!(
            md,
            "| engine | version | queries ok | total (s) | geomean (s) | Quarry / engine | peak memory | setup (s) |\n|---|---|---|---|---|---|---|---|"
        );
        for e in &self.engines {
            let ratio = match e.name.as_str() {
                "Quarry" => "1".to_string(),
                name => self
                    .ratios
                    .get(name)
                    .map_or("–".into(), |r| format!("{r:.2}")),
            };
            let _ = writeln!(
                md,
                "| {} | {} | {}/{} | {:.2} | {:.3} | {ratio} | {} | {:.1} |",
                e.name,
                e.version,
                e.queries_ok,
                self.queries.len(),
                e.total_seconds,
                e.geomean_seconds,
                gib(e.peak_memory_bytes),
                e.setup_seconds
            );
        }
        let _ = writeln!(md);
        for e in &self.engines {
            let _ = writeln!(md, "- **{}**: {}", e.name, e.description);
        }
        if let Some(load) = self.load_seconds {
            let _ = writeln!(
                md,
                "- Loading the Parquet files into Quarry's Iceberg tables (CTAS): {load:.1} s."
            );
        }
        let _ = writeln!(md);
    }

    fn query_table(&self, md: &mut String, names: &[&str]) {
        let _ = writeln!(md, "## Per query\n");
        let _ = writeln!(
            md,
            "Warm median [min–max] and cold run, in seconds; ratios are Quarry's median over the other engine's.\n"
        );
        let others: Vec<&str> = names.iter().copied().filter(|n| *n != "Quarry").collect();
        let mut header = "| query | rows |".to_string();
        for name in names {
            let _ = write!(header, " {name} | {name} cold |");
        }
        for other in &others {
            let _ = write!(header, " Q/{other} |");
        }
        let columns = 2 + names.len() * 2 + others.len();
        let _ = writeln!(md, "{header}\n|{}", "---|".repeat(columns));
        for q in &self.queries {
            let rows = q.engines.values().find_map(|r| r.rows);
            let mut line = format!(
                "| Q{} | {} |",
                q.query,
                rows.map_or("–".into(), |r| r.to_string())
            );
            for name in names {
                let cell = match q.engines.get(*name) {
                    Some(r) if r.error.is_some() => "failed | – |".to_string(),
                    Some(r) if r.mismatch.is_some() => {
                        format!("wrong answer | {} |", seconds(r.cold))
                    }
                    Some(r) => format!(
                        "{} [{}–{}] | {} |",
                        seconds(r.median),
                        seconds(r.min),
                        seconds(r.max),
                        seconds(r.cold)
                    ),
                    None => "– | – |".into(),
                };
                let _ = write!(line, " {cell}");
            }
            for other in &others {
                let ratio = self
                    .ratio(q, other)
                    .map_or("–".into(), |r| format!("{r:.2}"));
                let _ = write!(line, " {ratio} |");
            }
            let _ = writeln!(md, "{line}");
        }
        let _ = writeln!(md);
    }

    fn slowest(&self, md: &mut String) {
        let mut ratios: Vec<(usize, f64)> = self
            .queries
            .iter()
            .filter_map(|q| Some((q.query, self.ratio(q, "DuckDB")?)))
            .collect();
        if ratios.is_empty() {
            return;
        }
        ratios.sort_by(|a, b| b.1.total_cmp(&a.1));
        let list: Vec<String> = ratios
            .iter()
            .take(3)
            .map(|(q, r)| format!("Q{q} ({r:.1}×)"))
            .collect();
        let _ = writeln!(md, "Slowest relative to DuckDB: {}.\n", list.join(", "));
    }

    fn concurrency_table(&self, md: &mut String) {
        if self.concurrency.is_empty() {
            return;
        }
        let _ = writeln!(md, "## Concurrency\n");
        let _ = writeln!(
            md,
            "Each client runs every query once, each in another order, all clients at once; \
             answers are checked as above. \"One at a time\" is the warm medians' sum times the clients.\n"
        );
        let _ = writeln!(
            md,
            "| engine | clients | statements | wall (s) | one at a time (s) | queries/hour | failures | peak memory |\n|---|---|---|---|---|---|---|---|"
        );
        for c in &self.concurrency {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {:.1} | {:.1} | {:.0} | {} | {} |",
                c.engine,
                c.clients,
                c.statements,
                c.wall_seconds,
                c.serial_seconds,
                c.queries_per_hour,
                c.failures.len(),
                gib(c.peak_memory_bytes)
            );
        }
        let _ = writeln!(md);
    }

    fn scaling_table(&self, md: &mut String) {
        if self.scaling.is_empty() {
            return;
        }
        let _ = writeln!(md, "## Scaling (Quarry)\n");
        let _ = writeln!(
            md,
            "The same queries on embedded clusters of 1, 2 and 4 executors sharing this machine's \
             cores; one cold run, then one warm run whose times count.\n"
        );
        let base = self.scaling.first().map(|s| s.total_seconds);
        let _ = writeln!(
            md,
            "| executors | total (s) | geomean (s) | total / first | failures |\n|---|---|---|---|---|"
        );
        for s in &self.scaling {
            let _ = writeln!(
                md,
                "| {} | {:.2} | {:.3} | {:.2} | {} |",
                s.executors,
                s.total_seconds,
                s.geomean_seconds,
                base.map_or(f64::NAN, |b| s.total_seconds / b),
                s.failures.len()
            );
        }
        let _ = writeln!(md);
    }
}
