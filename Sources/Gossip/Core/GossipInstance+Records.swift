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
                if was == .dead { deadCount -= 1 }
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

    /// Forwards records received fresh: at once when nothing was forwarded in the last `forwardCoalescing`,
    /// else held and sent together on the next tick. One isolated update still travels without delay; a
    /// storm of them (every node refuting its death after a partition heals) costs one message per peer
    /// per interval instead of one per record.
    mutating func forward(_ fresh: [SignedRecord], hops: Int, from peer: NodeID, now: Duration, _ out: inout [GossipDirective]) {
        if forwardQueue.isEmpty, now >= lastForward + settings.forwardCoalescing {
            lastForward = now
            push(fresh, hops: hops, excluding: Set([peer] + fresh.map(\.signer)), &out)
            return
        }
        for record in fresh where (forwardQueue[record.signer]?.stamp).map({ $0 < record.stamp }) ?? true { forwardQueue[record.signer] = record }
        heldHops = max(heldHops, hops)
    }

    mutating func flushForwards(now: Duration, _ out: inout [GossipDirective]) {
        let records = forwardQueue.values.sorted { $0.signer < $1.signer }
        let hops = heldHops
        forwardQueue = [:]
        heldHops = 0
        lastForward = now
        // Drop what a newer record superseded meanwhile; what is left goes out in budget-sized messages.
        let current = records.filter { vector[$0.signer] == $0.stamp }
        var batch: [SignedRecord] = []
        var bytes = 0
        for record in current {
            if !batch.isEmpty, bytes + record.payload.count > settings.maxRecordBytesPerMessage {
                push(batch, hops: hops, excluding: Set(batch.map(\.signer)), &out)
                batch = []
                bytes = 0
            }
            batch.append(record)
            bytes += record.payload.count
        }
        if !batch.isEmpty { push(batch, hops: hops, excluding: Set(batch.map(\.signer)), &out) }
    }

    /// Eager push to `fanout` random live members.
    mutating func push(_ records: [SignedRecord], hops: Int, excluding: Set<NodeID>, _ out: inout [GossipDirective]) {
        for target in randomPeers(settings.fanout, excluding: excluding) {
            send(.records(records, hops: hops), to: target, &out)
        }
    }

    /// Answers a digest with exactly the records newer than it, and asks back for what the peer has newer.
    /// A full digest (`reply`) lists everything its sender holds, so an absent entry is a record it lacks;
    /// a request (no `reply`) asks only about the entries it lists. `scope` limits a full digest to some
    /// buckets: it says nothing about entries outside them.
    mutating func answer(_ theirs: [NodeID: Stamp], reply: Bool, scope: Set<Int>? = nil, to peer: NodeID, _ out: inout [GossipDirective]) {
        var newer: [SignedRecord] = []
        func offer(_ node: NodeID, _ mine: Stamp) {
            if let their = theirs[node], their >= mine { return }
            if node == id {
                newer.append(ownSigned)
            } else if let member = members[node] {
                newer.append(member.signed)
            }
        }
        if reply {
            for (node, mine) in vector where scope.map({ $0.contains(Self.bucket(of: node)) }) ?? true { offer(node, mine) }
        } else {
            for node in theirs.keys { if let mine = vector[node] { offer(node, mine) } }
        }
        var wanted: [NodeID: Stamp] = [:]
        if reply {
            for (node, their) in theirs where node != id {
                let mine = vector[node] ?? tombstones[node]?.stamp
                if mine == nil || mine! < their { wanted[node] = vector[node] ?? Stamp(epoch: 0, version: 0) }
            }
        }
        if !newer.isEmpty {
            newer.sort { $0.signer < $1.signer }
            // An MTU-like budget: the rest goes in a later exchange (the peer still lacks it, so it is offered again).
            var bytes = 0
            var fitting = 0
            for record in newer {
                bytes += record.payload.count
                if fitting > 0, bytes > settings.maxRecordBytesPerMessage { break }
                fitting += 1
            }
            send(.records(Array(newer.prefix(fitting)), hops: 0), to: peer, &out)
        }
        if !wanted.isEmpty { send(.digest(WireVector(wanted), reply: false), to: peer, &out) }
    }

    /// Opens reconciliation with `peer` after their summaries differed: small vectors are sent whole, large
    /// ones as bucket summaries so that only differing buckets' entries travel.
    mutating func openReconciliation(with peer: NodeID, _ out: inout [GossipDirective]) {
        if vector.count <= settings.fullDigestLimit {
            send(.digest(WireVector(vector), reply: true), to: peer, &out)
        } else {
            send(.buckets(bucketSummaries), to: peer, &out)
        }
    }

    /// Answers bucket summaries with this node's entries in the buckets that differ (as a scoped full digest).
    mutating func compare(_ theirs: [UInt64], from peer: NodeID, _ out: inout [GossipDirective]) {
        guard theirs.count == Self.bucketCount else {
            // Bucketed differently (another build): fall back to the whole vector.
            send(.digest(WireVector(vector), reply: true), to: peer, &out)
            return
        }
        let differing = (0..<Self.bucketCount).filter { theirs[$0] != bucketSummaries[$0] }
        guard !differing.isEmpty else { return }
        let wanted = Set(differing)
        var entries: [NodeID: Stamp] = [:]
        for (node, stamp) in vector where wanted.contains(Self.bucket(of: node)) { entries[node] = stamp }
        send(.bucketDigest(WireVector(entries), buckets: differing), to: peer, &out)
    }

    /// Buckets of the vector for reconciliation: a node id's first byte (ids are public keys, so uniform).
    static let bucketCount = 64

    static func bucket(of node: NodeID) -> Int {
        var digits = node.hex.utf8.makeIterator()
        func value(_ c: UInt8?) -> Int {
            guard let c else { return 0 }
            return Int(c <= 57 ? c &- 48 : c &- 87)
        }
        return (value(digits.next()) << 4 | value(digits.next())) % bucketCount
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
        let bucket = Self.bucket(of: node)
        if let old = vector[node] {
            let h = vectorEntryHash(node, old)
            vectorSummary &-= h
            bucketSummaries[bucket] &-= h
        }
        vector[node] = stamp
        let h = vectorEntryHash(node, stamp)
        vectorSummary &+= h
        bucketSummaries[bucket] &+= h
    }

    mutating func removeVector(_ node: NodeID) {
        if let old = vector.removeValue(forKey: node) {
            let h = vectorEntryHash(node, old)
            vectorSummary &-= h
            bucketSummaries[Self.bucket(of: node)] &-= h
        }
        seenDirty = true
    }

    /// Builds a message with this node's stamp and the rumours due for piggybacking.
    ///
    /// A member suspected here is told so in every message it is sent (confirmation probes first), so if it
    /// runs it refutes at once. Left to the rumour queue, that news reached it only by chance: after a
    /// partition healed at N = 1,000, suspicions crossed in tens of milliseconds but their subjects took up
    /// to 1.4 s to hear of them, and each late refutation was a new record every node had to fetch.
    mutating func send(_ body: GossipMessage.Body, to peer: NodeID, _ out: inout [GossipDirective]) {
        var carried: [Rumour] = []
        if let member = members[peer], member.liveness == .suspect {
            carried.append(Rumour(kind: .suspect, subject: peer, stamp: member.stamp))
        }
        let toldSuspect = !carried.isEmpty
        var index = 0
        while index < rumours.count, carried.count < settings.maxPiggyback {
            if toldSuspect, rumours[index].rumour.subject == peer {
                index += 1
                continue
            }
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
