//! Tables that stay healthy: partitioned writes that make one file per partition value,
//! not one per task.

use crate::common::{TestCluster, other_engines_read_as_quarry};

/// How many live data files `silver.daily` has, and over how many partition values.
async fn files_and_partitions(t: &TestCluster) -> (usize, usize) {
    let count = |sql: String| async move { t.rows(&sql).await[0].parse::<usize>().unwrap() };
    let files = "silver.\"daily$files\"";
    (
        count(format!("SELECT count(*) FROM {files}")).await,
        count(format!(
            "SELECT count(*) FROM (SELECT DISTINCT partition.ts_day, partition.kind_bucket \
             FROM {files})"
        ))
        .await,
    )
}

/// Rows over 40 days and 3 kinds from four streams (one task each), every stream with
/// rows of every day and kind.
fn rows_from_four_tasks(first: u64) -> String {
    (0..4)
        .map(|i| {
            let (from, to) = (first + i * 5000, first + i * 5000 + 4999);
            format!(
                "SELECT id, to_timestamp_seconds(1767225600 + (id % 40) * 86400) AS ts, \
                 CASE WHEN id % 3 = 0 THEN 'a' WHEN id % 3 = 1 THEN 'b' ELSE 'c' END AS kind \
                 FROM generate_series({from}, {to}) AS s(id)"
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn partitioned_writes_make_one_file_per_partition_value() {
    let t = TestCluster::start(2, 2).await;
    t.rows(&format!(
        "CREATE TABLE silver.daily PARTITION BY (day(ts), bucket(3, kind)) AS {}",
        rows_from_four_tasks(0)
    ))
    .await;
    let (files, partitions) = files_and_partitions(&t).await;
    assert!(
        partitions >= 80,
        "40 days of 3 kinds in 2 or 3 buckets: {partitions}"
    );
    assert_eq!(files, partitions, "one file per partition value");
    t.rows(&format!(
        "INSERT INTO silver.daily {}",
        rows_from_four_tasks(20000)
    ))
    .await;
    let (files, _) = files_and_partitions(&t).await;
    assert_eq!(files, 2 * partitions, "the insert adds one file per value");
    assert_eq!(
        t.rows("SELECT count(*), count(DISTINCT id) FROM silver.daily")
            .await,
        ["40000|40000"]
    );
    other_engines_read_as_quarry(&t, "silver.daily", "*").await;

    // As in Iceberg, the table can ask for its writes not to be distributed.
    t.rows("ALTER TABLE silver.daily SET TBLPROPERTIES ('write.distribution-mode' = 'none')")
        .await;
    t.rows(&format!(
        "INSERT OVERWRITE silver.daily {}",
        rows_from_four_tasks(0)
    ))
    .await;
    let (files, _) = files_and_partitions(&t).await;
    assert!(
        files > partitions,
        "each task writes its own files: {files}"
    );
}

/// How many live data files `silver.small` has in each partition, by partition.
async fn files_by_partition(t: &TestCluster) -> Vec<String> {
    t.rows(
        "SELECT partition.k, count(*) FROM silver.\"small$files\" GROUP BY partition.k \
         ORDER BY partition.k",
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn optimize_compacts_small_files_while_inserts_commit() {
    let t = TestCluster::start(2, 2).await;
    t.rows("CREATE TABLE silver.small (id BIGINT, k INT) PARTITION BY (k)")
        .await;
    // A file for every batch of every task: hundreds of small files.
    t.rows(
        "ALTER TABLE silver.small SET TBLPROPERTIES \
         ('write.target-file-size-bytes' = '1', 'write.distribution-mode' = 'none')",
    )
    .await;
    let series = |from: u64| {
        format!(
            "SELECT value AS id, CAST(value % 10 AS INT) AS k \
             FROM generate_series({from}, {}) ",
            from + 99_999
        )
    };
    let four: Vec<String> = (0..4).map(|i| series(i * 100_000)).collect();
    t.rows(&format!(
        "INSERT INTO silver.small {}",
        four.join(" UNION ALL ")
    ))
    .await;
    t.rows("ALTER TABLE silver.small UNSET TBLPROPERTIES ('write.target-file-size-bytes')")
        .await;
    let before: usize = t.rows("SELECT count(*) FROM silver.\"small$files\"").await[0]
        .parse()
        .unwrap();
    assert!(before >= 400, "{before} files");
    let totals = "SELECT count(*), sum(id), count(DISTINCT k) FROM silver.small";

    // Ten inserts commit while OPTIMIZE runs: none is lost.
    let inserts = async {
        for i in 0..10 {
            t.rows(&format!(
                "INSERT INTO silver.small VALUES ({}, {i})",
                1_000_000 + i
            ))
            .await;
        }
    };
    let (optimized, ()) = tokio::join!(t.rows("OPTIMIZE TABLE silver.small"), inserts);
    let (rewritten, written) = optimized[0].split_once('|').unwrap();
    let rewritten: usize = rewritten.parse().unwrap();
    assert!(rewritten >= before, "{optimized:?} of {before}");
    assert_eq!(written, "10", "one file per partition");
    let sum: u64 = (0..400_000u64).sum::<u64>() + (0..10u64).map(|i| 1_000_000 + i).sum::<u64>();
    assert_eq!(t.rows(totals).await, [format!("400010|{sum}|10")]);
    for partition in files_by_partition(&t).await {
        let files: usize = partition.split_once('|').unwrap().1.parse().unwrap();
        assert!(
            files <= 2,
            "the compacted file and perhaps an insert's: {partition}"
        );
    }
    let operations = t
        .rows("SELECT operation FROM silver.\"small$snapshots\" ORDER BY committed_at")
        .await;
    assert!(
        operations.contains(&"replace".to_string()),
        "{operations:?}"
    );
    // Nothing more to do by default; less than a whole table with FOR PARTITIONS.
    assert_eq!(t.rows("OPTIMIZE TABLE silver.small").await, ["0|0"]);
    let before = files_by_partition(&t).await;
    t.rows("OPTIMIZE TABLE silver.small FOR PARTITIONS k = 3 (MIN_INPUT_FILES = 2)")
        .await;
    let after = files_by_partition(&t).await;
    for (old, new) in before.iter().zip(&after) {
        match old.starts_with("3|") {
            true => assert_eq!(new, "3|1"),
            false => assert_eq!(new, old),
        }
    }

    // A compaction leaves reflections fresh: it changes no row.
    t.rows(
        "ALTER TABLE silver.small CREATE AGGREGATE REFLECTION by_k USING DIMENSIONS (k) \
         MEASURES (id (SUM, COUNT)) REFRESH MANUAL",
    )
    .await;
    let everything = "OPTIMIZE TABLE silver.small REWRITE DATA USING BIN_PACK \
        (MIN_INPUT_FILES = 1, MIN_FILE_SIZE_MB = 1024, TARGET_FILE_SIZE_MB = 1024, \
        MAX_FILE_SIZE_MB = 2048)";
    let all = t.rows(everything).await;
    assert!(all[0].ends_with("|10"), "{all:?}");
    let explained = t
        .rows("EXPLAIN SELECT k, sum(id) FROM silver.small GROUP BY k")
        .await
        .join("\n");
    assert!(explained.contains("reflections|by_k: used"), "{explained}");
    assert_eq!(t.rows(totals).await, [format!("400010|{sum}|10")]);
    other_engines_read_as_quarry(&t, "silver.small", "*").await;

    let bad = t
        .error("OPTIMIZE TABLE silver.small (TARGET_FILE_SIZE_MB = 0)")
        .await;
    assert!(bad.contains("0 < MIN_FILE_SIZE_MB"), "{bad}");
    let bad = t.error("OPTIMIZE TABLE silver.small (SIZE = 3)").await;
    assert!(bad.contains("no option size"), "{bad}");
}

/// The files under the warehouse's `silver/` directory whose path contains `part`.
fn files_named(t: &TestCluster, part: &str) -> Vec<String> {
    let mut files: Vec<String> = crate::common::files_under(&t.warehouse().join("silver"))
        .into_iter()
        .map(|f| f.display().to_string())
        .filter(|f| f.contains(part))
        .collect();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn vacuum_expires_snapshots_and_removes_orphan_files() {
    let t = TestCluster::start(1, 2).await;
    t.rows("CREATE TABLE silver.v AS SELECT value AS id FROM generate_series(1, 100)")
        .await;
    t.rows("INSERT OVERWRITE silver.v SELECT id * 2 FROM silver.v")
        .await;
    t.rows("INSERT INTO silver.v VALUES (1)").await;
    t.rows("INSERT INTO silver.v VALUES (3)").await;
    let snapshots = t
        .rows("SELECT snapshot_id FROM silver.\"v$snapshots\" ORDER BY committed_at")
        .await;
    assert_eq!(snapshots.len(), 4);
    let totals = "SELECT count(*), sum(id) FROM silver.v";
    let rows = t.rows(totals).await;
    assert_eq!(rows, ["102|10104"]);
    let live = || async {
        let mut live: Vec<String> = t
            .rows("SELECT file_path FROM silver.\"v$files\"")
            .await
            .into_iter()
            .map(|p| p.trim_start_matches("file://").to_string())
            .collect();
        live.sort();
        live
    };
    let data = files_named(&t, ".parquet");
    assert_eq!(data.len(), 4, "the first file, then three: {data:?}");

    // The two oldest expire: the first file (overwritten) goes with them.
    let expired = t
        .rows("VACUUM TABLE silver.v EXPIRE SNAPSHOTS RETAIN_LAST 2")
        .await;
    let counts: Vec<&str> = expired[0].split('|').collect();
    assert_eq!(counts[..2], ["2", "1"], "{expired:?}");
    assert_eq!(files_named(&t, ".parquet"), live().await);
    assert_eq!(t.rows(totals).await, rows);
    let gone = t
        .error(&format!(
            "SELECT * FROM silver.v FOR VERSION AS OF {}",
            snapshots[0]
        ))
        .await;
    assert!(gone.contains(&snapshots[0]), "{gone}");
    assert_eq!(
        t.rows(&format!(
            "SELECT count(*) FROM silver.v FOR VERSION AS OF {}",
            snapshots[2]
        ))
        .await,
        ["101"]
    );
    let lists = files_named(&t, "/snap-");
    assert_eq!(lists.len(), 2, "{lists:?}");

    // Older than a time to come: all but the current snapshot; nothing to delete but
    // its manifest list (every data file is still alive).
    let expired = t
        .rows("VACUUM TABLE silver.v EXPIRE SNAPSHOTS OLDER_THAN '2999-01-01 00:00:00'")
        .await;
    assert!(expired[0].starts_with("1|0|"), "{expired:?}");
    assert_eq!(files_named(&t, "/snap-").len(), 1);
    assert_eq!(
        t.rows("VACUUM TABLE silver.v EXPIRE SNAPSHOTS").await,
        ["0|0|0|0"]
    );

    // An orphan: removed when old enough, and nothing else is.
    let table_dir = std::path::Path::new(&files_named(&t, ".metadata.json")[0])
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    let orphan = table_dir.join("data/lost/orphan.parquet");
    std::fs::create_dir_all(orphan.parent().unwrap()).unwrap();
    std::fs::write(&orphan, b"left behind").unwrap();
    assert_eq!(
        t.rows("VACUUM TABLE silver.v REMOVE ORPHAN FILES").await,
        ["0"],
        "younger than three days"
    );
    let before = files_named(&t, "");
    let removed = t
        .rows("VACUUM TABLE silver.v REMOVE ORPHAN FILES OLDER_THAN '2999-01-01 00:00:00'")
        .await;
    assert_eq!(removed, ["1"]);
    assert!(!orphan.exists());
    let after = files_named(&t, "");
    assert_eq!(after.len(), before.len() - 1, "only the orphan went");
    assert_eq!(t.rows(totals).await, rows);
    other_engines_read_as_quarry(&t, "silver.v", "*").await;
    let none = t.error("VACUUM TABLE silver.nope EXPIRE SNAPSHOTS").await;
    assert!(none.contains("not found"), "{none}");
}
