//! Cancellation through Flight SQL stops the Ballista job and its running tasks, and so
//! does a client that drops the result stream: the slots come back and the next query
//! runs.

use std::time::{Duration, Instant};

use ballista_core::serde::protobuf::job_status;
use futures::TryStreamExt;
use quarry_client::connection::{ClientError, Prepared};
use quarry_scheduler::service::QueryState;
use tokio::task::JoinHandle;

use crate::common::TestCluster;

/// A query that would run for hours: a filtered nested-loop join of the demo's 200k
/// sales with themselves, the build side arriving through a shuffle and the probe side
/// read from local CSV files. Its input is always ready, so without Quarry's yield points
/// its tasks would not notice the abort for many minutes.
const ENDLESS: &str = "SELECT count(*) FROM 'landing/transactions/*.csv' a \
                       CROSS JOIN 'landing/transactions/*.csv' b WHERE a.unit_price + b.unit_price < 2";

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

/// Starts the endless query and waits until it has run on the executors for a while.
async fn start_endless(t: &TestCluster) -> (Prepared, String, JoinHandle<Result<(), ClientError>>) {
    quarry_client::demo::write(&t.warehouse().join("landing"), 200_000, 1).unwrap();
    // Small batches: a task can stop only between batches, and one batch of this join
    // is batch_size x 200k comparisons. The setting travels with the session's tasks.
    t.rows("SET datafusion.execution.batch_size = 512").await;
    let prepared = t.conn.prepare(ENDLESS).await.unwrap();
    let (conn, handle) = (t.conn.clone(), prepared.clone());
    let fetch = tokio::spawn(async move {
        let (_, stream) = conn.fetch(&handle).await?;
        stream.try_collect::<Vec<_>>().await?;
        Ok(())
    });
    wait_until(
        "the query runs on the executors",
        Duration::from_secs(60),
        async || {
            let progress = t.conn.progress(&prepared).await.unwrap();
            let running: usize = t.cluster.executors.iter().map(|e| e.active_tasks()).sum();
            progress.state == QueryState::Running && running > 0
        },
    )
    .await;
    // Let the task get deep into the join.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let query = t.cluster.scheduler.service.query(&prepared.handle).unwrap();
    (prepared, query.job_id().unwrap(), fetch)
}

async fn wait_for_failed_job(t: &TestCluster, job_id: &str) {
    wait_until("the job is failed", Duration::from_secs(15), async || {
        let status = t
            .cluster
            .scheduler
            .ballista
            .server
            .state
            .task_manager
            .get_job_status(job_id)
            .await
            .unwrap();
        matches!(
            status.and_then(|s| s.status),
            Some(job_status::Status::Failed(_))
        )
    })
    .await;
}

/// Every slot was busy with the join; the next query gets one only once the
/// cancelled tasks have really stopped.
async fn assert_slots_come_back(t: &TestCluster) {
    let started = Instant::now();
    let next = tokio::time::timeout(
        Duration::from_secs(60),
        t.rows("SELECT count(*) FROM 'landing/returns.parquet'"),
    );
    assert_eq!(
        next.await
            .expect("the next query runs: the cancelled tasks stopped"),
        vec!["4000"]
    );
    eprintln!(
        "next query after cancelling finished in {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancel_flight_info_stops_the_job_and_its_tasks() {
    let t = TestCluster::start(2, 1).await;
    let (prepared, job_id, fetch) = start_endless(&t).await;

    t.conn.cancel(&prepared).await.unwrap();
    let result = tokio::time::timeout(Duration::from_secs(30), fetch)
        .await
        .expect("the fetch ends")
        .unwrap();
    let err = result.expect_err("a cancelled query returns an error");
    assert!(err.to_string().contains("query cancelled"), "{err}");
    wait_for_failed_job(&t, &job_id).await;
    assert_slots_come_back(&t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_that_goes_away_cancels_its_job() {
    let t = TestCluster::start(2, 1).await;
    let (_prepared, job_id, fetch) = start_endless(&t).await;

    fetch.abort();
    wait_for_failed_job(&t, &job_id).await;
    assert_slots_come_back(&t).await;
}
