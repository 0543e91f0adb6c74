//! The Flight SQL front door as real clients use it: a `quarry serve` process reached by
//! the ADBC driver, by flightsql-dbapi's SQLAlchemy dialect and by Apache Superset
//! itself, from the Python of `QUARRY_CLIENTS_PYTHON` (scripts/test-env.sh installs
//! it), and by arrow-flight's own Flight SQL client for the calls those do not make.

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::UInt32Type;
use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::sql::{
    CommandGetCrossReference, CommandGetExportedKeys, CommandGetImportedKeys,
    CommandGetPrimaryKeys, CommandGetXdbcTypeInfo, SqlInfo,
};
use arrow_flight::{Action, FlightInfo};
use futures::TryStreamExt;
use tonic::transport::Channel;

use crate::common::{ServeProcess, rows};

/// Rows of the gold table the client checks read.
const SALES_ROWS: u64 = 1000;

fn clients_python() -> String {
    std::env::var("QUARRY_CLIENTS_PYTHON").expect(
        "QUARRY_CLIENTS_PYTHON must name a Python with the test clients (ADBC, flightsql-dbapi, Superset, psycopg): \
         run the tests through scripts/test.sh",
    )
}

/// A server holding gold.sales (id 1..SALES_ROWS, region 'r0'..'r2', amount id * 1.5).
async fn server_with_sales() -> ServeProcess {
    let server = ServeProcess::start(2);
    let conn = server.connect().await;
    conn.query(&format!(
        "CREATE TABLE gold.sales AS SELECT value AS id, 'r' || (value % 3) AS region, \
         value * 1.5 AS amount FROM generate_series(1, {SALES_ROWS})"
    ))
    .await
    .unwrap();
    server
}

/// Runs a check script of tests/clients and fails with its output if it fails.
pub fn run_check(script: &str, args: &[String]) {
    crate::common::run_python(&clients_python(), &format!("clients/{script}"), args);
}

/// Runs a check script against a server holding gold.sales, with `--rows` and the
/// server's address (`--url` for ADBC, `--port` for SQLAlchemy).
async fn check_with_sales(script: &str, url: bool) {
    let server = server_with_sales().await;
    let mut args = vec![format!("--rows={SALES_ROWS}")];
    if url {
        args.push(format!("--url=grpc://{}", server.addr()));
        args.push(format!("--server-pid={}", server.child.id()));
    } else {
        args.push(format!("--port={}", server.port));
    }
    run_check(script, &args);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adbc_queries_lists_binds_ingests_and_streams_large_results() {
    check_with_sales("adbc_check.py", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlalchemy_reflects_and_queries_as_superset_does() {
    check_with_sales("sqlalchemy_check.py", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn superset_adds_quarry_lists_its_tables_and_runs_sql_lab() {
    check_with_sales("superset_check.py", false).await;
}

/// arrow-flight's client, logged in to the server.
async fn flight_client(server: &ServeProcess) -> FlightSqlServiceClient<Channel> {
    let channel = Channel::from_shared(format!("http://{}", server.addr()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = FlightSqlServiceClient::new(channel);
    client.handshake("meta", "data").await.unwrap();
    client
}

async fn fetch(client: &mut FlightSqlServiceClient<Channel>, info: FlightInfo) -> Vec<RecordBatch> {
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    client
        .do_get(ticket)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_calls_answer_as_a_database_does() {
    let server = server_with_sales().await;
    let mut client = flight_client(&server).await;

    // SqlInfo: the ids clients index directly are all there.
    let wanted = [
        SqlInfo::FlightSqlServerName,
        SqlInfo::FlightSqlServerVersion,
        SqlInfo::FlightSqlServerArrowVersion,
        SqlInfo::FlightSqlServerReadOnly,
        SqlInfo::SqlIdentifierQuoteChar,
        SqlInfo::SqlSupportedGrammar,
        SqlInfo::SqlTransactionsSupported,
    ];
    let info = client.get_sql_info(wanted.to_vec()).await.unwrap();
    let batches = fetch(&mut client, info).await;
    let ids: Vec<u32> = batches
        .iter()
        .flat_map(|b| b.column(0).as_primitive::<UInt32Type>().values().to_vec())
        .collect();
    assert_eq!(ids, wanted.map(|id| id as u32));

    // Table types, and keys: empty answers, not errors.
    let info = client.get_table_types().await.unwrap();
    let types = rows(&fetch(&mut client, info).await);
    assert_eq!(types, ["LOCAL TEMPORARY", "TABLE", "VIEW"]);
    let table = |t: &str| {
        (
            Some("quarry".to_string()),
            Some("gold".to_string()),
            t.to_string(),
        )
    };
    let (catalog, db_schema, name) = table("sales");
    let keys = [
        client
            .get_primary_keys(CommandGetPrimaryKeys {
                catalog: catalog.clone(),
                db_schema: db_schema.clone(),
                table: name.clone(),
            })
            .await
            .unwrap(),
        client
            .get_exported_keys(CommandGetExportedKeys {
                catalog: catalog.clone(),
                db_schema: db_schema.clone(),
                table: name.clone(),
            })
            .await
            .unwrap(),
        client
            .get_imported_keys(CommandGetImportedKeys {
                catalog: catalog.clone(),
                db_schema: db_schema.clone(),
                table: name.clone(),
            })
            .await
            .unwrap(),
        client
            .get_cross_reference(CommandGetCrossReference {
                pk_catalog: catalog.clone(),
                pk_db_schema: db_schema.clone(),
                pk_table: name.clone(),
                fk_catalog: catalog,
                fk_db_schema: db_schema,
                fk_table: name,
            })
            .await
            .unwrap(),
    ];
    for info in keys {
        let schema = info.clone().try_decode_schema().unwrap();
        let batches = fetch(&mut client, info).await;
        assert!(schema.fields().len() >= 6);
        assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 0);
    }

    // Types.
    let info = client
        .get_xdbc_type_info(CommandGetXdbcTypeInfo { data_type: None })
        .await
        .unwrap();
    let types = fetch(&mut client, info).await;
    let names: Vec<&str> = types[0]
        .column(0)
        .as_string::<i32>()
        .iter()
        .flatten()
        .collect();
    for name in ["BIGINT", "VARCHAR", "DECIMAL", "TIMESTAMP", "BOOLEAN"] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }

    // Updates report the rows they wrote; DDL none.
    assert_eq!(
        client
            .execute_update("CREATE TABLE bronze.log (n BIGINT)".into(), None)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        client
            .execute_update(
                "INSERT INTO bronze.log SELECT value FROM generate_series(1, 25)".into(),
                None
            )
            .await
            .unwrap(),
        25
    );

    // Session options: a bad one is refused by name; closing ends the session.
    let status = client
        .do_action(Action::new("CloseSession", Vec::new()))
        .await
        .unwrap()
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    assert_eq!(status.len(), 1);
    let after = client.execute("SELECT 1".into(), None).await.unwrap_err();
    assert!(after.to_string().contains("log in again"), "{after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_clients_at_once() {
    let server = server_with_sales().await;
    let clients = 16;
    let mut tasks = Vec::new();
    for i in 0..clients {
        let conn = server.connect().await;
        tasks.push(tokio::spawn(async move {
            let sql =
                format!("SELECT count(*), sum(id) FROM gold.sales WHERE id % {clients} = {i}");
            rows(&conn.query(&sql).await.unwrap())
        }));
    }
    let mut total = 0u64;
    for task in tasks {
        let row = task.await.unwrap();
        let (count, _) = row[0].split_once('|').unwrap();
        total += count.parse::<u64>().unwrap();
    }
    assert_eq!(total, SALES_ROWS);
}
