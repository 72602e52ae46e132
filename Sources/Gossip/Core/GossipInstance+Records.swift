import Mesh

/// Records: verification and application, eager push, Scuttlebutt digests, own re-signing.
extension GossipInstance {
    /// Verifies and applies one record; true when it was newer than anything held.
    mutating func ingest(_ signed: SignedRecord, now: Duration, _ out: inout [GossipDirective]) -> Bool {
        if signed.signer == id {
            // Someone holds a newer record of ours than we do (a restart within one epoch): jump past it.
            if signed.stamp > ownSigned.stamp, case .accept = validator.check(signed, held: ownSigned.stamp) {
                try? resign(now: now) { $0.version = signed.stamp.version }
                push([ownSigned], hops: settings.pushHops, excluding: [], &out)
            }
            return false
        }
        let held = members[signed.signer]?.stamp ?? tombstones[signed.signer]?.stamp
        switch validator.check(signed, held: held) {
        case .duplicate:
            duplicates += 1
            return false
        case .reject(let reason):
            rejected[reason, default: 0] += 1
            return false
        case .accept(let record):
            apply(signed, record, now: now, &out)
            return true
        }
    }

    /// Puts a verified record in the view; a newer record is proof of life and refutes any suspicion.
    mutating func apply(_ signed: SignedRecord, _ record: NodeRecord, now: Duration, _ out: inout [GossipDirective]) {
        let node = signed.signer
        tombstones[node] = nil
        let liveness: Liveness = record.leaving ? .left : .alive
        if members[node]?.record.contentStamp != record.contentStamp { seenDirty = true }
        if var member = members[node] {
            let was = member.liveness
            member.signed = signed
            member.record = record
            member.lastHeard = now
            if was != liveness {
                member.liveness = liveness
                member.since = now
                member.suspicion = nil
            }
            members[node] = member
            if was == .suspect { suspects.removeAll { $0 == node } }
            if was != liveness { out.append(.liveness(node, liveness)) }
        } else {
            members[node] = Member(signed: signed, record: record, liveness: liveness, lastHeard: now, since: now)
            let at = peerIDs.partitioningIndex { $0 >= node }
            peerIDs.insert(node, at: at)
            out.append(.liveness(node, liveness))
        }
        setVector(node, signed.stamp)
        out.append(.recordChanged(node))
    }

    /// Eager push to `fanout` random live members.
    mutating func push(_ records: [SignedRecord], hops: Int, excluding: Set<NodeID>, _ out: inout [GossipDirective]) {
        for target in randomPeers(settings.fanout, excluding: excluding) {
            send(.records(records, hops: hops), to: target, &out)
        }
    }

    /// Answers a digest with exactly the records newer than it, and asks back for what the peer has newer.
    /// A full digest (`reply`) lists everything its sender holds, so an absent entry is a record it lacks;
    /// a request (no `reply`) asks only about the entries it lists.
    mutating func answer(_ theirs: [NodeID: Stamp], reply: Bool, to peer: NodeID, _ out: inout [GossipDirective]) {
        var newer: [SignedRecord] = []
        var wanted: [NodeID: Stamp] = [:]
        for (node, mine) in vector {
            if let their = theirs[node] {
                if their >= mine { continue }
            } else if !reply {
                continue
            }
            if node == id {
                newer.append(ownSigned)
            } else if let member = members[node] {
                newer.append(member.signed)
            }
        }
        if reply {
            for (node, their) in theirs where node != id {
                let mine = vector[node] ?? tombstones[node]?.stamp
                if mine == nil || mine! < their { wanted[node] = vector[node] ?? Stamp(epoch: 0, version: 0) }
            }
        }
        if !newer.isEmpty {
            newer.sort { $0.signer < $1.signer }
            send(.records(newer, hops: 0), to: peer, &out)
        }
        if !wanted.isEmpty { send(.digest(WireVector(wanted), reply: false), to: peer, &out) }
    }

    /// Signs a new version of the own record (current `seen` included).
    /// `quiet` marks a `seen`-only refresh, which leaves `contentVersion` alone.
    mutating func resign(now: Duration, quiet: Bool = false, _ change: (inout NodeRecord) -> Void) throws(GossipError) {
        var next = ownRecord
        change(&next)
        next.node = id
        next.epoch = ownRecord.epoch
        next.version = max(next.version, ownRecord.version) + 1
        if !quiet { next.contentVersion = next.version }
        if settings.seenRefreshInterval != nil {
            var seen: [String: Stamp] = [:]
            seen.reserveCapacity(vector.count)
            for (node, stamp) in vector { seen[node.hex] = stamp }
            seen[id.hex] = next.stamp
            next.seen = seen
        }
        let signed = try SignedRecord.sign(next, with: signer)
        ownRecord = next
        ownSigned = signed
        lastSigned = now
        seenDirty = false
        setVector(id, signed.stamp)
    }

    mutating func setVector(_ node: NodeID, _ stamp: Stamp) {
        if let old = vector[node] { vectorSummary &-= vectorEntryHash(node, old) }
        vector[node] = stamp
        vectorSummary &+= vectorEntryHash(node, stamp)
    }

    mutating func removeVector(_ node: NodeID) {
        if let old = vector.removeValue(forKey: node) { vectorSummary &-= vectorEntryHash(node, old) }
        seenDirty = true
    }

    /// Builds a message with this node's stamp and the rumours due for piggybacking.
    mutating func send(_ body: GossipMessage.Body, to peer: NodeID, _ out: inout [GossipDirective]) {
        var carried: [Rumour] = []
        var index = 0
        while index < rumours.count, carried.count < settings.maxPiggyback {
            carried.append(rumours[index].rumour)
            rumours[index].remaining -= 1
            if rumours[index].remaining <= 0 { rumours.remove(at: index) } else { index += 1 }
        }
        out.append(.send(GossipMessage(stamp: ownSigned.stamp, rumours: carried, body: body), to: peer))
    }
}

extension Array {
    /// First index whose element satisfies `belongs`, for an array partitioned by it (binary search).
    func partitioningIndex(where belongs: (Element) -> Bool) -> Int {
        var low = 0
        var high = count
        while low < high {
            let mid = (low + high) / 2
            if belongs(self[mid]) { high = mid } else { low = mid + 1 }
        }
        return low
    }
}
