//! The optimize smoke run: `quarry-bench optimize` over 100,000 rows must compact the
//! table's small files without changing any answer (the run fails otherwise) and report
//! the query times before and after.

use crate::smoke_run;

#[test]
fn optimize_smoke_run_compacts_without_changing_answers() {
    let out = smoke_run("optimize");
    // A file per day after compaction: the source covers 366 days.
    assert!(out.contains("[\"366\"] after"), "{out}");
    assert!(out.contains("ratio after / before OPTIMIZE"), "{out}");
}
