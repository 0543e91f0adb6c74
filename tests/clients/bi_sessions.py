"""The sessions of BI and SQL tools on Quarry's PostgreSQL door, replayed with the
drivers those tools use, each checked for the rows the tool needs:

- Grafana's PostgreSQL data source (Go, extended protocol; replayed with psycopg):
  the health check, the settings page's version and TimescaleDB probes, the query
  builder's table and column lists, and a panel query as `$__timeFilter` and
  `$__timeGroupAlias` expand (pkg/tsdb/grafana-postgresql-datasource/macros.go);
- pgAdmin 4 (psycopg): the connect probes;
- Superset over the PostgreSQL door: SQLAlchemy's PostgreSQL dialect (psycopg2)
  `inspect()`: schemas, tables, views, columns, keys, indexes, and `version()`;
- Power BI and other ODBC tools: psqlODBC through unixODBC (pyodbc): the catalog
  functions SQLTables and SQLColumns, and a query.

The queries are the tools' own, as their sources and captured sessions show them (see
`../../../shared/notes/dbt-and-bi-clients.md`). The JDBC tools (Metabase, DBeaver,
Tableau) are in BiSessions.java.

Usage: bi_sessions.py --port PORT   (the server holds nothing yet)
"""

import argparse
import datetime

import psycopg
import pyodbc
from sqlalchemy import create_engine, inspect, text

SALES = """CREATE TABLE gold.sales AS SELECT * FROM (VALUES
  (1, TIMESTAMP '2026-03-01 10:00:00', 'paris', 12.5),
  (2, TIMESTAMP '2026-03-01 10:04:00', 'lyon', 7.25),
  (3, TIMESTAMP '2026-03-01 10:07:00', 'paris', 3.0),
  (4, TIMESTAMP '2026-03-02 09:00:00', 'nice', 40.0)
) AS v(id, sold_at, store, amount)"""
# 2026-03-01 10:00:00 UTC, in seconds since 1970: the first 5-minute bucket of the panel.
T0 = 1772359200.0
VIEW = "CREATE VIEW gold.paris_sales AS SELECT id, amount FROM gold.sales WHERE store = 'paris'"


def expect(what, got, wanted):
    if got != wanted:
        raise AssertionError(f"{what}: got {got!r}, wanted {wanted!r}")
    print(f"ok   {what}")


def grafana(port):
    conn = psycopg.connect(f"host=127.0.0.1 port={port} dbname=quarry user=grafana", autocommit=True)
    # "Save & test" runs an empty statement (database/sql's Ping): a comment only.
    conn.execute("-- ping")
    version = conn.execute(
        "SELECT current_setting('server_version_num')::int/100 as version"
    ).fetchone()[0]
    expect("grafana: server_version_num / 100 is PostgreSQL 16", version, 1600)
    timescale = conn.execute(
        "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
    ).fetchall()
    expect("grafana: no TimescaleDB", timescale, [])
    search_path = """quote_ident(table_schema) IN (
          SELECT CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
          FROM generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s)"""
    tables = conn.execute(
        f"""SELECT CASE WHEN {search_path} THEN quote_ident(table_name)
              ELSE quote_ident(table_schema) || '.' || quote_ident(table_name) END AS "table"
            FROM information_schema.tables
            WHERE quote_ident(table_schema) NOT IN ('information_schema', 'pg_catalog',
              '_timescaledb_cache', '_timescaledb_catalog', '_timescaledb_internal',
              '_timescaledb_config', 'timescaledb_information', 'timescaledb_experimental')
            ORDER BY CASE WHEN {search_path} THEN 0 ELSE 1 END, 1"""
    ).fetchall()
    names = [t for (t,) in tables]
    assert {"gold.sales", "gold.paris_sales"} <= set(names), names
    print(f"ok   grafana: the query builder lists {len(names)} tables")
    columns = conn.execute(
        f"""SELECT quote_ident(column_name) AS "column", data_type AS "type"
            FROM information_schema.columns
            WHERE CASE WHEN array_length(parse_ident('gold.sales'),1) = 2
              THEN quote_ident(table_schema) = (parse_ident('gold.sales'))[1]
                AND quote_ident(table_name) = (parse_ident('gold.sales'))[2]
              ELSE quote_ident(table_name) = 'gold.sales' AND {search_path}
            END"""
    ).fetchall()
    expect(
        "grafana: the columns of gold.sales with PostgreSQL's types",
        sorted(columns),
        sorted([("id", "bigint"), ("sold_at", "timestamp without time zone"),
                ("store", "text"), ("amount", "double precision")]),
    )
    # A panel: $__timeGroupAlias(sold_at, '5m') and $__timeFilter(sold_at) expanded,
    # with the time range's bounds as RFC 3339 literals.
    panel = conn.execute(
        """SELECT floor(extract(epoch from sold_at)/300)*300 AS "time", store AS metric,
                  sum(amount) AS value
           FROM gold.sales
           WHERE sold_at BETWEEN '2026-03-01T09:30:00Z' AND '2026-03-01T12:00:00Z'
           GROUP BY 1, 2 ORDER BY 1, 2"""
    ).fetchall()
    expect(
        "grafana: a time-series panel's rows",
        [(float(t), m, float(v)) for t, m, v in panel],
        [(T0, "lyon", 7.25), (T0, "paris", 12.5), (T0 + 300, "paris", 3.0)],
    )
    conn.close()


def pgadmin(port):
    conn = psycopg.connect(f"host=127.0.0.1 port={port} dbname=quarry user=pgadmin", autocommit=True)
    version = conn.execute("SELECT version()").fetchone()[0]
    assert version.startswith("PostgreSQL 16"), version
    kind = conn.execute(
        """SELECT CASE
             WHEN (SELECT count(extname) FROM pg_catalog.pg_extension WHERE extname='bdr') > 0
             THEN 'pgd'
             WHEN (SELECT COUNT(*) FROM pg_replication_slots) > 0 THEN 'log'
             ELSE NULL
           END as type"""
    ).fetchone()[0]
    expect("pgadmin: no replication", kind, None)
    databases = conn.execute(
        """SELECT db.oid as did, db.datname as name, has_database_privilege(db.oid, 'CREATE') as cancreate,
                  datallowconn
           FROM pg_catalog.pg_database db WHERE db.datname = current_database()"""
    ).fetchall()
    expect("pgadmin: the database", [d[1] for d in databases], ["quarry"])
    conn.close()


def sqlalchemy(port):
    engine = create_engine(f"postgresql+psycopg2://superset@127.0.0.1:{port}/quarry")
    with engine.connect() as conn:
        version = conn.execute(text("select pg_catalog.version()")).scalar()
        assert "PostgreSQL 16" in version, version
    inspector = inspect(engine)
    schemas = inspector.get_schema_names()
    assert {"bronze", "silver", "gold", "public"} <= set(schemas), schemas
    print(f"ok   sqlalchemy: get_schema_names {schemas}")
    expect("sqlalchemy: get_table_names(gold)", inspector.get_table_names(schema="gold"), ["sales"])
    expect("sqlalchemy: get_view_names(gold)", inspector.get_view_names(schema="gold"), ["paris_sales"])
    columns = [(c["name"], str(c["type"])) for c in inspector.get_columns("sales", schema="gold")]
    expect(
        "sqlalchemy: get_columns(gold.sales)",
        columns,
        [("id", "BIGINT"), ("sold_at", "TIMESTAMP"), ("store", "TEXT"), ("amount", "DOUBLE_PRECISION")],
    )
    expect(
        "sqlalchemy: get_pk_constraint",
        inspector.get_pk_constraint("sales", schema="gold")["constrained_columns"],
        [],
    )
    expect("sqlalchemy: get_foreign_keys", inspector.get_foreign_keys("sales", schema="gold"), [])
    expect("sqlalchemy: get_indexes", inspector.get_indexes("sales", schema="gold"), [])


def odbc(port):
    conn = pyodbc.connect(
        f"Driver={{PostgreSQL Unicode}};Servername=127.0.0.1;Port={port};Database=quarry;"
        "Uid=powerbi;Pwd=;",
        autocommit=True,
    )
    cursor = conn.cursor()
    tables = sorted((t.table_schem, t.table_name, t.table_type)
                    for t in cursor.tables(schema="gold"))
    expect(
        "odbc: SQLTables(gold)",
        tables,
        [("gold", "paris_sales", "VIEW"), ("gold", "sales", "TABLE")],
    )
    columns = [(c.column_name, c.type_name) for c in cursor.columns(table="sales", schema="gold")]
    expect(
        "odbc: SQLColumns(gold.sales)",
        columns,
        [("id", "int8"), ("sold_at", "timestamp"), ("store", "text"), ("amount", "float8")],
    )
    rows = cursor.execute(
        "SELECT store, sum(amount) FROM gold.sales WHERE sold_at >= ? GROUP BY store ORDER BY store",
        datetime.datetime(2026, 3, 1, 10, 5),
    ).fetchall()
    expect("odbc: a query with a parameter", [tuple(r) for r in rows], [("nice", 40.0), ("paris", 3.0)])
    conn.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    with psycopg.connect(f"host=127.0.0.1 port={port} dbname=quarry user=setup", autocommit=True) as conn:
        conn.execute(SALES)
        conn.execute(VIEW)
    grafana(port)
    pgadmin(port)
    sqlalchemy(port)
    odbc(port)
    print("bi_sessions: all passed")


if __name__ == "__main__":
    main()
