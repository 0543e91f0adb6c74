//! `merge`: an upsert of 1% of a table's rows with `MERGE`, against rewriting the whole
//! table with `INSERT OVERWRITE` to the same effect, on the same data, machine and run.
//!
//! Two copies of a table of `rows` rows, partitioned by day over a year, take the same
//! change: the rows of its last three days get a new `v`, and new rows arrive for its
//! last day (1% of the table in all, the shape of a daily upsert of recent data). One
//! copy takes it as a `MERGE`, which rewrites only the files its matches are in; the
//! other as an `INSERT OVERWRITE` of the table `FULL JOIN` the changes. After each run
//! both copies must hold the same rows (count and sums). Prints median, min and max
//! times and their ratio.

use crate::micro::{EventsBench, MicroArgs, print_row, run_quarry, summary, timed};

const MERGE: &str = "MERGE INTO bench.merged AS t USING bench.changes AS c ON t.id = c.id \
     WHEN MATCHED THEN UPDATE SET v = c.v \
     WHEN NOT MATCHED THEN INSERT VALUES (c.id, c.k, c.v, c.ts)";

const OVERWRITE: &str = "INSERT OVERWRITE bench.overwritten \
     SELECT coalesce(c.id, t.id), coalesce(c.k, t.k), coalesce(c.v, t.v), coalesce(c.ts, t.ts) \
     FROM bench.overwritten AS t FULL JOIN bench.changes AS c ON t.id = c.id";

const CHECK: &str = "SELECT count(*), sum(id), sum(v) FROM bench.{t}";

pub async fn run(args: MicroArgs) -> Result<(), Box<dyn std::error::Error>> {
    let (rows, iterations, executors) = (args.rows, args.iterations, args.executors);
    let bench = EventsBench::start(&args).await?;
    let quarry = &bench.quarry;
    run_quarry(quarry, "CREATE SCHEMA IF NOT EXISTS bench").await?;
    for table in ["merged", "overwritten"] {
        run_quarry(
            quarry,
            &format!(
                "CREATE OR REPLACE TABLE bench.{table} PARTITION BY (day(ts)) AS \
                 SELECT * FROM 'landing/bench-source/'"
            ),
        )
        .await?;
    }
    // The last three days' rows change; a day's worth of new rows arrives.
    let new_rows = rows / 100 - rows * 3 / 366;
    run_quarry(
        quarry,
        &format!(
            "CREATE OR REPLACE TABLE bench.changes AS \
             SELECT id, k, v + 1 AS v, ts FROM 'landing/bench-source/' WHERE id % 366 >= 363 \
             UNION ALL \
             SELECT {rows} + n, n % 1000, n, to_timestamp_seconds(1704067200 + 365 * 86400 + n % 86400) \
             FROM generate_series(1, {new_rows}) AS s(n)"
        ),
    )
    .await?;
    let changed = run_quarry(quarry, "SELECT count(*) FROM bench.changes").await?;
    let files = run_quarry(quarry, "SELECT count(*) FROM bench.\"merged$files\"").await?;

    let (mut merges, mut overwrites) = (Vec::new(), Vec::new());
    for i in 0..=iterations {
        let (merge_time, merged) = timed(run_quarry(quarry, MERGE)).await?;
        let (overwrite_time, _) = timed(run_quarry(quarry, OVERWRITE)).await?;
        let a = run_quarry(quarry, &CHECK.replace("{t}", "merged")).await?;
        let b = run_quarry(quarry, &CHECK.replace("{t}", "overwritten")).await?;
        if a != b {
            return Err(format!("the tables differ after run {i}: {a:?} vs {b:?}").into());
        }
        if i == 0 {
            println!("MERGE changed {merged:?} rows; the table: {a:?} (count, sum(id), sum(v))");
        } else {
            merges.push(merge_time);
            overwrites.push(overwrite_time);
        }
    }
    let (m, o) = (summary(&mut merges), summary(&mut overwrites));
    println!(
        "rows: {rows}, changes: {changed:?}, data files: {files:?}, executors: {executors}, \
         iterations: {iterations} (after 1 warm-up)"
    );
    println!("| statement | median | min | max |\n|---|---|---|---|");
    print_row("MERGE (rewrites the files with matches)", m);
    print_row("INSERT OVERWRITE (rewrites the table)", o);
    println!("ratio MERGE / INSERT OVERWRITE (median): {:.3}", m.0 / o.0);
    Ok(())
}
