//! The merge smoke run: `quarry-bench merge` over 100,000 rows must leave both copies of
//! the table equal after each MERGE and INSERT OVERWRITE (the run fails otherwise) and
//! report their times.

use std::process::Command;

#[test]
fn merge_smoke_run_changes_both_copies_alike() {
    let dir = tempfile::tempdir().unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_quarry-bench"))
        .args(["merge", "--rows", "100000", "--iterations", "1"])
        .arg("--dir")
        .arg(dir.path())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "quarry-bench merge failed: {}\n{out}\n{}",
        run.status,
        String::from_utf8_lossy(&run.stderr)
    );
    // 1% of the rows: the last three days' (819) and 181 new ones.
    assert!(out.contains("MERGE changed [\"1000\"] rows"), "{out}");
    assert!(out.contains("ratio MERGE / INSERT OVERWRITE"), "{out}");
}
