#!/usr/bin/env bash
# Prints the gossip figures of README.md ("Gossip figures"): the simulation at N = 10, 100 and 1,000
# (about 5 minutes on a 2-core machine, most of it N = 1,000), with per-scenario wall times on stderr.
# Extra arguments go to `exo-peer sim` (e.g. --nodes 1000 --seed 2). Exit status 1 when a target is missed.
set -euo pipefail
cd "$(dirname "$0")/.."
# The flags of `make test` (Makefile BUILD_FLAGS): another set would rebuild every module.
swift build -c release -Xswiftc -enable-testing --product exo-peer >&2
exec .build/release/exo-peer sim --verbose "$@"
