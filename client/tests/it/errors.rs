//! Bad statements get one clear line naming the problem; EXPLAIN shows stages; a task
//! the executors refuse fails its query, not the cluster; files outside the file
//! locations are refused.

use std::sync::Arc;
use std::time::Duration;

use datafusion::error::DataFusionError;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::physical_plan::PhysicalExtensionCodec;
use quarry_catalog::codec;
use quarry_catalog::table::scan::IcebergScanExec;
use quarry_scheduler::ErrorKind;

use crate::common::{TestCluster, rows};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn errors_name_the_problem_on_one_line() {
    let t = TestCluster::start(2, 1).await;
    let landing = t.warehouse().join("landing");
    std::fs::create_dir_all(&landing).unwrap();
    std::fs::write(landing.join("x.csv"), "a,s\n1,x\n2,two\n").unwrap();

    t.rows("CREATE TABLE gold.once AS SELECT 1 AS a").await;
    // Each error names its problem in one line and carries its kind, which the shell
    // reads from the status metadata.
    let cases = [
        (
            "SELECT * FROM nosuch",
            "table 'quarry.public.nosuch' not found",
            ErrorKind::UndefinedTable,
        ),
        (
            "SELECT * FROM nosuch.t",
            "not found",
            ErrorKind::UndefinedTable,
        ),
        (
            "CREATE TABLE nosuch.t AS SELECT 1 AS a",
            "schema 'nosuch' does not exist",
            ErrorKind::UndefinedSchema,
        ),
        (
            "SELECT nocol FROM 'landing/x.csv'",
            "No field named nocol",
            ErrorKind::UndefinedColumn,
        ),
        (
            "SELECT no_such_function(a) FROM 'landing/x.csv'",
            "no_such_function",
            ErrorKind::UndefinedFunction,
        ),
        (
            "SELEC 1",
            "syntax error: Expected: an SQL statement, found: SELEC at Line: 1, Column: 1",
            ErrorKind::Syntax,
        ),
        (
            "SELECT a\nFROM 'landing/x.csv'\nWHERE a = = 1",
            "at Line: 3, Column: 11",
            ErrorKind::Syntax,
        ),
        (
            "SELECT 'abc' + 1",
            "Cannot coerce arithmetic expression Utf8 + Int64",
            ErrorKind::InvalidStatement,
        ),
        (
            "SELECT CAST(s AS INT) FROM 'landing/x.csv'",
            "Cast error: Cannot cast string 'x' to value of Int32 type",
            ErrorKind::InvalidText,
        ),
        (
            "SELECT a / 0 FROM 'landing/x.csv'",
            "Divide by zero error",
            ErrorKind::DivisionByZero,
        ),
        (
            "SELECT * FROM 'landing/none.csv'",
            "cannot read 'landing/none.csv'",
            ErrorKind::UndefinedTable,
        ),
        (
            "SELECT 1; SELECT 2",
            "one statement at a time",
            ErrorKind::InvalidStatement,
        ),
        (
            "CREATE TABLE gold.once AS SELECT 2 AS a",
            "table 'gold.once' already exists",
            ErrorKind::Duplicate,
        ),
    ];
    for (sql, expected, kind) in cases {
        let err = t.query(sql).await.expect_err(sql);
        assert_eq!(err.kind(), Some(kind), "{sql}: {err}");
        let err = err.to_string();
        assert!(
            err.contains(expected),
            "{sql}: got {err:?}, expected {expected:?}"
        );
        assert!(
            !err.contains('\n') && !err.contains("panicked"),
            "{sql}: {err:?}"
        );
    }
    // A prepared statement runs again and again, until it is closed.
    let prepared = t.conn.prepare("SELECT 6 * 7").await.unwrap();
    for _ in 0..2 {
        let (_, stream) = t.conn.fetch(&prepared).await.unwrap();
        let batches: Vec<_> = futures::TryStreamExt::try_collect(stream).await.unwrap();
        assert_eq!(rows(&batches), ["42"]);
    }
    t.conn.close(&prepared).await.unwrap();
    let closed = t.conn.fetch(&prepared).await.err();
    assert!(
        closed
            .as_ref()
            .is_some_and(|e| e.kind() == Some(ErrorKind::UnknownStatement)
                && e.to_string().contains("unknown prepared statement")),
        "{closed:?}"
    );
    // The cluster is unharmed.
    assert_eq!(
        t.rows("SELECT sum(a) FROM 'landing/x.csv'").await,
        vec!["3"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn explain_shows_stages_and_explain_analyze_their_metrics() {
    let t = TestCluster::start(2, 1).await;
    let landing = t.warehouse().join("landing");
    std::fs::create_dir_all(&landing).unwrap();
    std::fs::write(landing.join("x.csv"), "a,b\n1,x\n2,y\n3,x\n").unwrap();
    let sql = "SELECT b, count(*) FROM 'landing/x.csv' GROUP BY b";

    let plan = rows(&t.query(&format!("EXPLAIN {sql}")).await.unwrap()).join("\n");
    assert!(plan.contains("distributed_plan|"), "{plan}");
    assert!(
        plan.contains("stage_id=1") && plan.contains("stage_id=2"),
        "{plan}"
    );

    let analyzed = rows(&t.query(&format!("EXPLAIN ANALYZE {sql}")).await.unwrap());
    assert!(
        analyzed[0].starts_with("Query|job ") && analyzed[0].contains(" 2 rows "),
        "{analyzed:?}"
    );
    assert!(
        analyzed.iter().any(|r| r.starts_with("Stage 1 (")),
        "{analyzed:?}"
    );
    assert!(
        analyzed.iter().any(|r| r.starts_with("Stage 2 (")),
        "{analyzed:?}"
    );
    assert!(
        analyzed.join("\n").contains("metrics=[output_rows=3"),
        "{analyzed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn external_tables_are_shared_by_sessions() {
    let t = TestCluster::start(1, 1).await;
    let landing = t.warehouse().join("landing");
    std::fs::create_dir_all(&landing).unwrap();
    std::fs::write(landing.join("x.csv"), "a,b\n1,x\n2,y\n").unwrap();
    t.rows("CREATE EXTERNAL TABLE x STORED AS CSV LOCATION 'landing/x.csv'")
        .await;

    let other =
        quarry_client::connection::Connection::connect(&t.cluster.flight_url(), "other", "")
            .await
            .unwrap();
    let got = rows(
        &crate::common::query(&other, "SELECT b FROM x WHERE a = 2")
            .await
            .unwrap(),
    );
    assert_eq!(got, vec!["y"]);
    let tables = rows(&crate::common::query(&other, "SHOW TABLES").await.unwrap());
    assert!(
        tables.iter().any(|r| r.ends_with("|x|BASE TABLE")),
        "{tables:?}"
    );
}

/// Quarry's codec, except that it refuses to decode Iceberg scans: executors with it
/// refuse every task that reads an Iceberg table.
#[derive(Debug)]
struct RefusesIcebergScans(Arc<dyn PhysicalExtensionCodec>);

impl PhysicalExtensionCodec for RefusesIcebergScans {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let node = self.0.try_decode(buf, inputs, ctx)?;
        if node.as_any().is::<IcebergScanExec>() {
            return Err(DataFusionError::Internal(
                "this executor refuses Iceberg scans (a test)".into(),
            ));
        }
        Ok(node)
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
    ) -> datafusion::error::Result<()> {
        self.0.try_encode(node, buf)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_task_the_executors_refuse_fails_its_query_and_the_cluster_goes_on() {
    let t = TestCluster::start_with(2, 1, |options| {
        options.executor_codec = Arc::new(RefusesIcebergScans(codec::physical_codec()));
        options.single_stage_max_bytes = 0;
    })
    .await;
    let slots = t.cluster.scheduler.ballista.total_task_slots().await;
    t.rows("CREATE TABLE t AS SELECT * FROM (VALUES (1), (2), (3)) v(a)")
        .await;
    // Before, the scheduler took each refusal for a lost executor and launched the
    // tasks again every few seconds, forever; every later query waited behind them.
    let refused = tokio::time::timeout(Duration::from_secs(60), t.query("SELECT sum(a) FROM t"))
        .await
        .expect("the refused query did not fail: it is being launched again and again")
        .expect_err("the executors refuse Iceberg scans")
        .to_string();
    assert!(
        refused.contains("could not run: executor")
            && refused.contains("refused its tasks")
            && refused.contains("this executor refuses Iceberg scans (a test)"),
        "{refused}"
    );
    let stage = refused
        .split("stage ")
        .nth(1)
        .and_then(|r| r.split(' ').next());
    assert!(
        stage.is_some_and(|s| s.parse::<usize>().is_ok()),
        "the error names the stage: {refused}"
    );
    assert!(!refused.contains('\n'), "{refused:?}");
    // The executors stay in service, and the next queries answer.
    assert_eq!(t.cluster.scheduler.ballista.total_task_slots().await, slots);
    assert_eq!(t.rows("SELECT 6 * 7").await, ["42"]);
    let landing = t.warehouse().join("landing");
    std::fs::create_dir_all(&landing).unwrap();
    std::fs::write(landing.join("x.csv"), "a\n1\n2\n").unwrap();
    assert_eq!(
        t.rows("SELECT sum(a) FROM 'landing/x.csv'").await,
        vec!["3"]
    );
    let again = t
        .query("SELECT a FROM t WHERE a > 1")
        .await
        .unwrap_err()
        .to_string();
    assert!(again.contains("refused its tasks"), "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_query_with_no_executor_to_run_it_fails_instead_of_waiting_forever() {
    let mut t = TestCluster::start(1, 1).await;
    let landing = t.warehouse().join("landing");
    std::fs::create_dir_all(&landing).unwrap();
    std::fs::write(landing.join("x.csv"), "a\n1\n2\n").unwrap();
    t.cluster.executors[0].shutdown();
    // The scheduler takes the silent executor as gone after its heartbeat timeout.
    let ballista = &t.cluster.scheduler.ballista;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while ballista.total_task_slots().await > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the executor stays registered"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let limit = quarry_scheduler::job::NO_EXECUTORS_LIMIT + Duration::from_secs(30);
    let err = tokio::time::timeout(limit, t.query("SELECT sum(a) FROM 'landing/x.csv'"))
        .await
        .expect("the query waits for an executor forever")
        .expect_err("no executor can run it")
        .to_string();
    assert!(
        err.contains("no executor has been in the cluster for 30 s")
            && err.contains("run it again"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn files_outside_the_file_locations_are_refused() {
    let t = TestCluster::start(1, 1).await;
    let warehouse = t.warehouse();
    let landing = warehouse.join("landing");
    std::fs::create_dir_all(&landing).unwrap();
    std::fs::write(landing.join("x.csv"), "a\n1\n").unwrap();
    std::fs::write(warehouse.join("secret.csv"), "a\n2\n").unwrap();
    std::os::unix::fs::symlink(warehouse.join("secret.csv"), landing.join("link.csv")).unwrap();
    std::os::unix::fs::symlink("/etc", landing.join("etc")).unwrap();
    let outside = tempfile::tempdir().unwrap();
    let written = outside.path().join("out.csv");
    let cases = [
        "SELECT * FROM '/etc/passwd'".to_string(),
        "SELECT * FROM 'landing/../../../../etc/passwd'".into(),
        "SELECT * FROM '../secret.csv'".into(),
        "SELECT * FROM 'landing/link.csv'".into(),
        "SELECT * FROM 'landing/etc/passwd'".into(),
        // A pattern over a directory with a link out of it.
        "SELECT * FROM 'landing/*.csv'".into(),
        "SELECT * FROM 'file:///etc/passwd'".into(),
        "CREATE EXTERNAL TABLE e STORED AS CSV LOCATION '/etc/passwd'".into(),
        "CREATE TABLE bronze.b (a BIGINT)".into(),
        format!("COPY (SELECT 1 AS a) TO '{}'", written.display()),
    ];
    for sql in &cases[..cases.len() - 2] {
        let err = t.query(sql).await.expect_err(sql);
        assert_eq!(
            err.kind(),
            Some(ErrorKind::PermissionDenied),
            "{sql}: {err}"
        );
        assert!(err.to_string().contains("file locations"), "{sql}: {err}");
    }
    t.rows(&cases[cases.len() - 2]).await;
    let err = t
        .query("COPY INTO bronze.b FROM '/etc/' FILE_FORMAT 'csv'")
        .await
        .expect_err("COPY INTO from /etc");
    assert_eq!(err.kind(), Some(ErrorKind::PermissionDenied), "{err}");
    let err = t.query(&cases[cases.len() - 1]).await.expect_err("COPY TO");
    assert_eq!(err.kind(), Some(ErrorKind::PermissionDenied), "{err}");
    assert!(!written.exists());
    assert_eq!(t.rows("SELECT count(*) FROM bronze.b").await, ["0"]);

    // Inside the locations, relative paths are the warehouse's, for writes too.
    std::fs::remove_file(landing.join("link.csv")).unwrap();
    std::fs::remove_file(landing.join("etc")).unwrap();
    assert_eq!(t.rows("SELECT a FROM 'landing/*.csv'").await, ["1"]);
    t.rows("COPY (SELECT 3 AS a) TO 'landing/out/three.csv' STORED AS CSV")
        .await;
    assert!(landing.join("out/three.csv").exists());
    assert_eq!(t.rows("SELECT a FROM 'landing/out/'").await, ["3"]);
}
