#!/usr/bin/env python3
"""Pipeline overhead: decode and prefill speed of one model served locally, and by instances of 1, 2
and 3 ranks on nodes started here on loopback (127.0.0.1, static peers, no mDNS). The same greedy
request each time; figures come from the nodes' own /metrics, ratios against the local engine measured
in the same run. Usage: scripts/bench-pipeline.py [--tokens 128] [--threads 1] [--repeats 3]"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BINARY = Path(os.environ.get("EXO_PEER_BIN", REPO / ".build" / "release" / "exo-peer"))
MODELS = Path(os.environ.get("EXO_MODELS", Path.home() / ".exo-peer" / "models"))
MODEL = "SmolLM2-135M-Instruct.Q4_1"
BASE = 47000


def http(port, path, body=None, method=None):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method or ("POST" if body else "GET"),
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=300) as response:
        return response.read().decode()


def wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception:
            pass
        time.sleep(0.1)
    sys.exit(f"bench-pipeline: timed out waiting for {what}")


def gauge(port, name):
    match = re.search(rf"^exo_{name} (\S+)$", http(port, "/metrics"), re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="exo-bench-pipeline-"))
    nodes = []
    try:
        for i in range(3):
            home = root / f"node{i}"
            home.mkdir()
            (home / "models").symlink_to(MODELS)
            peers = [] if i == 0 else ["--peer", f"127.0.0.1:{BASE + 1}"]
            log = open(root / f"node{i}.log", "wb")
            nodes.append(subprocess.Popen([str(BINARY), "node", "--no-mdns", "--host", "127.0.0.1", "--port", str(BASE + 10 * i),
                                           "--mesh-port", str(BASE + 10 * i + 1), "--threads", str(args.threads), *peers],
                                          env={**os.environ, "EXO_HOME": str(home)}, stdout=log, stderr=subprocess.STDOUT))
        ports = [BASE + 10 * i for i in range(3)]
        wait(lambda: all(len(json.loads(http(p, "/peers"))["peers"]) == 3 for p in ports), 30, "3 nodes to see each other")
        body = {"model": MODEL, "temperature": 0, "max_tokens": args.tokens,
                "messages": [{"role": "user", "content": "Write a long story about a lighthouse keeper and the sea."}]}

        def measure(port):
            best = None
            for _ in range(args.repeats):
                answer = json.loads(http(port, "/v1/chat/completions", body))
                figure = gauge(port, "decode_tokens_per_second")
                best = figure if best is None else max(best, figure)
            return best, answer["usage"]["completion_tokens"], answer["choices"][0]["message"]["content"]

        results = {}
        results["local engine"] = measure(ports[0])
        for ranks in (1, 2, 3):
            created = json.loads(http(ports[0], "/instances", {"model": MODEL, "min_nodes": ranks, "max_nodes": ranks}))
            instance = created["id"]
            driver = created["instance"]["ranks"][0]["node"]

            def ready():
                rows = json.loads(http(ports[0], "/instances"))["instances"]
                return rows and all(r["runner"] == "ready" for r in rows[0]["ranks"])
            wait(ready, 60, f"{ranks} ranks ready")
            driver_port = next(p for p in ports if json.loads(http(p, "/health"))["node"] == driver)
            results[f"instance, {ranks} rank{'s' if ranks > 1 else ''}"] = measure(driver_port)
            http(ports[0], f"/instances/{instance}", method="DELETE")
            wait(lambda: not json.loads(http(ports[0], "/instances"))["instances"], 30, "the instance to go")
            time.sleep(1)

        reference = results["local engine"][0]
        texts = {r[2] for r in results.values()}
        print(f"decode tok/s, {args.tokens} greedy tokens, {args.threads} thread(s) per node, best of {args.repeats}, 3 nodes on loopback:")
        for name, (tps, tokens, _) in results.items():
            print(f"  {name:<22} {tps:7.1f} tok/s  ({tps / reference:.2f}× local, {tokens} tokens)")
        print("  same text from every configuration:", "yes" if len(texts) == 1 else f"NO ({len(texts)} different)")
        return 0 if len(texts) == 1 else 1
    finally:
        for node in nodes:
            node.send_signal(signal.SIGTERM)
        for node in nodes:
            try:
                node.wait(10)
            except subprocess.TimeoutExpired:
                node.kill()


if __name__ == "__main__":
    sys.exit(main())
