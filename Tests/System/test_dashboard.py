"""The dashboard at GET /, rendered by headless Chromium from inside a lab host (Debian package `chromium`).

Chromium runs as root here, so it needs --no-sandbox. --virtual-time-budget lets the page's scripts
fetch /peers, /instances and /v1/models and render before the DOM is dumped or the screenshot taken.
"""
import json
import shutil
import struct
import zlib

import pytest

from test_chat import MODEL
from test_discovery import peers_seen

WIDTH, HEIGHT = 1280, 900


def chromium(lab, host, profile, *args):
    """Runs headless Chromium in `host`'s namespace with a profile of its own; returns stdout."""
    result = lab.run(host, "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                     "--no-first-run", f"--user-data-dir={profile}", "--virtual-time-budget=4000", *args, timeout=30)
    return result.stdout


def png_pixels(data: bytes) -> tuple[int, int, bytes]:
    """(width, height, decompressed scanlines) of a PNG, checking its signature, chunk CRCs and size."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    offset, header, idat = 8, None, b""
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        body = data[offset + 8:offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length:offset + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in {kind!r}"
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        offset += 12 + length
    assert header is not None and idat, "PNG without IHDR or IDAT"
    width, height, depth, color = header[:4]
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color]
    pixels = zlib.decompress(idat)
    assert len(pixels) == height * (1 + width * channels * depth // 8), "truncated image data"
    return width, height, pixels


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs the Debian package chromium (scripts/install-deps.sh)")
def test_dashboard_renders_peers_instances_and_chat_in_headless_chromium(make_lab):
    lab = make_lab(2)
    for host in (1, 2):
        lab.start(host)
    for host in (1, 2):
        lab.wait_for(lambda host=host: len(peers_seen(lab, host)) == 2, timeout=20, what=f"node {host} sees both")
    node1 = lab.json(1, "/health")["node"]
    node2 = lab.json(2, "/health")["node"]
    status, text = lab.http(1, "/instances", method="POST", body={"model": MODEL}, loopback=True)
    assert status == 201, text
    instance = json.loads(text)["id"]
    lab.wait_for(lambda: [(i["id"], [r["runner"] for r in i["ranks"]]) for i in lab.json(2, "/instances")["instances"]] == [(instance, ["ready"])],
                 timeout=30, what="the instance ready on node 2")

    # Host 2's browser opens node 1's dashboard over the lab network, as an operator's would.
    url = f"http://{lab.address(1)}:52415/"
    dom = chromium(lab, 2, lab.root / "chromium-dom", "--dump-dom", url)
    for node in (node1, node2):
        assert f'<tr class="peer" data-node="{node}">' in dom, f"no peer row for {node[:8]} in:\n{dom[:3000]}"
    assert f"{node1[:8]} (this)" in dom
    assert '<span class="pill alive">alive</span>' in dom
    assert f'<tr class="rank" data-instance="{instance}">' in dom  # ranks with their runner states
    assert '<span class="pill ready">ready</span>' in dom         # its runner's gossiped state
    assert '<form id="form">' in dom and 'id="prompt"' in dom          # the chat box
    assert f"<option>{MODEL}</option>" in dom                          # its model list came from /v1/models

    shot = lab.root / "dashboard.png"
    chromium(lab, 2, lab.root / "chromium-shot", f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}", url)
    data = shot.read_bytes()
    width, height, pixels = png_pixels(data)
    assert (width, height) == (WIDTH, HEIGHT)
    assert len(data) > 10_000, f"a {len(data)}-byte screenshot is too small to hold the page"
    assert len(set(pixels)) > 32, "the screenshot is (nearly) one colour: nothing rendered"
    for host in (1, 2):
        assert lab.stop(host) == 0
