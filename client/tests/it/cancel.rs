//! Cancellation through Flight SQL stops the Ballista job and its running tasks, and so
//! does a client that drops the result stream.

use std::time::{Duration, Instant};

use ballista_core::serde::protobuf::job_status;
use futures::TryStreamExt;
use quarry_client::connection::Prepared;

use crate::common::{TestCluster, write_test_data};

/// A query that would run for hours: a filtered cross join of 200k x 200k rows.
const ENDLESS: &str =
    "SELECT count(*) FROM 'data/facts/' a CROSS JOIN 'data/facts/' b WHERE a.v + b.v = 7";

async fn wait_until(what: &str, limit: Duration, mut done: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !done().await {
        assert!(
            started.elapsed() < limit,
            "timed out after {limit:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn active_tasks(t: &TestCluster) -> usize {
    t.cluster.executors.iter().map(|e| e.active_tasks()).sum()
}

async fn job_failed(t: &TestCluster, prepared: &Prepared) -> bool {
    let query = t.cluster.scheduler.service.query(&prepared.handle).unwrap();
    let Some(job_id) = query.job_id() else {
        return false;
    };
    let status = t
        .cluster
        .scheduler
        .ballista
        .server
        .state
        .task_manager
        .get_job_status(&job_id)
        .await
        .unwrap();
    matches!(
        status.and_then(|s| s.status),
        Some(job_status::Status::Failed(_))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancel_flight_info_stops_the_job_and_its_tasks() {
    let t = TestCluster::start(2, 1).await;
    write_test_data(&t.warehouse(), 200_000, 10).await;

    let prepared = t.conn.prepare(ENDLESS).await.unwrap();
    let conn = t.conn.clone();
    let fetch_prepared = prepared.clone();
    let fetch = tokio::spawn(async move {
        let stream = conn.fetch(&fetch_prepared).await?;
        stream
            .try_collect::<Vec<_>>()
            .await
            .map_err(quarry_client::connection::ClientError::from)
    });
    wait_until(
        "tasks run on the executors",
        Duration::from_secs(60),
        async || active_tasks(&t) > 0,
    )
    .await;
    let progress = t.conn.progress(&prepared).await.unwrap();
    assert_eq!(
        progress.state,
        quarry_scheduler::service::QueryState::Running
    );
    assert!(
        progress
            .job
            .as_ref()
            .is_some_and(|j| j.stages_total >= 1 && j.tasks_total >= 1),
        "{progress:?}"
    );

    t.conn.cancel(&prepared).await.unwrap();
    let result = tokio::time::timeout(Duration::from_secs(30), fetch)
        .await
        .expect("the fetch ends")
        .unwrap();
    let err = result.expect_err("a cancelled query returns an error");
    assert!(err.to_string().contains("query cancelled"), "{err}");
    wait_until("the job is failed", Duration::from_secs(15), async || {
        job_failed(&t, &prepared).await
    })
    .await;
    wait_until(
        "the executors are idle",
        Duration::from_secs(30),
        async || active_tasks(&t) == 0,
    )
    .await;

    // The cluster still answers.
    assert_eq!(
        t.rows("SELECT count(*) FROM 'data/facts/'").await,
        vec!["200000"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_that_goes_away_cancels_its_job() {
    let t = TestCluster::start(2, 1).await;
    write_test_data(&t.warehouse(), 200_000, 10).await;

    let prepared = t.conn.prepare(ENDLESS).await.unwrap();
    let conn = t.conn.clone();
    let fetch_prepared = prepared.clone();
    let fetch = tokio::spawn(async move {
        let stream = conn.fetch(&fetch_prepared).await.unwrap();
        let _ = stream.try_collect::<Vec<_>>().await;
    });
    wait_until(
        "tasks run on the executors",
        Duration::from_secs(60),
        async || active_tasks(&t) > 0,
    )
    .await;
    fetch.abort();
    wait_until("the job is failed", Duration::from_secs(15), async || {
        job_failed(&t, &prepared).await
    })
    .await;
    wait_until(
        "the executors are idle",
        Duration::from_secs(30),
        async || active_tasks(&t) == 0,
    )
    .await;
}
