#!/usr/bin/env bash
# Sets up what the end-to-end tests need besides Rust: a Python virtual environment
# with the engines that read Quarry's tables (tests/interop/requirements.txt), installed
# from PyPI into ~/.cache/quarry/venv and reused while the requirements are unchanged.
# Prints the environment to export (QUARRY_PYTHON).
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${QUARRY_VENV:-$HOME/.cache/quarry/venv}"
requirements=tests/interop/requirements.txt
stamp="$venv/.requirements"
if ! cmp -s "$requirements" "$stamp" 2>/dev/null; then
    echo "== Python test environment: installing into $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" >&2
    cp "$requirements" "$stamp"
fi
echo "export QUARRY_PYTHON=$venv/bin/python"
