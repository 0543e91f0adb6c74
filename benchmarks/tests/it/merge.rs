//! The merge smoke run: `quarry-bench merge` over 100,000 rows must leave both copies of
//! the table equal after each MERGE and INSERT OVERWRITE (the run fails otherwise) and
//! report their times.

use crate::smoke_run;

#[test]
fn merge_smoke_run_changes_both_copies_alike() {
    let out = smoke_run("merge");
    // 1% of the rows: the last three days' (819) and 181 new ones.
    assert!(out.contains("MERGE changed [\"1000\"] rows"), "{out}");
    assert!(out.contains("ratio MERGE / INSERT OVERWRITE"), "{out}");
}
