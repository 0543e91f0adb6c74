//! Schema and partition evolution end to end: each `ALTER TABLE`, then reads of the files
//! written before and after it, by Quarry, pyiceberg and DuckDB; renames of tables;
//! table properties; pruning under two partition specs.

use std::path::Path;

use crate::common::{TestCluster, files_under, other_engines_read_as_quarry};

/// The properties in the newest metadata file of the table at `dir`'s only `prefix*`.
fn properties(warehouse: &Path, schema: &str, prefix: &str) -> serde_json::Value {
    let mut metadata: Vec<_> = files_under(&warehouse.join(schema))
        .into_iter()
        .filter(|f| {
            let path = f.to_string_lossy();
            path.contains(&format!("/{prefix}-")) && path.ends_with(".metadata.json")
        })
        .collect();
    metadata.sort();
    let newest = metadata.last().expect("a metadata file");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(newest).unwrap()).unwrap();
    json["properties"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn columns_evolve_and_files_of_every_schema_read_by_field_id() {
    let t = TestCluster::start(2, 2).await;
    t.rows("CREATE TABLE silver.ev (id INT, name VARCHAR, price FLOAT, qty INT)")
        .await;
    t.rows("INSERT INTO silver.ev VALUES (1, 'a', 1.5, 10), (2, 'b', 2.5, 20)")
        .await;

    // An added column reads NULL in files written before it.
    t.rows("ALTER TABLE silver.ev ADD COLUMN note VARCHAR")
        .await;
    t.rows("INSERT INTO silver.ev VALUES (3, 'c', 3.5, 30, 'new')")
        .await;
    assert_eq!(
        t.rows("SELECT id, note FROM silver.ev ORDER BY id").await,
        ["1|NULL", "2|NULL", "3|new"]
    );

    // A renamed column keeps its data; widened columns read the old files cast.
    t.rows("ALTER TABLE silver.ev RENAME COLUMN name TO label")
        .await;
    t.rows("ALTER TABLE silver.ev ALTER COLUMN id TYPE BIGINT")
        .await;
    t.rows("ALTER TABLE silver.ev ALTER COLUMN price SET DATA TYPE DOUBLE")
        .await;
    // Dropped, then added again under its old name: a new column, NULL in old files.
    t.rows("ALTER TABLE silver.ev DROP COLUMN qty").await;
    t.rows("ALTER TABLE silver.ev ADD COLUMN IF NOT EXISTS qty BIGINT")
        .await;
    t.rows("INSERT INTO silver.ev VALUES (4, 'd', 4.25, 'x', 40)")
        .await;
    assert_eq!(
        t.rows("SELECT * FROM silver.ev ORDER BY id").await,
        [
            "1|a|1.5|NULL|NULL",
            "2|b|2.5|NULL|NULL",
            "3|c|3.5|new|NULL",
            "4|d|4.25|x|40",
        ]
    );
    let types = t
        .rows(
            "SELECT column_name, data_type FROM information_schema.columns \
             WHERE table_schema = 'silver' AND table_name = 'ev' ORDER BY ordinal_position",
        )
        .await;
    assert_eq!(
        types,
        [
            "id|Int64",
            "label|Utf8",
            "price|Float64",
            "note|Utf8",
            "qty|Int64"
        ]
    );
    // Filters on renamed, widened and added columns, over files of every schema.
    assert_eq!(
        t.rows("SELECT id FROM silver.ev WHERE id > 1 AND id < 4 ORDER BY id")
            .await,
        ["2", "3"]
    );
    assert_eq!(
        t.rows("SELECT id FROM silver.ev WHERE label = 'a'").await,
        ["1"]
    );
    assert_eq!(
        t.rows("SELECT count(*) FROM silver.ev WHERE note IS NULL")
            .await,
        ["2"]
    );
    assert_eq!(
        t.rows("SELECT id FROM silver.ev WHERE price >= 2.5 ORDER BY id")
            .await,
        ["2", "3", "4"]
    );
    // Time travel reads a snapshot with the schema it had.
    let first = t
        .rows("SELECT snapshot_id FROM silver.\"ev$snapshots\" ORDER BY committed_at LIMIT 1")
        .await;
    assert_eq!(
        t.rows(&format!(
            "SELECT * FROM silver.ev FOR VERSION AS OF {} ORDER BY id",
            first[0]
        ))
        .await,
        ["1|a|1.5|10", "2|b|2.5|20"]
    );
    // Row-level changes and MERGE work on the evolved table.
    t.rows("UPDATE silver.ev SET qty = 0 WHERE label = 'a'")
        .await;
    assert_eq!(
        t.rows("SELECT qty FROM silver.ev WHERE id = 1").await,
        ["0"]
    );
    other_engines_read_as_quarry(&t, "silver.ev", "*").await;

    // What cannot be done says why, and changes nothing.
    let errors = [
        (
            "ALTER TABLE silver.ev ALTER COLUMN label TYPE INT",
            "from string to int",
        ),
        (
            "ALTER TABLE silver.ev ALTER COLUMN id TYPE INT",
            "from long to int",
        ),
        (
            "ALTER TABLE silver.ev DROP COLUMN nope",
            "column 'nope' does not exist",
        ),
        (
            "ALTER TABLE silver.ev ADD COLUMN id INT",
            "column 'id' already exists",
        ),
        (
            "ALTER TABLE silver.ev ADD COLUMN must INT NOT NULL",
            "cannot be added as NOT NULL",
        ),
        (
            "ALTER TABLE silver.ev RENAME COLUMN label TO note",
            "column 'note' already exists",
        ),
        (
            "ALTER TABLE silver.nope ADD COLUMN c INT",
            "table 'silver.nope' not found",
        ),
        (
            "ALTER TABLE silver.ev SET TBLPROPERTIES ('current-snapshot-id' = '1')",
            "kept by Iceberg",
        ),
        (
            "ALTER TABLE silver.ev UNSET TBLPROPERTIES ('never.set')",
            "no property 'never.set'",
        ),
    ];
    let before = t.rows("SELECT * FROM silver.ev ORDER BY id").await;
    for (sql, expected) in errors {
        let error = t.error(sql).await;
        assert!(error.contains(expected), "{sql}: {error}");
    }
    assert_eq!(t.rows("SELECT * FROM silver.ev ORDER BY id").await, before);
    t.rows("ALTER TABLE IF EXISTS silver.nope ADD COLUMN c INT")
        .await;

    // Table properties.
    t.rows(
        "ALTER TABLE silver.ev SET TBLPROPERTIES ('owner' = 'data-team', \
         'history.expire.min-snapshots-to-keep' = 5)",
    )
    .await;
    let set = properties(&t.warehouse(), "silver", "ev");
    assert_eq!(set["owner"], "data-team", "{set}");
    assert_eq!(set["history.expire.min-snapshots-to-keep"], "5", "{set}");
    t.rows("ALTER TABLE silver.ev UNSET TBLPROPERTIES IF EXISTS ('owner', 'gone')")
        .await;
    let unset = properties(&t.warehouse(), "silver", "ev");
    assert!(unset.get("owner").is_none(), "{unset}");

    // Renaming the table, within its schema and into another.
    t.rows("ALTER TABLE silver.ev RENAME TO events").await;
    t.rows("ALTER TABLE silver.events RENAME TO gold.events")
        .await;
    assert_eq!(t.rows("SELECT count(*) FROM gold.events").await, ["4"]);
    let gone = t.error("SELECT * FROM silver.ev").await;
    assert!(gone.contains("silver.ev"), "{gone}");
    t.rows("CREATE TABLE gold.taken (a INT)").await;
    let taken = t
        .error("ALTER TABLE gold.events RENAME TO gold.taken")
        .await;
    assert!(taken.contains("already exists"), "{taken}");
    t.rows("INSERT INTO gold.events VALUES (5, 'e', 5.0, NULL, 50)")
        .await;
    other_engines_read_as_quarry(&t, "gold.events", "*").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn partition_evolution_writes_under_the_new_spec_and_prunes_under_both() {
    let t = TestCluster::start(2, 2).await;
    t.rows(
        "CREATE TABLE silver.pe PARTITION BY (month(ts)) AS \
         SELECT id, to_timestamp_seconds(1767225600 + id * 86400) AS ts \
         FROM generate_series(0, 89) AS s(id)",
    )
    .await;
    t.rows("ALTER TABLE silver.pe ADD PARTITION FIELD bucket(4, id) AS shard")
        .await;
    let redundant = t
        .error("ALTER TABLE silver.pe ADD PARTITION FIELD day(ts)")
        .await;
    assert!(
        redundant.contains("DROP PARTITION FIELD ts_month first"),
        "{redundant}"
    );
    t.rows("ALTER TABLE silver.pe DROP PARTITION FIELD month(ts)")
        .await;
    t.rows("ALTER TABLE silver.pe ADD PARTITION FIELD day(ts)")
        .await;
    t.rows(
        "INSERT INTO silver.pe SELECT id, to_timestamp_seconds(1767225600 + id * 86400) \
         FROM generate_series(90, 99) AS s(id)",
    )
    .await;
    let missing = t
        .error("ALTER TABLE silver.pe DROP PARTITION FIELD ts_month")
        .await;
    assert!(
        missing.contains("its partition fields are shard, ts_day"),
        "{missing}"
    );
    let source = t.error("ALTER TABLE silver.pe DROP COLUMN ts").await;
    assert!(source.contains("partitioned by it"), "{source}");

    // Files of both specs, each with its own partition tuple: the months of the first
    // spec, then (shard, day) of the fourth (the second and third wrote nothing).
    let files = "silver.\"pe$files\"";
    let specs = t
        .rows(&format!("SELECT DISTINCT spec_id FROM {files} ORDER BY 1"))
        .await;
    assert_eq!(specs, ["0", "3"]);
    let tuples = t
        .rows(&format!(
            "SELECT spec_id, count(DISTINCT partition.ts_month), count(DISTINCT partition.ts_day), \
             count(DISTINCT partition.shard) FROM {files} GROUP BY 1 ORDER BY 1"
        ))
        .await;
    assert_eq!(tuples, ["0|3|0|0", "3|0|10|4"]);

    // Pruning by month under the old spec and by day under the new.
    let total: usize = t.rows(&format!("SELECT count(*) FROM {files}")).await[0]
        .parse()
        .unwrap();
    for (filter, files_with, count) in [
        (
            "ts >= TIMESTAMP '2026-02-01' AND ts < TIMESTAMP '2026-03-01'",
            "partition.ts_month = 673",
            28,
        ),
        (
            "ts = TIMESTAMP '2026-04-05 00:00:00'",
            "partition.ts_day = DATE '2026-04-05'",
            1,
        ),
        (
            "ts >= TIMESTAMP '2026-03-25'",
            "partition.ts_month = 674 OR partition.ts_day IS NOT NULL",
            17,
        ),
    ] {
        let sql = format!("SELECT count(*) FROM silver.pe WHERE {filter}");
        assert_eq!(t.rows(&sql).await, [count.to_string()], "{filter}");
        let planned: usize = t
            .rows(&format!("SELECT count(*) FROM {files} WHERE {files_with}"))
            .await[0]
            .parse()
            .unwrap();
        assert!(
            planned > 0 && planned < total,
            "{files_with}: {planned} of {total}"
        );
        let analyzed = t.rows(&format!("EXPLAIN ANALYZE {sql}")).await.join("\n");
        assert!(
            analyzed.contains(&format!("data_files_planned={planned}"))
                && analyzed.contains(&format!("data_files_pruned={}", total - planned)),
            "{filter}: {analyzed}"
        );
    }
    other_engines_read_as_quarry(&t, "silver.pe", "*").await;
}
