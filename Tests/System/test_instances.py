"""Instances without a master: any node proposes, every node derives the same plan from gossip."""
import json
import threading

from test_chat import MODEL
from test_discovery import peers_seen


def local(lab, host, method, path, body=None):
    """Calls the node on `host` over loopback (cluster-changing endpoints accept only that without a key)."""
    status, text = lab.http(host, path, method=method, body=body, loopback=True, timeout=30)
    return status, (json.loads(text) if text.strip() else None)


def instances(lab, host):
    return lab.json(host, "/instances")


def test_a_proposal_on_one_node_gives_the_same_plan_everywhere_and_can_be_withdrawn(make_lab):
    lab = make_lab(3)
    for host in (1, 2, 3):
        lab.start(host)
    for host in (1, 2, 3):
        lab.wait_for(lambda host=host: len(peers_seen(lab, host)) == 3, timeout=30, what=f"node {host} sees all")

    status, created = local(lab, 1, "POST", "/instances", {"model": MODEL, "policy": "fit"})
    assert status == 201, created
    assert created["instance"]["ranks"], created  # placed right away on the proposing node
    plan = created["instance"]["planHash"]

    def same_everywhere():
        views = [instances(lab, h)["instances"] for h in (1, 2, 3)]
        return all(len(v) == 1 and v[0]["id"] == created["id"] and v[0]["planHash"] == plan for v in views)
    lab.wait_for(same_everywhere, timeout=5, what="the same plan on every node")
    ranks = instances(lab, 2)["instances"][0]["ranks"]
    assert ranks[0]["layerStart"] == 0 and ranks[-1]["layerEnd"] == 30

    # Changing the cluster from another machine without an API key is refused.
    status, _ = lab.http(2, "/instances", method="POST", target=1, body={"model": MODEL})
    assert status == 403
    status, body = local(lab, 1, "POST", "/instances", {"model": "no-such-model"})
    assert status == 404 and body["error"]["code"] == "model_not_found"

    # Withdrawn on another node than the one that proposed it: gone everywhere.
    status, _ = local(lab, 3, "DELETE", f"/instances/{created['id']}")
    assert status == 200
    lab.wait_for(lambda: all(not instances(lab, h)["instances"] for h in (1, 2, 3)), timeout=5, what="no instance anywhere")
    status, _ = local(lab, 3, "DELETE", "/instances/inst-unknown")
    assert status == 404
    for host in (1, 2, 3):
        assert lab.stop(host) == 0


def test_concurrent_proposals_for_one_model_settle_on_one_instance(make_lab):
    lab = make_lab(3)
    for host in (1, 2, 3):
        lab.start(host)
    for host in (1, 2, 3):
        lab.wait_for(lambda host=host: len(peers_seen(lab, host)) == 3, timeout=30, what=f"node {host} sees all")
    ids = {}

    def propose(host):
        ids[host] = local(lab, host, "POST", "/instances", {"model": MODEL})[1]["id"]
    threads = [threading.Thread(target=propose, args=(h,)) for h in (1, 2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(ids.values())) == 3

    def settled():
        views = [instances(lab, h) for h in (1, 2, 3)]
        active = [[(i["id"], i["planHash"]) for i in v["instances"]] for v in views]
        superseded = [sorted(v["superseded"]) for v in views]
        return len(active[0]) == 1 and all(a == active[0] for a in active) and all(len(s) == 2 and s == superseded[0] for s in superseded)
    lab.wait_for(settled, timeout=5, what="one instance, the same on every node")
    for host in (1, 2, 3):
        assert lab.stop(host) == 0
