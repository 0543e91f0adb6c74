//! Reflections end to end on an embedded cluster: each query runs with reflections off
//! and on, the answers must be the same, and `EXPLAIN` must show the reflection used
//! (or not) as expected. Then staleness after an INSERT, a refresh, and a drop.

use crate::common::{TestCluster, rows};

const SALES: &str = "CREATE TABLE gold.sales AS SELECT value AS id, \
    CASE value % 4 WHEN 0 THEN 'north' WHEN 1 THEN 'south' WHEN 2 THEN 'east' END AS region, \
    value % 50 AS product_id, \
    arrow_cast(CAST(19723 + value % 400 AS INT), 'Date32') AS sold_at, \
    to_timestamp_micros(1704067200000000 + value * 1234567890) AS ts, \
    CAST(value % 1000 AS DECIMAL(12, 2)) / 10 AS amount, \
    CASE WHEN value % 7 = 0 THEN NULL ELSE value % 13 END AS qty, \
    value % 997 AS customer_id \
    FROM generate_series(1, 20000)";

const REFLECTION: &str = "ALTER TABLE gold.sales CREATE AGGREGATE REFLECTION daily \
    USING DIMENSIONS (region, product_id, sold_at BY DAY, ts BY DAY) \
    MEASURES (amount (SUM, COUNT, MIN, MAX), qty (SUM, COUNT)) REFRESH MANUAL";

/// Queries the reflection answers.
const ANSWERED: [&str; 13] = [
    "SELECT region, sum(amount), count(*) FROM gold.sales GROUP BY region ORDER BY region",
    "SELECT date_trunc('month', sold_at) AS m, sum(qty) FROM gold.sales GROUP BY 1 ORDER BY 1",
    "SELECT date_trunc('year', ts) AS y, count(qty), count(*) FROM gold.sales GROUP BY 1 ORDER BY 1",
    "SELECT region, round(avg(qty), 9) FROM gold.sales GROUP BY region ORDER BY region",
    "SELECT product_id, min(amount), max(amount) FROM gold.sales \
     WHERE region IN ('north', 'east') AND sold_at BETWEEN DATE '2024-02-01' AND DATE '2024-06-30' \
     GROUP BY product_id ORDER BY product_id",
    "SELECT count(*), sum(amount), count(qty) FROM gold.sales WHERE region = 'nowhere'",
    "SELECT region AS region, sum(amount) AS \"SUM(amount)\" \
     FROM (SELECT * FROM gold.sales) AS virtual_table GROUP BY region \
     ORDER BY \"SUM(amount)\" DESC LIMIT 10000",
    "SELECT product_id, sum(amount) FROM gold.sales GROUP BY product_id \
     HAVING sum(amount) > 5000 ORDER BY product_id",
    "SELECT sum(amount), max(product_id) FROM gold.sales",
    "SELECT region IS NULL AS unknown, count(*) FROM gold.sales GROUP BY 1 ORDER BY 1",
    "SELECT upper(region) AS r, sum(qty) FROM gold.sales WHERE product_id < 10 GROUP BY 1 ORDER BY 1",
    "SELECT region, count(*) FROM gold.sales WHERE date_trunc('month', ts) >= TIMESTAMP '2024-06-01 00:00:00' \
     AND date_trunc('day', ts) < TIMESTAMP '2025-01-01 00:00:00' GROUP BY region ORDER BY region",
    "SELECT product_id, sum(amount) FROM gold.sales WHERE ts >= TIMESTAMP '2024-03-04 00:00:00' \
     AND ts < '2024-09-01' GROUP BY product_id ORDER BY product_id",
];

/// Queries it must not answer, and why.
const NOT_ANSWERED: [&str; 10] = [
    "SELECT count(DISTINCT customer_id) FROM gold.sales",
    "SELECT region, sum(amount) FROM gold.sales WHERE customer_id = 5 GROUP BY region ORDER BY region",
    "SELECT customer_id, sum(amount) FROM gold.sales GROUP BY customer_id ORDER BY customer_id LIMIT 5",
    "SELECT date_trunc('hour', ts) AS h, count(*) FROM gold.sales GROUP BY 1 ORDER BY 1 LIMIT 5",
    "SELECT region, min(qty) FROM gold.sales GROUP BY region ORDER BY region",
    "SELECT region, avg(amount) FROM gold.sales GROUP BY region ORDER BY region",
    "SELECT region, sum(amount) FILTER (WHERE qty > 3) FROM gold.sales GROUP BY region ORDER BY region",
    "SELECT region, count(*) FROM gold.sales WHERE ts > TIMESTAMP '2024-06-01 00:00:00' GROUP BY region ORDER BY region",
    "SELECT region, count(*) FROM gold.sales WHERE ts >= TIMESTAMP '2024-06-01 12:00:00' GROUP BY region ORDER BY region",
    "SELECT region, count(*) FROM gold.sales WHERE ts BETWEEN '2024-06-01' AND '2024-07-01' GROUP BY region ORDER BY region",
];

const DAILY: &str = "__reflections.gold__sales__daily";

/// Whether the plan of `sql` reads the materialization `table`.
async fn reads(t: &TestCluster, sql: &str, table: &str) -> bool {
    let plan = rows(&t.query(&format!("EXPLAIN {sql}")).await.unwrap()).join("\n");
    plan.contains(table)
}

async fn answer(t: &TestCluster, sql: &str, reflections: &str) -> Vec<String> {
    t.rows(&format!("SET quarry.reflections = {reflections}"))
        .await;
    t.rows(sql).await
}

/// Asserts that each query gives the same rows with reflections off and on, and that
/// it reads the reflection `table` exactly when `used`.
async fn check_with(t: &TestCluster, queries: &[&str], table: &str, used: bool) {
    for sql in queries {
        let expected = answer(t, sql, "off").await;
        assert!(
            !reads(t, sql, "__reflections").await,
            "used while off: {sql}"
        );
        let got = answer(t, sql, "on").await;
        assert_eq!(got, expected, "{sql}");
        assert_eq!(reads(t, sql, table).await, used, "{sql}");
    }
}

async fn check(t: &TestCluster, queries: &[&str], used: bool) {
    check_with(t, queries, DAILY, used).await
}

async fn status(t: &TestCluster, name: &str) -> String {
    t.rows(&format!(
        "SELECT status FROM sys.reflections WHERE name = '{name}'"
    ))
    .await
    .join(",")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregates_are_answered_from_a_fresh_reflection_with_the_same_rows() {
    let t = TestCluster::start(2, 2).await;
    t.rows(SALES).await;
    // The statement answers the rows it materialized.
    let built = t.rows(REFLECTION).await;
    assert!(
        built.len() == 1 && built[0].parse::<u64>().unwrap() > 1000,
        "{built:?}"
    );
    check(&t, &ANSWERED, true).await;
    check(&t, &NOT_ANSWERED, false).await;

    // Listed in sys.reflections; hidden from schema listings; its name is taken.
    assert_eq!(
        t.rows(
            "SELECT name, table_name, type, dimensions, refresh_policy, status, rows > 1000 \
                FROM sys.reflections"
        )
        .await,
        [
            "daily|gold.sales|AGGREGATE|region, product_id, sold_at BY DAY, ts BY DAY|MANUAL|FRESH|true"
        ]
    );
    assert!(
        !t.rows("SHOW SCHEMAS")
            .await
            .iter()
            .any(|s| s.contains("__reflections"))
    );
    let again = t.query(REFLECTION).await.unwrap_err().to_string();
    assert!(
        again.contains("already has a reflection named daily"),
        "{again}"
    );

    // New rows make it stale: not used until refreshed, and right again after.
    let more = "INSERT INTO gold.sales SELECT id + 20000, region, product_id, sold_at, ts, \
                amount, qty, customer_id FROM gold.sales WHERE id <= 100";
    t.rows(more).await;
    assert_eq!(status(&t, "daily").await, "STALE");
    check(&t, &ANSWERED[..3], false).await;
    t.rows("ALTER TABLE gold.sales REFRESH REFLECTIONS").await;
    assert_eq!(status(&t, "daily").await, "FRESH");
    check(&t, &ANSWERED, true).await;

    // A smaller reflection wins where it answers; refreshed on change by itself.
    t.rows(
        "ALTER TABLE gold.sales CREATE AGGREGATE REFLECTION by_region \
            USING DIMENSIONS (region) MEASURES (amount (SUM))",
    )
    .await;
    let by_region = "__reflections.gold__sales__by_region";
    check_with(&t, &[ANSWERED[6]], by_region, true).await;
    check_with(&t, &[ANSWERED[1]], by_region, false).await;
    t.rows(more).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while status(&t, "by_region").await != "FRESH" {
        assert!(
            std::time::Instant::now() < deadline,
            "by_region was not refreshed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(
        status(&t, "daily").await,
        "STALE",
        "a manual reflection stays stale"
    );
    check_with(&t, &[ANSWERED[6]], by_region, true).await;

    // Dropped: no longer used or listed.
    t.rows("ALTER TABLE gold.sales DROP REFLECTION daily").await;
    check(&t, &ANSWERED[..2], false).await;
    let missing = t
        .query("ALTER TABLE gold.sales DROP REFLECTION daily")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        missing.contains("has no reflection named daily"),
        "{missing}"
    );
    t.rows("ALTER TABLE gold.sales DROP REFLECTION IF EXISTS daily")
        .await;
    assert_eq!(
        t.rows("SELECT name FROM sys.reflections").await,
        ["by_region"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflections_survive_a_restart() {
    use quarry_client::connection::Connection;
    use quarry_client::embedded::{EmbeddedCluster, EmbeddedOptions};
    let dir = tempfile::tempdir().unwrap();
    let start = || async {
        let cluster = EmbeddedCluster::start(EmbeddedOptions::local(dir.path(), 1))
            .await
            .unwrap();
        let conn = Connection::connect(&cluster.flight_url(), "test", "")
            .await
            .unwrap();
        (cluster, conn)
    };
    let sql = "SELECT region, sum(amount) FROM gold.sales GROUP BY region ORDER BY region";
    let (cluster, conn) = start().await;
    crate::common::query_rows(&conn, SALES).await;
    crate::common::query_rows(&conn, REFLECTION).await;
    let before = crate::common::query_rows(&conn, sql).await;
    drop((conn, cluster));

    let (_cluster, conn) = start().await;
    let plan = crate::common::query_rows(&conn, &format!("EXPLAIN {sql}")).await;
    assert!(plan.join("\n").contains(DAILY), "{plan:?}");
    assert_eq!(crate::common::query_rows(&conn, sql).await, before);
}
