"""`exo-peer doctor` and `exo-peer models` against a real mesh, run from another lab host."""
import json
import signal

from lab import BINARY
from test_chat import MODEL
from test_discovery import peers_seen


def cli(lab, host, *args, timeout=30):
    return lab.run(host, str(BINARY), *args, timeout=timeout, check=False)


def test_doctor_passes_on_a_healthy_mesh_and_names_a_killed_node(make_lab):
    lab = make_lab(3)
    for host in (1, 2, 3):
        lab.start(host)
    for host in (1, 2, 3):
        lab.wait_for(lambda host=host: len(peers_seen(lab, host)) == 3, timeout=30, what=f"node {host} sees all")
    ids = {h: lab.json(h, "/health")["node"] for h in (1, 2, 3)}
    node1 = f"http://{lab.address(1)}:52415"

    status, text = lab.http(1, "/instances", method="POST", body={"model": MODEL}, loopback=True)
    assert status == 201, text
    instance = json.loads(text)["id"]

    result = cli(lab, 2, "doctor", "--node", node1)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "OK: the mesh looks healthy" in out
    for h in (2, 3):
        assert f"node {ids[h][:8]} answers at http://{lab.address(h)}:52415" in out, out
    assert "3 nodes known, all alive" in out and "3 nodes derive the same instances and plans" in out, out
    assert f"instance {instance} ({MODEL})" in out, out

    models = json.loads(cli(lab, 2, "models", "--node", node1, "--json").stdout)
    assert [m["id"] for m in models] == [MODEL]
    model = models[0]
    assert sorted(h["node"] for h in model["holders"]) == sorted(ids.values())
    assert model["layerCount"] == 30 and model["sizeBytes"] == 98_362_432 and not model["copiesDiffer"]
    assert model["instances"] == [instance] and model["servable"]
    table = cli(lab, 2, "models", "--node", node1).stdout
    assert MODEL in table and model["sha256"][:12] in table, table

    lab.signal(3, signal.SIGKILL)
    lab.wait_for(lambda: any(p["id"] == ids[3] and p["liveness"] == "dead" for p in lab.json(1, "/peers")["peers"]),
                 timeout=10, what="node 3 dead on node 1")
    result = cli(lab, 2, "doctor", "--node", node1, "--wait", "0")
    assert result.returncode == 1, result.stdout
    assert f"✗ liveness" in result.stdout and f"node {ids[3][:8]} ({lab.address(3)}) is dead" in result.stdout, result.stdout
    assert "FAIL:" in result.stdout
    report = json.loads(cli(lab, 2, "doctor", "--node", node1, "--wait", "0", "--json").stdout)
    assert not report["healthy"]
    assert any(f["check"] == "liveness" and f["status"] == "fail" for f in report["findings"])

    # Nothing answers at all: a readable error, not a crash.
    result = cli(lab, 2, "doctor", "--node", f"http://{lab.address(3)}:52415", "--wait", "0")
    assert result.returncode != 0 and "cannot reach" in result.stderr, result.stderr
    for host in (1, 2):
        assert lab.stop(host) == 0
