//! The dashboard smoke run: `quarry-bench dashboard` over 100,000 rows must use a
//! reflection for each of its ten queries with the answers of the table (the run fails
//! otherwise), agree with DuckDB, and refresh incrementally after its append. Needs the
//! Python environment of scripts/test-env.sh (DuckDB).

use std::process::Command;

#[test]
fn dashboard_smoke_run_answers_from_reflections_as_duckdb_does() {
    let python = std::env::var("QUARRY_PYTHON").expect(
        "QUARRY_PYTHON must name a Python with duckdb: run the tests through scripts/test.sh",
    );
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("dashboard.md");
    let run = Command::new(env!("CARGO_BIN_EXE_quarry-bench"))
        .args(["dashboard", "--rows", "100000", "--iterations", "1"])
        .arg("--dir")
        .arg(dir.path().join("data"))
        .arg("--out")
        .arg(&report)
        .arg("--python")
        .arg(python)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "quarry-bench dashboard failed: {}\n{}",
        run.status,
        String::from_utf8_lossy(&run.stderr)
    );
    let report = std::fs::read_to_string(report).unwrap();
    let rows = report.lines().filter(|l| l.ends_with("× |")).count();
    assert_eq!(rows, 10, "{report}");
    assert!(!report.contains("differs"), "{report}");
    assert!(report.contains("(INCREMENTAL)"), "{report}");
}
