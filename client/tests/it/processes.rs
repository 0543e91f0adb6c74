//! The engine as separate processes: a `quarry scheduler` and two `quarry executor`s on
//! 127.0.0.1, configured by a TOML file, `QUARRY_*` variables and flags. Their answers
//! equal single-node DataFusion's.

use std::process::Command;

use datafusion::prelude::SessionContext;
use quarry_client::connection::Connection;

use crate::common::{free_port, http_get, metric, rows, spawn};

const TABLE: &str = "SELECT value AS id, value % 97 AS k, (value * 7919) % 10007 AS v \
                     FROM generate_series(1, 200000)";
const REPORT: &str = "SELECT k, count(*) AS n, sum(v) AS total, max(id) AS last \
                      FROM {t} GROUP BY k ORDER BY k";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduler_and_executors_as_processes_answer_as_datafusion_does() {
    let dir = tempfile::tempdir().unwrap();
    let (flight, ballista, http) = (free_port(), free_port(), free_port());
    let config = dir.path().join("quarry.toml");
    std::fs::write(
        &config,
        format!(
            "warehouse = \"{}\"\n\n[scheduler]\nflight_port = {flight}\nballista_port = {ballista}\n\
             http_port = {http}\nsingle_stage_max_bytes = \"0\"\n\
             \n[executor]\nschedulers = [\"127.0.0.1:{ballista}\"]\nslots = 2\n",
            dir.path().join("wh").display()
        ),
    )
    .unwrap();
    let config = config.to_string_lossy().into_owned();
    let (_scheduler, banner) = spawn(&["scheduler", "--config", &config, "--no-pg"], &[]);
    assert!(
        banner.contains(&format!("Flight SQL on 127.0.0.1:{flight}")),
        "{banner}"
    );
    let url = format!("http://127.0.0.1:{flight}");
    let partitions = "SHOW datafusion.execution.target_partitions";
    let mut executors = Vec::new();
    let mut conn = None;
    for _ in 0..2 {
        let (flight_port, grpc_port) = (free_port().to_string(), free_port().to_string());
        let http_port = free_port().to_string();
        let (executor, banner) = spawn(
            &[
                "executor",
                "--config",
                &config,
                "--flight-port",
                &flight_port,
                "--http-port",
                &http_port,
            ],
            &[("QUARRY_EXECUTOR_GRPC_PORT", &grpc_port)],
        );
        assert!(
            banner.contains(&format!("registered with 127.0.0.1:{ballista}")),
            "{banner}"
        );
        executors.push(executor);
        // A session opened with one executor (2 slots) widens when the second joins.
        let conn = match &conn {
            Some(conn) => conn,
            None => conn.insert(Connection::connect(&url, "test", "").await.unwrap()),
        };
        let shown = rows(&conn.query(partitions).await.unwrap());
        let slots = 2 * executors.len();
        assert_eq!(
            shown,
            [format!("datafusion.execution.target_partitions|{slots}")]
        );
    }
    let conn = conn.unwrap();
    let created = conn
        .query(&format!("CREATE TABLE gold.facts AS {TABLE}"))
        .await
        .unwrap();
    assert_eq!(rows(&created), ["200000"]);
    let distributed = conn
        .query(&REPORT.replace("{t}", "gold.facts"))
        .await
        .unwrap();
    let local = SessionContext::new()
        .sql(&REPORT.replace("{t}", &format!("({TABLE})")))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(rows(&distributed).len(), 97);
    assert_eq!(rows(&distributed), rows(&local));

    let rejected = conn.query("SELECT no_such_column FROM gold.facts").await;
    assert!(rejected.is_err());

    // The HTTP port: probes, and metrics that count what just ran.
    assert_eq!(http_get(http, "/healthz").0, 200);
    assert_eq!(http_get(http, "/readyz").0, 200);
    // Finished jobs are counted just after their results are sent.
    let mut metrics = http_get(http, "/metrics").1;
    for _ in 0..50 {
        if !metrics.contains("quarry_bytes_scanned_total 0") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        metrics = http_get(http, "/metrics").1;
    }
    let value =
        |name: &str| metric(&metrics, name).unwrap_or_else(|| panic!("no {name} in\n{metrics}"));
    assert_eq!(value("quarry_executors"), 2);
    assert_eq!(value("quarry_task_slots"), 4);
    assert!(value("quarry_queries_total{outcome=\"succeeded\"}") >= 2);
    assert!(value("quarry_queries_total{outcome=\"rejected\"}") >= 1);
    assert!(value("quarry_tasks_total") >= 2);
    assert!(value("quarry_bytes_scanned_total") > 0);
}

#[test]
fn bad_configuration_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("quarry.toml");
    std::fs::write(&config, "[scheduler]\nflight_prot = 1\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_quarry"))
        .args(["scheduler", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("flight_prot"), "{stderr}");

    let output = Command::new(env!("CARGO_BIN_EXE_quarry"))
        .args([
            "executor",
            "--bind",
            "0.0.0.0",
            "--scheduler",
            "127.0.0.1:1",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--advertise-host"), "{stderr}");
}
