#!/usr/bin/env bash
# Multi-node system tests: real exo-peer processes in network namespaces (Tests/System, pytest).
# Python packages come from PyPI into a cached virtualenv outside the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${EXO_VENV:-$HOME/.cache/exo-peer/test-venv}"
REQUIREMENTS="pytest==9.0.3 openai==3.54.0"
if [ ! -f "$VENV/.requirements" ] || [ "$(cat "$VENV/.requirements")" != "$REQUIREMENTS" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check $REQUIREMENTS
    echo "$REQUIREMENTS" > "$VENV/.requirements"
fi
[ -x "${EXO_PEER_BIN:-.build/release/exo-peer}" ] || { echo "system-tests: build first (make test-build)" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "system-tests: network namespaces need root" >&2; exit 1; }
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider Tests/System "$@"
