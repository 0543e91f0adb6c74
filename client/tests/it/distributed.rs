//! Distributed results equal single-process DataFusion results, and work is spread
//! over every executor.

use std::collections::HashSet;

use datafusion::prelude::SessionContext;
use futures::TryStreamExt;

use crate::common::{
    TestCluster, assert_none_differ, rows, stage_executors, test_tables, write_test_data,
};

const QUERIES: &[&str] = &[
    // aggregates
    "SELECT k, count(*) AS n, sum(v) AS sv, min(s) AS mins, max(id) AS maxid FROM facts GROUP BY k ORDER BY k",
    "SELECT count(DISTINCT k) AS dk, count(DISTINCT user_id) AS du, count(*) AS n, sum(amount) AS total FROM events",
    "SELECT day, round(avg(amount), 4) AS a, count(*) AS n FROM events GROUP BY day HAVING count(*) > 10 ORDER BY day",
    // joins
    "SELECT d.name, count(*) AS n, sum(f.v) AS sv FROM facts f JOIN dims d ON f.k = d.k GROUP BY d.name ORDER BY d.name",
    "SELECT e.user_id, count(*) AS n, sum(e.amount) AS total FROM events e JOIN facts f ON e.id = f.id \
     WHERE f.v < 5000 GROUP BY e.user_id ORDER BY total DESC, e.user_id LIMIT 20",
    "SELECT e.kind, count(*) AS n FROM events e LEFT JOIN dims d ON e.k = d.k AND d.name LIKE 'b%' \
     WHERE d.k IS NULL GROUP BY e.kind ORDER BY e.kind",
    "SELECT day, count(*) AS n FROM events WHERE k IN (SELECT k FROM dims WHERE name LIKE 'a%') GROUP BY day ORDER BY day",
    // window functions
    "SELECT k, id, v, row_number() OVER (PARTITION BY k ORDER BY v DESC, id) AS rn, sum(v) OVER (PARTITION BY k) AS total \
     FROM facts WHERE id % 5000 = 0 ORDER BY k, id",
    "SELECT s, count(*) AS n, rank() OVER (ORDER BY count(*) DESC, s) AS r FROM facts GROUP BY s ORDER BY r",
    // ORDER BY with LIMIT
    "SELECT id, v, s FROM facts ORDER BY v DESC, id LIMIT 15",
    "SELECT id, amount FROM events WHERE kind = 'event-3' ORDER BY amount DESC LIMIT 5 OFFSET 10",
    // uncorrelated scalar subqueries over a dimension none of whose columns is kept,
    // as in TPC-DS Q9: filters and joins that keep no columns travel to the executors
    "SELECT CASE WHEN (SELECT count(*) FROM facts WHERE v BETWEEN 1 AND 2000) > 300000 \
     THEN (SELECT avg(v) FROM facts WHERE k < 10) ELSE (SELECT max(v) FROM facts) END AS bucket, \
     (SELECT count(*) FROM events WHERE day = 7) AS day7 FROM dims WHERE k = 1",
    "SELECT count(*) AS n FROM facts f JOIN dims d ON f.k = d.k WHERE d.name LIKE 'c%'",
    // files queried by path
    "SELECT kind, count(*) AS n FROM 'landing/data/events.csv' GROUP BY kind ORDER BY kind",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn distributed_results_equal_single_process_datafusion() {
    let t = TestCluster::start(2, 2).await;
    let warehouse = t.warehouse();
    write_test_data(&warehouse, 2_000_000, 1_000_000).await;
    let root = warehouse.display().to_string();

    let local = SessionContext::new().enable_url_table();
    for ddl in test_tables(&root) {
        local.sql(&ddl).await.unwrap();
    }
    for ddl in test_tables("") {
        t.rows(&ddl).await;
    }
    let mut mismatches = Vec::new();
    for sql in QUERIES {
        let local_sql = sql.replace("'landing/data/", &format!("'{root}/landing/data/"));
        let expected = rows(
            &local
                .sql(&local_sql)
                .await
                .unwrap()
                .collect()
                .await
                .unwrap(),
        );
        let got = t.rows(sql).await;
        assert!(!expected.is_empty(), "{sql} returned nothing");
        if got != expected {
            mismatches.push(format!(
                "{sql}\n  distributed: {:?}\n  local:       {:?}",
                &got[..got.len().min(5)],
                &expected[..expected.len().min(5)]
            ));
        }
    }
    assert_none_differ(&mismatches, QUERIES.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scans_of_a_large_file_split_across_every_executor() {
    let t = TestCluster::start(2, 2).await;
    write_test_data(&t.warehouse(), 10_000, 1_000_000).await;

    let service = &t.cluster.scheduler.service;
    let session = service.new_session().await;
    let query = service
        .prepare(
            &session,
            "SELECT kind, sum(amount) FROM 'landing/data/events.csv' GROUP BY kind",
        )
        .await
        .unwrap();
    let batches: Vec<_> = service
        .execute(std::sync::Arc::clone(&query))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(rows(&batches).len(), 7);

    let (tasks, executors) = stage_executors(&t, &query.job_id().unwrap(), 1).await;
    // One CSV file of about 25 MB is read as byte ranges by one task per slot.
    assert_eq!(tasks, 4, "scan tasks");
    let all: HashSet<String> = t.cluster.executors.iter().map(|e| e.id.clone()).collect();
    assert_eq!(executors, all, "every executor ran part of the scan");
}
