"""DuckDB as an engine process of `quarry-bench tpch` and `tpcds`.

Creates a view per table over its Parquet files (`read_parquet`), says it is
ready, then answers the requests it reads on stdin, one JSON object a line, exactly as
the Rust engines do (benchmarks/src/tpc/protocol.rs): each client's statements in
order on a cursor of its own, the clients on threads at the same time, each answer
written to an Arrow IPC file. DuckDB keeps its defaults (threads, memory limit).

Usage: duckdb_engine.py --data DIR --tables A,B,...
"""

import argparse
import json
import sys
import threading
import time

import duckdb
import pyarrow.ipc

def reply(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def run_job(cursor, job):
    started = time.perf_counter()
    try:
        table = cursor.execute(job["sql"]).to_arrow_table()
        seconds = time.perf_counter() - started
        with pyarrow.ipc.new_file(job["out"], table.schema) as writer:
            writer.write_table(table)
        return {"seconds": seconds, "rows": table.num_rows}
    except Exception as error:  # the answer names any failure; the process goes on
        return {"seconds": time.perf_counter() - started, "rows": 0, "error": str(error)}


def run(con, request):
    clients = request["clients"]
    outcomes = [None] * len(clients)
    cursors = [con.cursor() for _ in clients]

    def client(i):
        outcomes[i] = [run_job(cursors[i], job) for job in clients[i]]

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(clients))]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    for cursor in cursors:
        cursor.close()
    return {"wall_seconds": wall, "clients": outcomes}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the Parquet files, a directory per table")
    parser.add_argument("--tables", required=True, help="the tables, comma-separated")
    args = parser.parse_args()
    started = time.perf_counter()
    try:
        con = duckdb.connect()
        for table in args.tables.split(","):
            con.execute(
                f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{args.data}/{table}/*.parquet')"
            )
    except Exception as error:
        reply({"engine": "DuckDB", "version": duckdb.__version__, "setup_seconds": 0, "error": str(error)})
        return 1
    reply({"engine": "DuckDB", "version": duckdb.__version__, "setup_seconds": time.perf_counter() - started})
    for line in sys.stdin:
        if line.strip():
            reply(run(con, json.loads(line)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
