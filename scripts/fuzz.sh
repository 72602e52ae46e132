#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer + AddressSanitizer) of the parsers of untrusted bytes: the mesh frame
# decoder, the handshake, the GGUF reader and gossip decoding. Harnesses: Fuzz/ (see Fuzz/README.md).
#
#   scripts/fuzz.sh [TARGET|all] [SECONDS]    fuzz one target, or each in turn, SECONDS each (default 30)
#   FUZZ_MERGE=1 scripts/fuzz.sh TARGET S     then minimize committed corpus + new finds into Fuzz/corpus/TARGET
#   scripts/fuzz.sh seeds                     rewrite the harnesses' seed inputs into Fuzz/corpus/*
#
# Each run starts from the committed corpus (Fuzz/corpus/TARGET) and the inputs that once crashed it
# (Fuzz/regressions/TARGET, replayed by the unit tests too), and keeps what it finds under
# Fuzz/artifacts/ (ignored by git). One process, one job: the machine is shared. Exits non-zero on a crash,
# leaving the input that crashed in Fuzz/artifacts/TARGET/.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=(frame handshake gguf gossip)
target="${1:-all}"
seconds="${2:-30}"
BIN=Fuzz/.build/release
MODEL="${EXO_MODELS:-${EXO_HOME:-$HOME/.exo-peer}/models}/SmolLM2-135M-Instruct.Q4_1.gguf"

say() { echo "fuzz: $*" >&2; }

case "$target" in
    all) selected=("${TARGETS[@]}") ;;
    seeds) selected=("${TARGETS[@]}") ;;
    frame|handshake|gguf|gossip) selected=("$target") ;;
    *) say "unknown target '$target' (one of: ${TARGETS[*]}, all, seeds)"; exit 2 ;;
esac

# One -sanitize flag naming both: of two, the later replaces the earlier, and coverage would silently go.
# --sanitize=fuzzer as well, so SwiftPM lets libFuzzer provide main.
say "building the harnesses (Fuzz/.build, instrumented for libFuzzer and AddressSanitizer)"
(cd Fuzz && swift build -c release --sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address 2>&1 | grep -v "Cannot export local symbol '__asan_extra_spill_area'") >&2

# The Swift runtime's backtracer would catch the crash first and exit without libFuzzer saving the input.
export SWIFT_BACKTRACE=enable=no
# Swift's runtime caches look like leaks to LeakSanitizer; memory growth is caught by -rss_limit_mb instead.
export ASAN_OPTIONS="detect_leaks=0:${ASAN_OPTIONS:-}"

if [ "$target" = seeds ]; then
    for t in "${selected[@]}"; do EXO_FUZZ_SEEDS="Fuzz/corpus/$t" "$BIN/fuzz-$t"; done
    if [ -f "$MODEL" ]; then head -c 8192 "$MODEL" > Fuzz/corpus/gguf/smollm2-first-8k; else say "no model at $MODEL: skipped its seed"; fi
    exit 0
fi

failed=()
for t in "${selected[@]}"; do
    work="Fuzz/artifacts/$t"
    mkdir -p "$work/new" "Fuzz/corpus/$t"
    say "$t: ${seconds}s over Fuzz/corpus/$t"
    # New inputs go to $work/new (first directory); the committed corpus and past crashes are only read.
    inputs=("Fuzz/corpus/$t")
    [ -d "Fuzz/regressions/$t" ] && inputs+=("Fuzz/regressions/$t")
    if ! "$BIN/fuzz-$t" "$work/new" "${inputs[@]}" -max_total_time="$seconds" \
            -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 -print_final_stats=1 \
            -artifact_prefix="$work/" > "$work/log" 2>&1; then
        failed+=("$t")
        say "$t: CRASH; the input is in $work/ (crash-*, oom-*, timeout-*), the log in $work/log:"
        grep -E "ERROR|SUMMARY|Fatal error|fuzz invariant|Test unit written" "$work/log" | head -20 >&2 || true
        continue
    fi
    grep -E "^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)|DONE" "$work/log" | sed "s/^/fuzz: $t: /" >&2 || true
    if [ "${FUZZ_MERGE:-0}" = 1 ]; then
        fresh="$work/merged"
        rm -rf "$fresh" && mkdir -p "$fresh"
        "$BIN/fuzz-$t" -merge=1 "$fresh" "Fuzz/corpus/$t" "$work/new" -rss_limit_mb=2048 -malloc_limit_mb=1024 >> "$work/log" 2>&1
        rm -rf "Fuzz/corpus/$t" && mv "$fresh" "Fuzz/corpus/$t"
        say "$t: corpus minimized to $(ls "Fuzz/corpus/$t" | wc -l) inputs, $(du -sh "Fuzz/corpus/$t" | cut -f1)"
    fi
done

if [ ${#failed[@]} -gt 0 ]; then say "crashes in: ${failed[*]}"; exit 1; fi
say "no crashes"
