//! Joins split into stages: a small build side broadcast to every probe task gives the
//! answer single-process DataFusion gives for every join type, and a build side larger
//! than an executor's memory limit makes the query run again with sort-merge joins,
//! which spill, and fails it clearly when that does not fit either, harming nothing else.

use datafusion::prelude::{SessionConfig, SessionContext};

use crate::common::{TestCluster, assert_none_differ, rows};

/// A small dimension in two inserts, hence two files and two tasks, with a NULL key and
/// a key no fact has.
const DIM: [&str; 2] = ["(1, 'a'), (2, 'b'), (NULL, 'n')", "(3, 'c'), (9, 'z')"];
/// Facts in four inserts, hence four files read by four tasks, with NULL keys and keys
/// no dimension row has.
const FACTS: [&str; 4] = [
    "(1, 10), (2, 20), (NULL, 30), (4, 40)",
    "(1, 11), (3, 31), (5, 51)",
    "(2, 22), (NULL, 32), (6, 60), (1, 12)",
    "(4, 41), (3, 33), (7, 70)",
];

/// One query per join type, each way round, with empty sides, `NOT IN` (a null-aware
/// anti join) with and without NULLs, a mark join and nested-loop joins.
const QUERIES: &[&str] = &[
    "SELECT f.k, f.v, d.name FROM fact f JOIN dim d ON f.k = d.k",
    "SELECT d.k, d.name, f.v FROM dim d LEFT JOIN fact f ON d.k = f.k",
    "SELECT f.k, f.v, d.name FROM fact f LEFT JOIN dim d ON f.k = d.k",
    "SELECT d.k, d.name, f.v FROM fact f RIGHT JOIN dim d ON f.k = d.k",
    "SELECT f.k, f.v, d.name FROM dim d RIGHT JOIN fact f ON f.k = d.k",
    "SELECT d.k, d.name, f.k AS fk, f.v FROM dim d FULL JOIN fact f ON d.k = f.k",
    "SELECT k, name FROM dim WHERE k IN (SELECT k FROM fact)",
    "SELECT k, v FROM fact WHERE k IN (SELECT k FROM dim)",
    "SELECT k, name FROM dim d WHERE NOT EXISTS (SELECT 1 FROM fact f WHERE f.k = d.k)",
    "SELECT k, v FROM fact f WHERE NOT EXISTS (SELECT 1 FROM dim d WHERE d.k = f.k)",
    "SELECT k, v FROM fact WHERE k NOT IN (SELECT k FROM dim WHERE k > 1)",
    "SELECT k, v FROM fact WHERE k NOT IN (SELECT k FROM dim)",
    "SELECT k, name FROM dim WHERE k NOT IN (SELECT k FROM fact WHERE k IS NOT NULL)",
    "SELECT k, name FROM dim d WHERE EXISTS (SELECT 1 FROM fact f WHERE f.k = d.k) OR d.name = 'z'",
    "SELECT k, v FROM fact f WHERE EXISTS (SELECT 1 FROM dim d WHERE d.k = f.k) OR f.v > 50",
    "SELECT d.k, d.name, f.v FROM dim d LEFT JOIN fact f ON f.v > d.k * 20",
    "SELECT d.k, d.name, f.v FROM dim d FULL JOIN fact f ON f.v > d.k * 20",
    "SELECT d.k, n.name FROM dim d LEFT JOIN nothing n ON d.k = n.k",
    "SELECT n.k, n.name, f.v FROM nothing n RIGHT JOIN fact f ON n.k = f.k",
    "SELECT n.k, f.v FROM nothing n FULL JOIN fact f ON n.k = f.k",
    "SELECT f.k, f.v FROM fact f JOIN nothing n ON n.k = f.k",
    "SELECT k, v FROM fact WHERE k NOT IN (SELECT k FROM nothing)",
    "SELECT k, name FROM nothing WHERE k NOT IN (SELECT k FROM fact)",
];

/// The statements that create the tables.
fn tables() -> Vec<String> {
    let mut ddl = vec![format!(
        "CREATE TABLE nothing AS SELECT * FROM (VALUES {}) v(k, name) WHERE k < 0",
        DIM[0]
    )];
    for (table, columns, parts) in [("dim", "k, name", &DIM[..]), ("fact", "k, v", &FACTS[..])] {
        ddl.push(format!(
            "CREATE TABLE {table} AS SELECT * FROM (VALUES {}) v({columns})",
            parts[0]
        ));
        for part in &parts[1..] {
            ddl.push(format!(
                "INSERT INTO {table} SELECT * FROM (VALUES {part}) v({columns})"
            ));
        }
    }
    ddl
}

fn sorted(mut rows: Vec<String>) -> Vec<String> {
    rows.sort();
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn broadcast_joins_of_every_type_answer_as_single_process_datafusion() {
    // Every query runs as a job, over four probe tasks.
    let t = TestCluster::start_with(2, 2, |options| options.single_stage_max_bytes = 0).await;
    let local = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(4));
    for ddl in tables() {
        local.sql(&ddl).await.unwrap().collect().await.unwrap();
    }
    for ddl in tables() {
        t.rows(&ddl).await;
    }

    let mut mismatches = Vec::new();
    let mut plans = String::new();
    for sql in QUERIES {
        let expected = sorted(rows(
            &local.sql(sql).await.unwrap().collect().await.unwrap(),
        ));
        let got = sorted(t.rows(sql).await);
        plans.push_str(&t.rows(&format!("EXPLAIN {sql}")).await.join("\n"));
        if got != expected {
            mismatches.push(format!(
                "{sql}\n  Quarry:     {got:?}\n  DataFusion: {expected:?}"
            ));
        }
    }
    assert_none_differ(&mismatches, QUERIES.len());

    // Small sides are broadcast to the probe side's tasks where that is correct, and
    // all sides here are small: a partitioned left join is one the rules took back
    // from a broadcast, which would have had each probe task emit the build rows it
    // found no match for.
    assert!(plans.contains("broadcast=true"), "{plans}");
    assert!(
        plans.contains("mode=Partitioned, join_type=Left,"),
        "{plans}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_build_side_over_the_memory_limit_runs_again_as_sort_merge_then_fails_clearly() {
    let t = TestCluster::start_with(2, 1, |options| {
        options.memory_limit = 16 << 20;
        options.single_stage_max_bytes = 0;
    })
    .await;
    t.rows(
        "CREATE TABLE big AS SELECT value AS id, value % 7 AS k FROM generate_series(1, 3000000)",
    )
    .await;
    let join = "SELECT count(*) FROM big a JOIN big b ON a.id = b.id";
    for (path, setting, runs) in [
        (
            "a job",
            "0",
            "runs as a Ballista job: single stages are off",
        ),
        ("a single stage", "'1GiB'", "runs whole on one executor"),
    ] {
        t.rows(&format!("SET quarry.single_stage_max_bytes = {setting}"))
            .await;
        let plan = t.rows(&format!("EXPLAIN {join}")).await.join("\n");
        assert!(plan.contains(&format!("quarry|{runs}")), "{plan}");
        let error = t
            .query(join)
            .await
            .expect_err("the build side does not fit in 16 MiB")
            .to_string();
        assert!(
            error.contains("Failed to allocate additional")
                && error.contains("the query needs more memory than an executor may use"),
            "as {path}: {error}"
        );
        // The hash join failed first; the error is that of the sort-merge join that
        // ran again in its place, and spilled, but whose merge did not fit either.
        assert!(error.contains("ExternalSorter"), "as {path}: {error}");
        // The executors go on: the next query runs.
        assert_eq!(
            t.rows("SELECT count(*), sum(k) FROM big").await,
            ["3000000|8999997"]
        );
    }
}
