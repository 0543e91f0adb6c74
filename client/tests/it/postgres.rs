//! The PostgreSQL front door end to end, with real clients against `quarry serve`: psql
//! (Debian's `postgresql-client`), pgJDBC (Debian's `libpostgresql-jdbc-java`, driven by
//! tests/clients/JdbcCheck.java), psqlODBC through unixODBC's `isql` (Debian's
//! `odbc-postgresql`, `unixodbc`), psycopg 3 (from `QUARRY_CLIENTS_PYTHON`) and
//! sqllogictest's runner over tests/slt/*.slt (`QUARRY_SQLLOGICTEST`), all installed by
//! scripts/test-env.sh.

use std::process::{Command, Output};

use crate::common::ServeProcess;

/// Runs psql against `server` as `user` with `args` and the environment `env`.
fn psql(server: &ServeProcess, env: &[(&str, &str)], args: &[&str]) -> Output {
    Command::new("psql")
        .args(["-h", "127.0.0.1", "-p", &server.pg_port.to_string()])
        .args(["-U", "alice", "-d", "quarry", "-X", "-v", "ON_ERROR_STOP=1"])
        .args(args)
        .env_remove("PGPASSWORD")
        .envs(env.iter().copied())
        .output()
        .expect("psql runs: scripts/test-env.sh installs postgresql-client")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs psql and expects it to succeed; returns what it printed.
pub(crate) fn psql_ok(server: &ServeProcess, args: &[&str]) -> String {
    let output = psql(server, &[], args);
    assert!(
        output.status.success(),
        "psql {args:?} failed:\n{}",
        text(&output)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn psql_runs_statements_and_reports_errors_with_their_sqlstate() {
    let server = ServeProcess::start(1);
    let created = psql_ok(
        &server,
        &[
            "-c",
            "CREATE TABLE gold.sales AS SELECT value AS id, 'r' || (value % 3) AS region, \
             value * 1.5 AS amount FROM generate_series(1, 1000)",
        ],
    );
    assert_eq!(created.trim(), "SELECT 1000");
    let out = psql_ok(
        &server,
        &[
            "-A",
            "-c",
            "SELECT region, count(*) AS n, sum(amount) AS total FROM gold.sales \
             GROUP BY region ORDER BY region",
        ],
    );
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "region|n|total",
            "r0|333|250249.5",
            "r1|334|250750.5",
            "r2|333|249750.0",
            "(3 rows)"
        ]
    );
    // Metadata tables and time travel.
    let snapshot = psql_ok(
        &server,
        &[
            "-A",
            "-t",
            "-c",
            "SELECT snapshot_id, operation, summary['added-records'] FROM gold.\"sales$snapshots\"",
        ],
    );
    let (id, rest) = snapshot.trim().split_once('|').unwrap();
    assert_eq!(rest, "append|1000");
    let out = psql_ok(
        &server,
        &[
            "-A",
            "-t",
            "-c",
            &format!("SELECT count(*) FROM gold.sales FOR VERSION AS OF {id}"),
        ],
    );
    assert_eq!(out.trim(), "1000");
    // Several statements in one string, and the session settings they change.
    let out = psql_ok(
        &server,
        &[
            "-A",
            "-t",
            "-c",
            "SET search_path TO gold; SELECT count(*) FROM sales; SHOW search_path",
        ],
    );
    assert_eq!(out.lines().collect::<Vec<_>>(), ["SET", "1000", "gold"]);
    // The server splits a message at `;` outside dollar-quoted and E'' strings and
    // comments (`psql -c` sends the string as it is).
    let out = psql_ok(
        &server,
        &[
            "-A",
            "-t",
            "-c",
            "SELECT $$a;b$$ /* ; */; SELECT E'c\\';d'; SELECT $q$;$q$ || 'e;f'",
        ],
    );
    assert_eq!(out.lines().collect::<Vec<_>>(), ["a;b", "c';d", ";e;f"]);
    // Unnamed columns are named as PostgreSQL names them.
    let out = psql_ok(
        &server,
        &[
            "-A",
            "-c",
            "SELECT current_database(), count(*), 1 + 1 FROM gold.sales",
        ],
    );
    assert_eq!(
        out.lines().take(2).collect::<Vec<_>>(),
        ["current_database|count|?column?", "quarry|1000|2"]
    );

    // psql's own catalog queries.
    let schemas = psql_ok(&server, &["-c", "\\dn"]);
    for schema in ["bronze", "silver", "gold", "public"] {
        assert!(schemas.contains(&format!(" {schema} ")), "{schemas}");
    }
    let tables = psql_ok(&server, &["-c", "\\dt gold.*"]);
    assert!(
        tables.contains(" gold   | sales | table | alice"),
        "{tables}"
    );
    let described = psql_ok(&server, &["-c", "\\d gold.sales"]);
    for line in [
        "Table \"gold.sales\"",
        " id     | bigint           |",
        " region | text             |",
        " amount | double precision |",
    ] {
        assert!(described.contains(line), "{line} in\n{described}");
    }

    // Errors carry their SQLSTATE; a cast that fails while the plan is simplified
    // names the value, not the optimizer rule.
    for (sql, expected) in [
        (
            "SELECT * FROM gold.nope",
            "ERROR:  42P01: table 'quarry.gold.nope' not found",
        ),
        ("SELECT 1/0", "ERROR:  22012:"),
        (
            "SELECT CAST('x' AS INT)",
            "ERROR:  22P02: Cast error: Cannot cast string 'x'",
        ),
        ("SELECT nope FROM gold.sales", "ERROR:  42703:"),
        ("SELECT * FROM nope.sales", "ERROR:  42P01:"),
        (
            "CREATE TABLE nope.sales AS SELECT 1 AS id",
            "ERROR:  3F000: schema 'nope' does not exist",
        ),
        ("SELECT no_such_function(1)", "ERROR:  42883:"),
        (
            "CREATE TABLE gold.sales AS SELECT 1 AS id",
            "ERROR:  42710: table 'gold.sales' already exists",
        ),
    ] {
        let failed = psql(&server, &[], &["-v", "VERBOSITY=verbose", "-c", sql]);
        assert!(!failed.status.success(), "{sql}");
        assert!(text(&failed).contains(expected), "{}", text(&failed));
    }

    // Row-level changes answer with PostgreSQL's command tags.
    let changed = psql_ok(
        &server,
        &[
            "-c",
            "UPDATE gold.sales SET amount = 0 WHERE id <= 10",
            "-c",
            "DELETE FROM gold.sales WHERE id > 990",
            "-c",
            "MERGE INTO gold.sales AS t USING (SELECT 985 + n AS id FROM generate_series(1, 10) AS s(n)) AS s \
             ON t.id = s.id WHEN MATCHED THEN DELETE WHEN NOT MATCHED THEN INSERT (id) VALUES (s.id)",
        ],
    );
    assert_eq!(
        changed.lines().collect::<Vec<_>>(),
        ["UPDATE 10", "DELETE 10", "MERGE 10"]
    );

    let wrong_db = Command::new("psql")
        .args(["-h", "127.0.0.1", "-p", &server.pg_port.to_string()])
        .args(["-U", "alice", "-d", "postgres", "-c", "SELECT 1"])
        .output()
        .unwrap();
    assert!(
        text(&wrong_db).contains("database \"postgres\" does not exist"),
        "{}",
        text(&wrong_db)
    );
}

#[test]
fn password_logins_with_cleartext_md5_and_scram() {
    for method in ["password", "md5", "scram-sha-256"] {
        let server = ServeProcess::start_with(1, &["--pg-auth", method, "--pg-password", "s3cret"]);
        let ok = psql(
            &server,
            &[("PGPASSWORD", "s3cret")],
            &["-A", "-t", "-c", "SELECT 42"],
        );
        assert!(ok.status.success(), "{method}: {}", text(&ok));
        assert_eq!(String::from_utf8_lossy(&ok.stdout).trim(), "42", "{method}");
        let wrong = psql(&server, &[("PGPASSWORD", "wrong")], &["-c", "SELECT 42"]);
        assert!(
            !wrong.status.success(),
            "{method} accepted a wrong password"
        );
        assert!(
            text(&wrong)
                .to_lowercase()
                .contains("password authentication failed"),
            "{method}: {}",
            text(&wrong)
        );
    }
}

/// Compiles and runs the Java program `class` of tests/clients with pgJDBC against
/// `server`; returns what it printed.
fn run_jdbc(class: &str, server: &ServeProcess) -> String {
    let classes = tempfile::tempdir().unwrap();
    let source = format!(
        "{}/../tests/clients/{class}.java",
        env!("CARGO_MANIFEST_DIR")
    );
    let javac = Command::new("javac")
        .arg("-d")
        .arg(classes.path())
        .arg(&source)
        .output()
        .expect("javac runs");
    assert!(javac.status.success(), "{}", text(&javac));
    let classpath = format!("{JDBC_JAR}:{}", classes.path().display());
    let run = Command::new("java")
        .args(["-cp", &classpath, class, &server.pg_port.to_string()])
        .output()
        .expect("java runs");
    assert!(run.status.success(), "{class} failed:\n{}", text(&run));
    text(&run)
}

#[test]
fn pgjdbc_reads_metadata_and_round_trips_parameters() {
    let server = ServeProcess::start(1);
    assert!(run_jdbc("JdbcCheck", &server).contains("pgJDBC: ok"));
}

/// The sessions of BI and SQL tools, replayed with their drivers: Grafana and pgAdmin
/// (psycopg), SQLAlchemy's PostgreSQL dialect (psycopg2), Power BI's ODBC (pyodbc over
/// psqlODBC), then Metabase, DBeaver and Tableau (pgJDBC).
#[test]
fn bi_tools_find_what_they_need() {
    let server = ServeProcess::start(1);
    crate::flight_clients::run_check("bi_sessions.py", &[format!("--port={}", server.pg_port)]);
    let out = run_jdbc("BiSessions", &server);
    eprintln!("{out}");
    assert!(out.contains("BiSessions: all passed"), "{out}");
}

#[test]
fn tls_is_offered_with_a_certificate_and_optional() {
    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let server = ServeProcess::start_with(
        1,
        &[
            "--pg-tls-cert",
            cert.to_str().unwrap(),
            "--pg-tls-key",
            key.to_str().unwrap(),
        ],
    );
    let secure = psql(
        &server,
        &[("PGSSLMODE", "require")],
        &["-c", "\\conninfo", "-c", "SELECT 'over tls' AS how"],
    );
    assert!(secure.status.success(), "{}", text(&secure));
    let printed = text(&secure);
    assert!(
        printed.contains("SSL connection (protocol: TLSv1.3") && printed.contains("over tls"),
        "{printed}"
    );
    let plain = psql(&server, &[("PGSSLMODE", "disable")], &["-c", "SELECT 1"]);
    assert!(plain.status.success(), "{}", text(&plain));

    // Without a certificate the server declines TLS, and a client that insists fails.
    let server = ServeProcess::start(1);
    let refused = psql(&server, &[("PGSSLMODE", "require")], &["-c", "SELECT 1"]);
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("server does not support SSL"),
        "{}",
        text(&refused)
    );
}

#[test]
fn psqlodbc_connects_through_unixodbc_and_queries() {
    let server = ServeProcess::start(1);
    psql_ok(
        &server,
        &[
            "-c",
            "CREATE TABLE gold.stores AS SELECT * FROM (VALUES (1, 'paris-01'), (2, 'lyon-02')) AS v(id, name)",
        ],
    );
    // A driver and a data source of our own, as an administrator would set them up.
    let config = tempfile::tempdir().unwrap();
    std::fs::write(
        config.path().join("odbcinst.ini"),
        format!("[PostgreSQL Unicode]\nDriver = {ODBC_DRIVER}\n"),
    )
    .unwrap();
    std::fs::write(
        config.path().join("odbc.ini"),
        format!(
            "[quarry]\nDriver = PostgreSQL Unicode\nServername = 127.0.0.1\nPort = {}\n\
             Database = quarry\nUsername = alice\nSSLMode = disable\n",
            server.pg_port
        ),
    )
    .unwrap();
    let mut isql = Command::new("isql")
        .args(["-b", "-v", "-d,", "quarry"])
        .env("ODBCSYSINI", config.path())
        .env("ODBCINI", config.path().join("odbc.ini"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("isql runs: scripts/test-env.sh installs unixodbc");
    {
        use std::io::Write;
        let mut stdin = isql.stdin.take().unwrap();
        writeln!(stdin, "SELECT id, name FROM gold.stores ORDER BY id").unwrap();
    }
    let output = isql.wait_with_output().unwrap();
    let printed = text(&output);
    assert!(output.status.success(), "isql failed:\n{printed}");
    assert!(
        printed.contains("1,paris-01") && printed.contains("2,lyon-02"),
        "{printed}"
    );
}

/// psqlODBC as Debian installs it.
const ODBC_DRIVER: &str = "/usr/lib/x86_64-linux-gnu/odbc/psqlodbcw.so";

/// pgJDBC as Debian installs it.
const JDBC_JAR: &str = "/usr/share/java/postgresql.jar";

#[test]
fn psycopg_binds_parameters_reads_binary_rows_and_cancels() {
    let server = ServeProcess::start(1);
    crate::flight_clients::run_check("psycopg_check.py", &[format!("--port={}", server.pg_port)]);
}

#[test]
fn sqllogictest_files_pass_over_the_extended_protocol() {
    let runner = std::env::var("QUARRY_SQLLOGICTEST").expect(
        "QUARRY_SQLLOGICTEST must name sqllogictest-bin's runner: run the tests through \
         scripts/test.sh",
    );
    let dir = format!("{}/../tests/slt", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "the .slt files of {dir}");
    // A server of its own for each file: every file starts from an empty warehouse.
    for file in files {
        let server = ServeProcess::start(2);
        let output = Command::new(&runner)
            .args(["--engine", "postgres-extended", "--host", "127.0.0.1"])
            .args(["--port", &server.pg_port.to_string()])
            .args(["--db", "quarry", "--user", "alice", "--pass", ""])
            .arg(&file)
            .output()
            .expect("the sqllogictest runner runs");
        assert!(
            output.status.success(),
            "{} failed:\n{}",
            file.display(),
            text(&output)
        );
    }
}

#[test]
fn temporary_tables_belong_to_their_session_and_go_with_it() {
    let server = ServeProcess::start(1);
    // One session: the temporary table shadows a table of the current schema.
    let out = psql_ok(
        &server,
        &[
            "-A",
            "-t",
            "-c",
            "CREATE TABLE public.t AS SELECT 'lake' AS source",
            "-c",
            "CREATE TEMP TABLE t AS (SELECT 'temporary' AS source)",
            "-c",
            "SELECT source FROM t",
            "-c",
            "SELECT source FROM public.t",
        ],
    );
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["SELECT 1", "SELECT 1", "temporary", "lake"],
        "{out}"
    );
    // The next session sees the lake's table only.
    let out = psql_ok(&server, &["-A", "-t", "-c", "SELECT source FROM t"]);
    assert_eq!(out.trim(), "lake");
    let refused = psql(&server, &[], &["-c", "SELECT * FROM temp.t"]);
    assert!(!refused.status.success());
    assert!(text(&refused).contains("not found"), "{}", text(&refused));
    let refused = psql(&server, &[], &["-c", "CREATE TEMP TABLE gold.x (a INT)"]);
    assert!(
        text(&refused).contains("named without a schema"),
        "{}",
        text(&refused)
    );
}
