"""Checks Quarry's Flight SQL front door with the ADBC Flight SQL driver, as Python users
reach it: a query, catalog metadata (adbc_get_objects, adbc_get_table_schema), prepared
statements with parameters, bulk ingest into bronze, the session's current schema, and
a large result streamed batch by batch while the server's memory stays far below the
result's size.

Run by the end-to-end tests against a `quarry serve` process that holds gold.sales
(id 1..N, region 'r0'..'r2', amount id * 1.5):

    python adbc_check.py --url grpc://127.0.0.1:PORT --server-pid PID --rows N

Exits non-zero with the failing check's message.
"""

import sys
import time

import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager
import pyarrow as pa
from sales import arguments, expect

CHECKS = []


def check(fn):
    CHECKS.append(fn)
    return fn


def connect(url):
    return flight_sql.connect(url, db_kwargs={"username": "analyst", "password": "secret"})


@check
def query(conn, args):
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) AS n, sum(amount) AS total FROM gold.sales")
        table = cur.fetch_arrow_table()
    n = args.rows
    expect(table.column_names, ["n", "total"], "column names")
    expect(table.to_pylist(), [{"n": n, "total": 1.5 * n * (n + 1) / 2}], "count and sum")


@check
def get_objects(conn, args):
    objects = conn.adbc_get_objects(
        depth="all", db_schema_filter="gold", table_name_filter="sal%"
    ).read_all().to_pylist()
    catalogs = [c["catalog_name"] for c in objects]
    expect(catalogs, ["quarry"], "catalogs")
    schemas = [s["db_schema_name"] for s in objects[0]["catalog_db_schemas"]]
    expect(schemas, ["gold"], "schemas matching 'gold'")
    tables = objects[0]["catalog_db_schemas"][0]["db_schema_tables"]
    expect([(t["table_name"], t["table_type"]) for t in tables], [("sales", "TABLE")], "tables")
    columns = [(c["column_name"], c["xdbc_type_name"]) for c in tables[0]["table_columns"]]
    expect(columns, [("id", "BIGINT"), ("region", "VARCHAR"), ("amount", "DOUBLE")], "columns")
    everything = conn.adbc_get_objects(depth="db_schemas").read_all().to_pylist()
    all_schemas = {s["db_schema_name"] for s in everything[0]["catalog_db_schemas"]}
    if not {"bronze", "silver", "gold"} <= all_schemas:
        raise AssertionError(f"medallion schemas missing from {sorted(all_schemas)}")


@check
def table_schema(conn, args):
    schema = conn.adbc_get_table_schema("sales", db_schema_filter="gold")
    expect(schema.names, ["id", "region", "amount"], "column names")
    expect([str(t) for t in schema.types], ["int64", "string", "double"], "column types")
    meta = schema.field("amount").metadata or {}
    expect(meta.get(b"ARROW:FLIGHT:SQL:TYPE_NAME"), b"DOUBLE", "amount's SQL type name")
    try:
        conn.adbc_get_table_schema("nope", db_schema_filter="gold")
    except adbc_driver_manager.Error as e:
        if "no table found" not in str(e).lower():
            raise AssertionError(f"unclear error for a missing table: {e}")
    else:
        raise AssertionError("adbc_get_table_schema of a missing table succeeded")


@check
def prepared_statements(conn, args):
    with conn.cursor() as cur:
        sql = "SELECT id, region FROM gold.sales WHERE id BETWEEN ? AND ? AND region = ? ORDER BY id"
        cur.execute(sql, parameters=(4, 12, "r1"))
        expect(cur.fetchall(), [(4, "r1"), (7, "r1"), (10, "r1")], "rows for (4, 12, 'r1')")
        cur.execute(sql, parameters=(1, 3, "r0"))
        expect(cur.fetchall(), [(3, "r0")], "rows for (1, 3, 'r0') on the same statement")
        cur.execute("CREATE TABLE bronze.visits (id BIGINT, page VARCHAR)")
        cur.executemany(
            "INSERT INTO bronze.visits VALUES (?, ?)", [(1, "home"), (2, "cart"), (3, None)]
        )
        cur.execute("SELECT id, page FROM bronze.visits ORDER BY id")
        expect(cur.fetchall(), [(1, "home"), (2, "cart"), (3, None)], "rows inserted with parameters")
        try:
            cur.execute("SELECT * FROM gold.sales WHERE id = ?", parameters=("seven",))
            cur.fetchall()
        except adbc_driver_manager.Error as e:
            if "$1" not in str(e):
                raise AssertionError(f"a bad parameter's error does not name it: {e}")
        else:
            raise AssertionError("a text value for a BIGINT parameter was accepted")


@check
def ingest(conn, args):
    first = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "name": ["a", "b", None]})
    more = pa.table({"id": pa.array([4, 5], pa.int64()), "name": ["d", "e"]})
    with conn.cursor() as cur:
        expect(cur.adbc_ingest("people", first, mode="create", db_schema_name="bronze"), 3, "created")
        expect(cur.adbc_ingest("people", more, mode="append", db_schema_name="bronze"), 2, "appended")
        cur.execute("SELECT count(*), count(name) FROM bronze.people")
        expect(cur.fetchall(), [(5, 4)], "rows after create and append")
        try:
            cur.adbc_ingest("people", first, mode="create", db_schema_name="bronze")
        except adbc_driver_manager.Error as e:
            if "already exists" not in str(e):
                raise AssertionError(f"unclear error creating an existing table: {e}")
        else:
            raise AssertionError("mode='create' of an existing table succeeded")
        expect(cur.adbc_ingest("people", more, mode="replace", db_schema_name="bronze"), 2, "replaced")
        expect(cur.adbc_ingest("fresh", more, mode="create_append", db_schema_name="bronze"), 2, "create_append")
        cur.execute("SELECT (SELECT count(*) FROM bronze.people) AS people, (SELECT count(*) FROM bronze.fresh) AS fresh")
        expect(cur.fetchall(), [(2, 2)], "rows after replace and create_append")


@check
def current_schema(conn, args):
    conn.adbc_current_db_schema = "gold"
    expect(conn.adbc_current_db_schema, "gold", "current schema after setting it")
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM sales")
        expect(cur.fetchall(), [(args.rows,)], "unqualified name in the current schema")


def peak_memory_kib(pid):
    """The process's peak resident set size (VmHWM) in KiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmHWM for process {pid}")


@check
def large_result_streams(conn, args):
    rows = args.large_rows
    before = peak_memory_kib(args.server_pid)
    start = time.perf_counter()
    seen = 0
    result_bytes = 0
    batches = 0
    with conn.cursor() as cur:
        cur.execute(
            "SELECT value AS id, value * 2 AS twice, "
            f"'row-' || value || '-{'x' * 60}' AS label FROM generate_series(1, {rows})"
        )
        reader = cur.fetch_record_batch()
        for batch in reader:
            seen += batch.num_rows
            result_bytes += batch.nbytes
            batches += 1
    elapsed = time.perf_counter() - start
    growth = (peak_memory_kib(args.server_pid) - before) * 1024
    expect(seen, rows, "rows received")
    print(
        f"   {rows} rows, {result_bytes / 2**20:.0f} MiB in {batches} batches in {elapsed:.2f} s "
        f"= {rows / elapsed:,.0f} rows/s; server peak memory grew {growth / 2**20:.0f} MiB"
    )
    if growth > result_bytes / 4:
        raise AssertionError(
            f"the server's peak memory grew {growth / 2**20:.0f} MiB for a "
            f"{result_bytes / 2**20:.0f} MiB result: it is not streaming"
        )


def main():
    parser = arguments(__doc__, url=True)
    parser.add_argument("--server-pid", type=int, required=True, help="the server's process id")
    parser.add_argument("--large-rows", type=int, default=5_000_000, help="rows of the large result")
    parser.add_argument("--only", help="run only the check with this name")
    args = parser.parse_args()
    failed = 0
    for fn in CHECKS:
        if args.only and fn.__name__ != args.only:
            continue
        start = time.perf_counter()
        try:
            with connect(args.url) as conn:
                fn(conn, args)
            print(f"ok   {fn.__name__} ({time.perf_counter() - start:.2f} s)", flush=True)
        except Exception as e:  # every failure is reported, then the next check runs
            failed += 1
            print(f"FAIL {fn.__name__}: {type(e).__name__}: {e}", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
