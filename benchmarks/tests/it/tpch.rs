//! The TPC-H smoke run: `quarry-bench tpch` at scale factor 0.01 on all four engines
//! (Quarry, DataFusion, Ballista, DuckDB), with a concurrency run and a scaling run,
//! must answer all 22 queries on every engine with agreeing answers and write a full
//! report. Needs the Python environment of scripts/test-env.sh (DuckDB, tpchgen-cli).

use crate::run::{all_answered, bench};

#[test]
fn tpch_smoke_run_agrees_on_every_engine_and_writes_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let run = bench(
        dir.path(),
        &[
            "tpch",
            "--sf",
            "0.01",
            "--iterations",
            "1",
            "--clients",
            "2",
            "--scaling",
            "1,2",
            "--timeout",
            "300",
        ],
    );
    let json = &run.json;
    all_answered(json, 22, &["Quarry", "DataFusion", "Ballista", "DuckDB"]);
    let queries = json["queries"].as_array().unwrap();
    // Answers are real: Q1 has its four (returnflag, linestatus) groups, Q13 many rows.
    assert_eq!(queries[0]["engines"]["Quarry"]["rows"], 4);
    assert!(queries[12]["engines"]["DuckDB"]["rows"].as_u64().unwrap() > 10);
    for ratio in ["DataFusion", "Ballista", "DuckDB"] {
        assert!(json["ratios"][ratio].as_f64().unwrap() > 0.0);
    }
    let concurrency = json["concurrency"].as_array().unwrap();
    assert_eq!(concurrency.len(), 4);
    for run in concurrency {
        assert_eq!(run["statements"], 44, "{run}");
    }
    let scaling = json["scaling"].as_array().unwrap();
    assert_eq!(scaling.len(), 2);
    assert_eq!(scaling[1]["per_query"].as_object().unwrap().len(), 22);

    let md = &run.markdown;
    assert!(md.starts_with("# TPC-H SF0.01"), "{md}");
    assert!(md.contains("| Q22 |") && md.contains("## Concurrency") && md.contains("## Scaling"));
    assert!(run.chart.to_string_lossy().ends_with("-tpch-sf0.01.png"));
}
