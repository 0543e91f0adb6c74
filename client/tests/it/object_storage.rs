//! A warehouse in S3: `quarry serve --warehouse s3://lake/wh` against a real S3 server
//! (s3s-fs, a separate process). Tables are written as objects, read back after the
//! server restarts, and dropped with their objects; landing files are read from the
//! bucket by relative path.

use std::path::Path;

use crate::common::{S3Server, ServeProcess, files_under, query_rows};

/// Every object under `dir`, as paths relative to it (s3s-fs keeps its own
/// bookkeeping in dot-files, which are left out).
fn objects(dir: &Path) -> Vec<String> {
    files_under(dir)
        .into_iter()
        .filter(|f| !f.file_name().unwrap().to_string_lossy().starts_with('.'))
        .map(|f| f.strip_prefix(dir).unwrap().display().to_string())
        .collect()
}

fn start(s3: &S3Server, catalog_db: &Path) -> ServeProcess {
    let endpoint = s3.endpoint();
    let db = catalog_db.display().to_string();
    ServeProcess::start_env(
        2,
        &[
            "--warehouse",
            "s3://lake/wh",
            "--catalog-db",
            &db,
            "--s3-endpoint",
            &endpoint,
            "--s3-region",
            "us-east-1",
        ],
        &s3.credentials(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_live_in_an_s3_warehouse() {
    let s3 = S3Server::start("lake");
    let catalog = tempfile::tempdir().unwrap();
    let db = catalog.path().join("catalog.db");
    let lake = s3.dir.path().join("lake");
    std::fs::create_dir_all(lake.join("wh/landing")).unwrap();
    std::fs::write(
        lake.join("wh/landing/regions.csv"),
        "id,name\n0,north\n1,south\n",
    )
    .unwrap();

    let server = start(&s3, &db);
    let conn = server.connect().await;
    assert_eq!(
        query_rows(
            &conn,
            "CREATE TABLE gold.sales AS SELECT value AS id, value % 2 AS region, \
             value * 1.5 AS amount FROM generate_series(1, 1000)"
        )
        .await,
        ["1000"]
    );
    query_rows(&conn, "INSERT INTO gold.sales VALUES (1001, 0, 2.0)").await;
    let report = "SELECT r.name, count(*), sum(s.amount) FROM gold.sales s \
                  JOIN 'landing/regions.csv' r ON r.id = s.region GROUP BY r.name ORDER BY 1";
    let expected = ["north|501|375752.0", "south|500|375000.0"];
    assert_eq!(query_rows(&conn, report).await, expected);

    let files = objects(&lake.join("wh/gold"));
    assert!(
        files.iter().filter(|f| f.ends_with(".parquet")).count() >= 2,
        "{files:?}"
    );
    assert!(
        files.iter().any(|f| f.ends_with(".metadata.json")),
        "{files:?}"
    );

    // A restarted server finds the tables where it left them.
    drop(conn);
    drop(server);
    let server = start(&s3, &db);
    let conn = server.connect().await;
    assert_eq!(query_rows(&conn, report).await, expected);

    // VACUUM: the objects only expired snapshots used go; an orphan object goes.
    query_rows(
        &conn,
        "INSERT OVERWRITE gold.sales SELECT * FROM gold.sales",
    )
    .await;
    let parquet = |files: Vec<String>| {
        files
            .into_iter()
            .filter(|f| f.ends_with(".parquet"))
            .count()
    };
    let before = parquet(objects(&lake.join("wh/gold")));
    let expired = query_rows(
        &conn,
        "VACUUM TABLE gold.sales EXPIRE SNAPSHOTS RETAIN_LAST 1",
    )
    .await;
    assert!(expired[0].starts_with("2|"), "{expired:?}");
    let live = query_rows(&conn, "SELECT count(*) FROM gold.\"sales$files\"").await;
    assert_eq!(parquet(objects(&lake.join("wh/gold"))).to_string(), live[0]);
    assert!(before > parquet(objects(&lake.join("wh/gold"))));
    let table_dir = lake
        .join("wh/gold")
        .join(objects(&lake.join("wh/gold"))[0].split('/').next().unwrap());
    std::fs::write(table_dir.join("data/orphan.parquet"), b"lost").unwrap();
    let removed = query_rows(
        &conn,
        "VACUUM TABLE gold.sales REMOVE ORPHAN FILES OLDER_THAN '2999-01-01 00:00:00'",
    )
    .await;
    assert_eq!(removed, ["1"]);
    assert!(!table_dir.join("data/orphan.parquet").exists());
    assert_eq!(query_rows(&conn, report).await, expected);

    // A missing object is an error that names it; a purge leaves no object behind.
    let err = conn
        .query("SELECT * FROM 'landing/nope.csv'")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("landing/nope.csv"), "{err}");
    query_rows(&conn, "DROP TABLE gold.sales PURGE").await;
    assert_eq!(objects(&lake.join("wh/gold")), Vec::<String>::new());
}

#[test]
fn an_s3_warehouse_needs_a_place_for_its_catalog() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_quarry"))
        .args(["serve", "--warehouse", "s3://lake/wh", "--no-pg"])
        .args(["--flight-port", "0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--catalog-db"), "{stderr}");
}
