//! `quarry-bench tpch` and `quarry-bench tpcds`: the 22 TPC-H or the 99 TPC-DS queries
//! ([`suite`]) on Quarry, DataFusion, Ballista and DuckDB on the same data, machine and
//! run, with their answers checked against DuckDB's.
//!
//! The run: generate the data as Parquet ([`data`]), load it into Quarry's Iceberg
//! tables, start each engine as a process of its own ([`engine`], [`worker`], and
//! `benchmarks/duckdb_engine.py`), run every query cold and then warm, interleaved
//! query by query ([`rounds`]), then the concurrency run (many clients at once) and the
//! scaling run (Quarry on 1, 2 and 4 executors). The report ([`report`], [`chart`])
//! goes to `<out>/<date>-<suite>-sf<N>.md`, `.json` and `.png`.

mod chart;
pub(crate) mod compare;
mod data;
pub(crate) mod engine;
pub(crate) mod protocol;
mod report;
mod rounds;
pub mod suite;
pub mod worker;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use engine::{EngineProcess, EngineSpec};
use quarry_client::embedded::EmbeddedOptions;
use report::{ConcurrencyRun, EngineSummary, QueryReport, Report, ScalingRun, Settings, geomean};
use rounds::{Bench, Results, Slot};
use suite::Suite;

pub(crate) const DUCKDB_ENGINE: &str = include_str!("../../duckdb_engine.py");

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineName {
    Quarry,
    Datafusion,
    Ballista,
    Duckdb,
}

const ENGINES: [EngineName; 4] = [
    EngineName::Quarry,
    EngineName::Datafusion,
    EngineName::Ballista,
    EngineName::Duckdb,
];

impl EngineName {
    fn title(self) -> &'static str {
        match self {
            Self::Quarry => "Quarry",
            Self::Datafusion => "DataFusion",
            Self::Ballista => "Ballista",
            Self::Duckdb => "DuckDB",
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct TpcArgs {
    /// Scale factor (1 is about 1 GB of raw data).
    #[arg(long, default_value_t = 1.0)]
    pub sf: f64,
    /// Warm runs of each query on each engine, after one cold run (at least 1: the
    /// report's medians are of warm runs).
    #[arg(long, default_value_t = 3,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub iterations: usize,
    /// Engines to run, comma-separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "quarry,datafusion,ballista,duckdb"
    )]
    pub engines: Vec<EngineName>,
    /// Queries to run: numbers and ranges, such as 1-5,7, or all.
    #[arg(long, default_value = "all")]
    pub queries: String,
    /// Executors in Quarry's embedded cluster.
    #[arg(long, default_value_t = 2)]
    pub executors: usize,
    /// Executor counts of Quarry's scaling run, comma-separated, or "none".
    #[arg(long, default_value = "1,2,4")]
    pub scaling: String,
    /// Clients of the concurrency run, each running every query (0: no concurrency run).
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// Engines of the concurrency run (default: all that run).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub concurrent_engines: Vec<EngineName>,
    /// Where data, Quarry's warehouse, answers and logs live, kept between runs.
    #[arg(long, default_value = "benchmarks/data")]
    pub dir: PathBuf,
    /// Where the report goes.
    #[arg(long, default_value = "benchmarks/results")]
    pub out: PathBuf,
    /// Time limit per query, seconds.
    #[arg(long, default_value_t = 900)]
    pub timeout: u64,
    /// Python with duckdb, its tpcds extension, pyarrow and tpchgen-cli
    /// (scripts/test-env.sh installs them).
    #[arg(long, env = "QUARRY_PYTHON", default_value = "python3")]
    pub python: PathBuf,
}

pub async fn run(suite: Suite, args: TpcArgs) -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    if args.sf.is_nan() || args.sf <= 0.0 {
        return Err(format!("--sf must be positive, not {}", args.sf).into());
    }
    let queries = suite.parse_selection(&args.queries)?;
    let scaling = parse_scaling(&args.scaling)?;
    let mut engines = args.engines.clone();
    engines.dedup();
    // The reference engine answers first: DuckDB, an implementation of its own.
    engines.sort_by_key(|e| *e != EngineName::Duckdb);
    let reference = engines.first().ok_or("no engines selected")?.title();

    let sf_dir = format!("sf{}", data::label(args.sf));
    let dir = std::path::absolute(args.dir.join(suite.key()).join(sf_dir))?;
    let (parquet, warehouse) = (dir.join("parquet"), dir.join("warehouse"));
    let (answers, logs) = (dir.join("answers"), dir.join("logs"));
    if let Some(seconds) = data::ensure(&parquet, suite, args.sf, &args.python)? {
        eprintln!(
            "generated {} SF{} in {seconds:.1} s",
            suite.title(),
            args.sf
        );
        // Tables loaded from older files are stale.
        let _ = std::fs::remove_dir_all(&warehouse);
    }
    for d in [&answers, &logs] {
        std::fs::create_dir_all(d)?;
    }
    std::fs::write(dir.join("duckdb_engine.py"), DUCKDB_ENGINE)?;
    let limit = Duration::from_secs(args.timeout);
    let specs = Specs {
        suite,
        exe: std::env::current_exe()?,
        python: args.python.clone(),
        dir: dir.clone(),
        parquet,
        warehouse: warehouse.clone(),
        logs,
    };

    let mut load_seconds = None;
    if engines.contains(&EngineName::Quarry) {
        let fresh = !warehouse.join("catalog.db").exists();
        eprintln!("loading the Iceberg tables (fresh: {fresh})");
        let loader = EngineProcess::start(&specs.quarry(args.executors, true), limit).await?;
        load_seconds = fresh.then_some(loader.ready.setup_seconds);
        loader.stop().await;
    }

    let mut slots = Vec::new();
    for engine in &engines {
        slots.push(Slot::start(specs.spec(*engine, args.executors), limit).await?);
    }
    let mut bench = Bench::new(suite, queries.clone(), args.sf, answers);
    eprintln!(
        "serial runs: {} queries, 1 cold + {} warm",
        queries.len(),
        args.iterations
    );
    let results = bench.serial(&mut slots, 1 + args.iterations).await;
    let mut summaries = Vec::new();
    for slot in &mut slots {
        slot.note_peak();
        summaries.push(summary(slot, &results, args.executors));
    }
    // The report lists Quarry first, then the others in a fixed order.
    let rank = |name: &str| ENGINES.iter().position(|e| e.title() == name);
    summaries.sort_by_key(|s| rank(&s.name));

    let mut concurrency = Vec::new();
    let concurrent = match args.concurrent_engines.is_empty() {
        true => engines.clone(),
        false => args.concurrent_engines.clone(),
    };
    for slot in slots.iter_mut().filter(|_| args.clients > 0) {
        if !concurrent.iter().any(|e| e.title() == slot.name()) {
            continue;
        }
        // The queries this engine answered: one it fails would only fail again.
        let answered: Vec<usize> = results
            .iter()
            .filter(|(_, q)| q.get(slot.name()).is_some_and(|r| r.ok()))
            .map(|(query, _)| *query)
            .collect();
        eprintln!(
            "concurrency run: {} clients on {}",
            args.clients,
            slot.name()
        );
        let (wall, failures) = bench.concurrent(slot, args.clients, &answered).await;
        let statements = args.clients * answered.len();
        let serial: f64 = results
            .values()
            .filter_map(|q| q.get(slot.name()).filter(|r| r.ok())?.median)
            .sum();
        concurrency.push(ConcurrencyRun {
            engine: slot.name().to_string(),
            clients: args.clients,
            statements,
            wall_seconds: wall,
            queries_per_hour: statements as f64 * 3600.0 / wall,
            serial_seconds: serial * args.clients as f64,
            failures,
            peak_memory_bytes: slot.peak_memory,
        });
    }
    concurrency.sort_by_key(|c| rank(&c.engine));
    for slot in slots {
        slot.stop().await;
    }

    let mut scaling_runs = Vec::new();
    for executors in scaling
        .iter()
        .filter(|_| engines.contains(&EngineName::Quarry))
    {
        eprintln!("scaling run: Quarry on {executors} executors");
        let mut slot = [Slot::start(specs.quarry(*executors, false), limit).await?];
        let results = bench.serial(&mut slot, 2).await;
        let [slot] = slot;
        slot.stop().await;
        scaling_runs.push(scaling_run(*executors, &results));
    }

    let mut report = Report {
        suite: suite.title().into(),
        suite_key: suite.key().into(),
        date: data::today(),
        scale_factor: args.sf,
        machine: data::machine(),
        settings: Settings {
            iterations: args.iterations,
            executors: args.executors,
            timeout_seconds: args.timeout,
            queries,
            reference: reference.into(),
            tolerance: "numbers within 1e-4 absolute or 1e-6 relative".into(),
        },
        engines: summaries,
        load_seconds,
        queries: Vec::new(),
        ratios: BTreeMap::new(),
        concurrency,
        scaling: scaling_runs,
        problems: Vec::new(),
        total_seconds: 0.0,
    };
    finish(&mut report, results);
    report.total_seconds = started.elapsed().as_secs_f64();
    write(&report, &args.out)?;
    Ok(())
}

fn parse_scaling(text: &str) -> Result<Vec<usize>, String> {
    if text == "none" || text.is_empty() {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|n| match n.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("--scaling: '{n}' is not a number of executors")),
        })
        .collect()
}

/// How to start each engine.
struct Specs {
    suite: Suite,
    exe: PathBuf,
    python: PathBuf,
    dir: PathBuf,
    parquet: PathBuf,
    warehouse: PathBuf,
    logs: PathBuf,
}

impl Specs {
    fn spec(&self, engine: EngineName, executors: usize) -> EngineSpec {
        match engine {
            EngineName::Quarry => self.quarry(executors, false),
            EngineName::Duckdb => EngineSpec {
                name: engine.title().into(),
                program: self.python.clone(),
                args: vec![
                    path(&self.dir.join("duckdb_engine.py")),
                    "--data".into(),
                    path(&self.parquet),
                    "--tables".into(),
                    self.suite.tables().join(","),
                ],
                log: self.logs.join("duckdb.log"),
            },
            EngineName::Datafusion | EngineName::Ballista => EngineSpec {
                name: engine.title().into(),
                program: self.exe.clone(),
                args: vec![
                    "tpc-engine".into(),
                    format!("--suite={}", self.suite.key()),
                    "--engine".into(),
                    engine.title().to_lowercase(),
                    "--data".into(),
                    path(&self.parquet),
                ],
                log: self
                    .logs
                    .join(format!("{}.log", engine.title().to_lowercase())),
            },
        }
    }

    fn quarry(&self, executors: usize, load: bool) -> EngineSpec {
        let mut args: Vec<String> = vec![
            "tpc-engine".into(),
            format!("--suite={}", self.suite.key()),
            "--engine=quarry".into(),
            "--data".into(),
            path(&self.parquet),
            "--warehouse".into(),
            path(&self.warehouse),
            format!("--executors={executors}"),
        ];
        if load {
            args.push("--load".into());
        }
        EngineSpec {
            name: "Quarry".into(),
            program: self.exe.clone(),
            args,
            log: self.logs.join("quarry.log"),
        }
    }
}

fn path(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn summary(slot: &Slot, results: &Results, executors: usize) -> EngineSummary {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let description = match slot.name() {
        "Quarry" => format!(
            "embedded cluster (scheduler and {executors} executors, {} task slots, in one \
             process), queried through Flight SQL, on Iceberg tables",
            EmbeddedOptions::local("", executors).slots_per_executor() * executors
        ),
        "DataFusion" => format!(
            "one SessionContext with its defaults ({cores} partitions) on the Parquet files"
        ),
        "Ballista" => "standalone cluster as SessionContext::standalone() makes it \
                       (scheduler and one executor in one process, Ballista's defaults), \
                       on the Parquet files"
            .into(),
        _ => "the Python package with its defaults, views over read_parquet of the files".into(),
    };
    EngineSummary {
        name: slot.name().to_string(),
        version: slot.version.clone(),
        description,
        setup_seconds: slot.setup_seconds,
        peak_memory_bytes: slot.peak_memory,
        queries_ok: results
            .values()
            .filter(|q| q.get(slot.name()).is_some_and(|r| r.ok()))
            .count(),
        total_seconds: 0.0,
        geomean_seconds: 0.0,
    }
}

fn scaling_run(executors: usize, results: &Results) -> ScalingRun {
    let mut per_query = BTreeMap::new();
    let mut failures = Vec::new();
    for (query, engines) in results {
        for runs in engines.values() {
            match (&runs.error, &runs.mismatch, runs.median) {
                (Some(e), _, _) | (None, Some(e), _) => failures.push(format!("Q{query}: {e}")),
                (None, None, Some(median)) => {
                    per_query.insert(*query, median);
                }
                _ => {}
            }
        }
    }
    let times: Vec<f64> = per_query.values().copied().collect();
    ScalingRun {
        executors,
        total_seconds: times.iter().sum(),
        geomean_seconds: geomean(&times),
        per_query,
        failures,
    }
}

/// Fills in the per-query table, totals, geometric means, ratios and problems.
fn finish(report: &mut Report, results: Results) {
    let names: Vec<String> = report.engines.iter().map(|e| e.name.clone()).collect();
    report.queries = results
        .into_iter()
        .map(|(query, engines)| QueryReport { query, engines })
        .collect();
    // Totals and geometric means over the queries every engine answered correctly.
    let common: Vec<&QueryReport> = report
        .queries
        .iter()
        .filter(|q| {
            names
                .iter()
                .all(|n| q.engines.get(n).is_some_and(|r| r.ok()))
        })
        .collect();
    let medians = |name: &str| -> Vec<f64> {
        common
            .iter()
            .filter_map(|q| q.engines.get(name)?.median)
            .collect()
    };
    let means: BTreeMap<String, f64> = names
        .iter()
        .map(|n| (n.clone(), geomean(&medians(n))))
        .collect();
    for engine in &mut report.engines {
        // A fold from +0.0: an empty f64 sum is -0.0, printed "-0.00".
        engine.total_seconds = medians(&engine.name).iter().fold(0.0, |a, b| a + b);
        engine.geomean_seconds = means[&engine.name];
    }
    if let Some(quarry) = means.get("Quarry") {
        for (name, mean) in means.iter().filter(|(n, _)| *n != "Quarry") {
            report.ratios.insert(name.clone(), quarry / mean);
        }
    }
    for q in &report.queries {
        for (name, runs) in &q.engines {
            if let Some(e) = &runs.error {
                report
                    .problems
                    .push(format!("Q{} failed on {name}: {e}", q.query));
            }
            if let Some(e) = &runs.mismatch {
                report.problems.push(format!("Q{} on {name}: {e}", q.query));
            }
        }
    }
    for c in &report.concurrency {
        for f in &c.failures {
            report
                .problems
                .push(format!("concurrency run on {}: {f}", c.engine));
        }
    }
    for s in &report.scaling {
        for f in &s.failures {
            report
                .problems
                .push(format!("scaling run, {} executors: {f}", s.executors));
        }
    }
}

/// Writes `<out>/<date>-<suite>-sf<N>.json`, `.png` and `.md`.
fn write(report: &Report, out: &Path) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(out)?;
    let sf = data::label(report.scale_factor);
    let stem = format!("{}-{}-sf{sf}", report.date, report.suite_key);
    let json = out.join(format!("{stem}.json"));
    std::fs::write(&json, serde_json::to_string_pretty(report)?)?;
    let png = format!("{stem}.png");
    let chart = match chart::draw(report, &out.join(&png)) {
        Ok(()) => Some(png.as_str()),
        Err(e) => {
            eprintln!("no chart: {e}");
            None
        }
    };
    let md = out.join(format!("{stem}.md"));
    let text = report.markdown(chart);
    std::fs::write(&md, &text)?;
    println!("{text}");
    eprintln!("report: {} and {}", md.display(), json.display());
    Ok(())
}
