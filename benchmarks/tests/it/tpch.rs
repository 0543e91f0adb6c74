//! The TPC-H smoke run: `quarry-bench tpch` at scale factor 0.01 on all four engines
//! (Quarry, DataFusion, Ballista, DuckDB), with a concurrency run and a scaling run,
//! must answer all 22 queries on every engine with agreeing answers and write a full
//! report. Needs the Python environment of scripts/test-env.sh (DuckDB, tpchgen-cli).

use std::process::Command;

use serde_json::Value;

#[test]
fn tpch_smoke_run_agrees_on_every_engine_and_writes_the_report() {
    let python = std::env::var("QUARRY_PYTHON").expect(
        "QUARRY_PYTHON must name a Python with duckdb and tpchgen-cli: run the tests through scripts/test.sh",
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results");
    let run = Command::new(env!("CARGO_BIN_EXE_quarry-bench"))
        .args([
            "tpch",
            "--sf",
            "0.01",
            "--iterations",
            "1",
            "--clients",
            "2",
        ])
        .args(["--scaling", "1,2", "--timeout", "300"])
        .arg("--dir")
        .arg(dir.path().join("data"))
        .arg("--out")
        .arg(&out)
        .arg("--python")
        .arg(&python)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "quarry-bench tpch failed: {}\n{}",
        run.status,
        String::from_utf8_lossy(&run.stderr)
    );

    let reports: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let find = |ext: &str| {
        reports
            .iter()
            .find(|p| p.extension().is_some_and(|e| e == ext))
            .unwrap_or_else(|| panic!("no .{ext} report in {reports:?}"))
            .clone()
    };
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(find("json")).unwrap()).unwrap();
    assert_eq!(
        json["problems"],
        Value::Array(vec![]),
        "{:#}",
        json["problems"]
    );
    let queries = json["queries"].as_array().unwrap();
    assert_eq!(queries.len(), 22);
    for q in queries {
        for engine in ["Quarry", "DataFusion", "Ballista", "DuckDB"] {
            let runs = &q["engines"][engine];
            assert!(
                runs["median"].as_f64().unwrap() > 0.0,
                "Q{} {engine}: {runs}",
                q["query"]
            );
            assert!(
                runs["cold"].as_f64().unwrap() > 0.0,
                "Q{} {engine}: {runs}",
                q["query"]
            );
        }
    }
    // Answers are real: Q1 has its four (returnflag, linestatus) groups, Q13 many rows.
    assert_eq!(queries[0]["engines"]["Quarry"]["rows"], 4);
    assert!(queries[12]["engines"]["DuckDB"]["rows"].as_u64().unwrap() > 10);
    for engine in json["engines"].as_array().unwrap() {
        assert_eq!(engine["queries_ok"], 22, "{engine}");
        assert!(
            engine["peak_memory_bytes"].as_u64().unwrap() > 10 << 20,
            "{engine}"
        );
    }
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

    let md = std::fs::read_to_string(find("md")).unwrap();
    assert!(md.contains("| Q22 |") && md.contains("## Concurrency") && md.contains("## Scaling"));
    let png = std::fs::read(find("png")).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "the chart is not a PNG");
}
