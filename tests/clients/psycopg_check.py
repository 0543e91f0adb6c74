"""psycopg 3 against Quarry's PostgreSQL door: server-side parameters (extended
protocol), text and binary formats, types both ways, errors with their SQLSTATE, and a
cancel request that stops a running query.

Usage: psycopg_check.py --port PORT   (the server holds nothing yet)
"""

import argparse
import datetime
import decimal
import threading
import time

import psycopg
from psycopg import errors


def check(conn):
    cur = conn.cursor()
    cur.execute(
        "CREATE TABLE silver.orders AS SELECT * FROM (VALUES "
        "(1, 'bolt', CAST(2.50 AS DECIMAL(10,2)), DATE '2024-02-29', TIMESTAMP '2024-03-01 12:30:00', true), "
        "(2, 'nut', CAST(0.25 AS DECIMAL(10,2)), DATE '2024-03-01', TIMESTAMP '2024-03-02 08:00:00', false), "
        "(3, NULL, NULL, NULL, NULL, NULL)"
        ") AS v(id, name, price, day, at, ok)"
    )
    assert cur.statusmessage == "SELECT 3", cur.statusmessage

    # Server-side parameters, rows in text format.
    cur.execute("SELECT id, name FROM silver.orders WHERE id >= %s AND name <> %s ORDER BY id", (1, "nut"))
    assert cur.fetchall() == [(1, "bolt")]

    # Rows in binary format: every type comes back as Python's own.
    bcur = conn.cursor(binary=True)
    bcur.execute("SELECT * FROM silver.orders WHERE id = %s", (1,))
    row = bcur.fetchone()
    assert row == (
        1,
        "bolt",
        decimal.Decimal("2.50"),
        datetime.date(2024, 2, 29),
        datetime.datetime(2024, 3, 1, 12, 30),
        True,
    ), row
    assert [d.name for d in bcur.description] == ["id", "name", "price", "day", "at", "ok"]
    bcur.execute("SELECT * FROM silver.orders WHERE id = 3")
    assert bcur.fetchone() == (3, None, None, None, None, None)

    # Parameters of every type, sent in binary, typed by what the client declares.
    values = (
        7,
        2.5,
        "text",
        datetime.date(2024, 1, 2),
        datetime.datetime(2024, 1, 2, 3, 4, 5),
        True,
        None,
    )
    bcur.execute("SELECT %b, %b, %b, %b, %b, %b, %b", values)
    got = bcur.fetchone()
    assert got[:6] == values[:6] and got[6] is None, got
    # A numeric parameter takes the type of what it is compared with.
    bcur.execute("SELECT id FROM silver.orders WHERE price = %b", (decimal.Decimal("2.50"),))
    assert bcur.fetchall() == [(1,)]

    # Parameters in DML.
    cur.execute("INSERT INTO silver.orders (id, name) VALUES (%s, %s)", (4, "washer"))
    assert cur.statusmessage == "INSERT 0 1", cur.statusmessage
    cur.execute("SELECT count(*) FROM silver.orders")
    assert cur.fetchone() == (4,)

    # Errors carry their SQLSTATE, and the connection goes on.
    try:
        cur.execute("SELECT * FROM silver.nope")
        raise AssertionError("a missing table must fail")
    except errors.UndefinedTable as e:
        assert "nope" in str(e), e
    try:
        cur.execute("SELEC 1")
        raise AssertionError("bad syntax must fail")
    except errors.SyntaxError:
        pass
    cur.execute("SELECT 1")
    assert cur.fetchone() == (1,)


# What DBeaver (through pgJDBC) and psqlODBC send on connect, as they send it.
TOOL_QUERIES = [
    "SET extra_float_digits = 3",
    "SET application_name = 'DBeaver 24.0.0 - Main'",
    "SELECT current_schema(),session_user",
    "SELECT n.oid,n.*,d.description FROM pg_catalog.pg_namespace n LEFT OUTER JOIN "
    "pg_catalog.pg_description d ON d.objoid=n.oid AND d.objsubid=0 AND "
    "d.classoid='pg_namespace'::regclass ORDER BY nspname",
    "SELECT t.oid,t.*,c.relkind,format_type(nullif(t.typbasetype, 0), t.typtypmod) as base_type_name, "
    "d.description FROM pg_catalog.pg_type t LEFT OUTER JOIN pg_catalog.pg_type et ON et.oid=t.typelem "
    "LEFT OUTER JOIN pg_catalog.pg_class c ON c.oid=t.typrelid LEFT OUTER JOIN pg_catalog.pg_description d "
    "ON t.oid=d.objoid WHERE t.typname IS NOT NULL AND (c.relkind IS NULL OR c.relkind = 'c') AND "
    "(et.typcategory IS NULL OR et.typcategory <> 'C')",
    "SHOW search_path",
    "SELECT db.oid,db.* FROM pg_catalog.pg_database db WHERE datname='quarry'",
    "SELECT * FROM pg_catalog.pg_settings where name='standard_conforming_strings'",
    "SELECT string_agg(word, ',') from pg_catalog.pg_get_keywords() "
    "where word <> ALL ('{a,abs,absolute,action}'::text[])",
    "select oid, typbasetype from pg_type where typname = 'lo'",
]


def check_tool_queries(conn):
    cur = conn.cursor()
    results = {}
    for sql in TOOL_QUERIES:
        cur.execute(sql)
        results[sql] = cur.fetchall() if cur.description else None
    assert results[TOOL_QUERIES[2]] == [("public", "alice")], results[TOOL_QUERIES[2]]
    namespaces = [row[1] for row in results[TOOL_QUERIES[3]]]
    assert {"bronze", "silver", "gold", "public", "pg_catalog"} <= set(namespaces), namespaces
    assert any(row[1] == "int8" for row in results[TOOL_QUERIES[4]])
    assert results[TOOL_QUERIES[6]][0][1] == "quarry"
    assert results[TOOL_QUERIES[7]][0][:2] == ("standard_conforming_strings", "on")
    assert "select" in results[TOOL_QUERIES[8]][0][0].split(",")
    assert results[TOOL_QUERIES[9]] == []


def check_cancel(port):
    conn = psycopg.connect(f"host=127.0.0.1 port={port} user=alice dbname=quarry", autocommit=True)
    timer = threading.Timer(2.0, conn.cancel)
    timer.start()
    started = time.monotonic()
    try:
        conn.execute("SELECT count(*) FROM generate_series(1, 20000000000) WHERE value % 7 = 3").fetchall()
        raise AssertionError("the query must be cancelled")
    except errors.QueryCanceled:
        pass
    elapsed = time.monotonic() - started
    assert elapsed < 60, f"cancel took {elapsed:.1f} s"
    # The connection is still good.
    assert conn.execute("SELECT 2").fetchone() == (2,)
    conn.close()
    print(f"cancelled after {elapsed:.1f} s")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    with psycopg.connect(f"host=127.0.0.1 port={args.port} user=alice dbname=quarry", autocommit=True) as conn:
        check(conn)
        check_tool_queries(conn)
    check_cancel(args.port)
    print("psycopg: ok")


if __name__ == "__main__":
    main()
