#!/usr/bin/env bash
# Sets up what the end-to-end tests need besides Rust: a Python virtual environment
# with the engines that read Quarry's tables and the TPC-H generator
# (tests/interop/requirements.txt), installed from PyPI into ~/.cache/quarry/venv and
# reused while the requirements are unchanged; and a font for benchmark charts.
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
# The TPC-H report's chart needs a TrueType font.
if ! ls /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf >/dev/null 2>&1; then
    echo "== installing fonts-dejavu-core (Debian) for benchmark charts" >&2
    if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
    { $sudo apt-get update -qq && $sudo apt-get install -y -qq fonts-dejavu-core; } >&2
fi
echo "export QUARRY_PYTHON=$venv/bin/python"
