"""Runs SQL statements in an in-memory DuckDB and prints what each returned.

Usage: duckdb_run.py < statements.json

The input is a JSON list of SQL statements. Prints one JSON list: for each statement,
its result rows, each row's values joined by '|' as text ('NULL' for NULL), the way the
end-to-end tests render Quarry's results. The tests use it as the reference for
statements single-process DataFusion does not run, such as MERGE.
"""

import json
import sys

import duckdb


def text(value):
    """A value as text, the way the tests render Quarry's."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def main():
    statements = json.load(sys.stdin)
    connection = duckdb.connect()
    results = []
    for sql in statements:
        cursor = connection.execute(sql)
        rows = cursor.fetchall() if cursor.description else []
        results.append(["|".join(text(v) for v in row) for row in rows])
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
