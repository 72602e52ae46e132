"""Nodes started with no flags find each other over real mDNS and share one converging view."""
import signal
import time


def liveness(lab, host):
    """Each known node's liveness as `host` sees it."""
    return {p["id"]: p["liveness"] for p in lab.json(host, "/peers")["peers"]}


def peers_seen(lab, host):
    return {p["id"] for p in lab.json(host, "/peers")["peers"] if p["liveness"] == "alive"}


def test_three_nodes_with_no_flags_discover_each_other_within_3_seconds(make_lab):
    lab = make_lab(3)
    for host in (1, 2, 3):
        lab.start(host)
    ids = {h: lab.wait_for(lambda h=h: lab.json(h, "/health")["node"], timeout=30, what=f"node {h} up") for h in (1, 2, 3)}
    started = time.monotonic()
    for host in (1, 2, 3):
        lab.wait_for(lambda host=host: peers_seen(lab, host) == set(ids.values()), timeout=3 + 2,
                     what=f"node {host} to see all three peers alive")
    elapsed = time.monotonic() - started
    assert elapsed <= 3.0, f"discovery took {elapsed:.2f} s"
    for host in (1, 2, 3):
        assert lab.stop(host) == 0, lab.log(host)


def test_five_node_mesh_converges_and_sees_a_killed_node_dead_within_5_seconds(make_lab):
    lab = make_lab(5)
    for host in range(1, 6):
        lab.start(host)
    for host in range(1, 6):
        lab.wait_for(lambda host=host: len(peers_seen(lab, host)) == 5, timeout=30, what=f"node {host} sees 5")
    lab.wait_for(lambda: all(lab.json(h, "/state")["converged"] for h in range(1, 6)), timeout=10, what="convergence")

    victim = lab.json(5, "/health")["node"]
    lab.signal(5, signal.SIGKILL)
    killed = time.monotonic()

    def marked_dead(host):
        return liveness(lab, host).get(victim) in ("dead", None)

    for host in range(1, 5):
        lab.wait_for(lambda host=host: marked_dead(host), timeout=5, what=f"node {host} to mark the killed node dead")
    assert time.monotonic() - killed <= 5.5


def test_a_restarted_node_rejoins_with_a_higher_epoch(make_lab):
    lab = make_lab(2)
    lab.start(1)
    lab.start(2)
    first = lab.wait_for(lambda: lab.json(2, "/health"), timeout=30, what="node 2 up")
    lab.wait_for(lambda: len(peers_seen(lab, 1)) == 2, timeout=10, what="node 1 sees node 2")
    lab.signal(2, signal.SIGKILL)
    lab.nodes[2].process.wait()
    lab.start(2)
    second = lab.wait_for(lambda: lab.json(2, "/health"), timeout=30, what="node 2 back")
    assert second["epoch"] > first["epoch"]

    def epoch_seen_by_1():
        for member in lab.json(1, "/state")["members"]:
            if member["id"] == second["node"]:
                return member["record"]["epoch"] if member["liveness"] == "alive" else None
    assert lab.wait_for(epoch_seen_by_1, timeout=10, what="node 1 to hold the new epoch") == second["epoch"]
    assert lab.stop(1) == 0 and lab.stop(2) == 0


def test_sigterm_is_seen_as_departure_at_once(make_lab):
    lab = make_lab(2)
    lab.start(1)
    lab.start(2)
    lab.wait_for(lambda: len(peers_seen(lab, 1)) == 2, timeout=30, what="node 1 sees node 2")
    leaving = lab.json(2, "/health")["node"]
    stopped = time.monotonic()
    assert lab.stop(2, timeout=5) == 0, lab.log(2)
    assert time.monotonic() - stopped <= 5

    def departed():
        return liveness(lab, 1).get(leaving) in ("left", None)
    lab.wait_for(departed, timeout=1.5, what="node 1 to see the departure")
    log = lab.log(2).lower()
    assert " error " not in log and "critical" not in log, lab.log(2)
