//! The table catalog in a real etcd, shared by two servers (separate processes over one
//! warehouse): what one creates the other sees, concurrent commits through both lose
//! nothing, and a server started afterwards finds everything.

use futures::future::join_all;

use crate::common::{EtcdServer, ServeProcess, rows};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_share_the_etcd_catalog_and_lose_no_commit() {
    let etcd = EtcdServer::start();
    let dir = tempfile::tempdir().unwrap();
    let warehouse = dir.path().join("wh").display().to_string();
    let endpoint = etcd.endpoint();
    let args = ["--warehouse", &warehouse, "--etcd", &endpoint];
    let (a, b) = (
        ServeProcess::start_with(1, &args),
        ServeProcess::start_with(1, &args),
    );
    let (a_conn, b_conn) = (a.connect().await, b.connect().await);
    let run =
        async |conn: &quarry_client::connection::Connection, sql: &str| match conn.query(sql).await
        {
            Ok(batches) => rows(&batches),
            Err(e) => panic!("{sql}: {e}"),
        };

    run(&a_conn, "CREATE SCHEMA lab").await;
    run(&a_conn, "CREATE TABLE lab.events (id BIGINT, via VARCHAR)").await;
    assert_eq!(run(&b_conn, "SELECT count(*) FROM lab.events").await, ["0"]);
    let err = b_conn.query("CREATE SCHEMA lab").await.unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");

    // Eight commits through each server at once.
    let inserts = (0..16).map(|i| {
        let (conn, via) = if i % 2 == 0 {
            (&a_conn, "a")
        } else {
            (&b_conn, "b")
        };
        async move {
            run(
                conn,
                &format!("INSERT INTO lab.events VALUES ({i}, '{via}')"),
            )
            .await
        }
    });
    join_all(inserts).await;
    let report =
        "SELECT via, count(*), count(DISTINCT id) FROM lab.events GROUP BY via ORDER BY via";
    assert_eq!(run(&a_conn, report).await, ["a|8|8", "b|8|8"]);
    assert_eq!(run(&b_conn, report).await, ["a|8|8", "b|8|8"]);

    drop((a_conn, b_conn, a, b));
    let c = ServeProcess::start_with(1, &args);
    let c_conn = c.connect().await;
    assert_eq!(run(&c_conn, report).await, ["a|8|8", "b|8|8"]);
    run(&c_conn, "DROP TABLE lab.events").await;
    run(&c_conn, "DROP SCHEMA lab").await;
    let schemas = run(&c_conn, "SHOW SCHEMAS").await;
    assert!(!schemas.iter().any(|s| s.contains("lab")), "{schemas:?}");
}
