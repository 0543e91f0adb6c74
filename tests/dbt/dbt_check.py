"""Builds the dbt example project (examples/dbt) on a Quarry server with dbt-core and
dbt-postgres as they are, and checks what it built against DuckDB's answers over the
same CSV files.

The run: deps, debug, seed, run, test, snapshot; then the raw data changes (new orders,
an order returned, a customer moved) and seed, run (incremental: merge, delete+insert,
append), snapshot and test again; docs generate; and a full refresh without
transactions (the `autocommit` target). After each build the gold tables must equal
DuckDB's, silver must hold each order once as it is now, the snapshot must keep the
moved customer's history, and the reflection must answer a query.

Usage: dbt_check.py --port PG_PORT
"""

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import duckdb
import psycopg2

ROOT = Path(__file__).resolve().parents[2]
DBT = Path(sys.executable).parent / "dbt"


def dbt(project: Path, *args: str) -> str:
    command = [str(DBT), "--no-use-colors", "--no-version-check", *args]
    print("$ dbt", " ".join(args), flush=True)
    done = subprocess.run(
        command, cwd=project, capture_output=True, text=True, timeout=600
    )
    if done.returncode != 0:
        log = (project / "logs" / "dbt.log").read_text(errors="replace")[-6000:]
        raise SystemExit(
            f"dbt {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n"
            f"{done.stderr}\n--- end of logs/dbt.log:\n{log}"
        )
    return done.stdout


def rows(conn, sql: str) -> list[tuple]:
    with conn.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


def normal(row: tuple) -> tuple:
    """A row with floats rounded to cents and times as text, to compare engines."""
    out = []
    for value in row:
        if isinstance(value, float):
            value = round(value, 2)
        elif isinstance(value, datetime):
            value = value.strftime("%Y-%m-%d %H:%M:%S")
        out.append(value)
    return tuple(out)


def same(what: str, got: list[tuple], expected: list[tuple]) -> None:
    got, expected = sorted(map(normal, got)), sorted(map(normal, expected))
    if got != expected:
        raise SystemExit(f"{what} differs:\n quarry: {got}\n duckdb: {expected}")
    print(f"ok: {what} ({len(got)} rows) equals DuckDB's")


def check_gold(conn, seeds: Path) -> None:
    duck = duckdb.connect()
    duck.execute(
        f"""create view orders as select * from read_csv('{seeds / "raw_orders.csv"}',
              header = true, columns = {{'order_id': 'INT', 'customer_id': 'INT',
              'ordered_at': 'TIMESTAMP', 'status': 'VARCHAR', 'amount': 'DOUBLE'}});
            create view customers as select * from read_csv('{seeds / "raw_customers.csv"}',
              header = true);"""
    )
    same(
        "gold.revenue_by_month",
        rows(conn, "select month, country, orders, revenue from gold.revenue_by_month"),
        duck.sql(
            """select date_trunc('month', o.ordered_at), upper(c.country), count(*),
                      sum(o.amount)
               from orders o join customers c using (customer_id)
               where lower(o.status) <> 'returned' group by all"""
        ).fetchall(),
    )
    same(
        "gold.customer_value",
        rows(
            conn,
            "select customer_id, name, country, orders, lifetime_value "
            "from gold.customer_value",
        ),
        duck.sql(
            """select c.customer_id, c.name, upper(c.country),
                      count(o.order_id), coalesce(sum(o.amount), 0)
               from customers c left join orders o
                 on o.customer_id = c.customer_id and lower(o.status) <> 'returned'
               group by all"""
        ).fetchall(),
    )
    same(
        "silver.orders",
        rows(conn, "select order_id, status, amount from silver.orders"),
        duck.sql("select order_id, lower(status), amount from orders").fetchall(),
    )
    same(
        "gold.shipped_orders (a view)",
        rows(conn, "select order_id, name from gold.shipped_orders"),
        duck.sql(
            """select order_id, name from orders join customers using (customer_id)
               where lower(status) = 'shipped'"""
        ).fetchall(),
    )


def change_raw_data(seeds: Path) -> None:
    """New orders 61 to 66, order 1 returned, customer 2 moved to Portugal."""
    orders = list(csv.reader((seeds / "raw_orders.csv").open()))
    for row in orders[1:]:
        if row[0] == "1":
            row[3] = "returned"
    for n in range(61, 67):
        orders.append([str(n), str(n % 10 + 1), f"2026-07-{n - 50:02d} 09:15:00",
                       "placed", f"{n * 1.5:.2f}"])
    csv.writer((seeds / "raw_orders.csv").open("w", newline="")).writerows(orders)
    customers = list(csv.reader((seeds / "raw_customers.csv").open()))
    for row in customers[1:]:
        if row[0] == "2":
            row[2] = "pt"
    csv.writer((seeds / "raw_customers.csv").open("w", newline="")).writerows(customers)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    os.environ.update(
        QUARRY_PG_PORT=str(port),
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
    )
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "shop"
        shutil.copytree(ROOT / "examples" / "dbt", project)
        # The package is installed from its place in the repository.
        (project / "packages.yml").write_text(
            f"packages:\n  - local: {ROOT / 'client' / 'dbt-quarry'}\n"
        )
        os.environ["DBT_PROFILES_DIR"] = str(project)
        seeds = project / "seeds"
        conn = psycopg2.connect(
            host="127.0.0.1", port=port, user="quarry", password="quarry", dbname="quarry"
        )
        conn.autocommit = True

        for step in ["deps", "debug", "seed", "run", "test", "snapshot"]:
            dbt(project, step)
        check_gold(conn, seeds)

        change_raw_data(seeds)
        for step in ["seed", "run", "snapshot", "test"]:
            dbt(project, step)
        check_gold(conn, seeds)
        log = rows(conn, "select order_id, count(*) from silver.order_log group by 1")
        assert len(log) == 66 and all(n == 1 for _, n in log), f"order_log: {log}"
        print("ok: the append model added the 6 new orders once")
        history = rows(
            conn,
            "select country, dbt_valid_to is null from silver.customers_snapshot "
            "where customer_id = 2 order by dbt_valid_from",
        )
        assert history == [("ES", False), ("pt", True)], f"history: {history}"
        assert len(rows(conn, "select * from silver.customers_snapshot")) == 11
        print("ok: the snapshot keeps customer 2's move")
        leftovers = rows(
            conn,
            "select table_schema, table_name from information_schema.tables "
            "where table_name like '%dbt_tmp%' or table_name like '%dbt_backup%'",
        )
        assert leftovers == [], f"dbt's intermediate relations are left: {leftovers}"

        plan = rows(
            conn,
            "explain select status, sum(amount) from silver.orders group by status",
        )
        used = [text for kind, text in plan if kind == "reflections"]
        assert used == ["orders_by_month: used"], f"reflections: {used}"
        print("ok: the reflection dbt made answers an aggregate on silver.orders")

        dbt(project, "docs", "generate")
        catalog = json.loads((project / "target" / "catalog.json").read_text())
        columns = catalog["nodes"]["model.quarry_shop.revenue_by_month"]["columns"]
        assert columns["revenue"]["type"] == "double precision", columns
        assert columns["orders"]["type"] == "bigint", columns
        print(f"ok: docs generate lists {len(catalog['nodes'])} relations with their types")

        for step in [["seed", "--full-refresh"], ["run", "--full-refresh"], ["test"]]:
            dbt(project, *step, "--target", "autocommit")
        check_gold(conn, seeds)
        conn.close()
    print("dbt_check: all passed")


if __name__ == "__main__":
    main()
