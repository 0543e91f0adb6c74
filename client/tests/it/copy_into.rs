//! `COPY INTO`: landing files loaded into bronze once each, bad rows aborting the load
//! or kept, with their line, in the rejects table.

use std::path::Path;

use crate::common::TestCluster;

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), text).unwrap();
}

const COUNTS: &str = "files_loaded|rows_loaded|rows_rejected|files_skipped";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn copy_into_loads_new_files_once_and_keeps_rejects() {
    let t = TestCluster::start(1, 2).await;
    let landing = t.warehouse().join("landing/orders");
    write(
        &landing,
        "a.csv",
        "id,qty,day\n1,2,2026-01-02\n2,3,2026-01-03\n",
    );
    write(&landing, "b.csv", "ID,QTY,DAY\n3,4,2026-01-04\n");
    t.rows(
        "CREATE TABLE bronze.orders (id BIGINT NOT NULL, qty INT, day DATE, \
         _source_file VARCHAR, _ingested_at TIMESTAMP)",
    )
    .await;
    let copy = "COPY INTO bronze.orders FROM 'landing/orders/' FILE_FORMAT 'csv'";
    let result = t.query(copy).await.unwrap();
    let names: Vec<_> = result[0]
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names.join("|"), COUNTS);
    assert_eq!(crate::common::rows(&result), ["2|3|0|0"]);
    assert_eq!(
        t.rows("SELECT id, qty, day, _source_file FROM bronze.orders ORDER BY id")
            .await,
        [
            "1|2|2026-01-02|landing/orders/a.csv",
            "2|3|2026-01-03|landing/orders/a.csv",
            "3|4|2026-01-04|landing/orders/b.csv",
        ]
    );
    assert_eq!(
        t.rows("SELECT count(*) FROM bronze.orders WHERE _ingested_at IS NULL")
            .await,
        ["0"]
    );

    // Again: nothing new. A new file loads alone.
    assert_eq!(t.rows(copy).await, ["0|0|0|0"]);
    write(&landing, "c.csv", "id,qty,day\n4,5,2026-01-05\n");
    assert_eq!(t.rows(copy).await, ["1|1|0|0"]);
    assert_eq!(t.rows("SELECT count(*) FROM bronze.orders").await, ["4"]);

    // A malformed row aborts the load by default: the table is as it was.
    write(
        &landing,
        "d.csv",
        "id,qty,day\n5,6,2026-01-06\n6,six,2026-01-07\n7,8,2026-01-08\n",
    );
    let snapshots = "SELECT count(*) FROM bronze.\"orders$snapshots\"";
    let before = t.rows(snapshots).await;
    let error = t.error(copy).await;
    assert!(
        error.contains("landing/orders/d.csv line 3: column qty: 'six' is not a valid INT"),
        "{error}"
    );
    assert_eq!(t.rows(snapshots).await, before);
    assert_eq!(t.rows("SELECT count(*) FROM bronze.orders").await, ["4"]);

    // skip_file leaves the file out (and not loaded: it loads once fixed).
    let skip = format!("{copy} (ON_ERROR 'skip_file')");
    assert_eq!(t.rows(&skip).await, ["0|0|1|1"]);
    // continue loads the other rows and keeps the bad one, with its line.
    let keep = format!("{copy} (ON_ERROR 'continue')");
    assert_eq!(t.rows(&keep).await, ["1|2|1|0"]);
    assert_eq!(
        t.rows(
            "SELECT file, line, reason, record FROM bronze.orders_rejects \
             ORDER BY rejected_at, line"
        )
        .await,
        [
            "landing/orders/d.csv|3|column qty: 'six' is not a valid INT|6,six,2026-01-07",
            "landing/orders/d.csv|3|column qty: 'six' is not a valid INT|6,six,2026-01-07",
        ]
    );
    assert_eq!(t.rows("SELECT count(*) FROM bronze.orders").await, ["6"]);

    // JSON lines and Parquet, chosen by FILES and REGEX.
    let other = t.warehouse().join("landing/other");
    write(
        &other,
        "e.json",
        "{\"id\": 10, \"qty\": 1, \"day\": \"02/01/2026\"}\n{\"id\": 11}\n",
    );
    let parquet = other.join("f.parquet").display().to_string();
    let datafusion = datafusion::prelude::SessionContext::new();
    let written = format!("COPY (SELECT 12 AS id, 7 AS qty) TO '{parquet}' STORED AS PARQUET");
    datafusion
        .sql(&written)
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(
        t.rows(
            "COPY INTO bronze.orders FROM 'landing/other' FILES ('e.json') FILE_FORMAT 'json' \
             (DATE_FORMAT '%d/%m/%Y')"
        )
        .await,
        ["1|2|0|0"]
    );
    assert_eq!(
        t.rows(
            "COPY INTO bronze.orders FROM 'landing/other/' REGEX '.*\\.parquet' \
             FILE_FORMAT 'parquet'"
        )
        .await,
        ["1|1|0|0"]
    );
    assert_eq!(
        t.rows("SELECT id, qty, day FROM bronze.orders WHERE id >= 10 ORDER BY id")
            .await,
        ["10|1|2026-01-02", "11|NULL|NULL", "12|7|NULL"]
    );

    // A location that is one file.
    let single = "COPY INTO bronze.orders FROM 'landing/orders/a.csv' FILE_FORMAT 'csv'";
    assert_eq!(t.rows(single).await, ["0|0|0|0"], "loaded before");
    write(&t.warehouse().join("landing/late"), "g.csv", "id\n13\n");
    let single = "COPY INTO bronze.orders FROM 'landing/late/g.csv' FILE_FORMAT 'csv'";
    assert_eq!(t.rows(single).await, ["1|1|0|0"]);
    assert_eq!(
        t.rows("SELECT _source_file FROM bronze.orders WHERE id = 13")
            .await,
        ["landing/late/g.csv"]
    );

    // The history outlives orphan removal: old history files go, the current one stays.
    let vacuum = "VACUUM TABLE bronze.orders REMOVE ORPHAN FILES OLDER_THAN '2999-01-01 00:00:00'";
    let removed: usize = t.rows(vacuum).await[0].parse().unwrap();
    assert!(removed >= 4, "the earlier histories: {removed}");
    assert_eq!(t.rows(copy).await, ["0|0|0|0"]);
    assert_eq!(t.rows("SELECT count(*) FROM bronze.orders").await, ["10"]);

    // Bad statements say what is wrong.
    for (sql, wrong) in [
        (
            "COPY INTO bronze.nope FROM 'landing/orders/' FILE_FORMAT 'csv'",
            "not found",
        ),
        (
            "COPY INTO bronze.orders FROM 'landing/orders/'",
            "FILE_FORMAT",
        ),
        (
            "COPY INTO bronze.orders FROM 'landing/orders/' FILE_FORMAT 'xml'",
            "'csv', 'json' or 'parquet'",
        ),
        (
            "COPY INTO bronze.orders FROM 'landing/orders/' FILE_FORMAT 'json' (HEADER true)",
            "no option HEADER",
        ),
        (
            "COPY INTO bronze.orders FROM 'landing/orders/' FILES ('zz.csv') FILE_FORMAT 'csv'",
            "zz.csv",
        ),
    ] {
        let error = t.error(sql).await;
        assert!(error.contains(wrong), "{sql}: {error}");
    }
}
