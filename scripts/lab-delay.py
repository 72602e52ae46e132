#!/usr/bin/env python3
"""User-space link delay for the lab (scripts/lab.sh delay): this kernel has no sch_netem.

    lab-delay.py forward HOST_PORT BRIDGE_PORT MS   copy Ethernet frames between two interfaces,
                                                   holding those from HOST_PORT for MS milliseconds
    lab-delay.py ping ADDRESS COUNT                 ICMP echo round trips to ADDRESS in ms, as JSON
                                                   (min, median, max, lost; no ping binary here)
    lab-delay.py offloads-off IFACE                 turn off checksum, scatter-gather and segmentation
                                                   offloads of IFACE (what `ethtool -K` would; no ethtool here)

`forward` runs in the lab's hub namespace between a host's hub-side veth end (taken off the bridge)
and one end of a veth pair whose other end is on the bridge. Frames the host sends wait MS ms
(a FIFO: the delay is constant, so due times are already in order); frames towards the host pass
at once. So a delay on a host delays what it sends, as `tc qdisc add dev eth0 root netem delay MS`
in that host would: between two delayed hosts each direction waits MS, a round trip 2×MS.

AF_PACKET hands over frames as the sending device left them. With checksum offload a TCP/UDP
checksum is still a partial sum, and with TSO/GSO a frame can be a 64 KB super-frame; neither
survives being re-sent, so the interfaces that transmit into the forwarder (the host's eth0 and the
bridge-side end of the pair) get `offloads-off` first: the kernel then segments and checksums in software.
Own transmissions are not read back (PACKET_IGNORE_OUTGOING, and PACKET_OUTGOING frames are skipped).
Ends on SIGTERM/SIGINT and prints what it forwarded.
"""
from __future__ import annotations

import array
import collections
import fcntl
import json
import os
import select
import signal
import socket
import statistics
import struct
import sys
import time

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_IGNORE_OUTGOING = 23
PACKET_OUTGOING = 4
SIOCETHTOOL = 0x8946
# Legacy ethtool set commands (linux/ethtool.h); each takes struct ethtool_value {u32 cmd; u32 data}.
ETHTOOL_SET = {"tx-checksum": 0x17, "scatter-gather": 0x19, "tso": 0x1F, "gso": 0x24, "gro": 0x2C}
ETHTOOL_GET = {"tx-checksum": 0x16, "scatter-gather": 0x18, "tso": 0x1E, "gso": 0x23, "gro": 0x2B}


def ethtool(iface: str, command: int, data: int = 0) -> int:
    value = array.array("I", [command, data])
    address, _ = value.buffer_info()
    request = struct.pack("16sP", iface.encode(), address).ljust(40, b"\0")  # struct ifreq with ifr_data
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        fcntl.ioctl(s.fileno(), SIOCETHTOOL, request)
    return value[1]


def offloads_off(iface: str) -> None:
    for feature in ("tso", "gso", "gro", "scatter-gather", "tx-checksum"):
        ethtool(iface, ETHTOOL_SET[feature], 0)
    still = [f for f in ETHTOOL_GET if ethtool(iface, ETHTOOL_GET[f])]
    if still:
        sys.exit(f"lab-delay: {iface} still has {', '.join(still)} on")


def packet_socket(iface: str) -> socket.socket:
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    s.bind((iface, ETH_P_ALL))
    s.setblocking(False)
    return s


def forward(host_port: str, bridge_port: str, ms: float) -> None:
    host, bridge = packet_socket(host_port), packet_socket(bridge_port)
    delay = ms / 1000
    held: collections.deque[tuple[float, bytes]] = collections.deque()
    counts = collections.Counter()
    running = True

    def stop(*_):
        nonlocal running
        running = False
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def send(s: socket.socket, frame: bytes, what: str) -> None:
        try:
            s.send(frame)
            counts[what] += 1
        except OSError:  # ENOBUFS, or a frame longer than the MTU if an offload slipped through
            counts[what + " failed"] += 1

    print(f"ready: {host_port} -> {bridge_port} held {ms} ms, {bridge_port} -> {host_port} at once", flush=True)
    while running:
        timeout = max(0.0, held[0][0] - time.monotonic()) if held else 0.2
        try:
            readable, _, _ = select.select([host, bridge], [], [], timeout)
        except InterruptedError:
            continue
        for s in readable:
            while True:
                try:
                    frame, address = s.recvfrom(65536)
                except BlockingIOError:
                    break
                if address[2] == PACKET_OUTGOING:
                    continue
                if len(frame) > 1518:
                    counts["oversized"] += 1
                if s is host:
                    held.append((time.monotonic() + delay, frame))
                else:
                    send(host, frame, "to host")
        now = time.monotonic()
        while held and held[0][0] <= now:
            send(bridge, held.popleft()[1], "from host (delayed)")
    print(f"lab-delay {host_port}: {dict(counts)}, {len(held)} frames still held at exit", file=sys.stderr, flush=True)


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ping(address: str, count: int, interval: float = 0.05, timeout: float = 1.0) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    ident = os.getpid() & 0xFFFF
    rtts, lost = [], 0
    for seq in range(count):
        header = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
        payload = b"exo-lab-ping".ljust(56, b".")
        sent = time.monotonic()
        try:
            s.sendto(struct.pack("!BBHHH", 8, 0, checksum(header + payload), ident, seq) + payload, (address, 0))
        except PermissionError:  # dropped on the way out by a firewall rule (Lab.drop_outbound)
            lost += 1
            time.sleep(interval)
            continue
        while True:
            left = sent + timeout - time.monotonic()
            if left <= 0 or not select.select([s], [], [], left)[0]:
                lost += 1
                break
            packet = s.recv(2048)
            icmp = packet[(packet[0] & 0x0F) * 4:]
            kind, _, _, their_ident, their_seq = struct.unpack("!BBHHH", icmp[:8])
            if kind == 0 and their_ident == ident and their_seq == seq:
                rtts.append((time.monotonic() - sent) * 1000)
                break
        time.sleep(interval)
    rtts.sort()
    print(json.dumps({"min": rtts[0] if rtts else None, "median": statistics.median(rtts) if rtts else None,
                      "max": rtts[-1] if rtts else None, "received": len(rtts), "lost": lost}))


def main(argv: list[str]) -> None:
    if len(argv) == 4 and argv[0] == "forward":
        forward(argv[1], argv[2], float(argv[3]))
    elif len(argv) == 3 and argv[0] == "ping":
        ping(argv[1], int(argv[2]))
    elif len(argv) == 2 and argv[0] == "offloads-off":
        offloads_off(argv[1])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
