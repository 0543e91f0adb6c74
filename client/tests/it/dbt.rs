//! dbt on Quarry: dbt-core 1.10 with dbt-postgres 1.11, as users install them (no adapter
//! of Quarry's own), builds the example project `examples/dbt` on a `quarry serve`
//! process: seeds, view, table and incremental models (merge, delete+insert, append),
//! generic tests, a snapshot, docs, a full refresh without transactions, and a reflection
//! from the dbt-quarry package. tests/dbt/dbt_check.py drives it and checks the tables
//! against DuckDB's answers over the seed files, from the Python of `QUARRY_DBT_PYTHON`
//! (scripts/test-env.sh installs it).

use crate::common::{ServeProcess, run_python};

#[test]
fn the_dbt_example_project_builds_what_duckdb_computes() {
    let python = std::env::var("QUARRY_DBT_PYTHON").expect(
        "QUARRY_DBT_PYTHON must name a Python with dbt-core and dbt-postgres: run the tests \
         through scripts/test.sh",
    );
    let server = ServeProcess::start(2);
    run_python(
        &python,
        "dbt/dbt_check.py",
        &[format!("--port={}", server.pg_port)],
    );
}
