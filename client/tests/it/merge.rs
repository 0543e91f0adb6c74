//! `MERGE` end to end: on partitioned and unpartitioned Iceberg tables, with NULLs,
//! each statement gives the same count and the same table as DuckDB's `MERGE` on the
//! same data; a `MERGE` that fails (a target row matched twice, a cast error) changes
//! nothing and leaves no files.

use crate::common::{TestCluster, duckdb, files_under, other_engines_read_as_quarry};

/// The target's rows: NULLs in both value columns.
const DATA: &str = "SELECT id, \
     CASE WHEN id % 10 = 0 THEN NULL WHEN id % 2 = 0 THEN 'even' ELSE 'odd' END AS kind, \
     CASE WHEN id % 13 = 0 THEN NULL ELSE id * 3 END AS amount \
     FROM generate_series(1, 3000) AS s(id)";

/// The source's rows: keys past the target's end, NULL keys and NULL values.
const UPDATES: &str = "SELECT CASE WHEN n % 50 = 0 THEN NULL ELSE n * 7 END AS id, \
     CASE WHEN n % 3 = 0 THEN 'odd' WHEN n % 3 = 1 THEN NULL ELSE 'new' END AS kind, \
     CASE WHEN n % 11 = 0 THEN NULL ELSE n END AS amount \
     FROM generate_series(1, 600) AS s(n)";

const STATEMENTS: [&str; 5] = [
    // An upsert that also deletes, moving rows between partitions.
    "MERGE INTO {t} AS t USING {s} AS s ON t.id = s.id \
     WHEN MATCHED AND s.amount IS NULL THEN DELETE \
     WHEN MATCHED THEN UPDATE SET amount = s.amount, kind = s.kind \
     WHEN NOT MATCHED THEN INSERT (id, kind, amount) VALUES (s.id, s.kind, s.amount)",
    // Matched clauses only, conditions on the target, a subquery as the source.
    "MERGE INTO {t} AS t USING (SELECT id, amount FROM {s} WHERE id < 1500) AS u \
     ON t.id = u.id + 1 \
     WHEN MATCHED AND t.kind = 'odd' THEN UPDATE SET amount = t.amount + coalesce(u.amount, 0) \
     WHEN MATCHED AND t.kind IS NULL THEN DELETE",
    // Inserts only: an append.
    "MERGE INTO {t} AS t USING {s} AS s ON t.id = s.id * 2 \
     WHEN NOT MATCHED AND s.kind IS NOT NULL THEN INSERT (id, amount) VALUES (s.id * 2, s.amount)",
    // Matches rows, changes none: no snapshot.
    "MERGE INTO {t} AS t USING {s} AS s ON t.id = s.id \
     WHEN MATCHED AND s.amount < 0 THEN DELETE",
    // VALUES as the source, INSERT without a column list.
    "MERGE INTO {t} AS t USING (VALUES (1, 'one'), (2, 'two'), (99999, 'far')) AS v(id, kind) \
     ON t.id = v.id \
     WHEN MATCHED THEN UPDATE SET kind = v.kind \
     WHEN NOT MATCHED THEN INSERT VALUES (v.id, v.kind, 0)",
];

const TABLES: [&str; 2] = ["silver.mparts", "silver.mflat"];

const CONTENTS: &str = "SELECT * FROM {t} ORDER BY id, kind, amount";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn merges_change_what_duckdb_changes() {
    let t = TestCluster::start(2, 2).await;
    t.rows(&format!(
        "CREATE TABLE silver.mparts PARTITION BY (kind) AS {DATA}"
    ))
    .await;
    t.rows(&format!("CREATE TABLE silver.mflat AS {DATA}"))
        .await;
    t.rows(&format!("CREATE TABLE bronze.updates AS {UPDATES}"))
        .await;

    // DuckDB's results: each statement's count, then the table.
    let mut reference = vec![
        format!("CREATE TABLE t AS {DATA}"),
        format!("CREATE TABLE s AS {UPDATES}"),
    ];
    for statement in STATEMENTS {
        reference.push(statement.replace("{t}", "t").replace("{s}", "s"));
        reference.push(CONTENTS.replace("{t}", "t"));
    }
    let expected = duckdb(&reference);
    for (i, statement) in STATEMENTS.iter().enumerate() {
        let (count, contents) = (&expected[2 + 2 * i], &expected[3 + 2 * i]);
        for table in TABLES {
            let sql = statement
                .replace("{t}", table)
                .replace("{s}", "bronze.updates");
            assert_eq!(&t.rows(&sql).await, count, "{sql}");
            let after = t.rows(&CONTENTS.replace("{t}", table)).await;
            assert!(
                &after == contents,
                "{table} after {sql}: differs from DuckDB"
            );
        }
    }
    // One snapshot per change: the upsert an overwrite, the insert-only one an append,
    // the one that changed nothing none.
    let operations = t
        .rows(
            "SELECT operation FROM silver.\"mparts$snapshots\" ORDER BY committed_at, snapshot_id",
        )
        .await;
    assert_eq!(
        operations,
        ["append", "overwrite", "overwrite", "append", "overwrite"]
    );
    // Other engines read the merged tables as Quarry does.
    for table in TABLES {
        other_engines_read_as_quarry(
            &t,
            table,
            "CAST(id AS VARCHAR), kind, CAST(amount AS VARCHAR)",
        )
        .await;
    }
    // EXPLAIN shows the write.
    let explain = t
        .rows(
            "EXPLAIN MERGE INTO silver.mflat AS t USING bronze.updates AS s ON t.id = s.id \
             WHEN MATCHED THEN DELETE",
        )
        .await
        .join("\n");
    assert!(explain.contains("IcebergWriteExec"), "{explain}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_merge_changes_nothing_and_leaves_no_files() {
    let t = TestCluster::start(2, 2).await;
    t.rows(&format!(
        "CREATE TABLE gold.merged PARTITION BY (kind) AS {DATA}"
    ))
    .await;
    let before = t.rows("SELECT * FROM gold.merged ORDER BY id").await;
    let files = files_under(&t.warehouse().join("gold"));
    // A target row matched by two source rows.
    let err = t
        .error(
            "MERGE INTO gold.merged AS t \
             USING (SELECT id FROM generate_series(1, 20) AS s(id) UNION ALL SELECT 7) AS s \
             ON t.id = s.id WHEN MATCHED THEN UPDATE SET amount = 0",
        )
        .await;
    assert!(err.contains("at most one source row"), "{err}");
    // A cast that fails part way through the rewrite.
    let err = t
        .error(
            "MERGE INTO gold.merged AS t USING (SELECT id FROM generate_series(1, 3000) AS s(id)) AS s \
             ON t.id = s.id WHEN MATCHED THEN UPDATE SET amount = CAST(t.kind AS BIGINT) \
             WHEN NOT MATCHED THEN INSERT (id) VALUES (s.id)",
        )
        .await;
    assert!(err.contains("Cast error"), "{err}");
    // What is not supported says so, before anything runs.
    let err = t
        .error(
            "MERGE INTO gold.merged AS t USING gold.merged AS s ON t.id = s.id \
             WHEN NOT MATCHED BY SOURCE THEN DELETE",
        )
        .await;
    assert!(
        err.contains("NOT MATCHED BY SOURCE is not supported"),
        "{err}"
    );
    let err = t
        .error(
            "MERGE INTO gold.merged AS t USING gold.merged AS s ON t.id = s.id \
             WHEN MATCHED THEN UPDATE SET nope = 1",
        )
        .await;
    assert!(err.contains("column 'nope'"), "{err}");
    assert_eq!(
        t.rows("SELECT * FROM gold.merged ORDER BY id").await,
        before
    );
    assert_eq!(
        t.rows("SELECT count(*) FROM gold.\"merged$snapshots\"")
            .await,
        ["1"]
    );
    // The failed statements' files are gone (the marker of one lingers a few seconds).
    tokio::time::sleep(std::time::Duration::from_secs(12)).await;
    assert_eq!(files_under(&t.warehouse().join("gold")), files);
}
