#!/usr/bin/env bash
# Runs every check and test: formatting, lints, unit tests and end-to-end tests.
# Needs the Rust toolchain and Python 3 (with venv); end-to-end tests start real
# clusters on 127.0.0.1 and read their tables with pyiceberg and DuckDB, which
# scripts/test-env.sh installs from PyPI on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

eval "$(scripts/test-env.sh)"

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --workspace --locked
