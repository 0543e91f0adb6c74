//! Table versions end to end: time travel by snapshot id and by time (Trino's and
//! Dremio's spellings, in joins and subqueries), the metadata tables, and rollback.

use crate::common::TestCluster;

/// The snapshots of `schema.table`, oldest first: (id, committed_at as text, operation).
async fn snapshots(t: &TestCluster, schema: &str, table: &str) -> Vec<(String, String, String)> {
    t.rows(&format!(
        "SELECT snapshot_id, committed_at, operation FROM {schema}.\"{table}$snapshots\" \
         ORDER BY committed_at, snapshot_id"
    ))
    .await
    .into_iter()
    .map(|row| {
        let parts: Vec<&str> = row.split('|').collect();
        (parts[0].into(), parts[1].into(), parts[2].into())
    })
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_version_reads_as_it_was_and_a_rollback_makes_one_current() {
    let t = TestCluster::start(2, 2).await;
    let count = "SELECT count(*), sum(amount) FROM silver.orders";
    t.rows(
        "CREATE TABLE silver.orders PARTITION BY (kind) AS \
         SELECT id, id * 1.5 AS amount, CASE WHEN id % 2 = 0 THEN 'even' ELSE 'odd' END AS kind \
         FROM generate_series(1, 1000) AS s(id)",
    )
    .await;
    t.rows("INSERT INTO silver.orders SELECT 1001, 10.0, 'odd'")
        .await;
    t.rows("INSERT INTO silver.orders SELECT 1002, 20.0, 'new'")
        .await;
    t.rows(
        "INSERT OVERWRITE silver.orders SELECT id, amount, kind FROM silver.orders WHERE id <= 10",
    )
    .await;
    let versions = snapshots(&t, "silver", "orders").await;
    let operations: Vec<&str> = versions.iter().map(|v| v.2.as_str()).collect();
    assert_eq!(operations, ["append", "append", "append", "overwrite"]);
    let now = t.rows(count).await;
    assert_eq!(now, ["10|82.5"]);

    // Each version by id, in Trino's and Dremio's spellings, and by the time it was made.
    let mut seen = Vec::new();
    for (id, committed_at, _) in &versions {
        let by_id = t.rows(&format!("{count} FOR VERSION AS OF {id}")).await;
        let dremio = t.rows(&format!("{count} AT SNAPSHOT '{id}'")).await;
        let by_time = t
            .rows(&format!(
                "{count} FOR TIMESTAMP AS OF TIMESTAMP '{committed_at}'"
            ))
            .await;
        let dremio_time = t
            .rows(&format!("{count} AT TIMESTAMP '{committed_at}'"))
            .await;
        assert_eq!(by_id, dremio, "snapshot {id}");
        assert_eq!(by_id, by_time, "snapshot {id} at {committed_at}");
        assert_eq!(by_id, dremio_time, "snapshot {id} at {committed_at}");
        seen.push(by_id);
    }
    assert_eq!(
        seen,
        [
            vec!["1000|750750.0".to_string()],
            vec!["1001|750760.0".to_string()],
            vec!["1002|750780.0".to_string()],
            now.clone(),
        ]
    );

    // In joins and subqueries, with aliases, against the current version.
    let (first, third) = (&versions[0].0, &versions[2].0);
    assert_eq!(
        t.rows(&format!(
            "SELECT count(*) FROM silver.orders FOR VERSION AS OF {third} AS new \
             JOIN silver.orders FOR VERSION AS OF {first} old ON new.id = old.id \
             WHERE new.kind = old.kind"
        ))
        .await,
        ["1000"]
    );
    assert_eq!(
        t.rows(&format!(
            "SELECT count(*) FROM silver.orders FOR VERSION AS OF {third} \
             WHERE id NOT IN (SELECT id FROM silver.orders AT SNAPSHOT '{first}')"
        ))
        .await,
        ["2"]
    );
    // Pruning works on an old version as on the current one.
    let explain = t
        .rows(&format!(
            "EXPLAIN SELECT * FROM silver.orders FOR VERSION AS OF {third} WHERE kind = 'new'"
        ))
        .await
        .join("\n");
    assert!(
        explain.contains(&format!("snapshot={third}, data_files=1 of")),
        "{explain}"
    );

    // Versions that do not exist.
    let err = t
        .error("SELECT * FROM silver.orders FOR VERSION AS OF 42")
        .await;
    assert!(
        err.contains("table 'silver.orders' has no snapshot 42"),
        "{err}"
    );
    let err = t
        .error("SELECT * FROM silver.orders FOR TIMESTAMP AS OF TIMESTAMP '2000-01-01 00:00:00'")
        .await;
    assert!(err.contains("had no snapshot at 2000-01-01"), "{err}");
    let err = t
        .error("SELECT * FROM information_schema.tables FOR VERSION AS OF 1")
        .await;
    assert!(err.contains("not an Iceberg table"), "{err}");

    // Metadata tables.
    assert_eq!(
        t.rows(
            "SELECT count(*), sum(CAST(is_current_ancestor AS INT)) FROM silver.\"orders$history\""
        )
        .await,
        ["4|4"]
    );
    let files = t
        .rows("SELECT count(*), sum(record_count), min(content), min(file_format) FROM silver.\"orders$files\"")
        .await;
    let [files] = files.as_slice() else {
        panic!("{files:?}")
    };
    let file_count = files.split('|').next().unwrap().to_string();
    assert_eq!(files, &format!("{file_count}|10|0|PARQUET"));
    assert_eq!(
        t.rows(
            "SELECT \"partition\"['kind'], record_count FROM silver.\"orders$partitions\" ORDER BY 1"
        )
        .await,
        ["even|5", "odd|5"]
    );
    assert_eq!(
        t.rows("SELECT CAST(sum(file_count) AS VARCHAR) FROM silver.\"orders$partitions\"")
            .await,
        std::slice::from_ref(&file_count)
    );
    assert_eq!(
        t.rows(
            "SELECT CAST(sum(added_data_files_count) AS VARCHAR), sum(deleted_rows_count) \
             FROM silver.\"orders$manifests\""
        )
        .await,
        [format!("{file_count}|1002")]
    );
    let last = &versions[3].0;
    assert_eq!(
        t.rows("SELECT name, type, snapshot_id FROM silver.\"orders$refs\"")
            .await,
        [format!("main|BRANCH|{last}")]
    );
    assert_eq!(
        t.rows(&format!(
            "SELECT summary['total-records'], summary['operation'] FROM silver.\"orders$snapshots\" \
             WHERE snapshot_id = {last}"
        ))
        .await,
        ["10|overwrite"]
    );
    let err = t.error("SELECT * FROM silver.\"orders$nothing\"").await;
    assert!(err.contains("no metadata table '$nothing'"), "{err}");

    // Rollback: an ancestor becomes current again; the later snapshot stays readable.
    let second = &versions[1].0;
    t.rows(&format!(
        "ALTER TABLE silver.orders ROLLBACK TO SNAPSHOT {second}"
    ))
    .await;
    assert_eq!(t.rows(count).await, seen[1]);
    assert_eq!(
        t.rows(&format!("{count} FOR VERSION AS OF {last}")).await,
        now
    );
    assert_eq!(
        t.rows("SELECT snapshot_id FROM silver.\"orders$refs\"")
            .await,
        std::slice::from_ref(second)
    );
    assert_eq!(
        t.rows(
            "SELECT snapshot_id, is_current_ancestor FROM silver.\"orders$history\" \
             ORDER BY made_current_at DESC, snapshot_id LIMIT 1"
        )
        .await,
        [format!("{second}|true")]
    );
    let err = t
        .error(&format!(
            "ALTER TABLE silver.orders ROLLBACK TO SNAPSHOT {last}"
        ))
        .await;
    assert!(
        err.contains("not an ancestor of the current snapshot"),
        "{err}"
    );
    // By time: the last ancestor committed by then.
    t.rows(&format!(
        "ALTER TABLE silver.orders ROLLBACK TO TIMESTAMP '{}'",
        versions[0].1
    ))
    .await;
    assert_eq!(t.rows(count).await, seen[0]);
    // New writes go on top of the rolled-back version.
    t.rows("INSERT INTO silver.orders SELECT 2000, 1.0, 'odd'")
        .await;
    assert_eq!(t.rows(count).await, ["1001|750751.0"]);
}
