import Mesh

/// SWIM failure detection: direct probes in a shuffled round robin, suspicion confirmed by direct probes,
/// piggybacked rumours, refutation by signing a newer version, pruning behind tombstones.
extension GossipInstance {
    /// Any message from `peer` is direct proof that it runs.
    mutating func heard(_ peer: NodeID, stamp: Stamp?, now: Duration, _ out: inout [GossipDirective]) {
        guard var member = members[peer] else {
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
            member.lastHeard = now
            members[peer] = member
        case .suspect:
            member.lastHeard = now
            member.liveness = .alive
            member.since = now
            member.suspicion = nil
            members[peer] = member
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
            // Refute: a newer version proves we are alive; push it to the accuser too.
            guard (try? resign(now: now) { _ in }) != nil else { return }
            push([ownSigned], hops: settings.pushHops, excluding: [peer], &out)
            send(.records([ownSigned], hops: 0), to: peer, &out)
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
        spread(Rumour(kind: .suspect, subject: node, stamp: member.stamp))
        out.append(.liveness(node, .suspect))
        confirm(node, now: now, &out)
    }

    mutating func declareDead(_ node: NodeID, now: Duration, _ out: inout [GossipDirective]) {
        guard var member = members[node], member.liveness == .alive || member.liveness == .suspect else { return }
        member.liveness = .dead
        member.since = now
        member.suspicion = nil
        members[node] = member
        suspects.removeAll { $0 == node }
        pendingProbes.removeAll { $0.target == node }
        spread(Rumour(kind: .dead, subject: node, stamp: member.stamp))
        out.append(.liveness(node, .dead))
    }

    /// Probes unanswered by their deadline make an alive target suspect.
    mutating func expireProbes(now: Duration, _ out: inout [GossipDirective]) {
        guard pendingProbes.contains(where: { $0.deadline <= now }) else { return }
        let expired = pendingProbes.filter { $0.deadline <= now }
        pendingProbes.removeAll { $0.deadline <= now }
        for probe in expired where members[probe.target]?.liveness == .alive {
            suspect(probe.target, because: .missedProbes, now: now, &out)
        }
    }

    /// Suspects are probed directly until they answer or their suspicion runs out.
    mutating func confirmSuspects(now: Duration, _ out: inout [GossipDirective]) {
        guard !suspects.isEmpty else { return }
        // Start where the last tick's budget ran out, so every suspect gets its turn.
        let order = Array(suspects[(confirmCursor % suspects.count)...] + suspects[..<(confirmCursor % suspects.count)])
        var examined = 0
        defer { confirmCursor = (confirmCursor + examined) % max(1, suspects.count) }
        for node in order {
            if confirmBudget > 0 { examined += 1 }
            guard let member = members[node], let reason = member.suspicion else { continue }
            let timeout: Duration
            switch reason {
            case .missedProbes: timeout = settings.suspicionTimeout
            case .disconnected: timeout = settings.disconnectConfirmTimeout
            }
            if now - member.since >= timeout {
                declareDead(node, now: now, &out)
            } else if now >= member.nextConfirmProbe {
                confirm(node, now: now, &out)
            }
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
        pendingProbes.append((seq, node, now + settings.probeTimeout))
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

    /// Up to `count` distinct random members that are alive (or suspect), none of them in `excluding`.
    mutating func randomPeers(_ count: Int, excluding: Set<NodeID>) -> [NodeID] {
        var chosen: [NodeID] = []
        var attempts = 0
        while chosen.count < count, attempts < count * 4, !peerIDs.isEmpty {
            attempts += 1
            let node = peerIDs[Int.random(in: 0..<peerIDs.count, using: &rng)]
            guard !excluding.contains(node), !chosen.contains(node), let member = members[node] else { continue }
            if member.liveness == .alive || member.liveness == .suspect { chosen.append(node) }
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
            tombstones[node] = (member.stamp, now + settings.tombstoneLifetime)
            removeVector(node)
            peerIDs.removeAll { $0 == node }
            rumours.removeAll { $0.rumour.subject == node }
            out.append(.pruned(node))
        }
    }
}

import Foundation
