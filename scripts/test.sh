#!/usr/bin/env bash
# Runs every check and test: formatting, the deployment files (offline), lints, unit tests
# and end-to-end tests.
# Needs the Rust toolchain, Python 3 (with venv) and a JDK; end-to-end tests start real
# clusters on 127.0.0.1, read their tables with pyiceberg and DuckDB, and drive them with
# real clients (ADBC, Superset, psql, pgJDBC, psqlODBC, psycopg, sqllogictest), which
# scripts/test-env.sh installs from PyPI, Debian and crates.io on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

eval "$(scripts/test-env.sh)"

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== deploy manifests"
"$QUARRY_PYTHON" tests/deploy/validate.py

echo "== cargo clippy (default features: what the README's first command builds; all features)"
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

echo "== module layering: the modules of the scheduler and of its PostgreSQL door import one another in no cycle"
"$QUARRY_PYTHON" scripts/module-cycles.py scheduler/src
"$QUARRY_PYTHON" scripts/module-cycles.py scheduler/postgres/src

echo "== cargo test"
# Without backtraces a failing test's message ends the output, where a reader sees it.
RUST_BACKTRACE=0 cargo test --workspace --all-features --locked
