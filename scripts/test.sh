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

# llama-cpp-python has no Linux wheel on PyPI: it compiles (5-10 minutes on 2 cores). Build
# it once into a wheelhouse that later runs reuse, even where pip's own cache is off.
WHEELHOUSE="${SYNAPLEX_WHEELHOUSE:-$HOME/.cache/synaplex/wheels}"
mkdir -p "$WHEELHOUSE"
if ! ls "$WHEELHOUSE"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    echo "Building llama-cpp-python once into $WHEELHOUSE (several minutes)…"
    CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" python -m pip wheel --quiet --disable-pip-version-check \
        --no-deps -w "$WHEELHOUSE" "llama-cpp-python>=0.3.8"
fi

python -m pip install --quiet --disable-pip-version-check --prefer-binary --find-links "$WHEELHOUSE" -e ".[test]"
python -m pytest -q "$@"
