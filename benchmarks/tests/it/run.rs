//! Running `quarry-bench` as a test does, and reading the report it wrote.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// A finished run: its report as JSON, its Markdown, and the chart's path.
pub struct Finished {
    pub json: Value,
    pub markdown: String,
    pub chart: PathBuf,
}

/// Runs `quarry-bench ARGS` with its data and results under `dir`, asserts that it
/// succeeded and that its report names no problem, and returns the report.
pub fn bench(dir: &Path, args: &[&str]) -> Finished {
    let python = std::env::var("QUARRY_PYTHON").expect(
        "QUARRY_PYTHON must name a Python with duckdb and the data generators: run the tests through scripts/test.sh",
    );
    let out = dir.join("results");
    let run = Command::new(env!("CARGO_BIN_EXE_quarry-bench"))
        .args(args)
        .arg("--dir")
        .arg(dir.join("data"))
        .arg("--out")
        .arg(&out)
        .arg("--python")
        .arg(&python)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "quarry-bench {args:?} failed: {}\n{}",
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
    let chart = find("png");
    let png = std::fs::read(&chart).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "the chart is not a PNG");
    Finished {
        markdown: std::fs::read_to_string(find("md")).unwrap(),
        json,
        chart,
    }
}

/// Asserts that every one of `queries` queries has a cold run and a warm median on
/// every one of `engines`, and that each engine answered them all.
pub fn all_answered(json: &Value, queries: usize, engines: &[&str]) {
    let list = json["queries"].as_array().unwrap();
    assert_eq!(list.len(), queries);
    for q in list {
        for engine in engines {
            let runs = &q["engines"][engine];
            for time in ["median", "cold"] {
                assert!(
                    runs[time].as_f64().unwrap() > 0.0,
                    "Q{} {engine}: {runs}",
                    q["query"]
                );
            }
        }
    }
    let summaries = json["engines"].as_array().unwrap();
    assert_eq!(summaries.len(), engines.len());
    for engine in summaries {
        assert_eq!(engine["queries_ok"], queries, "{engine}");
        assert!(
            engine["peak_memory_bytes"].as_u64().unwrap() > 10 << 20,
            "{engine}"
        );
    }
}
