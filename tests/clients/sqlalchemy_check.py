"""Checks Quarry through flightsql-dbapi's SQLAlchemy dialect, exactly the path Apache
Superset takes: reflection (schema names, table names, columns) with `inspect(engine)`
and a query, over `datafusion+flightsql://user:pass@host:port?insecure=true`.

Run by the end-to-end tests against a `quarry serve` process that holds gold.sales
(id 1..N, region 'r0'..'r2', amount id * 1.5):

    python sqlalchemy_check.py --host 127.0.0.1 --port PORT --rows N

Exits non-zero with the failing check's message.
"""

import sys

import flightsql.sqlalchemy  # noqa: F401  registers the datafusion+flightsql dialect
from sales import arguments, expect, per_region
from sqlalchemy import create_engine, inspect, text


def main():
    args = arguments(__doc__).parse_args()
    engine = create_engine(f"datafusion+flightsql://superset:secret@{args.host}:{args.port}?insecure=true")
    inspector = inspect(engine)

    schemas = inspector.get_schema_names()
    if not {"bronze", "silver", "gold"} <= set(schemas):
        raise AssertionError(f"get_schema_names() lacks the medallion layers: {schemas}")
    print(f"ok   get_schema_names: {schemas}")

    tables = inspector.get_table_names(schema="gold")
    if "sales" not in tables:
        raise AssertionError(f"get_table_names('gold') lacks sales: {tables}")
    print(f"ok   get_table_names(gold): {tables}")

    columns = inspector.get_columns("sales", schema="gold")
    described = [(c["name"], type(c["type"]).__name__) for c in columns]
    expect(described, [("id", "BIGINT"), ("region", "TEXT"), ("amount", "FLOAT")], "get_columns(gold.sales)")
    print(f"ok   get_columns(gold.sales): {described}")

    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT region, count(*) AS n, sum(amount) AS total FROM gold.sales GROUP BY region ORDER BY region")
        ).fetchall()
    expect([tuple(row) for row in rows], per_region(args.rows), "per-region count and sum")
    print(f"ok   query: {len(rows)} rows")
    sys.exit(0)


if __name__ == "__main__":
    main()
