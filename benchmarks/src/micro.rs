//! `aggregate` and `tables`: two small benchmarks of one feature each against
//! single-process DataFusion on the same data, machine and run.
//!
//! `aggregate` writes a Parquet table of `rows` rows, then runs a GROUP BY over it
//! alternately on an embedded Quarry cluster (through its Flight SQL front door, as a
//! client would) and on one DataFusion `SessionContext` with as many partitions as the
//! cluster has task slots, checks that the answers agree, and prints median, min and
//! max times and their ratio.
//!
//! `tables` measures Iceberg tables: a `CREATE TABLE ... AS` of `rows` rows (rows per
//! second, against DataFusion writing the same rows to Parquet in one process), and a
//! selective query on a table partitioned by day, with the filter in a form Iceberg
//! prunes files by and in one it cannot (a function of the column).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use datafusion::prelude::{SessionConfig, SessionContext};
use quarry_client::connection::Connection;
use quarry_client::embedded::{EmbeddedCluster, EmbeddedOptions};

/// The arguments of `aggregate` and `tables`.
#[derive(clap::Args)]
pub struct MicroArgs {
    /// Rows in the table.
    #[arg(long, default_value_t = 10_000_000)]
    pub rows: u64,
    /// Timed runs of each query, after one warm-up run each.
    #[arg(long, default_value_t = 5)]
    pub iterations: usize,
    /// Executors in the Quarry cluster.
    #[arg(long, default_value_t = 2)]
    pub executors: usize,
    /// Where to write the data (default: a temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

impl MicroArgs {
    /// The data directory: `dir`, or a temporary directory removed when the guard drops.
    pub(crate) fn work_dir(&self) -> std::io::Result<(PathBuf, Option<tempfile::TempDir>)> {
        match &self.dir {
            Some(dir) => Ok((dir.clone(), None)),
            None => {
                let temp = tempfile::tempdir()?;
                Ok((temp.path().to_path_buf(), Some(temp)))
            }
        }
    }
}

const QUERY: &str = "SELECT k, count(*) AS n, sum(v) AS total, min(v) AS lo, max(v) AS hi \
                     FROM t GROUP BY k ORDER BY k";

/// The selective query, with a filter Iceberg prunes by and with one it cannot use.
const PRUNED: &str = "SELECT count(*), sum(v) FROM bench.events \
    WHERE ts >= TIMESTAMP '2024-03-05 00:00:00' AND ts < TIMESTAMP '2024-03-06 00:00:00'";
const UNPRUNED: &str = "SELECT count(*), sum(v) FROM bench.events \
    WHERE date_trunc('day', ts) = TIMESTAMP '2024-03-05 00:00:00'";

pub async fn tables(args: MicroArgs) -> Result<(), Box<dyn std::error::Error>> {
    let (dir, _temp) = args.work_dir()?;
    let (dir, rows, iterations, executors) = (&dir, args.rows, args.iterations, args.executors);
    let source = write_source(dir, rows).await?;
    let local = SessionContext::new();
    // The baseline: DataFusion in one process writing the same rows as Parquet.
    local
        .sql(&format!(
            "CREATE EXTERNAL TABLE src STORED AS PARQUET LOCATION '{}/'",
            source.display()
        ))
        .await?;
    let copy_dir = dir.join("datafusion-copy");
    let (copy_time, _) = timed(run_local(
        &local,
        &format!(
            "COPY (SELECT * FROM src) TO '{}/' STORED AS PARQUET",
            copy_dir.display()
        ),
    ))
    .await?;
    let cluster =
        EmbeddedCluster::start(EmbeddedOptions::local(dir.join("warehouse"), executors)).await?;
    let quarry = Connection::connect(&cluster.flight_url(), "bench", "").await?;
    run_quarry(&quarry, "CREATE SCHEMA IF NOT EXISTS bench").await?;
    let (ctas_time, written) = timed(run_quarry(
        &quarry,
        "CREATE OR REPLACE TABLE bench.events_flat AS SELECT * FROM 'landing/bench-source/'",
    ))
    .await?;
    let (partitioned_time, _) = timed(run_quarry(
        &quarry,
        "CREATE OR REPLACE TABLE bench.events PARTITION BY (day(ts)) AS SELECT * FROM 'landing/bench-source/'",
    ))
    .await?;
    println!("rows: {rows}, executors: {executors}, written: {written:?}");
    println!("| write | time | rows/s |\n|---|---|---|");
    for (what, time) in [
        ("DataFusion, one process: COPY TO Parquet", copy_time),
        ("Quarry: CREATE TABLE AS (unpartitioned)", ctas_time),
        (
            "Quarry: CREATE TABLE AS PARTITION BY (day(ts)), 366 days",
            partitioned_time,
        ),
    ] {
        println!(
            "| {what} | {:.2} s | {:.0} |",
            time.as_secs_f64(),
            rows as f64 / time.as_secs_f64()
        );
    }
    println!(
        "ratio Quarry CTAS / DataFusion COPY (time): {:.2}",
        ctas_time.as_secs_f64() / copy_time.as_secs_f64()
    );

    let (p, u) = alternate(
        iterations,
        async || run_quarry(&quarry, PRUNED).await,
        async || run_quarry(&quarry, UNPRUNED).await,
    )
    .await?;
    println!("\nselective query, one day of 366 ({iterations} runs after 1 warm-up):");
    println!("| filter | median | min | max |\n|---|---|---|---|");
    print_row("`ts >= day AND ts < next day` (files pruned)", p);
    print_row("`date_trunc('day', ts) = day` (no pruning)", u);
    println!("ratio pruned / unpruned (median): {:.3}", p.0 / u.0);
    Ok(())
}

/// The events of [`write_source`] and an embedded cluster over them, with a connection
/// to it; the guard removes a temporary directory when it drops.
pub(crate) struct EventsBench {
    pub quarry: Connection,
    pub _cluster: EmbeddedCluster,
    pub _temp: Option<tempfile::TempDir>,
}

impl EventsBench {
    pub(crate) async fn start(args: &MicroArgs) -> Result<Self, Box<dyn std::error::Error>> {
        let (dir, temp) = args.work_dir()?;
        write_source(&dir, args.rows).await?;
        let options = EmbeddedOptions::local(dir.join("warehouse"), args.executors);
        let cluster = EmbeddedCluster::start(options).await?;
        let quarry = Connection::connect(&cluster.flight_url(), "bench", "").await?;
        Ok(Self {
            quarry,
            _cluster: cluster,
            _temp: temp,
        })
    }
}

/// Writes `rows` rows of events (`id`, `k`, `v`, `ts` over the days of 2024) as Parquet
/// under the warehouse's `landing/bench-source/`, unless they are there, and returns the path.
pub(crate) async fn write_source(
    dir: &std::path::Path,
    rows: u64,
) -> Result<PathBuf, Box<dyn std::error::Error>> {
    let source = dir.join("warehouse/landing/bench-source");
    if !source.exists() {
        let select = format!(
            "SELECT value AS id, value % 1000 AS k, (value * 7919) % 100003 AS v, \
             to_timestamp_seconds(1704067200 + (value % 366) * 86400 + value % 86400) AS ts \
             FROM generate_series(1, {rows})"
        );
        SessionContext::new()
            .sql(&format!(
                "COPY ({select}) TO '{}/part-0.parquet' STORED AS PARQUET",
                source.display()
            ))
            .await?
            .collect()
            .await?;
    }
    Ok(source)
}

pub async fn aggregate(args: MicroArgs) -> Result<(), Box<dyn std::error::Error>> {
    let (dir, _temp) = args.work_dir()?;
    let (dir, rows, iterations, executors) = (&dir, args.rows, args.iterations, args.executors);
    let data = dir.join("warehouse/landing/bench/t");
    if !data.exists() {
        let started = Instant::now();
        SessionContext::new()
            .sql(&format!(
                "COPY (SELECT value AS id, value % 1000 AS k, (value * 7919) % 100003 AS v FROM generate_series(1, {rows})) \
                 TO '{}/part-0.parquet' STORED AS PARQUET",
                data.display()
            ))
            .await?
            .collect()
            .await?;
        println!(
            "wrote {rows} rows in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    let cluster =
        EmbeddedCluster::start(EmbeddedOptions::local(dir.join("warehouse"), executors)).await?;
    let slots = cluster.scheduler.ballista.total_task_slots().await;
    let quarry = Connection::connect(&cluster.flight_url(), "bench", "").await?;
    run_quarry(
        &quarry,
        "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION 'landing/bench/t/'",
    )
    .await?;

    let local = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(slots));
    local
        .sql(&format!(
            "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '{}/'",
            data.display()
        ))
        .await?;

    let (q, l) = alternate(
        iterations,
        async || run_quarry(&quarry, QUERY).await,
        async || run_local(&local, QUERY).await,
    )
    .await?;
    println!("query: {QUERY}");
    println!(
        "rows: {rows}, executors: {executors}, task slots: {slots}, iterations: {iterations} (after 1 warm-up)"
    );
    println!("| engine | median | min | max |\n|---|---|---|---|");
    print_row("Quarry embedded (Flight SQL)", q);
    print_row("DataFusion, one process", l);
    println!("ratio Quarry / DataFusion (median): {:.2}", q.0 / l.0);
    Ok(())
}

/// Runs `a` and `b` alternately, one warm-up run each and then `iterations` timed runs,
/// checks that they always give the same rows, and returns the median, min and max
/// seconds of each.
async fn alternate(
    iterations: usize,
    mut a: impl AsyncFnMut() -> Result<Vec<String>, Box<dyn std::error::Error>>,
    mut b: impl AsyncFnMut() -> Result<Vec<String>, Box<dyn std::error::Error>>,
) -> Result<((f64, f64, f64), (f64, f64, f64)), Box<dyn std::error::Error>> {
    let (mut a_times, mut b_times) = (Vec::new(), Vec::new());
    for i in 0..=iterations {
        let (a_time, a_rows) = timed(a()).await?;
        let (b_time, b_rows) = timed(b()).await?;
        if a_rows != b_rows {
            return Err(format!("the answers differ: {a_rows:?} vs {b_rows:?}").into());
        }
        if i > 0 {
            a_times.push(a_time);
            b_times.push(b_time);
        }
    }
    Ok((summary(&mut a_times), summary(&mut b_times)))
}

pub(crate) async fn timed<T, E>(
    work: impl std::future::Future<Output = Result<T, E>>,
) -> Result<(Duration, T), E> {
    let started = Instant::now();
    let out = work.await?;
    Ok((started.elapsed(), out))
}

pub(crate) async fn run_quarry(
    conn: &Connection,
    sql: &str,
) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let batches = conn.query(sql).await?;
    text_rows(&batches)
}

async fn run_local(
    ctx: &SessionContext,
    sql: &str,
) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    text_rows(&ctx.sql(sql).await?.collect().await?)
}

fn text_rows(
    batches: &[datafusion::arrow::array::RecordBatch],
) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let rows = quarry_client::output::rows(batches)?;
    Ok(rows.into_iter().map(|row| row.join("|")).collect())
}

/// A table row: what, then median, min and max seconds.
pub(crate) fn print_row(what: &str, (median, min, max): (f64, f64, f64)) {
    println!("| {what} | {median:.3} s | {min:.3} s | {max:.3} s |");
}

/// Median, min and max in seconds.
pub(crate) fn summary(times: &mut [Duration]) -> (f64, f64, f64) {
    times.sort();
    let secs = |d: &Duration| d.as_secs_f64();
    (
        secs(&times[times.len() / 2]),
        secs(&times[0]),
        secs(&times[times.len() - 1]),
    )
}
