//! Iceberg tables end to end: the medallion statements, partition pruning, scans over
//! every executor, failed and concurrent writes, and other engines reading the tables.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use iceberg::TableIdent;

use crate::common::{
    TestCluster, files_under, other_engines_read, query, rows, stage_executors, write_test_data,
};

fn data_files(dir: &Path) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect()
}

/// The table's current metadata file.
async fn metadata_location(t: &TestCluster, name: &str) -> String {
    let ident = TableIdent::from_strs(name.split('.')).unwrap();
    let table = t
        .cluster
        .scheduler
        .service
        .tables()
        .load(&ident)
        .await
        .unwrap();
    table.unwrap().metadata_location().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn medallion_statements_round_trip() {
    let t = TestCluster::start(2, 2).await;
    write_test_data(&t.warehouse(), 1_000, 200_000).await;

    assert_eq!(
        t.rows("SHOW SCHEMAS").await,
        ["bronze", "gold", "public", "silver", "sys"]
    );
    assert_eq!(
        t.rows("CREATE TABLE bronze.events AS SELECT * FROM 'landing/data/events.csv'")
            .await,
        ["200000"]
    );
    let by_kind = "SELECT kind, count(*), sum(amount), min(day), max(user_id) FROM {} GROUP BY kind ORDER BY kind";
    assert_eq!(
        t.rows(&by_kind.replace("{}", "bronze.events")).await,
        t.rows(&by_kind.replace("{}", "'landing/data/events.csv'"))
            .await
    );
    assert_eq!(
        t.rows("SHOW TABLES IN bronze").await,
        ["quarry|bronze|events|BASE TABLE"]
    );
    assert_eq!(
        t.rows("DESCRIBE bronze.events").await,
        [
            "id|Int64|YES",
            "user_id|Int64|YES",
            "k|Int64|YES",
            "day|Int64|YES",
            "amount|Float64|YES",
            "kind|Utf8|YES"
        ]
    );

    // Silver: typed, deduplicated, filtered, partitioned by a column.
    t.rows(
        "CREATE TABLE silver.events PARTITION BY (kind) AS \
         SELECT DISTINCT id, CAST(user_id AS INT) AS user_id, CAST(day AS INT) AS day, \
         CAST(amount AS DECIMAL(12, 2)) AS amount, kind FROM bronze.events WHERE day < 100",
    )
    .await;
    let expected = t
        .rows("SELECT count(*), sum(amount) FROM 'landing/data/events.csv' WHERE day < 100")
        .await;
    assert_eq!(
        t.rows("SELECT count(*), sum(CAST(amount AS DOUBLE)) FROM silver.events")
            .await,
        expected
    );

    // INSERT adds a snapshot; INSERT OVERWRITE replaces every row.
    assert_eq!(
        t.rows("INSERT INTO silver.events VALUES (-1, 1, 1, 2.50, 'event-x'), (-2, 2, 2, NULL, 'event-y')")
            .await,
        ["2"]
    );
    assert_eq!(
        t.rows("SELECT id, amount FROM silver.events WHERE id < 0 ORDER BY id")
            .await,
        ["-2|NULL", "-1|2.50"]
    );
    assert_eq!(
        t.rows("INSERT OVERWRITE silver.events SELECT id, user_id, day, amount, kind FROM silver.events WHERE kind = 'event-x'")
            .await,
        ["1"]
    );
    assert_eq!(
        t.rows("SELECT id, kind FROM silver.events").await,
        ["-1|event-x"]
    );

    // Gold: an aggregate, then replaced by another.
    t.rows(
        "CREATE TABLE gold.kinds AS SELECT kind, count(*) AS n FROM bronze.events GROUP BY kind",
    )
    .await;
    assert_eq!(
        t.rows("SELECT count(*), sum(n) FROM gold.kinds").await,
        ["7|200000"]
    );
    let old_location = metadata_location(&t, "gold.kinds").await;
    t.rows("CREATE OR REPLACE TABLE gold.kinds AS SELECT 'all' AS kind, count(*) AS n FROM bronze.events")
        .await;
    assert_eq!(
        t.rows("SELECT kind, n FROM gold.kinds").await,
        ["all|200000"]
    );
    let old_dir = Path::new(old_location.strip_prefix("file://").unwrap())
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    assert!(
        files_under(&old_dir).is_empty(),
        "replaced table's files remain"
    );

    // A table with a column list, then rows.
    t.rows("CREATE TABLE gold.notes (id BIGINT NOT NULL, note VARCHAR, at TIMESTAMP) PARTITION BY (month(at))")
        .await;
    t.rows("INSERT INTO gold.notes VALUES (1, 'a', TIMESTAMP '2024-01-05 10:00:00'), (2, NULL, TIMESTAMP '2024-03-01 00:00:00')")
        .await;
    assert_eq!(
        t.rows("SELECT id, note, at FROM gold.notes ORDER BY id")
            .await,
        ["1|a|2024-01-05T10:00:00", "2|NULL|2024-03-01T00:00:00"]
    );
    let err = t
        .query("INSERT INTO gold.notes VALUES (NULL, 'b', NULL)")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("non-nullable"), "{err}");
    let err = t
        .query("INSERT INTO gold.notes SELECT NULL AS id, 'b' AS note, NULL AS at")
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("column 'id' of gold.notes is NOT NULL"),
        "{err}"
    );
    let explained = t
        .rows("EXPLAIN INSERT INTO gold.notes SELECT 3, 'c', NULL")
        .await
        .join("\n");
    assert!(
        explained.contains("IcebergWriteExec: table=gold.notes"),
        "{explained}"
    );
    let err = t
        .query("EXPLAIN ANALYZE INSERT INTO gold.notes SELECT 3, 'c', NULL")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Use EXPLAIN"), "{err}");
    t.rows("CREATE TABLE IF NOT EXISTS gold.notes (other INT)")
        .await;

    // DROP without PURGE keeps the files; with PURGE they go.
    let dir = t.warehouse().join("gold");
    let before = data_files(&dir).len();
    t.rows("DROP TABLE gold.kinds").await;
    assert_eq!(data_files(&dir).len(), before);
    t.rows("DROP TABLE gold.notes PURGE").await;
    assert_eq!(data_files(&dir).len(), before - 2);
    let err = t.query("SELECT * FROM gold.notes").await.unwrap_err();
    assert!(err.to_string().contains("not found"), "{err}");
    t.rows("DROP TABLE IF EXISTS gold.notes").await;
    assert_eq!(t.rows("SHOW TABLES IN gold").await, Vec::<String>::new());

    // Schemas beyond the medallion.
    t.rows("CREATE SCHEMA scratch").await;
    t.rows("CREATE TABLE scratch.x AS SELECT 1 AS a").await;
    let err = t.query("DROP SCHEMA scratch").await.unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
    t.rows("DROP SCHEMA scratch CASCADE").await;
    assert_eq!(
        t.rows("SHOW SCHEMAS LIKE 'scr%'").await,
        Vec::<String>::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn partitioned_tables_prune_files_and_scans_use_every_executor() {
    let t = TestCluster::start_with(2, 2, |options| options.single_stage_max_bytes = 0).await;
    t.rows(
        "CREATE TABLE gold.readings PARTITION BY (day(at)) AS \
         SELECT value AS id, value % 10 AS sensor, value * 0.5 AS reading, \
         CAST(to_timestamp_seconds(1704067200 + (value % 30) * 86400) AS TIMESTAMP) AS at \
         FROM generate_series(1, 300000)",
    )
    .await;
    // 30 days, each written by one or more tasks.
    let files = data_files(&t.warehouse().join("gold"));
    assert!(files.len() >= 30, "{} files", files.len());

    let selective = "SELECT count(*), sum(reading) FROM gold.readings \
                     WHERE at >= TIMESTAMP '2024-01-07 00:00:00' AND at < TIMESTAMP '2024-01-08 00:00:00'";
    assert_eq!(
        t.rows(selective).await,
        t.rows(
            "SELECT count(*), sum(value * 0.5) FROM generate_series(1, 300000) WHERE value % 30 = 6"
        )
        .await
    );
    let analyzed = t
        .rows(&format!("EXPLAIN ANALYZE {selective}"))
        .await
        .join("\n");
    let planned = files
        .iter()
        .filter(|f| f.to_string_lossy().contains("at_day=2024-01-07"))
        .count();
    assert!(
        analyzed.contains(&format!("data_files_planned={planned}"))
            && analyzed.contains(&format!("data_files_pruned={}", files.len() - planned)),
        "{analyzed}"
    );

    // A scan of all files runs on both executors.
    let service = &t.cluster.scheduler.service;
    let session = service.new_session().await;
    let query = service
        .prepare(
            &session,
            "SELECT sensor, count(*) FROM gold.readings GROUP BY sensor",
        )
        .await
        .unwrap();
    let batches: Vec<_> =
        futures::TryStreamExt::try_collect(service.execute(Arc::clone(&query)).await.unwrap())
            .await
            .unwrap();
    assert_eq!(rows(&batches).len(), 10);
    let (tasks, executors) = stage_executors(&t, &query.job_id().unwrap(), 1).await;
    let all: HashSet<String> = t.cluster.executors.iter().map(|e| e.id.clone()).collect();
    assert_eq!(tasks, 4);
    assert_eq!(executors, all, "every executor ran part of the scan");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_writes_leave_tables_as_they_were() {
    let t = TestCluster::start(2, 2).await;
    write_test_data(&t.warehouse(), 1_000, 400_000).await;
    // A cast fails on one row deep inside the input, after other tasks wrote files.
    let failing = "SELECT id, CAST(CASE WHEN id = 390000 THEN 'oops' ELSE kind END AS VARCHAR) AS kind, \
                   CAST(CASE WHEN id = 390000 THEN 'oops' ELSE CAST(day AS VARCHAR) END AS INT) AS day \
                   FROM 'landing/data/events.csv'";
    let err = t
        .query(&format!("CREATE TABLE bronze.bad AS {failing}"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("Cannot cast string 'oops'"),
        "{err}"
    );
    let err = t.query("SELECT * FROM bronze.bad").await.unwrap_err();
    assert!(err.to_string().contains("not found"), "{err}");
    assert_eventually_no_files(&t.warehouse().join("bronze")).await;

    // A failing INSERT leaves the table at its snapshot, with only its own files.
    t.rows("CREATE TABLE bronze.good AS SELECT id, kind, CAST(day AS INT) AS day FROM 'landing/data/events.csv' WHERE id <= 1000")
        .await;
    let snapshot = metadata_location(&t, "bronze.good").await;
    let files = data_files(&t.warehouse().join("bronze"));
    let err = t
        .query(&format!("INSERT INTO bronze.good {failing}"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("Cannot cast string 'oops'"),
        "{err}"
    );
    assert_eq!(metadata_location(&t, "bronze.good").await, snapshot);
    assert_eq!(t.rows("SELECT count(*) FROM bronze.good").await, ["1000"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let now = data_files(&t.warehouse().join("bronze"));
        if now == files {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the failed INSERT left files behind: {now:?}, had {files:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A type Iceberg cannot hold is refused before anything runs.
    let err = t
        .query("CREATE TABLE bronze.u AS SELECT arrow_cast(1, 'UInt64') AS big")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cannot hold"), "{err}");
}

async fn assert_eventually_no_files(dir: &Path) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let left = files_under(dir);
        if left.is_empty() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "files left behind: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_inserts_all_land() {
    let t = Arc::new(TestCluster::start(2, 2).await);
    t.rows("CREATE TABLE silver.log (writer INT, n BIGINT)")
        .await;
    let writers = (0..8).map(|writer| {
        let t = Arc::clone(&t);
        tokio::spawn(async move {
            let conn =
                quarry_client::connection::Connection::connect(&t.cluster.flight_url(), "w", "")
                    .await
                    .unwrap();
            let sql = format!(
                "INSERT INTO silver.log SELECT {writer}, value FROM generate_series(1, 1000)"
            );
            rows(&query(&conn, &sql).await.unwrap())
        })
    });
    for writer in writers {
        assert_eq!(writer.await.unwrap(), ["1000"]);
    }
    assert_eq!(
        t.rows("SELECT count(*), count(DISTINCT writer), sum(n) FROM silver.log")
            .await,
        ["8000|8|4004000"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn other_engines_read_what_quarry_writes() {
    let t = TestCluster::start(2, 2).await;
    t.rows(
        "CREATE TABLE gold.types PARTITION BY (bucket(4, id), day(at)) AS SELECT \
         value AS id, CAST(value AS INT) AS small, value * 0.25 AS score, \
         CAST(value AS DECIMAL(10, 2)) / 4 AS amount, 'name-' || value AS name, value % 2 = 0 AS even, \
         CAST(DATE '2024-01-01' + CAST(value % 40 AS INT) AS DATE) AS day, \
         CAST(to_timestamp_seconds(1704067200 + value * 3600) AS TIMESTAMP) AS at, \
         arrow_cast(to_timestamp_seconds(1704067200 + value * 60), 'Timestamp(Microsecond, Some(\"UTC\"))') AS at_utc, \
         CAST(CASE WHEN value % 5 = 0 THEN NULL ELSE 'x' || value END AS BYTEA) AS raw \
         FROM generate_series(1, 2000)",
    )
    .await;
    t.rows("INSERT INTO gold.types (id, name) VALUES (0, NULL)")
        .await;
    let quarry = t
        .rows(
            "SELECT CAST(id AS VARCHAR), CAST(small AS VARCHAR), CAST(score AS VARCHAR), CAST(amount AS VARCHAR), \
             name, CAST(even AS VARCHAR), CAST(day AS VARCHAR), \
             CASE WHEN at IS NULL THEN NULL ELSE to_char(at, '%Y-%m-%dT%H:%M:%S') END, \
             CAST(CAST(date_part('epoch', at_utc) AS BIGINT) AS VARCHAR), encode(raw, 'hex') FROM gold.types",
        )
        .await;
    let mut quarry: Vec<Vec<String>> = quarry
        .iter()
        .map(|row| row.split('|').map(str::to_string).collect())
        .collect();
    quarry.sort();

    let (pyiceberg, duckdb) = other_engines_read(&t.warehouse(), "gold.types");
    assert_eq!(quarry.len(), 2001);
    assert_eq!(pyiceberg, quarry, "pyiceberg sees other rows");
    assert_eq!(duckdb, quarry, "DuckDB sees other rows");
}

/// Runs `sql`, cancels it once its tasks have run a while, and checks that `table`
/// is as it was: same snapshot, same rows, and no file left behind.
async fn cancel_changes_nothing(t: &TestCluster, sql: &str, table: &str) {
    let snapshot = metadata_location(t, table).await;
    let rows = t.rows(&format!("SELECT * FROM {table} ORDER BY 1")).await;
    let dir = t.warehouse().join(table.split('.').next().unwrap());
    let files = data_files(&dir);
    let prepared = t.conn.prepare(sql).await.unwrap();
    let (conn, handle) = (t.conn.clone(), prepared.clone());
    let fetch = tokio::spawn(async move {
        let (_, stream) = conn.fetch(&handle).await?;
        futures::TryStreamExt::try_collect::<Vec<_>>(stream).await?;
        Ok::<_, quarry_client::connection::ClientError>(())
    });
    let started = std::time::Instant::now();
    while t
        .cluster
        .executors
        .iter()
        .map(|e| e.active_tasks())
        .sum::<usize>()
        == 0
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{sql} never ran"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    t.conn.cancel(&prepared).await.unwrap();
    let err = fetch.await.unwrap().unwrap_err();
    assert!(err.to_string().contains("cancelled"), "{sql}: {err}");
    assert_eq!(metadata_location(t, table).await, snapshot, "{sql}");
    assert_eq!(
        t.rows(&format!("SELECT * FROM {table} ORDER BY 1")).await,
        rows
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while data_files(&dir) != files {
        assert!(
            std::time::Instant::now() < deadline,
            "the cancelled {sql} left files behind"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancelled_insert_or_update_changes_nothing() {
    let t = TestCluster::start(2, 2).await;
    quarry_client::demo::write(&t.warehouse().join("landing"), 100_000, 1).unwrap();
    t.rows("CREATE TABLE silver.pairs AS SELECT 1 AS a, 2 AS b")
        .await;
    // Rows trickle out of a nested-loop join for a long time.
    t.rows("SET datafusion.execution.batch_size = 512").await;
    cancel_changes_nothing(
        &t,
        "INSERT INTO silver.pairs SELECT a.transaction_id, b.transaction_id \
         FROM 'landing/transactions/*.csv' a CROSS JOIN 'landing/transactions/*.csv' b \
         WHERE a.unit_price + b.unit_price < 20",
        "silver.pairs",
    )
    .await;
    // An UPDATE whose new values take long to compute (a megabyte string per row).
    t.rows(
        "CREATE TABLE silver.sales AS SELECT transaction_id, customer_id \
         FROM 'landing/transactions/*.csv'",
    )
    .await;
    t.rows("SET datafusion.execution.batch_size = 16").await;
    cancel_changes_nothing(
        &t,
        "UPDATE silver.sales SET customer_id = \
         CAST(length(repeat(CAST(customer_id AS VARCHAR), 1000000)) AS BIGINT)",
        "silver.sales",
    )
    .await;
}
