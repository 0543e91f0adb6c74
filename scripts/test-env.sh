#!/usr/bin/env bash
# Sets up what the end-to-end tests need besides Rust, from PyPI and Debian packages,
# and prints the environment to export:
# - QUARRY_PYTHON: a virtual environment with the engines that read Quarry's tables,
#   the TPC-H generator and kubernetes-validate, which checks deploy/kubernetes
#   (tests/interop/requirements.txt), in ~/.cache/quarry/venv;
# - QUARRY_CLIENTS_PYTHON: one with the Flight SQL clients (ADBC, flightsql-dbapi and
#   Apache Superset) and psycopg (tests/clients/requirements.txt), in
#   ~/.cache/quarry/venv-clients. They need SQLAlchemy 1.4 where pyiceberg needs 2, hence
#   two environments;
# - QUARRY_DBT_PYTHON: dbt-core with dbt-postgres and DuckDB (tests/dbt/requirements.txt),
#   which pin versions of their own, in ~/.cache/quarry/venv-dbt.
# Each is reused while its requirements are unchanged. From Debian: the PostgreSQL
# clients (psql, pgJDBC, psqlODBC with unixODBC), etcd, protoc (which the `etcd`
# feature's client library is built with) and a font for benchmark charts. From
# crates.io: sqllogictest's runner (QUARRY_SQLLOGICTEST) and s3s-fs, an S3 server over
# a directory (QUARRY_S3S_FS), in ~/.cache/quarry/tools.
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${QUARRY_CACHE:-$HOME/.cache/quarry}"

# venv DIR REQUIREMENTS: (re)creates DIR from REQUIREMENTS unless it is up to date and
# whole (an install cut short leaves no interpreter).
venv() {
    local dir="$1" requirements="$2"
    if [ ! -x "$dir/bin/python" ] || ! cmp -s "$requirements" "$dir/.requirements" 2>/dev/null; then
        echo "== Python test environment: installing $requirements into $dir" >&2
        rm -rf "$dir"
        python3 -m venv "$dir"
        "$dir/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" >&2
        cp "$requirements" "$dir/.requirements"
    fi
}
venv "${QUARRY_VENV:-$cache/venv}" tests/interop/requirements.txt
venv "$cache/venv-clients" tests/clients/requirements.txt
venv "$cache/venv-dbt" tests/dbt/requirements.txt

# Debian packages, each named with a file it installs.
missing=()
need() { [ -e "$2" ] || missing+=("$1"); }
need fonts-dejavu-core /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf # benchmark charts
need postgresql-client /usr/bin/psql
need libpostgresql-jdbc-java /usr/share/java/postgresql.jar
need unixodbc /usr/bin/isql
need odbc-postgresql /usr/lib/x86_64-linux-gnu/odbc/psqlodbcw.so
need etcd-server /usr/bin/etcd                                        # the cluster's catalog
need protobuf-compiler /usr/bin/protoc                                # etcd-client's build
need libprotobuf-dev /usr/include/google/protobuf/descriptor.proto
if [ "${#missing[@]}" -gt 0 ]; then
    echo "== installing ${missing[*]} (Debian)" >&2
    if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
    { $sudo apt-get update -qq && $sudo apt-get install -y -qq "${missing[@]}"; } >&2
fi
# sqllogictest's runner (crate sqllogictest-bin), for the .slt files of tests/slt/.
tools="$cache/tools"
if [ ! -x "$tools/bin/sqllogictest" ]; then
    echo "== installing sqllogictest-bin (crates.io) into $tools" >&2
    cargo install --quiet --locked --root "$tools" sqllogictest-bin@0.29.1 >&2
fi
# An S3-compatible server for the object-storage tests (no MinIO package here).
if [ ! -x "$tools/bin/s3s-fs" ]; then
    echo "== installing s3s-fs (crates.io) into $tools" >&2
    cargo install --quiet --locked --root "$tools" --features binary s3s-fs@0.14.1 >&2
fi
echo "export QUARRY_SQLLOGICTEST=$tools/bin/sqllogictest"
echo "export QUARRY_S3S_FS=$tools/bin/s3s-fs"
echo "export QUARRY_PYTHON=${QUARRY_VENV:-$cache/venv}/bin/python"
echo "export QUARRY_CLIENTS_PYTHON=$cache/venv-clients/bin/python"
echo "export QUARRY_DBT_PYTHON=$cache/venv-dbt/bin/python"
