"""Faults the mesh must ride out: a paused node, a lossy (and slow) network, a partition that heals."""
import json
import re
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from test_chat import MODEL, chat_cases
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


def test_five_percent_loss_and_2_ms_delay_on_every_link_keep_the_mesh_converged_and_serving(make_lab):
    """Issue 8. Delay is emulated in user space (Lab.delay: this kernel has no sch_netem): each host's
    sent frames wait 2 ms, so each direction of every link has 2 ms one way and a round trip 4 ms more."""
    lab = make_lab(3)
    hosts = (1, 2, 3)
    before = lab.ping(1, 2)
    for host in hosts:
        lab.delay(host, 2)
    delayed = lab.ping(1, 2)
    for host in hosts:
        lab.drop_outbound(host, 5)
    lossy = lab.ping(1, 2, count=40)
    print(f"\nping 1→2 RTT (ms, median [min–max]): no delay {before['median']:.3f} [{before['min']:.3f}–{before['max']:.3f}]; "
          f"2 ms delay on every host {delayed['median']:.3f} [{delayed['min']:.3f}–{delayed['max']:.3f}]; "
          f"plus 5 % loss {lossy['median']:.3f}, {lossy['lost']}/{lossy['lost'] + lossy['received']} lost")
    assert before["lost"] == 0 and delayed["lost"] == 0
    assert delayed["min"] >= 3.9 and delayed["median"] - before["median"] <= 4 + 2, (before, delayed)

    ids = start_converged(lab, hosts)
    lab.wait_for(lambda: all(lab.json(h, "/state")["converged"] for h in hosts), timeout=10, what="convergence")
    established = {h: lab.json(h, "/state")["mesh"]["connectionsEstablished"] for h in hosts}

    # A chat runs while liveness and convergence are watched, so inference traffic crosses the slow links too.
    case = chat_cases()[0]
    answer = {"status": 0, "text": "the chat request raised", "seconds": 0.0}

    def chat():
        began = time.monotonic()
        answer["status"], answer["text"] = lab.http(2, "/v1/chat/completions", method="POST", target=1, body={
            "model": MODEL, "messages": case["messages"], "max_tokens": case["max_tokens"], "temperature": 0})
        answer["seconds"] = time.monotonic() - began
    chatting = threading.Thread(target=chat)
    # Convergence as /state reports it lags any record change (the chat places an instance and starts
    # runners) by up to seenRefreshInterval (2 s) plus gossip time, so each node's not-converged
    # stretches are timed: they must end, and soon. No node may be dead, or even missing, in any sample.
    # A suspicion is SWIM's hypothesis, not a verdict: probes ride the TCP mesh links and time out after
    # 500 ms, while a lost segment is resent after at least 200 ms (twice that if the resend is lost too),
    # so 5 % loss makes a brief suspicion now and then; it must be refuted (alive again) within 3 s.
    started = time.monotonic()
    chatting.start()
    samples, since, longest, stretches, versions = 0, {}, {h: 0.0 for h in hosts}, {h: 0 for h in hosts}, set()
    suspected: dict[tuple[int, str], float] = {}
    suspect_samples = 0
    while time.monotonic() < started + 15 or chatting.is_alive():
        for host in hosts:
            state = lab.json(host, "/state")
            now = time.monotonic()
            states = {m["id"]: m["liveness"] for m in state["members"]}
            assert all(states.get(i) in ("alive", "suspect") for i in ids.values()), (host, states)
            for i in ids.values():
                if states[i] == "suspect":
                    suspect_samples += 1
                    first = suspected.setdefault((host, i), now)
                    assert now - first <= 3, f"node {host} has suspected {i} for {now - first:.1f} s"
                else:
                    suspected.pop((host, i), None)
            versions.add(tuple(sorted((m["id"], m["record"]["contentVersion"]) for m in state["members"])))
            if not state["converged"]:
                if host not in since:
                    since[host], stretches[host] = now, stretches[host] + 1
                longest[host] = max(longest[host], now - since[host])
                assert now - since[host] <= 6, f"node {host} not converged for {now - since[host]:.1f} s: {state['convergence']}"
            else:
                since.pop(host, None)
        samples += 1
        time.sleep(0.25)
    watched = time.monotonic() - started
    chatting.join()
    assert answer["status"] == 200, answer["text"]
    assert json.loads(answer["text"])["choices"][0]["message"]["content"] == case["text"]
    lab.wait_for(lambda: all(lab.json(h, "/state")["converged"] for h in hosts), timeout=6, what="convergence after the chat")
    assert all(set(liveness(lab, h).values()) == {"alive"} for h in hosts)
    assert len({tuple(sorted(view(lab, h).items())) for h in hosts}) == 1, "nodes hold different views"
    reconnects = {h: lab.json(h, "/state")["mesh"]["connectionsEstablished"] - established[h] for h in hosts}
    print(f"{watched:.1f} s watched, {samples} rounds of /state on 3 nodes: no peer dead or missing in any, {suspect_samples} showed a suspect; "
          f"{len(versions)} distinct sets of content versions seen (1: no record changed); not-converged stretches per node {stretches}, "
          f"longest {', '.join(f'{h}: {t:.1f} s' for h, t in longest.items())}; new mesh connections {reconnects}; "
          f"chat answered as llama.cpp in {answer['seconds']:.1f} s")
    # Between samples too: no node ever logged a peer dead, and each suspicion it logged was refuted.
    suspicions = {}
    for host in hosts:
        changes = re.findall(r"peer=(\w+) \[Gossip\] peer is (\w+)", lab.log(host))
        assert not [c for c in changes if c[1] != "alive" and c[1] != "suspect"], (host, changes)
        last = {peer: liveness for peer, liveness in changes}
        assert all(liveness == "alive" for liveness in last.values()), (host, changes)
        suspicions[host] = sum(1 for _, liveness in changes if liveness == "suspect")
    print(f"suspicions logged (all refuted, none dead) per node: {suspicions}")
    for host in hosts:
        assert lab.stop(host) == 0
    for host in hosts:
        report = lab.delay(host, 0)
        print(report)
        assert report.startswith("lab-delay ") and "failed" not in report and "oversized" not in report, report


def view(lab, host):
    """What a node holds: each node's record stamp (epoch, content version) and liveness."""
    return {m["id"]: (m["record"]["epoch"], m["record"]["contentVersion"], m["liveness"]) for m in lab.json(host, "/state")["members"]}


def on_all(hosts, ask):
    """`ask(host)` for every host at once (one poll of five nodes through curl one after another takes
    longer than the convergence it measures)."""
    with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        return dict(zip(hosts, pool.map(ask, hosts)))


def test_a_3_2_partition_keeps_each_side_consistent_and_heals(make_lab):
    lab = make_lab(5)
    ids = start_converged(lab, (1, 2, 3, 4, 5))
    lab.partition([1, 2, 3], [4, 5])
    sides = {1: (1, 2, 3), 2: (4, 5)}

    def side_sees_only_itself(side):
        members = {ids[h] for h in sides[side]}
        return all(peers_seen(lab, h) == members for h in sides[side])
    lab.wait_for(lambda: side_sees_only_itself(1) and side_sees_only_itself(2), timeout=20, what="each side to settle")
    # Within a side, every node comes to hold the same view of everyone (a node of the other side may be
    # `suspect` at one node and already `dead` at another for a moment).
    for side in sides.values():
        def agreed(side=side):
            views = [liveness(lab, h) for h in side]
            return all(v == views[0] for v in views)
        lab.wait_for(agreed, timeout=10, what=f"nodes {side} to agree")

    lab.heal()
    healed = time.monotonic()
    hosts = (1, 2, 3, 4, 5)
    lab.wait_for(lambda: all(len(seen) == 5 for seen in on_all(hosts, lambda h: peers_seen(lab, h)).values()),
                 timeout=20, interval=0.02, what="all five alive everywhere")
    alive = time.monotonic() - healed

    def identical():
        views = list(on_all(hosts, lambda h: view(lab, h)).values())
        return all(v == views[0] for v in views)
    lab.wait_for(identical, timeout=20, interval=0.02, what="identical views")
    same = time.monotonic() - healed
    lab.wait_for(lambda: all(lab.json(h, "/state")["converged"] for h in range(1, 6)), timeout=10, what="convergence")
    took = time.monotonic() - healed
    print(f"\npartition 3|2 healed: all alive everywhere after {alive:.2f} s, identical views after {same:.2f} s, "
          f"convergence observed (seen vectors) after {took:.2f} s")
    # The target is 2 s. The five nodes are asked at once, but each answer still comes through curl in a
    # namespace, so a poll that sees identical views ends up to a few hundred ms after they became so.
    assert same <= 2.5, f"views took {same:.2f} s to converge (target 2 s)"
    assert took <= 10, f"convergence took {took:.2f} s to be observed"
    for host in range(1, 6):
        assert lab.stop(host) == 0
