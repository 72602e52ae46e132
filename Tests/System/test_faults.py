"""Faults the mesh must ride out: a paused node, a lossy network, a partition that heals."""
import signal
import time

from test_chat import MODEL
from test_discovery import liveness, peers_seen


def start_converged(lab, hosts):
    for host in hosts:
        lab.start(host)
    for host in hosts:
        lab.wait_for(lambda host=host: len(peers_seen(lab, host)) == len(hosts), timeout=30, what=f"node {host} sees all")
    return {host: lab.json(host, "/health")["node"] for host in hosts}


def test_a_node_paused_for_5_seconds_is_not_declared_dead(make_lab):
    lab = make_lab(3)
    ids = start_converged(lab, (1, 2, 3))
    lab.signal(3, signal.SIGSTOP)
    seen = set()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for host in (1, 2):
            seen.add(liveness(lab, host).get(ids[3]))
        time.sleep(0.2)
    lab.signal(3, signal.SIGCONT)
    assert "dead" not in seen and None not in seen, seen
    for host in (1, 2, 3):
        lab.wait_for(lambda host=host: len(peers_seen(lab, host)) == 3, timeout=5, what=f"node {host} sees all alive again")
    for host in (1, 2, 3):
        assert lab.stop(host) == 0


def test_five_percent_packet_loss_keeps_the_mesh_converged_and_serving(make_lab):
    lab = make_lab(3)
    for host in (1, 2, 3):
        lab.drop_outbound(host, 5)
    ids = start_converged(lab, (1, 2, 3))
    lab.wait_for(lambda: all(lab.json(h, "/state")["converged"] for h in (1, 2, 3)), timeout=10, what="convergence")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for host in (1, 2, 3):
            states = liveness(lab, host)
            assert all(states.get(i) not in ("dead", None) for i in ids.values()), (host, states)
        time.sleep(0.5)
    status, text = lab.http(2, "/v1/chat/completions", method="POST", target=1,
                            body={"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8, "temperature": 0})
    assert status == 200, text
    for host in (1, 2, 3):
        assert lab.stop(host) == 0


def view(lab, host):
    """What a node holds: each node's record stamp (epoch, content version) and liveness."""
    return {m["id"]: (m["record"]["epoch"], m["record"]["contentVersion"], m["liveness"]) for m in lab.json(host, "/state")["members"]}


def test_a_3_2_partition_keeps_each_side_consistent_and_heals(make_lab):
    lab = make_lab(5)
    ids = start_converged(lab, (1, 2, 3, 4, 5))
    lab.partition([1, 2, 3], [4, 5])
    sides = {1: (1, 2, 3), 2: (4, 5)}

    def side_sees_only_itself(side):
        members = {ids[h] for h in sides[side]}
        return all(peers_seen(lab, h) == members for h in sides[side])
    lab.wait_for(lambda: side_sees_only_itself(1) and side_sees_only_itself(2), timeout=20, what="each side to settle")
    # Within a side, every node holds the same view of everyone.
    for side in sides.values():
        views = [liveness(lab, h) for h in side]
        assert all(v == views[0] for v in views), views

    lab.heal()
    healed = time.monotonic()
    lab.wait_for(lambda: all(len(peers_seen(lab, h)) == 5 for h in range(1, 6)), timeout=20, what="all five alive everywhere")
    alive = time.monotonic() - healed
    lab.wait_for(lambda: all(view(lab, h) == view(lab, 1) for h in range(2, 6)), timeout=20, what="identical views")
    same = time.monotonic() - healed
    lab.wait_for(lambda: all(lab.json(h, "/state")["converged"] for h in range(1, 6)), timeout=10, what="convergence")
    took = time.monotonic() - healed
    print(f"\npartition 3|2 healed: all alive everywhere after {alive:.2f} s, identical views after {same:.2f} s, "
          f"convergence observed (seen vectors) after {took:.2f} s")
    # The target is 2 s; each poll of five nodes' /state through curl takes a few hundred ms, so the
    # bound leaves room for that (measured: 1.4–1.8 s, once 3.3 s on a loaded CI machine).
    assert same <= 5, f"views took {same:.2f} s to converge"
    assert took <= 10, f"convergence took {took:.2f} s to be observed"
    for host in range(1, 6):
        assert lab.stop(host) == 0
