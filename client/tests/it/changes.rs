//! Row-level changes end to end: `DELETE` and `UPDATE` on partitioned and unpartitioned
//! Iceberg tables, with NULLs, give the same tables (and counts) as the same statements
//! on single-process DataFusion's in-memory tables; files a `DELETE` matches whole go
//! without being rewritten; a failed change changes nothing and leaves no files.

use datafusion::prelude::SessionContext;

use crate::common::{TestCluster, duckdb, files_under, other_engines_read_as_quarry, rows};

/// The rows and counts of `sql` run by single-process DataFusion.
async fn local(ctx: &SessionContext, sql: &str) -> Vec<String> {
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    rows(&batches)
}

const DATA: &str = "SELECT id, \
     CASE WHEN id % 10 = 0 THEN NULL WHEN id % 2 = 0 THEN 'even' ELSE 'odd' END AS kind, \
     CASE WHEN id % 13 = 0 THEN NULL ELSE id * 1.5 END AS amount \
     FROM generate_series(1, 3000) AS s(id)";

const STATEMENTS: [&str; 7] = [
    "DELETE FROM {t} WHERE amount > 4000",
    "UPDATE {t} SET amount = amount * 2, kind = 'seven' WHERE id % 7 = 0",
    "DELETE FROM {t} WHERE kind = 'even'",
    "UPDATE {t} SET amount = -1 WHERE amount IS NULL OR kind IS NULL",
    "DELETE FROM {t} WHERE id BETWEEN 100 AND 200 OR kind = 'nothing'",
    "UPDATE {t} SET kind = upper(kind)",
    // Reads every file and matches no row: no snapshot.
    "DELETE FROM {t} WHERE id % 1000 = 1000",
];

const TABLES: [&str; 2] = ["silver.parts", "silver.flat"];

/// Runs `statement` on both tables and on DataFusion's: same counts, same rows after.
async fn apply(t: &TestCluster, ctx: &SessionContext, statement: &str) {
    let expected = local(ctx, &statement.replace("{t}", "t")).await;
    for table in TABLES {
        let sql = statement.replace("{t}", table);
        assert_eq!(t.rows(&sql).await, expected, "{sql}");
        assert_eq!(
            t.rows(&format!("SELECT * FROM {table} ORDER BY id")).await,
            local(ctx, "SELECT * FROM t ORDER BY id").await,
            "{table} after {sql}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deletes_and_updates_change_what_datafusion_changes() {
    let t = TestCluster::start(2, 2).await;
    let ctx = SessionContext::new();
    local(&ctx, &format!("CREATE TABLE t AS {DATA}")).await;
    t.rows(&format!(
        "CREATE TABLE silver.parts PARTITION BY (kind) AS {DATA}"
    ))
    .await;
    t.rows(&format!("CREATE TABLE silver.flat AS {DATA}")).await;
    for statement in STATEMENTS {
        apply(&t, &ctx, statement).await;
    }
    // `kind = 'even'` matched whole partitions: their files went, none was written.
    let summary = t
        .rows(
            "SELECT operation, summary['added-data-files'], summary['deleted-data-files'] \
             FROM silver.\"parts$snapshots\" ORDER BY committed_at, snapshot_id",
        )
        .await;
    let delete = summary[3].split('|').collect::<Vec<_>>();
    assert_eq!(&delete[..2], ["delete", "NULL"], "{summary:?}");
    assert_ne!(delete[2], "NULL", "{summary:?}");
    // The history has each change, and the first version still reads as it was.
    assert_eq!(
        summary.len(),
        STATEMENTS.len(),
        "one snapshot per change but one"
    );
    let first = t
        .rows("SELECT snapshot_id FROM silver.\"parts$snapshots\" ORDER BY committed_at LIMIT 1")
        .await;
    assert_eq!(
        t.rows(&format!(
            "SELECT count(*) FROM silver.parts FOR VERSION AS OF {}",
            first[0]
        ))
        .await,
        ["3000"]
    );
    // Other engines read the changed tables as Quarry does.
    for table in TABLES {
        other_engines_read_as_quarry(
            &t,
            table,
            "CAST(id AS VARCHAR), kind, CAST(amount AS VARCHAR)",
        )
        .await;
    }
    apply(&t, &ctx, "DELETE FROM {t}").await;
    // EXPLAIN shows the rewrite.
    let explain = t
        .rows("EXPLAIN DELETE FROM silver.flat WHERE id = 5")
        .await
        .join("\n");
    assert!(explain.contains("IcebergWriteExec"), "{explain}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_update_changes_nothing_and_leaves_no_files() {
    let t = TestCluster::start(2, 2).await;
    t.rows(&format!(
        "CREATE TABLE gold.items PARTITION BY (kind) AS {DATA}"
    ))
    .await;
    let before = t.rows("SELECT * FROM gold.items ORDER BY id").await;
    let snapshots = t
        .rows("SELECT count(*) FROM gold.\"items$snapshots\"")
        .await;
    let files = files_under(&t.warehouse().join("gold"));
    let err = t
        .error("UPDATE gold.items SET amount = CAST(kind AS DOUBLE) WHERE id > 10")
        .await;
    assert!(err.contains("Cast error"), "{err}");
    let err = t.error("DELETE FROM gold.items WHERE id = 1 / 0").await;
    assert!(err.to_lowercase().contains("divide by zero"), "{err}");
    assert_eq!(t.rows("SELECT * FROM gold.items ORDER BY id").await, before);
    assert_eq!(
        t.rows("SELECT count(*) FROM gold.\"items$snapshots\"")
            .await,
        snapshots
    );
    // The failed statements' files are gone (the marker of one lingers a few seconds).
    tokio::time::sleep(std::time::Duration::from_secs(12)).await;
    assert_eq!(files_under(&t.warehouse().join("gold")), files);
    // A subquery in WHERE: decorrelated into the rewrite.
    t.rows("DELETE FROM gold.items WHERE id IN (SELECT id FROM gold.items WHERE id < 5)")
        .await;
    t.rows(
        "UPDATE gold.items SET amount = 0 WHERE EXISTS \
         (SELECT 1 FROM gold.items AS o WHERE o.id = items.id + 1000 AND o.kind = 'odd')",
    )
    .await;
    assert_eq!(
        t.rows("SELECT count(*), min(id), count(*) FILTER (WHERE amount = 0) FROM gold.items")
            .await,
        ["2996|5|998"]
    );
}

/// The changes two clients run, each in its order: overlapping keys and files.
const RACERS: [[&str; 3]; 2] = [
    [
        "DELETE FROM {t} WHERE id <= 100",
        "UPDATE {t} SET v = v + 10 WHERE id > 200 AND id <= 300",
        "MERGE INTO {t} AS t USING (SELECT id FROM generate_series(290, 310) AS s(id)) AS s \
         ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = t.v * 3",
    ],
    [
        "UPDATE {t} SET v = v * 2 WHERE id > 50 AND id <= 150",
        "DELETE FROM {t} WHERE id > 295 AND id <= 305",
        "MERGE INTO {t} AS t USING (SELECT id FROM generate_series(995, 1005) AS s(id)) AS s \
         ON t.id = s.id WHEN MATCHED THEN DELETE WHEN NOT MATCHED THEN INSERT VALUES (s.id, 7)",
    ],
];

/// Every order of `a` and `b` that keeps each one's own order.
fn interleavings(a: &[String], b: &[String]) -> Vec<Vec<String>> {
    match (a.split_first(), b.split_first()) {
        (None, _) => vec![b.to_vec()],
        (_, None) => vec![a.to_vec()],
        (Some((x, rest_a)), Some((y, rest_b))) => {
            let mut orders = Vec::new();
            for mut order in interleavings(rest_a, b) {
                order.insert(0, x.clone());
                orders.push(order);
            }
            for mut order in interleavings(a, rest_b) {
                order.insert(0, y.clone());
                orders.push(order);
            }
            orders
        }
    }
}

/// 8 clients append while 2 others change overlapping rows: appends never fail, a
/// change that lost a race says so, and the table ends as some serial order of the
/// changes that succeeded leaves it (each order run by DuckDB), with every appended row.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn changes_racing_with_appends_and_each_other_keep_a_serial_order() {
    let t = TestCluster::start(2, 2).await;
    const START: &str = "SELECT id, 1 AS v FROM generate_series(1, 1000) AS s(id)";
    t.rows(&format!("CREATE TABLE silver.race AS {START}"))
        .await;
    let url = t.cluster.flight_url();
    let connect = || {
        let url = url.clone();
        async move {
            quarry_client::connection::Connection::connect(&url, "test", "")
                .await
                .unwrap()
        }
    };
    let mut appends = Vec::new();
    for i in 0..8 {
        let conn = connect().await;
        appends.push(tokio::spawn(async move {
            let sql = format!(
                "INSERT INTO silver.race SELECT 5000 + {i} * 10 + n, 1 FROM generate_series(0, 9) AS s(n)"
            );
            conn.query(&sql).await.map(|b| rows(&b)).map_err(|e| format!("{sql}: {e}"))
        }));
    }
    let mut changers = Vec::new();
    for statements in RACERS {
        let conn = connect().await;
        changers.push(tokio::spawn(async move {
            let mut done = Vec::new();
            for statement in statements {
                let sql = statement.replace("{t}", "silver.race");
                match conn.query(&sql).await {
                    Ok(_) => done.push(statement.to_string()),
                    // Only a lost race may fail a change, and it says so.
                    Err(e) => assert!(e.to_string().contains("run it again"), "{sql}: {e}"),
                }
            }
            done
        }));
    }
    for append in appends {
        append.await.unwrap().unwrap();
    }
    let (a, b) = (
        changers.remove(0).await.unwrap(),
        changers.remove(0).await.unwrap(),
    );
    assert!(!a.is_empty() || !b.is_empty(), "no change succeeded");
    // What each serial order of the successful changes leaves, by DuckDB.
    let orders = interleavings(&a, &b);
    let mut statements = Vec::new();
    for order in &orders {
        statements.push(format!("CREATE OR REPLACE TABLE race AS {START}"));
        statements.extend(order.iter().map(|s| s.replace("{t}", "race")));
        statements.push("SELECT * FROM race ORDER BY id".to_string());
    }
    let results = duckdb(&statements);
    let finals: Vec<&Vec<String>> = results
        .iter()
        .zip(&statements)
        .filter(|(_, sql)| sql.starts_with("SELECT"))
        .map(|(rows, _)| rows)
        .collect();
    let quarry = t
        .rows("SELECT * FROM silver.race WHERE id < 5000 ORDER BY id")
        .await;
    assert!(
        finals.contains(&&quarry),
        "the table is no serial order of {a:?} and {b:?}"
    );
    assert_eq!(
        t.rows("SELECT count(*) FROM silver.race WHERE id >= 5000")
            .await,
        ["80"]
    );
}
