"""A lab of exo-peer nodes, each in its own network namespace with its own D-Bus and Avahi daemon.

Wraps scripts/lab.sh. Every node process is started by us and ended by its PID; `close()` tears the
lab down even when a test fails (use it as a context manager or a pytest fixture).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LAB = REPO / "scripts" / "lab.sh"
DELAY = REPO / "scripts" / "lab-delay.py"
BINARY = Path(os.environ.get("EXO_PEER_BIN", REPO / ".build" / "release" / "exo-peer"))
MODELS = Path(os.environ.get("EXO_MODELS", Path.home() / ".exo-peer" / "models"))
# The real published models (make test fetches them here), kept apart: tests count what MODELS holds.
REAL_MODELS = Path(os.environ.get("EXO_TEST_MODELS", Path.home() / ".cache" / "exo-peer" / "models"))
API_PORT = 52415


@dataclass
class NodeProcess:
    host: int
    home: Path
    log: Path
    process: subprocess.Popen
    args: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None


class Lab:
    def __init__(self, name: str, size: int):
        self.name, self.size = name, size
        self.root = Path(tempfile.mkdtemp(prefix=f"exo-lab-{name}-"))
        self.nodes: dict[int, NodeProcess] = {}
        self.delayed: dict[int, float] = {}
        subprocess.run([str(LAB), "up", name, str(size)], check=True)

    # --- hosts -------------------------------------------------------------------------------
    def address(self, host: int) -> str:
        return subprocess.run([str(LAB), "ip", self.name, str(host)], check=True, capture_output=True, text=True).stdout.strip()

    def run(self, host: int, *cmd: str, timeout: float = 30, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([str(LAB), "exec", self.name, str(host), *cmd], capture_output=True, text=True, timeout=timeout, check=check)

    # --- nodes -------------------------------------------------------------------------------
    def start(self, host: int, *args: str, env: dict[str, str] | None = None) -> NodeProcess:
        home = self.root / f"node{host}"
        home.mkdir(parents=True, exist_ok=True)
        models = home / "models"
        if not models.exists():
            models.symlink_to(getattr(self, "models_dir", MODELS))
        log = self.root / f"node{host}.log"
        environment = {**os.environ, "EXO_HOME": str(home), **(env or {})}
        with open(log, "ab") as out:
            process = subprocess.Popen([str(LAB), "exec", self.name, str(host), str(BINARY), *args],
                                       stdout=out, stderr=subprocess.STDOUT, env=environment)
        node = NodeProcess(host, home, log, process, list(args))
        self.nodes[host] = node
        return node

    def signal(self, host: int, sig: int) -> None:
        node = self.nodes[host]
        if node.alive():
            os.kill(node.pid, sig)

    def stop(self, host: int, timeout: float = 10) -> int:
        """SIGTERM, then wait; returns the exit code (SIGKILL after the timeout, and that is a failure)."""
        node = self.nodes[host]
        if node.alive():
            os.kill(node.pid, signal.SIGTERM)
            try:
                return node.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(node.pid, signal.SIGKILL)
                node.process.wait()
                return -9
        return node.process.returncode

    def log(self, host: int) -> str:
        return self.nodes[host].log.read_text(errors="replace")

    # --- network faults ------------------------------------------------------------------------
    def drop_outbound(self, host: int, percent: int) -> None:
        """Drops `percent` % of the packets host sends, at random (nftables; this kernel has no sch_netem,
        so loss is emulated; see `delay`). Applied on every host, each link loses that share."""
        self.run(host, "nft", "add", "table", "inet", "exolab")
        self.run(host, "nft", "add", "chain", "inet", "exolab", "out", "{ type filter hook output priority 0; }")
        self.run(host, "nft", "add", "rule", "inet", "exolab", "out", "oifname", "eth0", "numgen", "random", "mod", "100", "<", str(percent), "drop")

    def delay(self, host: int, ms: float) -> str:
        """Holds every frame `host` sends for `ms` ms (0 undoes it), as `netem delay` on its eth0 would.

        This kernel has no sch_netem, so a forwarder in the hub namespace (scripts/lab-delay.py, started
        by `lab.sh delay`, its PID recorded so that `close` ends it) stands between the host and the bridge.
        Delay only what a host sends: applied on every host, each direction of each link waits `ms`
        and a round trip between two hosts grows by 2 × `ms` (`ping` measures it).
        Returns the report of the forwarder this replaces, if any: frames forwarded each way, and
        "failed"/"oversized" counts, which stay absent while offloads are off as they should be."""
        result = subprocess.run([str(LAB), "delay", self.name, str(host), str(ms)], check=True, capture_output=True,
                                text=True, env={**os.environ, "PYTHON": sys.executable})
        if ms:
            self.delayed[host] = ms
        else:
            self.delayed.pop(host, None)
        return result.stdout.strip()

    def ping(self, host: int, target: int, count: int = 20) -> dict:
        """ICMP round trips from `host` to `target` in ms: {min, median, max, received, lost} (no ping binary here)."""
        result = self.run(host, sys.executable, str(DELAY), "ping", self.address(target), str(count), timeout=count * 1.1 + 10)
        return json.loads(result.stdout)

    def _port(self, host: int) -> str:
        """The hub-side interface that puts `host` on a bridge (the forwarder's pair end when delayed)."""
        return f"{self.name}{'b' if host in self.delayed else 'h'}{host}"

    def partition(self, *groups: list[int]) -> None:
        """Puts each group of hosts on a bridge of its own, so hosts only reach their own group."""
        hub = f"{self.name}-hub"
        for index, group in enumerate(groups):
            bridge = f"br{index}"
            if index > 0:
                subprocess.run(["ip", "-n", hub, "link", "add", bridge, "type", "bridge"], check=False, capture_output=True)
                subprocess.run(["ip", "-n", hub, "link", "set", bridge, "up"], check=True)
            for host in group:
                subprocess.run(["ip", "-n", hub, "link", "set", self._port(host), "master", bridge], check=True)

    def heal(self) -> None:
        """Every host back on the one bridge."""
        hub = f"{self.name}-hub"
        for host in range(1, self.size + 1):
            subprocess.run(["ip", "-n", hub, "link", "set", self._port(host), "master", "br0"], check=True)

    # --- HTTP from inside a host's namespace -------------------------------------------------
    def http(self, host: int, path: str, *, method: str = "GET", body: dict | None = None,
             target: int | None = None, timeout: float = 60, loopback: bool = False) -> tuple[int, str]:
        """Calls node `target` (default: the same host) from host `host`; returns (status, body).
        `loopback` calls the host's own node at 127.0.0.1 (what cluster-changing endpoints accept without a key)."""
        url = f"http://{'127.0.0.1' if loopback else self.address(target or host)}:{API_PORT}{path}"
        cmd = ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "-X", method, "--max-time", str(timeout), url]
        if body is not None:
            cmd += ["-H", "content-type: application/json", "--data-binary", json.dumps(body)]
        result = self.run(host, *cmd, timeout=timeout + 5, check=False)
        text, _, status = result.stdout.rpartition("\n")
        return (int(status) if status.isdigit() else 0), text

    def json(self, host: int, path: str, **kwargs) -> dict:
        status, text = self.http(host, path, **kwargs)
        assert status == 200, f"GET {path} on host {host}: HTTP {status}: {text}"
        return json.loads(text)

    def wait_for(self, predicate, timeout: float, interval: float = 0.1, what: str = "condition"):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = predicate()
                if last:
                    return last
            except Exception as error:  # a node not up yet answers with a connection error
                last = error
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")

    def close(self) -> None:
        for host in list(self.nodes):
            node = self.nodes[host]
            if node.alive():
                os.kill(node.pid, signal.SIGKILL)
                node.process.wait()
        # `down` also ends the delay forwarders, by the PIDs `lab.sh delay` recorded, before the namespaces go.
        subprocess.run([str(LAB), "down", self.name], check=False)

    def __enter__(self) -> "Lab":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
