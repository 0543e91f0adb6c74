//! The table catalog in a real etcd, shared by two servers (separate processes over one
//! warehouse): what one creates the other sees, concurrent commits through both lose
//! nothing, and a server started afterwards finds everything.

use futures::future::join_all;

use crate::common::{EtcdServer, ServeProcess, query_rows};

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

    query_rows(&a_conn, "CREATE SCHEMA lab").await;
    query_rows(&a_conn, "CREATE TABLE lab.events (id BIGINT, via VARCHAR)").await;
    assert_eq!(
        query_rows(&b_conn, "SELECT count(*) FROM lab.events").await,
        ["0"]
    );
    let err = b_conn.query("CREATE SCHEMA lab").await.unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    // A view made through one server is read through the other at once.
    query_rows(
        &a_conn,
        "CREATE VIEW lab.by_via AS SELECT via, count(*) AS n, count(DISTINCT id) AS ids \
         FROM lab.events GROUP BY via",
    )
    .await;
    assert_eq!(
        query_rows(&b_conn, "SELECT count(*) FROM lab.by_via").await,
        ["0"]
    );
    let err = b_conn
        .query("CREATE TABLE lab.by_via (a INT)")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("is a view"), "{err}");

    // Eight commits through each server at once.
    let inserts = (0..16).map(|i| {
        let (conn, via) = if i % 2 == 0 {
            (&a_conn, "a")
        } else {
            (&b_conn, "b")
        };
        async move {
            query_rows(
                conn,
                &format!("INSERT INTO lab.events VALUES ({i}, '{via}')"),
            )
            .await
        }
    });
    join_all(inserts).await;
    let report =
        "SELECT via, count(*), count(DISTINCT id) FROM lab.events GROUP BY via ORDER BY via";
    assert_eq!(query_rows(&a_conn, report).await, ["a|8|8", "b|8|8"]);
    assert_eq!(query_rows(&b_conn, report).await, ["a|8|8", "b|8|8"]);
    // A column added and a table renamed through one server, seen through the other.
    query_rows(&a_conn, "ALTER TABLE lab.events ADD COLUMN note VARCHAR").await;
    query_rows(&a_conn, "CREATE TABLE lab.scratch (a INT)").await;
    query_rows(&a_conn, "ALTER TABLE lab.scratch RENAME TO kept").await;
    query_rows(&b_conn, "INSERT INTO lab.events VALUES (16, 'b', 'late')").await;
    assert_eq!(
        query_rows(&b_conn, "SELECT count(note) FROM lab.events").await,
        ["1"]
    );
    assert_eq!(
        query_rows(&b_conn, "SELECT count(*) FROM lab.kept").await,
        ["0"]
    );
    let err = b_conn
        .query("ALTER TABLE lab.kept RENAME TO by_via")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("is a view"), "{err}");
    query_rows(&b_conn, "DELETE FROM lab.events WHERE id = 16").await;
    query_rows(&b_conn, "DROP TABLE lab.kept").await;

    drop((a_conn, b_conn, a, b));
    let c = ServeProcess::start_with(1, &args);
    let c_conn = c.connect().await;
    assert_eq!(query_rows(&c_conn, report).await, ["a|8|8", "b|8|8"]);
    let through_view = "SELECT * FROM lab.by_via ORDER BY via";
    assert_eq!(query_rows(&c_conn, through_view).await, ["a|8|8", "b|8|8"]);
    let err = c_conn.query("DROP SCHEMA lab").await.unwrap_err();
    assert!(err.to_string().contains("tables and views"), "{err}");
    query_rows(&c_conn, "ALTER VIEW lab.by_via RENAME TO counts").await;
    query_rows(&c_conn, "DROP VIEW lab.counts").await;
    query_rows(&c_conn, "DROP TABLE lab.events").await;
    query_rows(&c_conn, "DROP SCHEMA lab").await;
    let schemas = query_rows(&c_conn, "SHOW SCHEMAS").await;
    assert!(!schemas.iter().any(|s| s.contains("lab")), "{schemas:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_etcd_catalog_keeps_the_iceberg_catalog_contract() {
    use std::collections::HashMap;
    use std::sync::Arc;

    use datafusion::execution::object_store::DefaultObjectStoreRegistry;
    use iceberg::spec::{NestedField, PrimitiveType, Schema, Type};
    use iceberg::{Catalog, ErrorKind, NamespaceIdent, TableCreation, TableIdent};
    use quarry_catalog::Warehouse;
    use quarry_catalog::etcd::EtcdCatalog;
    use quarry_catalog::store::Backend;

    let etcd = EtcdServer::start();
    let dir = tempfile::tempdir().unwrap();
    let warehouse = Warehouse::open(dir.path().join("wh").to_string_lossy()).unwrap();
    let file_io = quarry_catalog::storage::file_io(Arc::new(DefaultObjectStoreRegistry::new()));
    let catalog = EtcdCatalog::connect(&[etcd.endpoint()], "t", warehouse.uri(), file_io)
        .await
        .unwrap();

    let lab = NamespaceIdent::new("lab".into());
    let owner = HashMap::from([("owner".to_string(), "ann".to_string())]);
    catalog.create_namespace(&lab, owner.clone()).await.unwrap();
    let again = catalog.create_namespace(&lab, owner).await.unwrap_err();
    assert_eq!(again.kind(), ErrorKind::NamespaceAlreadyExists);
    let properties = catalog.get_namespace(&lab).await.unwrap();
    assert_eq!(properties.properties()["owner"], "ann");

    let schema = Schema::builder()
        .with_fields(vec![
            NestedField::required(1, "id", Type::Primitive(PrimitiveType::Long)).into(),
        ])
        .build()
        .unwrap();
    let creation = || {
        TableCreation::builder()
            .name("t".into())
            .schema(schema.clone())
            .build()
    };
    let table = catalog.create_table(&lab, creation()).await.unwrap();
    let twice = catalog.create_table(&lab, creation()).await.unwrap_err();
    assert_eq!(twice.kind(), ErrorKind::TableAlreadyExists);

    // A swap from a pointer that moved on is a retryable conflict.
    let ident = table.identifier().clone();
    let first = table.metadata_location().unwrap().to_string();
    Backend::swap(&catalog, &ident, &first, "moved")
        .await
        .unwrap();
    let lost = Backend::swap(&catalog, &ident, &first, "other")
        .await
        .unwrap_err();
    assert_eq!(lost.kind(), ErrorKind::CatalogCommitConflicts);
    assert!(lost.retryable());
    Backend::swap(&catalog, &ident, "moved", &first)
        .await
        .unwrap();

    let busy = catalog.drop_namespace(&lab).await.unwrap_err();
    assert!(busy.to_string().contains("not empty"), "{busy}");
    let renamed = TableIdent::new(lab.clone(), "t2".into());
    catalog.rename_table(&ident, &renamed).await.unwrap();
    assert_eq!(
        catalog.list_tables(&lab).await.unwrap(),
        vec![renamed.clone()]
    );
    assert_eq!(
        catalog
            .load_table(&renamed)
            .await
            .unwrap()
            .metadata_location(),
        Some(first.as_str())
    );
    catalog.drop_table(&renamed).await.unwrap();
    assert_eq!(
        catalog.load_table(&renamed).await.unwrap_err().kind(),
        ErrorKind::TableNotFound
    );
    catalog.drop_namespace(&lab).await.unwrap();
    assert!(!catalog.namespace_exists(&lab).await.unwrap());

    drop(etcd);
    let down = EtcdCatalog::connect(
        &[format!("http://127.0.0.1:{}", crate::common::free_port())],
        "t",
        warehouse.uri(),
        quarry_catalog::storage::file_io(Arc::new(DefaultObjectStoreRegistry::new())),
    )
    .await
    .unwrap_err();
    assert!(down.to_string().contains("does not answer"), "{down}");
}
