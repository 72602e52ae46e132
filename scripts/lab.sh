#!/usr/bin/env bash
# A lab of N hosts on one machine: network namespaces joined by a bridge, each with its own
# D-Bus system bus and Avahi daemon, so mDNS discovery is exercised for real (../shared/TESTING.md).
#
#   scripts/lab.sh up NAME N        create hosts NAME-1..NAME-N (10.77.X.1..N/24 on a private bridge)
#   scripts/lab.sh exec NAME I CMD  run CMD in host I with its D-Bus (DBUS_SYSTEM_BUS_ADDRESS set)
#   scripts/lab.sh ip NAME I        print host I's address
#   scripts/lab.sh delay NAME I MS  hold every frame host I sends for MS ms (0: undo; prints what the
#                                   forwarder it stops had forwarded); see below
#   scripts/lab.sh down NAME        stop every daemon this lab started (by PID) and delete its namespaces
#
# Only the lab's own namespaces, links and daemons are touched; `down` is safe to repeat.
# Needs root, iproute2, dbus-daemon, avahi-daemon.
set -euo pipefail

STATE_ROOT="${EXO_LAB_STATE:-/tmp/exo-lab}"
cmd="${1:-}"; name="${2:-}"
[ -n "$cmd" ] && [ -n "$name" ] || { sed -n '2,13p' "$0" >&2; exit 2; }
[[ "$name" =~ ^[a-z][a-z0-9]{0,5}$ ]] || { echo "lab: NAME must be 1-6 lowercase letters/digits (interface names are short)" >&2; exit 2; }
dir="$STATE_ROOT/$name"
here="$(cd "$(dirname "$0")" && pwd)"
PYTHON="${PYTHON:-python3}"

# A /24 per lab name, so two labs can exist side by side.
subnet_octet() { echo $(( ($(printf '%s' "$1" | cksum | cut -d' ' -f1) % 200) + 20 )); }

host_addr() { echo "10.77.$(subnet_octet "$name").$1"; }

write_dbus_config() { # $1 = host dir
    cat > "$1/bus.conf" <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$1/bus.sock</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
    <allow send_interface="*"/>
  </policy>
</busconfig>
CONF
}

write_avahi_config() { # $1 = host dir, $2 = interface, $3 = host name
    cat > "$1/avahi.conf" <<CONF
[server]
host-name=$3
use-ipv4=yes
use-ipv6=no
allow-interfaces=$2
ratelimit-interval-usec=1000000
ratelimit-burst=1000
[wide-area]
enable-wide-area=no
[publish]
publish-workstation=no
publish-hinfo=no
publish-addresses=yes
CONF
}

up() {
    local n="$1"
    [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 50 ] || { echo "lab: N must be 1..50" >&2; exit 2; }
    if [ -d "$dir" ]; then down; fi
    mkdir -p "$dir"
    echo "$n" > "$dir/size"
    ip netns add "$name-hub"
    ip -n "$name-hub" link add br0 type bridge
    ip -n "$name-hub" link set br0 up
    for i in $(seq 1 "$n"); do
        local h="$dir/host$i"; mkdir -p "$h/run"
        ip netns add "$name-$i"
        ip link add "${name}v$i" type veth peer name "${name}h$i"
        ip link set "${name}v$i" netns "$name-$i"
        ip link set "${name}h$i" netns "$name-hub"
        ip -n "$name-hub" link set "${name}h$i" master br0
        ip -n "$name-hub" link set "${name}h$i" up
        ip -n "$name-$i" link set lo up
        ip -n "$name-$i" link set "${name}v$i" name eth0
        ip -n "$name-$i" addr add "$(host_addr "$i")/24" dev eth0
        ip -n "$name-$i" link set eth0 up
        write_dbus_config "$h"
        ip netns exec "$name-$i" dbus-daemon --config-file="$h/bus.conf" --fork --print-pid > "$h/dbus.pid"
        write_avahi_config "$h" eth0 "$name-$i"
        # A private mount namespace gives each daemon its own /run/avahi-daemon (pid file, socket).
        mkdir -p /run/avahi-daemon
        ip netns exec "$name-$i" unshare -m sh -c \
            "mount --bind '$h/run' /run/avahi-daemon && \
             DBUS_SYSTEM_BUS_ADDRESS=unix:path=$h/bus.sock \
             exec avahi-daemon -f '$h/avahi.conf' --no-drop-root --no-chroot --no-rlimits" \
            > "$h/avahi.log" 2>&1 &
        echo $! > "$h/avahi.pid"
    done
    # Wait until every daemon has claimed its bus name (it is then browsable).
    for i in $(seq 1 "$n"); do
        local ok=0
        for _ in $(seq 1 100); do
            if DBUS_SYSTEM_BUS_ADDRESS="unix:path=$dir/host$i/bus.sock" ip netns exec "$name-$i" \
                avahi-browse -apt >/dev/null 2>&1; then ok=1; break; fi
            sleep 0.1
        done
        [ "$ok" = 1 ] || { echo "lab: avahi-daemon in $name-$i did not start; see $dir/host$i/avahi.log" >&2; exit 1; }
    done
    echo "lab $name: $n hosts up ($(host_addr 1) … $(host_addr "$n"))" >&2
}

# Delay without sch_netem (this kernel has none): host I's hub-side end ${name}hI leaves the bridge and
# a forwarder in the hub namespace (scripts/lab-delay.py, PID in host I's dir, so `down` ends it) copies
# frames between it and a veth pair ${name}dI/${name}bI whose ${name}bI end takes its place on the bridge,
# holding the frames host I sends for MS ms. Offloads go off on host I's eth0 and on ${name}bI so that
# the frames the forwarder reads are complete (checksummed, at most MTU-sized).
delay() {
    local i="$1" ms="$2" hub="$name-hub" h="$dir/host$1"
    [[ "$i" =~ ^[0-9]+$ ]] && [ -d "$h" ] || { echo "lab: no host $i in lab $name" >&2; exit 2; }
    [[ "$ms" =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "lab: MS must be a number" >&2; exit 2; }
    if [ -f "$h/delay.pid" ]; then
        stop_pid "$h/delay.pid"
        # The stopped forwarder's last words: what it forwarded, and any frame it could not re-send.
        tail -n 1 "$h/delay.log"
    fi
    if [[ "$ms" =~ ^0*(\.0*)?$ ]]; then
        if ip -n "$hub" link show "${name}b$i" >/dev/null 2>&1; then
            local master; master=$(port_master "${name}b$i")
            ip -n "$hub" link del "${name}d$i"
            ip -n "$hub" link set "${name}h$i" master "$master"
        fi
        return 0
    fi
    if ! ip -n "$hub" link show "${name}b$i" >/dev/null 2>&1; then
        local master; master=$(port_master "${name}h$i")
        ip -n "$hub" link add "${name}d$i" type veth peer name "${name}b$i"
        ip netns exec "$hub" "$PYTHON" "$here/lab-delay.py" offloads-off "${name}b$i"
        ip netns exec "$name-$i" "$PYTHON" "$here/lab-delay.py" offloads-off eth0
        ip -n "$hub" link set "${name}h$i" nomaster
        ip -n "$hub" link set "${name}b$i" master "$master"
        ip -n "$hub" link set "${name}d$i" up
        ip -n "$hub" link set "${name}b$i" up
    fi
    : > "$h/delay.log"
    ip netns exec "$hub" "$PYTHON" -u "$here/lab-delay.py" forward "${name}h$i" "${name}d$i" "$ms" >> "$h/delay.log" 2>&1 &
    echo $! > "$h/delay.pid"
    for _ in $(seq 1 50); do
        grep -q '^ready' "$h/delay.log" && return 0
        kill -0 "$(cat "$h/delay.pid")" 2>/dev/null || break
        sleep 0.1
    done
    echo "lab: delay forwarder for host $i did not start; see $h/delay.log" >&2; cat "$h/delay.log" >&2; exit 1
}

port_master() { # the bridge a hub-side port is on (br0 when none)
    local m; m=$(ip -n "$name-hub" -o link show "$1" | grep -o 'master [^ ]*' | cut -d' ' -f2)
    echo "${m:-br0}"
}

stop_pid() { # $1 = pid file: SIGTERM the process we recorded there, wait up to 2 s, then SIGKILL
    [ -f "$1" ] || return 0
    local pid; pid=$(cat "$1"); rm -f "$1"
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
}

down() {
    [ -d "$dir" ] || return 0
    local n; n=$(cat "$dir/size" 2>/dev/null || echo 0)
    for i in $(seq 1 "$n"); do
        for f in "$dir/host$i"/*.pid; do
            [ -f "$f" ] || continue
            local pid; pid=$(cat "$f")
            # Only a PID we recorded, and only while it is still one of ours (same netns).
            if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill "$pid" 2>/dev/null || true; fi
        done
    done
    sleep 0.2
    for i in $(seq 1 "$n"); do
        for f in "$dir/host$i"/*.pid; do
            [ -f "$f" ] || continue
            local pid; pid=$(cat "$f"); [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
        done
        ip netns del "$name-$i" 2>/dev/null || true
    done
    ip netns del "$name-hub" 2>/dev/null || true
    rm -rf "$dir"
}

case "$cmd" in
    up) up "${3:?N}" ;;
    down) down ;;
    ip) host_addr "${3:?I}" ;;
    delay) delay "${3:?I}" "${4:?MS}" ;;
    exec)
        i="${3:?I}"; shift 3
        exec env DBUS_SYSTEM_BUS_ADDRESS="unix:path=$dir/host$i/bus.sock" ip netns exec "$name-$i" "$@" ;;
    *) echo "lab: unknown command $cmd" >&2; exit 2 ;;
esac
