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

# Chromium for the playground page's tests (tests/test_playground.py): Playwright drives the
# system's browser, so no browser download from Playwright's CDN is needed.
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq chromium >/dev/null
fi

# synaplex[test] with the portable llama.cpp: scripts/install.py is the one build recipe. It
# compiles llama-cpp-python once (a few minutes on 2 cores) into a wheelhouse keyed by its
# version and flags, which later runs reuse, and smoke-tests the library before any test runs.
python scripts/install.py --extra test
python -m pytest -q "$@"
