#!/usr/bin/env bash
# Engine speed next to llama.cpp's, measured in the same run on the same model, prompt, token
# counts and thread counts (issue 4). llama.cpp comes from the PyPI package llama-cpp-python,
# compiled from source for this CPU into a virtualenv outside the repository (a few minutes on
# two cores, once). Extra arguments go to `exo-peer bench` (e.g. --threads 2 --repeats 5).
# Not part of the test suite.
set -euo pipefail

LLAMA_CPP_PYTHON_VERSION="0.3.36"   # the version the fixtures were made with
VENV="${EXO_BENCH_VENV:-${EXO_CACHE:-$HOME/.cache/exo-peer}/bench-venv}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${EXO_PEER:-$ROOT/.build/release/exo-peer}"

say() { echo "bench: $*" >&2; }
fail() { say "error: $*"; exit 1; }

installed() {
    [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c \
        "import llama_cpp, sys; sys.exit(llama_cpp.__version__ != '$LLAMA_CPP_PYTHON_VERSION')" 2>/dev/null
}

if ! installed; then
    say "building llama-cpp-python $LLAMA_CPP_PYTHON_VERSION (llama.cpp from source, native CPU) into $VENV"
    python3 -m venv "$VENV" || fail "cannot create $VENV (python3-venv missing?)"
    "$VENV/bin/pip" install --disable-pip-version-check --progress-bar off --upgrade pip >&2
    CMAKE_ARGS="-DGGML_NATIVE=ON" FORCE_CMAKE=1 \
        "$VENV/bin/pip" install --disable-pip-version-check --progress-bar off --no-binary llama-cpp-python \
        "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" numpy >&2 \
        || fail "pip could not build llama-cpp-python; see the output above"
    installed || fail "llama-cpp-python $LLAMA_CPP_PYTHON_VERSION is not importable from $VENV"
fi

[ -x "$BIN" ] || fail "$BIN is missing: run 'swift build -c release' first (or set EXO_PEER)"
exec "$BIN" bench --llama-cpp-python "$VENV/bin/python" --llama-cpp-script "$ROOT/scripts/llama_cpp_bench.py" "$@"
