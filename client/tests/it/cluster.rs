//! A whole cluster as processes on 127.0.0.1: etcd, an S3 server (s3s-fs), two
//! schedulers that elect a leader in etcd, and executors that follow the leader. Tables
//! live in `s3://lake/wh`. Executors die (kill -9) and drain (SIGTERM) while queries
//! run, a fourth one joins, the leader dies, and every scheduler restarts; the answers
//! stay those of single-node DataFusion. A reflection and a view made through the first
//! leader serve the second.

use std::time::{Duration, Instant};

use datafusion::prelude::SessionContext;
use quarry_client::connection::Connection;

use crate::common::{
    EtcdServer, Process, S3Server, free_port, http_get, metric, query_rows, rows, spawn,
};

const TABLE: &str = "SELECT value AS id, value % 97 AS k, (value * 7919) % 10007 AS v \
                     FROM generate_series(1, 3000000)";
/// Three stages: an aggregate, a join with it, and an aggregate of the join.
const REPORT: &str = "SELECT a.k, count(*) AS n, sum(a.v - b.m) AS d, max(a.id) AS last \
                      FROM {t} a JOIN (SELECT k, max(v) AS m FROM {t} GROUP BY k) b \
                      ON a.k = b.k GROUP BY a.k ORDER BY a.k";

/// What every Quarry process of the cluster is given: S3 and etcd.
struct Shared {
    etcd: EtcdServer,
    s3: S3Server,
}

impl Shared {
    fn args(&self) -> Vec<String> {
        let endpoint = self.s3.endpoint();
        ["--etcd", &self.etcd.endpoint(), "--s3-endpoint", &endpoint]
            .map(String::from)
            .to_vec()
    }

    fn spawn(&self, role: &str, ports: &[(&str, u16)], more: &[&str]) -> (Process, String) {
        let mut args = vec![role.to_string()];
        args.extend(self.args());
        for (flag, port) in ports {
            args.extend([flag.to_string(), port.to_string()]);
        }
        args.extend(more.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let credentials = self.s3.credentials();
        let env: Vec<(&str, &str)> = credentials.iter().map(|(k, v)| (*k, v.as_str())).collect();
        spawn(&args, &env)
    }
}

/// A scheduler process and its ports.
struct Scheduler {
    process: Option<Process>,
    flight: u16,
    http: u16,
    ports: Vec<(&'static str, u16)>,
}

impl Scheduler {
    fn start(shared: &Shared) -> Self {
        let (flight, http) = (free_port(), free_port());
        let ports = vec![
            ("--flight-port", flight),
            ("--http-port", http),
            ("--ballista-port", free_port()),
        ];
        let mut scheduler = Self {
            process: None,
            flight,
            http,
            ports,
        };
        scheduler.restart(shared);
        scheduler
    }

    /// Starts it again on the same ports.
    fn restart(&mut self, shared: &Shared) {
        let (process, banner) = shared.spawn(
            "scheduler",
            &self.ports,
            // Every query runs as a Ballista job, whose executors the test takes away.
            &[
                "--warehouse",
                "s3://lake/wh",
                "--no-pg",
                "--single-stage-max-bytes",
                "0",
            ],
        );
        assert!(banner.contains("standby"), "{banner}");
        self.process = Some(process);
    }

    fn leads(&self) -> bool {
        http_get(self.http, "/readyz").0 == 200
    }

    fn kill(&mut self) {
        drop(self.process.take());
    }
}

/// Waits up to `limit` for one of `schedulers` to lead; returns its index.
fn leader(schedulers: &[Scheduler], limit: Duration) -> usize {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(i) = schedulers.iter().position(Scheduler::leads) {
            return i;
        }
        assert!(
            Instant::now() < deadline,
            "no scheduler leads after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An executor process and its HTTP port.
struct Executor {
    process: Process,
    http: u16,
}

impl Executor {
    fn start(shared: &Shared) -> Self {
        let http = free_port();
        let ports = [
            ("--flight-port", free_port()),
            ("--grpc-port", free_port()),
            ("--http-port", http),
        ];
        let (process, banner) = shared.spawn(
            "executor",
            &ports,
            &["--slots", "2", "--drain-timeout", "30"],
        );
        assert!(banner.contains("registered with 127.0.0.1:"), "{banner}");
        Self { process, http }
    }

    fn tasks_done(&self) -> u64 {
        metric(
            &http_get(self.http, "/metrics").1,
            "quarry_executor_tasks_total",
        )
        .unwrap_or(0)
    }

    fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([signal, &self.process.0.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

async fn connect(scheduler: &Scheduler) -> Connection {
    Connection::connect(
        &format!("http://127.0.0.1:{}", scheduler.flight),
        "test",
        "",
    )
    .await
    .unwrap()
}

/// Runs the report through `conn` in the background, then does `during` once it has
/// run for a while, and returns its rows; panics if it ended before `during` ran.
async fn report_while(conn: &Connection, during: impl FnOnce()) -> Vec<String> {
    let conn = conn.clone();
    let running =
        tokio::spawn(async move { query_rows(&conn, &REPORT.replace("{t}", "gold.facts")).await });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !running.is_finished(),
        "the report ended within 1.5 s: make it heavier"
    );
    during();
    running.await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_survives_losing_executors_and_its_leader() {
    let shared = Shared {
        etcd: EtcdServer::start(),
        s3: S3Server::start("lake"),
    };
    let mut schedulers = [Scheduler::start(&shared), Scheduler::start(&shared)];
    let first = leader(&schedulers, Duration::from_secs(15));
    assert!(!schedulers[1 - first].leads(), "two leaders");
    let mut executors: Vec<Executor> = (0..3).map(|_| Executor::start(&shared)).collect();

    let expected = rows(
        &SessionContext::new()
            .sql(&REPORT.replace("{t}", &format!("({TABLE})")))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap(),
    );
    assert_eq!(expected.len(), 97);
    let conn = connect(&schedulers[first]).await;
    query_rows(&conn, &format!("CREATE TABLE gold.facts AS {TABLE}")).await;
    assert!(
        crate::common::files_under(&shared.s3.dir.path().join("lake/wh"))
            .iter()
            .any(|f| f.extension().is_some_and(|e| e == "parquet"))
    );
    // From a new client.
    assert_eq!(
        report_rows(&connect(&schedulers[first]).await).await,
        expected
    );

    // kill -9 an executor mid-query: its work runs again elsewhere.
    let killed = executors.remove(0);
    let answer = report_while(&conn, || drop(killed)).await;
    assert_eq!(answer, expected);

    // A fourth executor joins: the next queries give it tasks.
    let joined = Executor::start(&shared);
    assert_eq!(report_rows(&conn).await, expected);
    assert_eq!(report_rows(&conn).await, expected);
    assert!(joined.tasks_done() > 0, "the new executor ran no task");
    executors.push(joined);

    // SIGTERM an executor mid-query: it drains (finishes its work, then leaves) and the
    // query needs nothing run again.
    let mut drained = executors.remove(0);
    let answer = report_while(&conn, || drained.signal("-TERM")).await;
    assert_eq!(answer, expected);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = drained.process.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the executor did not drain in 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status}");

    // A view made through the leader, read through the standby once it leads.
    query_rows(
        &conn,
        &format!(
            "CREATE VIEW gold.report AS {}",
            REPORT.replace("{t}", "gold.facts")
        ),
    )
    .await;

    // A reflection built through the leader, used by it.
    query_rows(
        &conn,
        "ALTER TABLE gold.facts CREATE AGGREGATE REFLECTION by_k \
         USING DIMENSIONS (k) MEASURES (v (SUM, MAX), id (MAX))",
    )
    .await;
    let rolled = rows(
        &SessionContext::new()
            .sql(&ROLLUP.replace("{t}", &format!("({TABLE})")))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap(),
    );
    assert_eq!(rollup_from_reflection(&conn).await, rolled);

    // kill -9 the leader: the standby leads and answers within 15 s, tables intact.
    schedulers[first].kill();
    let killed_at = Instant::now();
    let second = leader(&schedulers, Duration::from_secs(15));
    assert_eq!(second, 1 - first);
    let conn = connect(&schedulers[second]).await;
    loop {
        match conn.query("SELECT count(*) FROM gold.facts").await {
            Ok(batches) => break assert_eq!(rows(&batches), ["3000000"]),
            Err(e) => {
                assert!(killed_at.elapsed() < Duration::from_secs(15), "{e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    let failover = killed_at.elapsed();
    eprintln!("failover: the standby answered {failover:?} after the leader died");
    assert!(failover < Duration::from_secs(15), "{failover:?}");
    assert_eq!(report_rows(&conn).await, expected);
    // The reflection the old leader built serves the new one, and its view reads.
    assert_eq!(rollup_from_reflection(&conn).await, rolled);
    assert_eq!(
        query_rows(&conn, "SELECT * FROM gold.report ORDER BY k").await,
        expected
    );

    // Restart every scheduler: the same rows from the new leader.
    schedulers[second].kill();
    for scheduler in &mut schedulers {
        scheduler.restart(&shared);
    }
    leader(&schedulers, Duration::from_secs(15));
    // A client given every scheduler reaches the one that leads.
    let urls: Vec<String> = schedulers
        .iter()
        .map(|s| format!("http://127.0.0.1:{}", s.flight))
        .collect();
    let (conn, _) = Connection::connect_first(&urls, "test", "").await.unwrap();
    let started = Instant::now();
    let mut errors = Vec::new();
    let answer = loop {
        match conn.query(&REPORT.replace("{t}", "gold.facts")).await {
            Ok(batches) => break rows(&batches),
            Err(e) => {
                errors.push(format!("after {:?}: {e}", started.elapsed()));
                assert!(started.elapsed() < Duration::from_secs(15), "{errors:#?}");
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(answer, expected);
    drop(executors);
}

/// A roll-up that the reflection `by_k` answers.
const ROLLUP: &str = "SELECT k % 10 AS d, sum(v) AS total, max(id) AS last FROM {t} \
                      GROUP BY 1 ORDER BY 1";

/// The roll-up's rows, after checking that its plan reads the reflection `by_k`.
async fn rollup_from_reflection(conn: &Connection) -> Vec<String> {
    let sql = ROLLUP.replace("{t}", "gold.facts");
    let plan = query_rows(conn, &format!("EXPLAIN {sql}")).await.join("\n");
    assert!(plan.contains("by_k: used"), "{plan}");
    query_rows(conn, &sql).await
}

async fn report_rows(conn: &Connection) -> Vec<String> {
    query_rows(conn, &REPORT.replace("{t}", "gold.facts")).await
}
