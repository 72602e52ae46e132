#!/usr/bin/env bash
# Installs the Debian packages exo-peer builds and runs against. Skips apt when all are present.
set -euo pipefail
PACKAGES=(libsodium-dev libopenblas-dev libavahi-client-dev avahi-daemon avahi-utils dbus iproute2 pkg-config nftables chromium)
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all system packages present" >&2
    exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
