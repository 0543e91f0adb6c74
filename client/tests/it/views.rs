//! Views stored in the catalog, end to end against `quarry serve`: created through
//! Flight SQL and read through psql, listed as views by every listing, kept across a
//! restart, replaced, renamed and dropped, and failing clearly once a base table is
//! gone. The etcd catalog's views are in `etcd_catalog.rs`, the cluster's in
//! `cluster.rs`.

use std::process::Command;

use crate::common::{ServeProcess, query_rows};

/// psql's rows (`-A -t`) of `sql` against `server`.
fn psql_rows(server: &ServeProcess, sql: &str) -> Vec<String> {
    let output = Command::new("psql")
        .args(["-h", "127.0.0.1", "-p", &server.pg_port.to_string()])
        .args([
            "-U",
            "alice",
            "-d",
            "quarry",
            "-X",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
        ])
        .args(["-c", sql])
        .env_remove("PGPASSWORD")
        .output()
        .expect("psql runs: scripts/test-env.sh installs postgresql-client");
    assert!(
        output.status.success(),
        "psql -c {sql}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect()
}

const REGIONS: &str = "SELECT region, count(*) AS n, sum(amount) AS total \
                       FROM silver.sales GROUP BY region ORDER BY region";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_last_across_front_doors_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = dir.path().join("wh").display().to_string();
    let args = ["--warehouse", warehouse.as_str()];
    let server = ServeProcess::start_with(1, &args);
    let conn = server.connect().await;
    query_rows(
        &conn,
        "CREATE TABLE silver.sales AS SELECT value AS id, 'r' || (value % 3) AS region, \
         CAST(value AS DOUBLE) AS amount FROM generate_series(1, 1000)",
    )
    .await;
    let direct = query_rows(&conn, REGIONS).await;
    assert_eq!(direct.len(), 3);

    // Created through Flight SQL, in the default namespace's terms, with column names.
    query_rows(&conn, "SET datafusion.catalog.default_schema = 'silver'").await;
    query_rows(
        &conn,
        "CREATE VIEW gold.regions (region, n, total) AS \
         SELECT region, count(*), sum(amount) FROM sales GROUP BY region",
    )
    .await;
    query_rows(&conn, "SET datafusion.catalog.default_schema = 'public'").await;
    let through_view = "SELECT * FROM gold.regions ORDER BY region";
    assert_eq!(query_rows(&conn, through_view).await, direct);
    // A view of the view, joined with its table.
    query_rows(
        &conn,
        "CREATE VIEW gold.top AS SELECT r.region, r.total, max(s.amount) AS biggest \
         FROM gold.regions r JOIN silver.sales s ON s.region = r.region \
         GROUP BY r.region, r.total",
    )
    .await;
    assert_eq!(
        query_rows(
            &conn,
            "SELECT region, biggest FROM gold.top ORDER BY region"
        )
        .await,
        ["r0|999.0", "r1|1000.0", "r2|998.0"]
    );

    // Read through the PostgreSQL door, listed as views by every listing.
    let psql_direct = psql_rows(&server, REGIONS);
    assert_eq!(psql_rows(&server, through_view), psql_direct);
    assert_eq!(
        psql_rows(
            &server,
            "SELECT table_name, table_type FROM information_schema.tables \
             WHERE table_schema = 'gold' ORDER BY table_name"
        ),
        ["regions|VIEW", "top|VIEW"]
    );
    assert_eq!(
        psql_rows(
            &server,
            "SELECT c.relname, c.relkind FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname IN ('gold', 'silver') ORDER BY 1"
        ),
        ["regions|v", "sales|r", "top|v"]
    );
    let defined = psql_rows(
        &server,
        "SELECT viewname, definition FROM pg_catalog.pg_views WHERE schemaname = 'gold' \
         ORDER BY viewname",
    );
    assert_eq!(
        defined[0],
        "regions|SELECT region, count(*), sum(amount) FROM sales GROUP BY region"
    );
    let listed = conn.tables(Some("gold"), None).await.unwrap();
    let listed: Vec<_> = listed
        .iter()
        .map(|t| format!("{}.{} {}", t.schema, t.name, t.table_type))
        .collect();
    assert_eq!(listed, ["gold.regions VIEW", "gold.top VIEW"]);
    let shown = query_rows(&conn, "SHOW TABLES IN gold").await;
    assert!(shown.iter().all(|r| r.ends_with("|VIEW")), "{shown:?}");

    // Names are the lake's: no table under a view's name, no view over a table's.
    for (sql, says) in [
        ("CREATE VIEW gold.regions AS SELECT 1", "already exists"),
        ("CREATE VIEW silver.sales AS SELECT 1", "is a table"),
        ("CREATE TABLE gold.regions (a INT)", "is a view"),
        ("DROP TABLE gold.regions", "use DROP VIEW"),
        ("DROP VIEW gold.nothing", "not found"),
        ("CREATE VIEW gold.me AS SELECT * FROM gold.me", "itself"),
        (
            "CREATE OR REPLACE VIEW gold.regions AS SELECT * FROM gold.regions",
            "itself",
        ),
        ("CREATE VIEW nowhere.v AS SELECT 1", "not found"),
    ] {
        let err = conn.query(sql).await.unwrap_err().to_string();
        assert!(err.contains(says), "{sql}: {err}");
    }
    query_rows(&conn, "CREATE VIEW IF NOT EXISTS gold.regions AS SELECT 1").await;
    assert_eq!(query_rows(&conn, through_view).await, direct);

    // A restart keeps the views.
    drop(conn);
    drop(server);
    let server = ServeProcess::start_with(1, &args);
    let conn = server.connect().await;
    assert_eq!(query_rows(&conn, through_view).await, direct);

    // Replaced, renamed, dropped.
    query_rows(
        &conn,
        "CREATE OR REPLACE VIEW gold.regions AS SELECT region, count(*) AS n \
         FROM silver.sales WHERE id <= 10 GROUP BY region",
    )
    .await;
    assert_eq!(psql_rows(&server, through_view), ["r0|3", "r1|4", "r2|3"]);
    query_rows(&conn, "ALTER VIEW gold.regions RENAME TO by_region").await;
    assert_eq!(
        query_rows(&conn, "SELECT sum(n) FROM gold.by_region").await,
        ["10"]
    );
    let err = conn.query(through_view).await.unwrap_err().to_string();
    assert!(err.contains("regions"), "{err}");
    // gold.top read the old name: it says why it no longer reads, and is still listed.
    let err = conn
        .query("SELECT * FROM gold.top")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("view gold.top cannot be read") && err.contains("regions"),
        "{err}"
    );
    let gold = psql_rows(
        &server,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'gold' \
         ORDER BY 1",
    );
    assert_eq!(gold, ["by_region", "top"]);

    // A dropped base table: the view fails with the reason.
    query_rows(&conn, "DROP TABLE silver.sales").await;
    let err = conn
        .query("SELECT * FROM gold.by_region")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("view gold.by_region cannot be read") && err.contains("sales"),
        "{err}"
    );
    query_rows(&conn, "DROP VIEW gold.by_region, gold.top").await;
    query_rows(&conn, "DROP VIEW IF EXISTS gold.by_region").await;
    assert!(query_rows(&conn, "SHOW TABLES IN gold").await.is_empty());
    // Only the catalog's pointers went: the metadata files stay, as a dropped table's do.
    let views = std::fs::read_dir(dir.path().join("wh/gold"))
        .unwrap()
        .count();
    assert_eq!(views, 2, "one directory per view");
}
