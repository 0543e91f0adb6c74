"""Measures Quarry's front doors from real clients, against a running server
(`quarry serve`): Flight SQL through the ADBC Flight SQL driver (`--url grpc://...`),
the PostgreSQL protocol through psycopg 3 (`--url postgresql://...`):

- latency: the median (and 90th percentile) of a small query, warm, over many runs;
- throughput: rows and bytes per second of a large result, fetched as it streams.

Run with the clients' Python (scripts/test-env.sh prints QUARRY_CLIENTS_PYTHON):

    cargo build --release --bin quarry
    target/release/quarry serve --warehouse /tmp/bench-wh &
    $QUARRY_CLIENTS_PYTHON benchmarks/clients.py --url grpc://127.0.0.1:32010
    $QUARRY_CLIENTS_PYTHON benchmarks/clients.py --url postgresql://bench@127.0.0.1:15432/quarry

It prints a Markdown table and exits non-zero if a result is wrong.
"""

import argparse
import statistics
import time

import adbc_driver_flightsql.dbapi as flight_sql
import psycopg

SMALL = "SELECT region, count(*) AS n FROM gold.bench_sales WHERE id <= 1000 GROUP BY region ORDER BY region"


def prepare(conn, rows):
    with conn.cursor() as cur:
        cur.execute(
            "CREATE OR REPLACE TABLE gold.bench_sales AS SELECT value AS id, "
            f"'r' || (value % 3) AS region, value * 1.5 AS amount FROM generate_series(1, {rows})"
        )


def latency(conn, runs, warmup):
    with conn.cursor() as cur:
        timings = []
        for i in range(warmup + runs):
            start = time.perf_counter()
            cur.execute(SMALL)
            result = cur.fetchall()
            elapsed = time.perf_counter() - start
            if result != [("r0", 333), ("r1", 334), ("r2", 333)]:
                raise SystemExit(f"wrong answer to the small query: {result}")
            if i >= warmup:
                timings.append(elapsed)
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.9)]


def throughput(conn, rows):
    large = (
        "SELECT value AS id, value * 2 AS twice, "
        f"'row-' || value || '-{'x' * 60}' AS label FROM generate_series(1, {rows})"
    )
    seen = nbytes = 0
    start = time.perf_counter()
    if isinstance(conn, psycopg.Connection):
        # Bytes as the rows arrive: two 8-byte integers and the label's text.
        for _, _, label in conn.cursor().stream(large):
            seen += 1
            nbytes += 16 + len(label)
    else:
        with conn.cursor() as cur:
            cur.execute(large)
            for batch in cur.fetch_record_batch():
                seen += batch.num_rows
                nbytes += batch.nbytes
    elapsed = time.perf_counter() - start
    if seen != rows:
        raise SystemExit(f"the large result had {seen} rows, not {rows}")
    return elapsed, nbytes


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="grpc://127.0.0.1:32010")
    parser.add_argument("--runs", type=int, default=100, help="timed runs of the small query")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--rows", type=int, default=5_000_000, help="rows of the large result")
    args = parser.parse_args()
    if args.url.startswith("postgresql://"):
        conn = psycopg.connect(args.url, autocommit=True)
    else:
        conn = flight_sql.connect(args.url, db_kwargs={"username": "bench", "password": "bench"})
    prepare(conn, 100_000)
    median, p90 = latency(conn, args.runs, args.warmup)
    elapsed, nbytes = throughput(conn, args.rows)
    conn.close()
    print("| measure | value |")
    print("|---|---|")
    print(f"| small query, median of {args.runs} warm runs | {median * 1000:.1f} ms |")
    print(f"| small query, 90th percentile | {p90 * 1000:.1f} ms |")
    print(f"| large result: {args.rows:,} rows, {nbytes / 2**20:.0f} MiB | {elapsed:.2f} s |")
    print(f"| large result: rows per second | {args.rows / elapsed:,.0f} |")
    print(f"| large result: MiB per second | {nbytes / 2**20 / elapsed:.0f} |")


if __name__ == "__main__":
    main()
