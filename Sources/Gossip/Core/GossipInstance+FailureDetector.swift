import Mesh

/// SWIM failure detection: direct probes in a shuffled round robin, suspicion confirmed by direct probes,
/// piggybacked rumours, refutation by signing a newer version, pruning behind tombstones.
extension GossipInstance {
    /// Any message from `peer` is direct proof that it runs.
    mutating func heard(_ peer: NodeID, stamp: Stamp?, now: Duration, _ out: inout [GossipDirective]) {
        guard let member = members[peer] else {
            // Unknown (or buried) sender with something newer: pull its record.
            if let stamp, stamp > (tombstones[peer]?.stamp ?? Stamp(epoch: 0, version: 0)) {
                send(.digest(WireVector([peer: Stamp(epoch: 0, version: 0)]), reply: false), to: peer, &out)
            }
            return
        }
        if let stamp, stamp > member.stamp {
            send(.digest(WireVector([peer: member.stamp]), reply: false), to: peer, &out)
        }
        switch member.liveness {
        case .alive:
            members[peer]?.lastHeard = now
        case .suspect:
            members[peer]?.lastHeard = now
            members[peer]?.liveness = .alive
            members[peer]?.since = now
            members[peer]?.suspicion = nil
            suspects.removeAll { $0 == peer }
            out.append(.liveness(peer, .alive))
        case .dead:
            // Still dead at this stamp: tell it, so it refutes with a newer version (at most once a second).
            if stamp.map({ $0 <= member.stamp }) ?? true, member.lastToldDead.map({ now - $0 >= .seconds(1) }) ?? true {
                members[peer]?.lastToldDead = now
                let notice = Rumour(kind: .dead, subject: peer, stamp: member.stamp)
                out.append(.send(GossipMessage(stamp: ownSigned.stamp, rumours: [notice], body: .ping(seq: 0)), to: peer))
            }
        case .left:
            break
        }
    }

    mutating func apply(_ rumour: Rumour, from peer: NodeID, now: Duration, _ out: inout [GossipDirective]) {
        if rumour.subject == id {
            guard rumour.stamp >= ownSigned.stamp else { return }
            // Refute: a newer version proves we are alive; push it to the accuser too, who forwards it on
            // its side (after a partition, the nodes that declared us dead are exactly the ones we cannot
            // reach through our own view).
            guard (try? resign(now: now) { _ in }) != nil else { return }
            push([ownSigned], hops: settings.pushHops, excluding: [peer], &out)
            send(.records([ownSigned], hops: settings.pushHops), to: peer, &out)
            return
        }
        guard let member = members[rumour.subject], rumour.stamp >= member.stamp else { return }
        switch (rumour.kind, member.liveness) {
        case (.suspect, .alive):
            suspect(rumour.subject, because: .missedProbes, now: now, &out)
        case (.suspect, .suspect), (.suspect, .dead), (.suspect, .left):
            break
        case (.dead, .alive), (.dead, .suspect):
            declareDead(rumour.subject, now: now, &out)
        case (.dead, .dead), (.dead, .left):
            break
        }
    }

    mutating func suspect(_ node: NodeID, because reason: Suspicion, now: Duration, _ out: inout [GossipDirective]) {
        guard var member = members[node], member.liveness == .alive else { return }
        member.liveness = .suspect
        member.since = now
        member.suspicion = reason
        member.nextConfirmProbe = now
        members[node] = member
        suspects.append(node)
        nextSuspicionDeadline = min(nextSuspicionDeadline, now + suspicionTimeout(reason))
        spread(Rumour(kind: .suspect, subject: node, stamp: member.stamp))
        out.append(.liveness(node, .suspect))
        confirm(node, now: now, &out)
    }

    mutating func declareDead(_ node: NodeID, now: Duration, _ out: inout [GossipDirective]) {
        guard var member = members[node], member.liveness == .alive || member.liveness == .suspect else { return }
        member.liveness = .dead
        deadCount += 1
        member.since = now
        member.suspicion = nil
        members[node] = member
        suspects.removeAll { $0 == node }
        pendingProbes.removeAll { $0.target == node }
        spread(Rumour(kind: .dead, subject: node, stamp: member.stamp))
        out.append(.liveness(node, .dead))
    }

    /// A direct probe unanswered by its deadline is retried through `indirectProbes` other members (SWIM
    /// `ping-req`); an alive target becomes suspect only when those go unanswered too.
    mutating func expireProbes(now: Duration, _ out: inout [GossipDirective]) {
        relays.removeAll { $0.deadline <= now }
        guard pendingProbes.contains(where: { $0.deadline <= now }) else { return }
        let expired = pendingProbes.filter { $0.deadline <= now }
        pendingProbes.removeAll { $0.deadline <= now }
        for probe in expired where members[probe.target]?.liveness == .alive {
            if !probe.indirect, settings.indirectProbes > 0 {
                let helpers = randomPeers(settings.indirectProbes, excluding: [probe.target], alive: true)
                if !helpers.isEmpty {
                    for helper in helpers { send(.pingReq(seq: probe.seq, target: probe.target), to: helper, &out) }
                    pendingProbes.append((probe.seq, probe.target, now + settings.probeTimeout, true))
                    continue
                }
            }
            suspect(probe.target, because: .missedProbes, now: now, &out)
        }
    }

    /// Probes `target` on `requester`'s behalf; its ack is passed back as `indirectAck`.
    mutating func relay(_ seq: UInt64, to target: NodeID, for requester: NodeID, now: Duration, _ out: inout [GossipDirective]) {
        guard target != id, target != requester, members[target] != nil,
              relays.count < settings.indirectProbes * 16 else { return }
        let own = nextSeq
        nextSeq += 1
        relays.append((own, requester, seq, target, now + settings.probeTimeout))
        send(.ping(seq: own), to: target, &out)
    }

    /// Suspects are probed directly until they answer or their suspicion runs out. A partition makes
    /// hundreds of members suspect at once, so neither part walks all of them every tick: deadlines are
    /// checked when the earliest is due, and probes go round robin over at most a few budgets' worth.
    mutating func confirmSuspects(now: Duration, _ out: inout [GossipDirective]) {
        guard !suspects.isEmpty else { return }
        if now >= nextSuspicionDeadline {
            var next = now + max(settings.suspicionTimeout, settings.disconnectConfirmTimeout)
            for node in suspects {
                guard let since = members[node]?.since, let reason = members[node]?.suspicion else { continue }
                let deadline = since + suspicionTimeout(reason)
                if now >= deadline { declareDead(node, now: now, &out) } else { next = min(next, deadline) }
            }
            nextSuspicionDeadline = next
        }
        guard !suspects.isEmpty else { return }
        let count = suspects.count
        let limit = min(count, max(1, settings.maxConfirmProbesPerTick) * 4)
        var index = confirmCursor % count
        var examined = 0
        while examined < limit, confirmBudget > 0 {
            let node = suspects[index]
            if let due = members[node]?.nextConfirmProbe, now >= due { confirm(node, now: now, &out) }
            examined += 1
            index = (index + 1) % count
        }
        confirmCursor = index
    }

    func suspicionTimeout(_ reason: Suspicion) -> Duration {
        switch reason {
        case .missedProbes: settings.suspicionTimeout
        case .disconnected: settings.disconnectConfirmTimeout
        }
    }

    mutating func confirm(_ node: NodeID, now: Duration, _ out: inout [GossipDirective]) {
        guard let reason = members[node]?.suspicion else { return }
        let every: Duration
        switch reason {
        case .missedProbes: every = settings.probeInterval
        case .disconnected: every = settings.disconnectProbeInterval
        }
        guard confirmBudget > 0 else { return }  // still due: tried again next tick
        confirmBudget -= 1
        members[node]?.nextConfirmProbe = now + every
        probe(node, now: now, &out)
    }

    mutating func probe(_ node: NodeID, now: Duration, _ out: inout [GossipDirective]) {
        let seq = nextSeq
        nextSeq += 1
        pendingProbes.append((seq, node, now + settings.probeTimeout, false))
        send(.ping(seq: seq), to: node, &out)
    }

    /// SWIM's round robin over a shuffled member list: every member is probed once per round.
    mutating func nextProbeTarget() -> NodeID? {
        for _ in 0..<2 {
            while probeCursor < probeOrder.count {
                let node = probeOrder[probeCursor]
                probeCursor += 1
                if members[node]?.liveness == .alive { return node }
            }
            probeOrder = peerIDs.shuffled(using: &rng)
            probeCursor = 0
        }
        return nil
    }

    mutating func randomPeer(where wanted: (Liveness) -> Bool) -> NodeID? {
        guard !peerIDs.isEmpty else { return nil }
        for _ in 0..<8 {
            let node = peerIDs[Int.random(in: 0..<peerIDs.count, using: &rng)]
            if let liveness = members[node]?.liveness, wanted(liveness) { return node }
        }
        return peerIDs.filter { members[$0].map { wanted($0.liveness) } ?? false }.randomElement(using: &rng)
    }

    /// Up to `count` distinct random members that are alive (or suspect, unless `alive`), none of them in `excluding`.
    mutating func randomPeers(_ count: Int, excluding: Set<NodeID>, alive: Bool = false) -> [NodeID] {
        var chosen: [NodeID] = []
        var attempts = 0
        while chosen.count < count, attempts < count * 4, !peerIDs.isEmpty {
            attempts += 1
            let node = peerIDs[Int.random(in: 0..<peerIDs.count, using: &rng)]
            guard !excluding.contains(node), !chosen.contains(node), let member = members[node] else { continue }
            if member.liveness == .alive || (!alive && member.liveness == .suspect) { chosen.append(node) }
        }
        return chosen
    }

    /// Queues a rumour for piggybacking, replacing older news about the same subject.
    mutating func spread(_ rumour: Rumour) {
        rumours.removeAll { $0.rumour.subject == rumour.subject }
        let n = Double(members.count + 2)
        let times = settings.rumourRetransmitFactor * Int(log2(n).rounded(.up))
        rumours.append((rumour, times))
    }

    /// Drops dead and departed members after the grace period, keeping a tombstone of their stamp.
    mutating func prune(now: Duration, _ out: inout [GossipDirective]) {
        tombstones = tombstones.filter { $0.value.until > now }
        var gone: [NodeID] = []
        for node in peerIDs {
            guard let member = members[node] else { continue }
            switch member.liveness {
            case .alive, .suspect: continue
            case .dead, .left:
                if now - member.since >= settings.pruneAfter { gone.append(node) }
            }
        }
        for node in gone {
            guard let member = members.removeValue(forKey: node) else { continue }
            if member.liveness == .dead { deadCount -= 1 }
            tombstones[node] = (member.stamp, now + settings.tombstoneLifetime)
            removeVector(node)
            peerIDs.removeAll { $0 == node }
            rumours.removeAll { $0.rumour.subject == node }
            out.append(.pruned(node))
        }
    }
}

import Foundation
