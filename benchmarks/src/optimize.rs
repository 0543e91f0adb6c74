//! `optimize`: queries over a table of many small files, before and after `OPTIMIZE`
//! compacts them, on the same data, machine and run.
//!
//! A table of `rows` rows, partitioned by day over a year, is written as a stream of
//! small appends would leave it: eight appends (an eighth of each day's rows each: the
//! source's day is `id % 366`), in which
//! every task writes its own small files for every day (`write.distribution-mode =
//! 'none'` and a 256 KB target file size). Three queries (a
//! scan of everything, a month's aggregate and one day's rows) are timed over it, then
//! `OPTIMIZE` compacts it (timed too) and they are timed again. Their answers must not
//! change. Prints the file counts, median, min and max times and the ratios.

use std::time::Duration;

use quarry_client::connection::Connection;

use crate::micro::{EventsBench, MicroArgs, print_row, run_quarry, summary, timed};

const QUERIES: [(&str, &str); 3] = [
    (
        "whole table",
        "SELECT k % 10, count(*), sum(v) FROM bench.events GROUP BY 1 ORDER BY 1",
    ),
    (
        "one month",
        "SELECT count(*), sum(v), count(DISTINCT k) FROM bench.events \
         WHERE ts >= TIMESTAMP '2024-06-01' AND ts < TIMESTAMP '2024-07-01'",
    ),
    (
        "one day",
        "SELECT count(*), max(v) FROM bench.events \
         WHERE ts >= TIMESTAMP '2024-03-10' AND ts < TIMESTAMP '2024-03-11'",
    ),
];

/// The appends the table is written in.
const APPENDS: u64 = 8;

const FILES: &str = "SELECT count(*) FROM bench.\"events$files\"";

pub async fn run(args: MicroArgs) -> Result<(), Box<dyn std::error::Error>> {
    let (rows, iterations, executors) = (args.rows, args.iterations, args.executors);
    let bench = EventsBench::start(&args).await?;
    let quarry = &bench.quarry;
    for sql in [
        "CREATE SCHEMA IF NOT EXISTS bench",
        "DROP TABLE IF EXISTS bench.events",
        "CREATE TABLE bench.events (id BIGINT, k BIGINT, v BIGINT, ts TIMESTAMP) PARTITION BY (day(ts))",
        "ALTER TABLE bench.events SET TBLPROPERTIES \
         ('write.distribution-mode' = 'none', 'write.target-file-size-bytes' = '262144')",
    ] {
        run_quarry(quarry, sql).await?;
    }
    for append in 0..APPENDS {
        let sql = format!(
            "INSERT INTO bench.events SELECT id, k, v, ts FROM 'landing/bench-source/' \
             WHERE (id / 366) % {APPENDS} = {append}"
        );
        run_quarry(quarry, &sql).await?;
    }
    run_quarry(
        quarry,
        "ALTER TABLE bench.events UNSET TBLPROPERTIES \
         ('write.distribution-mode', 'write.target-file-size-bytes')",
    )
    .await?;
    let files_before = run_quarry(quarry, FILES).await?;
    let (before, answers) = time_queries(quarry, iterations).await?;
    let (optimize_time, optimized) =
        timed(run_quarry(quarry, "OPTIMIZE TABLE bench.events")).await?;
    let files_after = run_quarry(quarry, FILES).await?;
    let (after, answers_after) = time_queries(quarry, iterations).await?;
    if answers != answers_after {
        return Err(format!("OPTIMIZE changed answers: {answers:?} vs {answers_after:?}").into());
    }
    println!(
        "rows: {rows}, executors: {executors}, iterations: {iterations} (after 1 warm-up)\n\
         data files: {files_before:?} before, {files_after:?} after; OPTIMIZE answered \
         {optimized:?} (rewritten | written) in {:.3} s",
        optimize_time.as_secs_f64()
    );
    println!("| query | before | min | max | after | min | max | after / before |");
    println!("|---|---|---|---|---|---|---|---|");
    for (i, (name, _)) in QUERIES.iter().enumerate() {
        let (b, a) = (
            summary(&mut before[i].clone()),
            summary(&mut after[i].clone()),
        );
        println!(
            "| {name} | {:.3} s | {:.3} s | {:.3} s | {:.3} s | {:.3} s | {:.3} s | {:.3} |",
            b.0,
            b.1,
            b.2,
            a.0,
            a.1,
            a.2,
            a.0 / b.0
        );
    }
    let total = |times: &[Vec<Duration>]| {
        let mut sums: Vec<Duration> = (0..iterations)
            .map(|i| times.iter().map(|t| t[i]).sum())
            .collect();
        summary(&mut sums)
    };
    let (b, a) = (total(&before), total(&after));
    println!("| query | median | min | max |\n|---|---|---|---|");
    print_row("all three, before OPTIMIZE", b);
    print_row("all three, after OPTIMIZE", a);
    println!(
        "ratio after / before OPTIMIZE (median of all three): {:.3}",
        a.0 / b.0
    );
    Ok(())
}

/// Each query's times over `iterations` runs after a warm-up, and its answers.
async fn time_queries(
    quarry: &Connection,
    iterations: usize,
) -> Result<(Vec<Vec<Duration>>, Vec<Vec<String>>), Box<dyn std::error::Error>> {
    let mut times = vec![Vec::new(); QUERIES.len()];
    let mut answers = Vec::new();
    for (i, (_, sql)) in QUERIES.iter().enumerate() {
        answers.push(run_quarry(quarry, sql).await?);
        for _ in 0..iterations {
            let (took, _) = timed(run_quarry(quarry, sql)).await?;
            times[i].push(took);
        }
    }
    Ok((times, answers))
}
