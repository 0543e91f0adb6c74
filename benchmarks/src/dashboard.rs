//! `dashboard`: the ten queries a Superset dashboard sends over a gold sales table, with
//! reflections off and on, and DuckDB on the same Parquet files, all warm.
//!
//! Writes `rows` sales rows (and a products table) as Parquet with DataFusion, loads
//! them into Iceberg tables on an embedded Quarry cluster, builds two aggregate
//! reflections (timed), then runs each query `iterations` times over Flight SQL as
//! Superset's driver sends it (`GetFlightInfo` with the statement, then `DoGet`), with
//! `SET quarry.reflections = off` and `on` (one warm-up run each first; every answer
//! with reflections on must agree with the one without, as `tpch` compares answers,
//! and `EXPLAIN` must show a reflection used), and on DuckDB (its own timing of the
//! statement, as in `tpch`; its answers are compared too, but for approximate counts). Then it appends 1% more rows and times the incremental
//! refresh. Prints a Markdown report, and writes it to `--out` if given.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use datafusion::prelude::SessionContext;
use quarry_client::connection::Connection;
use quarry_client::embedded::{EmbeddedCluster, EmbeddedOptions};

use crate::micro::{run_quarry, timed};
use crate::tpc::compare::{Answer, compare};
use crate::tpc::engine::{EngineProcess, EngineSpec};
use crate::tpc::protocol::{Job, Request};

/// The arguments of `dashboard`.
#[derive(clap::Args)]
pub struct DashboardArgs {
    /// Rows in the sales table.
    #[arg(long, default_value_t = 20_000_000)]
    pub rows: u64,
    /// Timed runs of each query on each engine, after one warm-up run.
    #[arg(long, default_value_t = 20)]
    pub iterations: usize,
    /// Executors in the Quarry cluster.
    #[arg(long, default_value_t = 2)]
    pub executors: usize,
    /// Where to write the data (default: a temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Python with duckdb and pyarrow, for the DuckDB side.
    #[arg(long, env = "QUARRY_PYTHON", default_value = "python3")]
    pub python: PathBuf,
    /// Also write the report to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// The sales rows: five regions, 200 products, a year of timestamps.
fn sales(from: u64, to: u64) -> String {
    format!(
        "SELECT value AS id, \
         CASE value % 5 WHEN 0 THEN 'north' WHEN 1 THEN 'south' WHEN 2 THEN 'east' \
         WHEN 3 THEN 'west' ELSE 'central' END AS region, \
         (value * 7) % 200 AS product_id, \
         to_timestamp_micros(1704067200000000 + ((value * 7919) % 31622400) * 1000000) AS sold_at, \
         ((value * 31) % 100000) / 100.0 AS amount, \
         1 + value % 9 AS qty, \
         (value * 13) % 500000 AS customer_id \
         FROM generate_series({from}, {to})"
    )
}

const PRODUCTS: &str = "SELECT value AS product_id, \
    CASE value % 4 WHEN 0 THEN 'tools' WHEN 1 THEN 'toys' WHEN 2 THEN 'food' ELSE 'books' END \
    AS category FROM generate_series(0, 199)";

const REFLECTIONS: [&str; 2] = [
    "ALTER TABLE gold.sales CREATE AGGREGATE REFLECTION sales_daily \
     USING DIMENSIONS (region, product_id, sold_at BY DAY) \
     MEASURES (amount (SUM, COUNT, MIN, MAX), qty (SUM)) REFRESH MANUAL",
    "ALTER TABLE gold.sales CREATE AGGREGATE REFLECTION customers_monthly \
     USING DIMENSIONS (region, sold_at BY MONTH) \
     MEASURES (customer_id (APPROX_COUNT_DISTINCT)) REFRESH MANUAL",
];

/// The dashboard, in the shapes Superset writes (`virtual_table`, `LIMIT`).
const QUERIES: [(&str, &str); 10] = [
    (
        "revenue by region",
        "SELECT region AS region, sum(amount) AS \"SUM(amount)\" FROM \
         (SELECT * FROM gold.sales) AS virtual_table GROUP BY region \
         ORDER BY \"SUM(amount)\" DESC LIMIT 10000",
    ),
    (
        "monthly revenue",
        "SELECT date_trunc('month', sold_at) AS sold_at, sum(amount) AS \"SUM(amount)\" \
         FROM (SELECT * FROM gold.sales) AS virtual_table \
         GROUP BY date_trunc('month', sold_at) ORDER BY 1 LIMIT 10000",
    ),
    (
        "daily orders, two regions, a quarter",
        "SELECT date_trunc('day', sold_at) AS sold_at, count(*) AS count \
         FROM (SELECT * FROM gold.sales) AS virtual_table \
         WHERE sold_at >= TIMESTAMP '2024-03-01 00:00:00' AND sold_at < TIMESTAMP '2024-06-01 00:00:00' \
         AND region IN ('north', 'east') GROUP BY date_trunc('day', sold_at) ORDER BY 1 LIMIT 10000",
    ),
    (
        "big number: orders",
        "SELECT count(*) AS count FROM (SELECT * FROM gold.sales) AS virtual_table LIMIT 50000",
    ),
    (
        "top products by units",
        "SELECT product_id AS product_id, sum(qty) AS units FROM \
         (SELECT * FROM gold.sales) AS virtual_table GROUP BY product_id \
         ORDER BY units DESC, product_id LIMIT 10",
    ),
    (
        "average ticket by region",
        "SELECT region AS region, avg(amount) AS \"AVG(amount)\" FROM \
         (SELECT * FROM gold.sales) AS virtual_table GROUP BY region ORDER BY region LIMIT 10000",
    ),
    (
        "min and max ticket, big spenders' regions",
        "SELECT region AS region, min(amount) AS lo, max(amount) AS hi FROM \
         (SELECT * FROM gold.sales) AS virtual_table GROUP BY region \
         HAVING sum(amount) > 1000 ORDER BY region LIMIT 10000",
    ),
    (
        "revenue by category (join)",
        "SELECT p.category AS category, sum(s.amount) AS revenue FROM gold.sales s \
         JOIN silver.products p ON s.product_id = p.product_id \
         GROUP BY p.category ORDER BY revenue DESC LIMIT 10000",
    ),
    (
        "monthly customers (approximate)",
        "SELECT date_trunc('month', sold_at) AS sold_at, approx_distinct(customer_id) AS customers \
         FROM (SELECT * FROM gold.sales) AS virtual_table \
         GROUP BY date_trunc('month', sold_at) ORDER BY 1 LIMIT 10000",
    ),
    (
        "units by region and quarter",
        "SELECT region AS region, date_trunc('quarter', sold_at) AS quarter, sum(qty) AS units, \
         count(*) AS orders FROM (SELECT * FROM gold.sales) AS virtual_table \
         GROUP BY region, date_trunc('quarter', sold_at) ORDER BY 1, 2 LIMIT 10000",
    ),
];

/// The same query in DuckDB's words, over its views of the Parquet files.
fn for_duckdb(sql: &str) -> String {
    sql.replace("approx_distinct(", "approx_count_distinct(")
        .replace("gold.sales", "sales")
        .replace("silver.products", "products")
}

/// One query's timings, in seconds.
struct Timings {
    off: Vec<f64>,
    on: Vec<f64>,
    duckdb: Vec<f64>,
    /// Whether DuckDB's answer is Quarry's, or how it differs.
    duckdb_agrees: Result<(), String>,
}

pub async fn run(args: DashboardArgs) -> Result<(), Box<dyn std::error::Error>> {
    let temp = tempfile::tempdir()?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    let warehouse = dir.join("warehouse");
    // Under the warehouse, where Quarry reads files by relative path.
    let parquet = warehouse.join("landing");
    let rows = args.rows;
    if !parquet.join("sales").exists() {
        let local = SessionContext::new();
        for (table, select) in [("sales", sales(1, rows)), ("products", PRODUCTS.into())] {
            let (took, _) = timed(async {
                local
                    .sql(&format!(
                        "COPY ({select}) TO '{}/{table}/' STORED AS PARQUET",
                        parquet.display()
                    ))
                    .await?
                    .collect()
                    .await
            })
            .await?;
            eprintln!("wrote {table} in {:.1} s", took.as_secs_f64());
        }
    }

    let cluster =
        EmbeddedCluster::start(EmbeddedOptions::local(&warehouse, args.executors)).await?;
    let quarry = Connection::connect(&cluster.flight_url(), "bench", "").await?;
    let (load, _) = timed(run_quarry(
        &quarry,
        "CREATE OR REPLACE TABLE gold.sales AS SELECT * FROM 'landing/sales/'",
    ))
    .await?;
    run_quarry(
        &quarry,
        "CREATE OR REPLACE TABLE silver.products AS SELECT * FROM 'landing/products/'",
    )
    .await?;
    eprintln!("loaded gold.sales in {:.1} s", load.as_secs_f64());
    let mut builds = Vec::new();
    for name in ["sales_daily", "customers_monthly"] {
        let drop = format!("ALTER TABLE gold.sales DROP REFLECTION IF EXISTS {name}");
        run_quarry(&quarry, &drop).await?;
    }
    for sql in REFLECTIONS {
        let (took, kept) = timed(run_quarry(&quarry, sql)).await?;
        builds.push((took, kept.join("")));
    }

    let script = dir.join("duckdb_engine.py");
    std::fs::write(&script, crate::tpc::DUCKDB_ENGINE)?;
    let spec = EngineSpec {
        name: "DuckDB".into(),
        program: args.python.clone(),
        args: vec![
            script.display().to_string(),
            "--data".into(),
            parquet.display().to_string(),
            "--tables".into(),
            "sales,products".into(),
        ],
        log: dir.join("duckdb.log"),
    };
    let limit = Duration::from_secs(600);
    let mut duckdb = EngineProcess::start(&spec, limit).await?;

    let mut timings = Vec::new();
    for (name, sql) in QUERIES {
        eprintln!("{name}");
        let mut t = Timings {
            off: Vec::new(),
            on: Vec::new(),
            duckdb: Vec::new(),
            duckdb_agrees: Ok(()),
        };
        run_quarry(&quarry, "SET quarry.reflections = off").await?;
        let mut expected = None;
        for i in 0..=args.iterations {
            let (took, answer) = timed(quarry.execute(sql)).await?;
            if i > 0 {
                t.off.push(took.as_secs_f64());
            }
            expected = Some(Answer::from_batches(&answer)?);
        }
        let expected = expected.ok_or("no runs")?;
        run_quarry(&quarry, "SET quarry.reflections = on").await?;
        let plan = run_quarry(&quarry, &format!("EXPLAIN {sql}"))
            .await?
            .join("\n");
        if !plan.contains(": used") {
            return Err(format!("{name}: no reflection used:\n{plan}").into());
        }
        for i in 0..=args.iterations {
            let (took, answer) = timed(quarry.execute(sql)).await?;
            compare(&expected, &Answer::from_batches(&answer)?)
                .map_err(|e| format!("{name}: reflections change the answer: {e}"))?;
            if i > 0 {
                t.on.push(took.as_secs_f64());
            }
        }
        let sql = for_duckdb(sql);
        let out = dir.join("duckdb-answer.arrow");
        for i in 0..=args.iterations {
            let request = Request {
                clients: vec![vec![Job {
                    sql: sql.clone(),
                    out: out.clone(),
                }]],
            };
            let response = duckdb.run(&request, limit).await?;
            let outcome = &response.clients[0][0];
            if let Some(error) = &outcome.error {
                return Err(format!("{name} on DuckDB: {error}").into());
            }
            if i > 0 {
                t.duckdb.push(outcome.seconds);
            }
        }
        // Approximate counts are DuckDB's own estimates.
        t.duckdb_agrees = match sql.contains("approx_count_distinct") {
            true => Ok(()),
            false => compare(&expected, &Answer::read(&out)?),
        };
        timings.push((name, t));
    }
    duckdb.stop().await;

    // A 1% append, then the incremental refresh of the daily reflection.
    let appended = rows / 100;
    let (append, _) = timed(run_quarry(
        &quarry,
        &format!(
            "INSERT INTO gold.sales {}",
            sales(rows + 1, rows + appended)
        ),
    ))
    .await?;
    let (refresh, _) = timed(run_quarry(
        &quarry,
        "ALTER TABLE gold.sales REFRESH REFLECTION sales_daily",
    ))
    .await?;
    let method = run_quarry(
        &quarry,
        "SELECT refresh_method FROM sys.reflections WHERE name = 'sales_daily'",
    )
    .await?
    .join("");

    let report = report(
        &args,
        load,
        &builds,
        &timings,
        (appended, append, refresh, &method),
    );
    println!("{report}");
    if let Some(out) = &args.out {
        std::fs::write(out, &report)?;
    }
    drop(cluster);
    Ok(())
}

fn median(times: &[f64]) -> f64 {
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

fn report(
    args: &DashboardArgs,
    load: Duration,
    builds: &[(Duration, String)],
    timings: &[(&str, Timings)],
    (appended, append, refresh, method): (u64, Duration, Duration, &str),
) -> String {
    let mut out = String::new();
    let ms = |s: f64| format!("{:.1} ms", s * 1000.0);
    let _ = writeln!(
        out,
        "# Dashboard benchmark: reflections\n\n{} rows in gold.sales, {} executors, \
         {} warm runs of each query per engine (after one warm-up), over Flight SQL for \
         Quarry (a statement query: `GetFlightInfo`, then `DoGet`, timed by the client); DuckDB in-process on the same Parquet files, timed by itself. Medians.\n",
        args.rows, args.executors, args.iterations
    );
    let _ = writeln!(
        out,
        "| query | reflections off | on | speed-up | DuckDB | on vs DuckDB |\n|---|---|---|---|---|---|"
    );
    let (mut worst_speedup, mut worst_on, mut slower_than_duckdb) = (f64::MAX, 0f64, 0);
    for (name, t) in timings {
        let (off, on, duck) = (median(&t.off), median(&t.on), median(&t.duckdb));
        worst_speedup = worst_speedup.min(off / on);
        worst_on = worst_on.max(on);
        if on >= duck {
            slower_than_duckdb += 1;
        }
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {:.0}× | {} | {:.2}× |",
            ms(off),
            ms(on),
            off / on,
            ms(duck),
            duck / on
        );
    }
    for (name, t) in timings {
        if let Err(why) = &t.duckdb_agrees {
            let _ = writeln!(out, "\nDuckDB's answer to \"{name}\" differs: {why}");
        }
    }
    let all_on: Vec<f64> = timings.iter().flat_map(|(_, t)| t.on.clone()).collect();
    let _ = writeln!(
        out,
        "\n- smallest speed-up: {worst_speedup:.0}× (target: 50×)\n\
         - p50 of every run with reflections: {} (target: under 15 ms); slowest query's median: {}\n\
         - queries not faster than DuckDB with reflections: {slower_than_duckdb} of {}\n\
         - load (CTAS of gold.sales): {:.1} s",
        ms(median(&all_on)),
        ms(worst_on),
        timings.len(),
        load.as_secs_f64()
    );
    for ((took, kept), sql) in builds.iter().zip(REFLECTIONS) {
        let name = sql.split_whitespace().nth(6).unwrap_or("?");
        let _ = writeln!(
            out,
            "- build of {name}: {:.1} s, {kept} rows",
            took.as_secs_f64()
        );
    }
    let _ = writeln!(
        out,
        "- append of {appended} rows (1%): {:.1} s; refresh of sales_daily after it: {:.2} s ({method})",
        append.as_secs_f64(),
        refresh.as_secs_f64()
    );
    out
}
