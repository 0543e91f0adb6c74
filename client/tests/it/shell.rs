//! The built `quarry` binary: -c, -f, output formats and exit status.

use std::path::Path;
use std::process::{Command, Output};

use crate::common::ServeProcess;

/// `quarry` in `dir` with `args`, on the warehouse `dir/wh`.
fn quarry(dir: &Path, args: &[&str]) -> Output {
    let warehouse = dir.join("wh");
    let mut command = Command::new(env!("CARGO_BIN_EXE_quarry"));
    command.current_dir(dir);
    match args.first() {
        // A subcommand takes the warehouse among its own options.
        Some(sub) if !sub.starts_with('-') => command.args(args).arg("--warehouse").arg(warehouse),
        _ => command.arg("--warehouse").arg(warehouse).args(args),
    };
    command.output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn csv_output_is_a_header_then_rows() {
    let dir = tempfile::tempdir().unwrap();
    let out = quarry(
        dir.path(),
        &[
            "--format",
            "csv",
            "-c",
            "SELECT 1 AS a, 'x,y' AS b UNION ALL SELECT 2, NULL ORDER BY a",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "a,b\n1,\"x,y\"\n2,\n");
}

#[test]
fn json_output_and_statements_in_order() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("wh/landing")).unwrap();
    std::fs::write(
        dir.path().join("wh/landing/t.csv"),
        "id,name\n1,ann\n2,bob\n",
    )
    .unwrap();
    let out = quarry(
        dir.path(),
        &[
            "--format",
            "json",
            "-c",
            "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION 'landing/t.csv'",
            "-c",
            "SELECT name FROM t ORDER BY id DESC",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value =
        serde_json::from_str(stdout(&out).lines().last().unwrap()).unwrap();
    assert_eq!(json, serde_json::json!([{"name": "bob"}, {"name": "ann"}]));
}

#[test]
fn a_failing_statement_exits_1_with_the_message_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let out = quarry(
        dir.path(),
        &[
            "--format",
            "csv",
            "-c",
            "SELECT 1 AS a",
            "-c",
            "SELECT * FROM missing_table",
            "-c",
            "SELECT 2 AS b",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "a\n1\n", "stops at the failing statement");
    assert_eq!(
        stderr(&out).trim(),
        "ERROR: table 'quarry.public.missing_table' not found"
    );

    let out = quarry(dir.path(), &["-c", "SELECT 1 +* 2"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("ERROR: syntax error: "),
        "{}",
        stderr(&out)
    );
}

#[test]
fn scripts_and_the_demo_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let demo = quarry(dir.path(), &["demo", "--transactions", "5000"]);
    assert!(demo.status.success(), "{}", stderr(&demo));
    for built in [
        "transactions/*.csv",
        "bronze.transactions",
        "silver.customers",
        "gold.daily_sales",
        "reflection sales_by_store",
        "madrid-03",
        // COPY INTO kept the malformed landing rows, with their file and line.
        "bronze.transactions_rejects",
        "column quantity: 'two' is not a valid INT",
    ] {
        assert!(stdout(&demo).contains(built), "{built}: {}", stdout(&demo));
    }

    let script = dir.path().join("report.sql");
    std::fs::write(
        &script,
        "-- customers per segment\nCREATE EXTERNAL TABLE customers STORED AS CSV LOCATION 'landing/customers.csv';\n\
         SELECT segment, count(*) AS n\n  FROM customers\n GROUP BY segment\n ORDER BY segment;\n\
         SELECT count(*) AS sales FROM 'landing/transactions/*.csv' t JOIN 'landing/products.json' p ON t.product_id = p.product_id;\n\
         SELECT count(*) AS returns FROM 'landing/returns.parquet'",
    )
    .unwrap();
    let out = quarry(
        dir.path(),
        &["--format", "csv", "-f", script.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "segment,n");
    assert_eq!(
        &lines[1..4]
            .iter()
            .map(|l| l.split(',').next().unwrap())
            .collect::<Vec<_>>(),
        &["consumer", "enterprise", "small business"]
    );
    assert_eq!(lines[4], "sales");
    assert!(lines[5].parse::<usize>().unwrap() >= 5000);
    assert_eq!(lines[6..], ["returns", "100"]);
}

#[test]
fn table_output_and_help() {
    let dir = tempfile::tempdir().unwrap();
    let out = quarry(dir.path(), &["-c", "SELECT 41 + 1 AS answer"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("answer") && text.contains("42") && text.trim_end().ends_with("(1 row)"),
        "{text}"
    );

    let help = quarry(dir.path(), &["--help"]);
    assert!(help.status.success());
    for flag in [
        "--warehouse",
        "--executors",
        "--host",
        "--format",
        "serve",
        "demo",
    ] {
        assert!(stdout(&help).contains(flag), "--help mentions {flag}");
    }
}

#[test]
fn serve_answers_remote_clients_until_sigterm() {
    let mut server = ServeProcess::start(1);
    let port = server.port.to_string();
    let client = Command::new(env!("CARGO_BIN_EXE_quarry"))
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--format",
            "csv",
            "-c",
            "SELECT 6 * 7 AS x",
        ])
        .output()
        .unwrap();
    assert!(client.status.success(), "{}", stderr(&client));
    assert_eq!(stdout(&client), "x\n42\n");

    let pid = server.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = server.child.wait().unwrap();
    assert!(
        status.success(),
        "serve exits cleanly on SIGTERM: {status:?}"
    );

    let refused = Command::new(env!("CARGO_BIN_EXE_quarry"))
        .args(["--host", "127.0.0.1", "--port", &port, "-c", "SELECT 1"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains(&format!("cannot connect to http://127.0.0.1:{port}")),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn catalog_commands_list_schemas_tables_and_columns() {
    let server = ServeProcess::start(1);
    let port = server.port.to_string();
    let run = |command: &str| {
        Command::new(env!("CARGO_BIN_EXE_quarry"))
            .args(["--host", "127.0.0.1", "--port", &port, "-c", command])
            .output()
            .unwrap()
    };
    let created =
        run("CREATE TABLE gold.daily (day DATE, store INT, amount DECIMAL(12, 2) NOT NULL)");
    assert!(created.status.success(), "{}", stderr(&created));

    let schemas = stdout(&run("\\dn"));
    for schema in ["bronze", "silver", "gold", "public"] {
        assert!(schemas.contains(schema), "{schemas}");
    }
    let tables = stdout(&run("\\dt gold.*"));
    assert!(
        tables.contains("gold") && tables.contains("daily") && tables.contains("(1 row)"),
        "{tables}"
    );
    assert!(stdout(&run("\\dt silver.*")).contains("(0 rows)"));

    let columns = stdout(&run("\\d gold.daily"));
    assert!(columns.contains("Table \"gold.daily\""), "{columns}");
    for (column, sql_type) in [("day", "date"), ("store", "integer"), ("amount", "decimal")] {
        let line = columns
            .lines()
            .find(|l| l.contains(column))
            .unwrap_or_default();
        assert!(line.contains(sql_type), "{column} is {sql_type}: {columns}");
    }
    let amount = columns.lines().find(|l| l.contains("amount")).unwrap();
    assert!(amount.contains("not null"), "{columns}");

    let missing = run("\\d gold.nope");
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("did not find any table named \"gold.nope\""));
    let bogus = run("\\bogus");
    assert_eq!(bogus.status.code(), Some(1));
    assert!(stderr(&bogus).contains("invalid command \\bogus"));
}
