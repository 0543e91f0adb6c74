"""Measures a Quarry cluster of local processes (deploy/local-cluster.sh: etcd, an S3
server, two schedulers, N executors), through the ADBC Flight SQL driver:

- scale-out: one query on 3 executors against the same query on 1 executor;
- storage: the same query with the warehouse in S3 (s3s-fs) against a local directory;
- failover: from kill -9 of the leading scheduler to the first answer of the standby.

Every answer is checked against the first one. Run with the clients' Python
(scripts/test-env.sh prints QUARRY_CLIENTS_PYTHON and QUARRY_S3S_FS), on a release build
with etcd:

    cargo build --release --bin quarry --features quarry-client/etcd
    eval "$(scripts/test-env.sh)"
    PATH="$PATH:$(dirname "$QUARRY_S3S_FS")" $QUARRY_CLIENTS_PYTHON benchmarks/cluster.py

It prints a Markdown table and exits non-zero if an answer is wrong.
"""

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import adbc_driver_flightsql.dbapi as flight_sql

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "deploy" / "local-cluster.sh"
TABLE = (
    "SELECT value AS id, value % 97 AS k, (value * 7919) % 10007 AS v "
    "FROM generate_series(1, {rows})"
)
# Three stages: an aggregate, a join with it, and an aggregate of the join.
REPORT = (
    "SELECT a.k, count(*) AS n, sum(a.v - b.m) AS d, max(a.id) AS last "
    "FROM gold.bench a JOIN (SELECT k, max(v) AS m FROM gold.bench GROUP BY k) b "
    "ON a.k = b.k GROUP BY a.k ORDER BY a.k"
)
SMALL = "SELECT count(*) FROM gold.bench"


class Cluster:
    """A local cluster in a directory of its own, stopped on exit."""

    def __init__(self, args, executors, s3):
        self.dir = tempfile.mkdtemp(prefix="quarry-bench-cluster-")
        self.base = args.base_port
        self.env = dict(os.environ, QUARRY_CLUSTER_DIR=self.dir)
        command = [str(SCRIPT), "start", "--detach", "-n", str(executors)]
        command += ["--slots", str(args.slots), "--base-port", str(self.base)]
        command += [] if s3 else ["--no-s3"]
        subprocess.run(command, env=self.env, check=True, stdout=subprocess.DEVNULL)

    def __enter__(self):
        return self

    def __exit__(self, *_):
        subprocess.run([str(SCRIPT), "stop"], env=self.env, stdout=subprocess.DEVNULL)
        shutil.rmtree(self.dir, ignore_errors=True)

    def http_port(self, i):
        return self.base + 10 * (i + 1) + 3

    def flight_port(self, i):
        return self.base + 10 * (i + 1)

    def leader(self, limit=30.0):
        """The index of the leading scheduler (0 or 1), waiting up to `limit` s."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            for i in (0, 1):
                try:
                    url = f"http://127.0.0.1:{self.http_port(i)}/readyz"
                    with urllib.request.urlopen(url, timeout=1) as answer:
                        if answer.status == 200:
                            return i
                except OSError:
                    pass
            time.sleep(0.05)
        raise SystemExit("no scheduler leads")

    def connect(self, i=None):
        i = self.leader() if i is None else i
        return flight_sql.connect(f"grpc://127.0.0.1:{self.flight_port(i)}")

    def kill_leader(self):
        i = self.leader()
        pid = int(Path(self.dir, "pids", f"scheduler-{i + 1}.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        return i


def run(conn, sql):
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def timed(conn, sql, runs, expected=None):
    """Median, min and max seconds of `runs` runs of `sql` after one warm-up."""
    answer = run(conn, sql)
    if expected is not None and answer != expected:
        raise SystemExit(f"wrong answer to {sql!r}: {answer[:3]}... against {expected[:3]}...")
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        again = run(conn, sql)
        times.append(time.perf_counter() - start)
        if again != answer:
            raise SystemExit(f"the answer to {sql!r} changed between runs")
    return statistics.median(times), min(times), max(times), answer


def measure_query(args, executors, s3, expected):
    with Cluster(args, executors, s3) as cluster:
        conn = cluster.connect()
        run(conn, "CREATE TABLE gold.bench AS " + TABLE.format(rows=args.rows))
        result = timed(conn, REPORT, args.runs, expected)
        conn.close()
        return result


def measure_failover(args):
    with Cluster(args, 2, True) as cluster:
        conn = cluster.connect()
        run(conn, "CREATE TABLE gold.bench AS " + TABLE.format(rows=100_000))
        conn.close()
        times = []
        for _ in range(args.failovers):
            old = cluster.kill_leader()
            killed = time.perf_counter()
            new = cluster.leader()
            if new == old:
                raise SystemExit("the dead scheduler still leads")
            while True:
                try:
                    conn = cluster.connect(new)
                    if run(conn, SMALL) != [(100_000,)]:
                        raise SystemExit("the new leader lost rows")
                    conn.close()
                    break
                except flight_sql.Error:
                    time.sleep(0.05)
            times.append(time.perf_counter() - killed)
            # The supervisor restarts the killed one as a standby.
            time.sleep(3)
        return statistics.median(times), min(times), max(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=4_000_000, help="rows of the table")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of the query")
    parser.add_argument("--slots", type=int, default=1, help="task slots per executor")
    parser.add_argument("--failovers", type=int, default=3, help="leaders to kill")
    parser.add_argument("--base-port", type=int, default=33000)
    args = parser.parse_args()

    one = measure_query(args, 1, True, None)
    three = measure_query(args, 3, True, one[3])
    local = measure_query(args, 3, False, one[3])
    failover = measure_failover(args)

    def row(name, m, baseline=None):
        ratio = f"{m[0] / baseline[0]:.2f}" if baseline else ""
        return f"| {name} | {m[0]:.3f} | {m[1]:.3f} | {m[2]:.3f} | {ratio} |"

    print(f"Query: the 3-stage report over {args.rows:,} rows; {args.slots} task slot(s) per executor; {args.runs} warm runs.\n")
    print("| run | median s | min s | max s | ratio |")
    print("|---|---|---|---|---|")
    print(row("1 executor, S3 warehouse (baseline of the next)", one))
    print(row("3 executors, S3 warehouse", three, one))
    print(row("3 executors, local-directory warehouse (baseline of the next)", local))
    print(row("3 executors, S3 warehouse", three, local))
    print(row(f"failover: kill -9 of the leader to an answer ({args.failovers} times)", failover))


if __name__ == "__main__":
    main()
