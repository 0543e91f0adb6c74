//! End-to-end tests of `quarry-bench`: real engine processes on 127.0.0.1.

mod dashboard;
mod merge;
mod optimize;
mod run;
mod tpcds;
mod tpch;

/// Runs `quarry-bench <kind>` over 100,000 rows with one iteration, which must succeed,
/// and returns what it printed.
fn smoke_run(kind: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_quarry-bench"))
        .args([kind, "--rows", "100000", "--iterations", "1"])
        .arg("--dir")
        .arg(dir.path())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(
        run.status.success(),
        "quarry-bench {kind} failed: {}\n{out}\n{}",
        run.status,
        String::from_utf8_lossy(&run.stderr)
    );
    out
}
