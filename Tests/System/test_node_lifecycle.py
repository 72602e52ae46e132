"""A node in its own namespace: it starts with no flags, serves /health to another host, stops with 0."""
import signal


def test_node_serves_health_across_the_lab_and_stops_cleanly(make_lab):
    lab = make_lab(2)
    node = lab.start(1)
    health = lab.wait_for(lambda: lab.json(2, "/health", target=1), timeout=30, what="node 1 /health")
    assert health["status"] == "ok"
    assert len(health["node"]) == 64
    assert lab.stop(1, timeout=5) == 0, lab.log(1)
    assert " error " not in lab.log(1).lower(), lab.log(1)


def test_restart_keeps_identity_and_raises_epoch(make_lab):
    lab = make_lab(1)
    lab.start(1)
    first = lab.wait_for(lambda: lab.json(1, "/health"), timeout=30, what="/health")
    assert lab.stop(1) == 0
    lab.start(1)
    second = lab.wait_for(lambda: lab.json(1, "/health"), timeout=30, what="/health after restart")
    assert second["node"] == first["node"]
    assert second["epoch"] > first["epoch"]
