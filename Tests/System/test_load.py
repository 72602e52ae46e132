"""Load: 1,000 chat requests spread over the 3 nodes of a mesh, 8 at a time, through a 2-rank instance
(the third node forwards): zero failures, consistent greedy answers, resident memory of every node and
runner process flat."""
import json
import os
import sys
from pathlib import Path

from test_chat import MODEL
from test_faults import start_converged
from test_instances import local
from test_pipeline import ready_everywhere

CLIENT = str(Path(__file__).with_name("load_client.py"))
REQUESTS = int(os.environ.get("EXO_LOAD_REQUESTS", "1000"))
WARMUP = 100


def test_a_thousand_requests_over_three_nodes_with_flat_memory(make_lab):
    lab = make_lab(3)
    start_converged(lab, (1, 2, 3))
    status, created = local(lab, 1, "POST", "/instances", {"model": MODEL, "min_nodes": 2, "max_nodes": 2})
    assert status == 201, created
    lab.wait_for(lambda: ready_everywhere(lab, (1, 2, 3), created["id"]), timeout=60, what="ranks ready")
    pids = [lab.nodes[h].pid for h in (1, 2, 3)]
    pids += [r["pid"] for h in (1, 2, 3) for r in lab.json(h, "/health")["runners"] if r["pid"]]
    assert len(pids) == 5, pids

    urls = [f"http://{lab.address(h)}:52415" for h in (1, 2, 3)]
    result = lab.run(1, sys.executable, CLIENT, MODEL, str(REQUESTS), "8", str(WARMUP), ",".join(map(str, pids)), *urls, timeout=1800)
    report = json.loads(result.stdout)
    start, end = report["rss_start_kib"], report["rss_end_kib"]
    print(f"\n{REQUESTS} requests, 8 concurrent, over 3 nodes: {report['ok']} ok, {report['failed']} failed, "
          f"{report['seconds']:.1f} s ({REQUESTS / report['seconds']:.1f} req/s)")
    for pid in map(str, pids):
        print(f"  pid {pid}: RSS {start[pid] / 1024:.1f} MiB after {WARMUP} requests, {end[pid] / 1024:.1f} MiB at the end")
    assert report["failed"] == 0, report["failures"]
    assert report["ok"] == REQUESTS
    assert not report["inconsistent"], report["inconsistent"]
    for pid in map(str, pids):
        # Flat: no more than 10 % + 16 MiB of growth after the warm-up (allocator noise, not a leak).
        assert end[pid] <= start[pid] * 1.10 + 16 * 1024, (pid, start[pid], end[pid])
    for host in (1, 2, 3):
        assert lab.stop(host) == 0
