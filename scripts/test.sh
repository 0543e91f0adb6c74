#!/usr/bin/env bash
# Runs every check and test: formatting, lints, unit tests and end-to-end tests.
# Needs only the Rust toolchain; end-to-end tests start real clusters on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --workspace --locked
