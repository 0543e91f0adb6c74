//! A suite's data: Parquet files, a directory per table, generated once per scale factor
//! and kept. TPC-H by `tpchgen-cli` (the tpchgen crates' command line), TPC-DS by
//! DuckDB's `dsdgen` (`benchmarks/tpcds/dsdgen.py`), both installed from PyPI next to the
//! Python that runs DuckDB. Also the facts about this machine that go into the report.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use super::report::Machine;
use super::suite::{DSDGEN, Suite};

/// `1`, `10`, `0.01`: the scale factor as directory names and titles show it.
pub fn label(sf: f64) -> String {
    format!("{sf}")
}

/// Finds `tpchgen-cli`: beside `python` (a virtual environment's bin), else on PATH.
fn tpchgen(python: &Path) -> PathBuf {
    let beside = python.with_file_name("tpchgen-cli");
    match beside.exists() {
        true => beside,
        false => PathBuf::from("tpchgen-cli"),
    }
}

/// The command that writes `suite`'s tables at `sf` into `dir`.
fn generator(suite: Suite, dir: &Path, sf: f64, python: &Path) -> Result<Command, String> {
    Ok(match suite {
        Suite::Tpch => {
            let mut command = Command::new(tpchgen(python));
            let parts = sf.ceil().max(1.0) as usize;
            command
                .arg("parquet")
                .arg(format!("--scale-factor={sf}"))
                .arg(format!("--parts={parts}"))
                .arg(format!("--output-dir={}", dir.display()));
            command
        }
        Suite::Tpcds => {
            let script = dir.join(".dsdgen.py");
            std::fs::write(&script, DSDGEN).map_err(|e| e.to_string())?;
            let mut command = Command::new(python);
            command
                .arg(&script)
                .arg(format!("--sf={sf}"))
                .arg(format!("--dir={}", dir.display()));
            command
        }
    })
}

/// Makes sure `dir` holds `suite`'s tables at `sf` as Parquet, generating them if a
/// previous run did not finish them. Returns the seconds spent generating, if any.
pub fn ensure(dir: &Path, suite: Suite, sf: f64, python: &Path) -> Result<Option<f64>, String> {
    let done = dir.join(".complete");
    if done.exists() {
        return Ok(None);
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| format!("cannot clear {}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let started = Instant::now();
    let mut command = generator(suite, dir, sf, python)?;
    let program = command.get_program().to_string_lossy().into_owned();
    let status = command
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| {
            format!("cannot run {program}: {e} (scripts/test-env.sh installs it; pass --python)")
        })?;
    if !status.success() {
        return Err(format!(
            "generating the {} data with {program} failed: {status}",
            suite.title()
        ));
    }
    for table in suite.tables() {
        if !dir.join(table).is_dir() {
            return Err(format!("{program} wrote no directory for {table}"));
        }
    }
    std::fs::write(&done, "").map_err(|e| e.to_string())?;
    Ok(Some(started.elapsed().as_secs_f64()))
}

pub fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("unknown CPU".into(), |s| s.trim().to_string());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_kib: u64 = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    Machine {
        cpu,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        memory_bytes: memory_kib * 1024,
    }
}

/// Today's date (UTC) as YYYY-MM-DD.
pub fn today() -> String {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400) as i64;
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_labels() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(label(1.0), "1");
        assert_eq!(label(10.0), "10");
        assert_eq!(label(0.01), "0.01");
    }
}
