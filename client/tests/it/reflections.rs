//! Reflections end to end on an embedded cluster: each query runs with reflections off
//! and on, the answers must be the same, and `EXPLAIN` must show the reflection used
//! (or not) as expected. Then staleness after an INSERT, a refresh, and a drop.

use std::sync::Arc;

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
    MEASURES (amount (SUM, COUNT, MIN, MAX), qty (SUM, COUNT), \
    customer_id (APPROX_COUNT_DISTINCT)) REFRESH MANUAL";

/// A dimension table of the products the sales name, but for ids 40 to 49.
const PRODUCTS: &str = "CREATE TABLE silver.products AS SELECT value AS product_id, \
    CASE value % 3 WHEN 0 THEN 'tools' WHEN 1 THEN 'toys' ELSE 'food' END AS category \
    FROM generate_series(0, 39)";

/// Queries the reflection answers.
const ANSWERED: [&str; 17] = [
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
    "SELECT region, approx_distinct(customer_id) FROM gold.sales GROUP BY region ORDER BY region",
    "SELECT p.category, sum(s.amount), count(*), round(avg(s.qty), 9) FROM gold.sales s \
     JOIN silver.products p USING (product_id) GROUP BY p.category ORDER BY 1",
    "SELECT p.category, s.region, max(s.amount) FROM gold.sales s, silver.products p \
     WHERE s.product_id = p.product_id AND s.region = 'north' AND p.category <> 'food' \
     GROUP BY 1, 2 ORDER BY 1, 2",
    "SELECT p.category, count(s.qty), min(s.sold_at) FROM gold.sales s \
     LEFT JOIN silver.products p ON s.product_id = p.product_id GROUP BY 1 ORDER BY 1",
];

/// Queries it must not answer, and why.
const NOT_ANSWERED: [&str; 13] = [
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
    "SELECT region, approx_distinct(qty) FROM gold.sales GROUP BY region ORDER BY region",
    "SELECT p.category, count(s.amount) FROM silver.products p \
     LEFT JOIN gold.sales s USING (product_id) GROUP BY 1 ORDER BY 1",
    "SELECT s.region, sum(p.product_id) FROM gold.sales s \
     JOIN silver.products p USING (product_id) GROUP BY 1 ORDER BY 1",
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
    t.rows(PRODUCTS).await;
    // The statement answers the rows it materialized.
    let built = t.rows(REFLECTION).await;
    assert!(
        built.len() == 1 && built[0].parse::<u64>().unwrap() > 1000,
        "{built:?}"
    );
    check(&t, &ANSWERED, true).await;
    check(&t, &NOT_ANSWERED, false).await;

    // EXPLAIN says which reflection it used, and why not the others.
    let explain = |sql: String| {
        let t = &t;
        async move { rows(&t.query(&format!("EXPLAIN {sql}")).await.unwrap()).join("\n") }
    };
    assert!(
        explain(ANSWERED[0].into())
            .await
            .contains("reflections|daily: used")
    );
    let why = explain(NOT_ANSWERED[1].into()).await;
    assert!(
        why.contains("daily: not used: column customer_id is not a dimension"),
        "{why}"
    );
    let why = explain(NOT_ANSWERED[3].into()).await;
    assert!(
        why.contains("daily: not used: ts is kept BY DAY; the query truncates it to hour"),
        "{why}"
    );
    t.rows("SET quarry.reflections = off").await;
    assert!(
        explain(ANSWERED[0].into())
            .await
            .contains("reflections|off in this session")
    );
    t.rows("SET quarry.reflections = on").await;

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
    let method = "SELECT refresh_method FROM sys.reflections WHERE name = 'daily'";
    // Only rows were added: merged from the new files, with the answers of a rebuild.
    assert_eq!(t.rows(method).await, ["INCREMENTAL"]);
    check(&t, &ANSWERED, true).await;
    // Rows replaced: rebuilt.
    t.rows("INSERT OVERWRITE gold.sales SELECT * FROM gold.sales WHERE id % 3 <> 0")
        .await;
    assert_eq!(status(&t, "daily").await, "STALE");
    t.rows("ALTER TABLE gold.sales REFRESH REFLECTION daily")
        .await;
    assert_eq!(t.rows(method).await, ["FULL"]);
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

    // An incremental refresh aggregates the appended files themselves, never a fresher
    // reflection of the whole table (daily, refreshed first, could answer coarse's).
    t.rows("ALTER TABLE gold.sales DROP REFLECTION by_region")
        .await;
    t.rows(
        "ALTER TABLE gold.sales CREATE AGGREGATE REFLECTION coarse \
            USING DIMENSIONS (region) MEASURES (amount (SUM)) REFRESH MANUAL",
    )
    .await;
    t.rows(more).await;
    t.rows("ALTER TABLE gold.sales REFRESH REFLECTION daily")
        .await;
    t.rows("ALTER TABLE gold.sales REFRESH REFLECTION coarse")
        .await;
    assert_eq!(
        t.rows("SELECT name, refresh_method FROM sys.reflections ORDER BY name")
            .await,
        ["coarse|INCREMENTAL", "daily|INCREMENTAL"]
    );
    let coarse = "__reflections.gold__sales__coarse";
    check_with(&t, &[ANSWERED[6]], coarse, true).await;

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
    assert_eq!(t.rows("SELECT name FROM sys.reflections").await, ["coarse"]);
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

/// Whether two rows are the same: cells equal as text, or as numbers within 1e-9
/// relative (sums of floats added in another order).
fn same_row(a: &str, b: &str) -> bool {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.split('|').collect(), b.split('|').collect());
    a.len() == b.len()
        && a.iter().zip(&b).all(|(x, y)| {
            x == y
                || matches!((x.parse::<f64>(), y.parse::<f64>()), (Ok(x), Ok(y))
                    if (x - y).abs() <= 1e-9 * x.abs().max(y.abs()))
        })
}

/// A few hundred generated aggregates over subsets of the dimensions, with filters on
/// them (and now and then on other columns), each run with reflections off and on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_queries_answer_the_same_with_reflections_on_and_off() {
    let t = TestCluster::start(2, 2).await;
    t.rows(SALES).await;
    t.rows(REFLECTION).await;
    let groups = [
        "region",
        "product_id",
        "date_trunc('month', sold_at)",
        "date_trunc('week', ts)",
        "date_trunc('year', ts)",
        "sold_at",
        "region IS NULL",
        "product_id % 7",
        "date_trunc('hour', ts)",
        "customer_id % 3",
    ];
    let filters = [
        "region = 'north'",
        "region IN ('south', 'east')",
        "region IS NULL",
        "product_id BETWEEN 5 AND 20",
        "sold_at >= DATE '2024-05-01'",
        "sold_at < DATE '2024-03-15'",
        "ts >= TIMESTAMP '2024-04-01 00:00:00'",
        "ts < TIMESTAMP '2025-01-01 00:00:00'",
        "date_trunc('month', ts) = TIMESTAMP '2024-07-01 00:00:00'",
        "product_id = 999",
        "qty > 5",
        "customer_id < 100",
        "ts > TIMESTAMP '2024-04-01 06:00:00'",
    ];
    let aggregates = [
        "sum(amount)",
        "count(*)",
        "count(qty)",
        "count(amount)",
        "min(amount)",
        "max(amount)",
        "sum(qty)",
        "avg(qty)",
        "min(product_id)",
        "max(sold_at)",
        "count(DISTINCT region)",
        "min(qty)",
        "approx_distinct(customer_id)",
    ];
    // A small linear congruential generator: the same queries on every run.
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |n: usize| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        ((state >> 33) as usize) % n
    };
    let served = || async {
        t.rows("SELECT coalesce(sum(queries_served), 0) FROM sys.reflections")
            .await[0]
            .parse::<u64>()
            .unwrap()
    };
    let before = served().await;
    let total = 250;
    for _ in 0..total {
        let mut keys: Vec<&str> = (0..next(3)).map(|_| groups[next(groups.len())]).collect();
        keys.sort();
        keys.dedup();
        let wheres: Vec<&str> = (0..next(3)).map(|_| filters[next(filters.len())]).collect();
        let mut measures: Vec<&str> = (0..1 + next(3))
            .map(|_| aggregates[next(aggregates.len())])
            .collect();
        measures.sort();
        measures.dedup();
        let select: Vec<String> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| format!("{k} AS k{i}"))
            .chain(measures.iter().map(|m| m.to_string()))
            .collect();
        let mut sql = format!("SELECT {} FROM gold.sales", select.join(", "));
        if !wheres.is_empty() {
            sql += &format!(" WHERE {}", wheres.join(" AND "));
        }
        if !keys.is_empty() {
            let positions: Vec<String> = (1..=keys.len()).map(|i| i.to_string()).collect();
            sql += &format!(
                " GROUP BY {} ORDER BY {}",
                positions.join(", "),
                positions.join(", ")
            );
        }
        let off = answer(&t, &sql, "off").await;
        let on = answer(&t, &sql, "on").await;
        assert!(
            off.len() == on.len() && off.iter().zip(&on).all(|(a, b)| same_row(a, b)),
            "{sql}\noff: {off:?}\non: {on:?}"
        );
    }
    // Enough of them were answered from the reflection for the comparison to mean
    // something (each is planned once with reflections on).
    let answered = served().await - before;
    assert!(
        answered >= total / 5,
        "only {answered} of {total} queries used the reflection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_reflections_answer_scans_of_their_columns() {
    let t = TestCluster::start(2, 2).await;
    t.rows(SALES).await;
    let unkept = t
        .query(
            "ALTER TABLE gold.sales CREATE RAW REFLECTION recent \
             USING DISPLAY (sold_at, region) LOCALSORT BY (amount)",
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        unkept.contains("LOCALSORT BY names amount, which it does not keep"),
        "{unkept}"
    );
    t.rows(
        "ALTER TABLE gold.sales CREATE RAW REFLECTION recent \
         USING DISPLAY (sold_at, region, amount) PARTITION BY (month(sold_at)) \
         LOCALSORT BY (region, amount) REFRESH MANUAL",
    )
    .await;
    let used = |sql: &'static str| {
        let t = &t;
        async move {
            rows(&t.query(&format!("EXPLAIN {sql}")).await.unwrap())
                .join("\n")
                .contains("recent: used")
        }
    };
    let answered = [
        "SELECT sold_at, region, amount FROM gold.sales \
         WHERE sold_at >= DATE '2024-06-01' AND sold_at < DATE '2024-07-01' \
         ORDER BY sold_at, region, amount",
        "SELECT region, sum(amount), count(*) FROM gold.sales GROUP BY region ORDER BY region",
        "SELECT count(*) FROM gold.sales WHERE region = 'north' AND amount > 50",
    ];
    for sql in answered {
        let expected = answer(&t, sql, "off").await;
        assert!(!used(sql).await, "used while off: {sql}");
        assert_eq!(answer(&t, sql, "on").await, expected, "{sql}");
        assert!(used(sql).await, "not used: {sql}");
    }
    for (sql, why) in [
        (
            "SELECT id, amount FROM gold.sales ORDER BY id LIMIT 5",
            "recent: not used: column id is not displayed",
        ),
        (
            "SELECT region, sum(qty) FROM gold.sales WHERE id > 3 GROUP BY region ORDER BY region",
            "recent: not used: columns id, qty are not displayed",
        ),
    ] {
        let expected = answer(&t, sql, "off").await;
        assert_eq!(answer(&t, sql, "on").await, expected, "{sql}");
        assert!(!used(sql).await, "used: {sql}");
        let plan = rows(&t.query(&format!("EXPLAIN {sql}")).await.unwrap()).join("\n");
        assert!(plan.contains(why), "{sql}\n{plan}");
    }
    // Stale after a commit, until refreshed.
    t.rows("INSERT INTO gold.sales SELECT * FROM gold.sales WHERE id < 3")
        .await;
    let plan = rows(&t.query(&format!("EXPLAIN {}", answered[0])).await.unwrap()).join("\n");
    assert!(
        plan.contains("recent: not used: stale: its table changed since it was built"),
        "{plan}"
    );
}

/// What the executors' reflection caches hold and have served, added up.
async fn cache_stats(t: &TestCluster) -> quarry_executor::cache::CacheStats {
    let mut total = quarry_executor::cache::CacheStats::default();
    for executor in &t.cluster.executors {
        let stats = executor.cache_stats().await;
        total.hits += stats.hits;
        total.misses += stats.misses;
        total.bytes += stats.bytes;
        total.files += stats.files;
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflections_are_read_from_executor_memory() {
    // Only queries answered from reflections run directly.
    let t = TestCluster::start_with(2, 2, |options| options.single_stage_max_bytes = 0).await;
    t.rows(SALES).await;
    t.rows(REFLECTION).await;
    let dashboard = [ANSWERED[0], ANSWERED[4], ANSWERED[6]];
    let mut expected = Vec::new();
    for sql in dashboard {
        expected.push(answer(&t, sql, "off").await);
    }
    // Answered from the small reflection, a query is planned as one partition: no
    // exchange.
    let explain = format!("EXPLAIN {}", dashboard[0]);
    assert!(
        t.rows(&explain)
            .await
            .join("\n")
            .contains("RepartitionExec")
    );
    t.rows("SET quarry.reflections = on").await;
    let plan = t.rows(&explain).await.join("\n");
    assert!(
        plan.contains(DAILY) && !plan.contains("RepartitionExec"),
        "{plan}"
    );
    let in_memory = "SELECT bytes_in_memory FROM sys.reflections WHERE name = 'daily'";
    assert_eq!(t.rows(in_memory).await, ["0"]);
    // The first run reads the reflection's files from storage into memory.
    let before = cache_stats(&t).await;
    let service = &t.cluster.scheduler.service;
    let direct = service.direct_runs();
    assert_eq!(t.rows(dashboard[0]).await, expected[0]);
    // Small, it ran whole on one executor, without a Ballista job.
    assert_eq!(service.direct_runs(), direct + 1);
    let first = cache_stats(&t).await;
    assert!(first.misses > before.misses, "{first:?}");
    assert!(first.bytes > 0 && first.files > 0, "{first:?}");
    assert_eq!(t.rows(in_memory).await, [first.bytes.to_string()]);
    // Then every query of the dashboard reads memory only, with the same answers.
    for (sql, expected) in dashboard.iter().zip(&expected) {
        assert_eq!(&t.rows(sql).await, expected, "{sql}");
    }
    let again = cache_stats(&t).await;
    assert_eq!(again.misses, first.misses, "{again:?}");
    assert!(again.hits >= first.hits + 3, "{again:?}");
    // Each part's tasks keep going to the executor that holds it: round after round,
    // nothing is read again.
    for _ in 0..4 {
        for sql in dashboard {
            t.rows(sql).await;
        }
    }
    assert_eq!(cache_stats(&t).await.misses, again.misses);
    assert_eq!(service.direct_runs(), direct + 1 + 3 + 4 * 3);
    // The table itself is not cached, and a query over it runs as a job.
    t.rows("SET quarry.reflections = off").await;
    t.rows(dashboard[0]).await;
    assert_eq!(cache_stats(&t).await.misses, again.misses);
    assert_eq!(service.direct_runs(), direct + 1 + 3 + 4 * 3);
    // A rebuild writes new files: the old ones, still in memory, answer nothing and are
    // not counted.
    t.rows("INSERT OVERWRITE gold.sales SELECT * FROM gold.sales WHERE id % 3 <> 0")
        .await;
    t.rows("ALTER TABLE gold.sales REFRESH REFLECTIONS").await;
    assert!(cache_stats(&t).await.bytes > 0);
    assert_eq!(t.rows(in_memory).await, ["0"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_executor_over_its_cache_budget_evicts_and_still_answers() {
    // A budget smaller than the reflection: files come and go.
    let budget = 16 * 1024;
    let t = TestCluster::start_with(2, 2, |options| options.reflection_cache = budget).await;
    t.rows(SALES).await;
    t.rows(REFLECTION).await;
    for sql in [ANSWERED[0], ANSWERED[1], ANSWERED[0], ANSWERED[4]] {
        let expected = answer(&t, sql, "off").await;
        assert_eq!(answer(&t, sql, "on").await, expected, "{sql}");
        for executor in &t.cluster.executors {
            let stats = executor.cache_stats().await;
            assert!(stats.bytes <= budget, "{stats:?}");
        }
    }
    assert!(cache_stats(&t).await.misses > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_run_reports_errors_and_falls_back_to_a_job_without_its_executor() {
    let mut t = TestCluster::start(2, 2).await;
    t.rows(SALES).await;
    t.rows(REFLECTION).await;
    let sql = ANSWERED[0];
    let expected = answer(&t, sql, "off").await;
    t.rows("SET quarry.reflections = on").await;
    let service = Arc::clone(&t.cluster.scheduler.service);
    let direct = service.direct_runs();
    assert_eq!(t.rows(sql).await, expected);
    assert_eq!(service.direct_runs(), direct + 1);
    // An error on the executor reaches the client whole, and the next query answers.
    let error = t
        .query(
            "SELECT region, count(*) / (count(*) - count(*)) FROM gold.sales \
             GROUP BY region",
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("Divide by zero"), "{error}");
    assert_eq!(service.direct_runs(), direct + 2);
    assert_eq!(t.rows(sql).await, expected);
    // The executor that holds the reflection stops answering (it is still
    // registered): the query runs as a job on the other one, with the same answer.
    let mut holder = None;
    for (i, executor) in t.cluster.executors.iter().enumerate() {
        if executor.cache_stats().await.hits > 0 {
            holder = Some(i);
        }
    }
    let holder = holder.expect("an executor read the reflection from memory");
    t.cluster.executors[holder].shutdown();
    let runs = service.direct_runs();
    assert_eq!(t.rows(sql).await, expected);
    assert_eq!(service.direct_runs(), runs, "sent to a stopped executor");
}
