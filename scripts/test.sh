#!/usr/bin/env bash
# Install everything the test suite needs on a fresh machine, then run the whole suite.
# The README's test command and .ci/run both run exactly this script.
set -euo pipefail
cd "$(dirname "$0")/.."

# Graphviz renders plot_program's PNGs; its tests assert on real PNG files.
if ! command -v dot >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq graphviz >/dev/null
fi

python -m pip install --quiet --disable-pip-version-check -e ".[test]"
python -m pytest -q "$@"
