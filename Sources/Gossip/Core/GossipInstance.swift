import Mesh

/// The gossip protocol as a pure state machine: events and the time in, directives out. No I/O, no clock,
/// no global randomness; the `GossipNode` actor (or the simulation) performs what it returns.
///
/// Scuttlebutt push-pull reconciles the signed records (summary → digest → newer records), own changes
/// are pushed eagerly, and a SWIM failure detector (probes, piggybacked rumours, refutation by a newer
/// version) moves members alive → suspect → dead.
public struct GossipInstance: Sendable {
    public let id: NodeID
    public let settings: GossipSettings
    let signer: any RecordSigner
    let validator: RecordValidator
    var rng: any RandomNumberGenerator & Sendable

    public internal(set) var ownSigned: SignedRecord
    public internal(set) var ownRecord: NodeRecord
    public internal(set) var members: [NodeID: Member] = [:]
    /// Stamps of pruned members: nothing at or below them is accepted again.
    var tombstones: [NodeID: (stamp: Stamp, until: Duration)] = [:]
    /// Every record held, self included; its summary is kept in step.
    public internal(set) var vector: [NodeID: Stamp] = [:]
    var vectorSummary: UInt64 = 0
    /// The same summary per bucket of node ids, for reconciling large vectors bucket by bucket.
    var bucketSummaries = [UInt64](repeating: 0, count: GossipInstance.bucketCount)

    /// Member ids in a stable order, for random picks and the probe round robin.
    var peerIDs: [NodeID] = []
    var probeOrder: [NodeID] = []
    var probeCursor = 0
    var suspects: [NodeID] = []
    /// Members currently dead, so the dead-member probe skips scanning the view when there are none.
    var deadCount = 0
    /// Confirmation probes left in this tick, and where the next round robin over suspects starts.
    var confirmBudget = Int.max
    var confirmCursor = 0
    /// No suspicion runs out before this (a lower bound: re-checked then).
    var nextSuspicionDeadline: Duration = .zero
    /// Probes awaiting an ack; `indirect` once `pingReq`s went out for it.
    var pendingProbes: [(seq: UInt64, target: NodeID, deadline: Duration, indirect: Bool)] = []
    /// Probes sent on another member's behalf (`pingReq`): our sequence number → whom to tell.
    var relays: [(seq: UInt64, requester: NodeID, requesterSeq: UInt64, target: NodeID, deadline: Duration)] = []
    var nextSeq: UInt64 = 1
    var rumours: [(rumour: Rumour, remaining: Int)] = []
    /// Fresh records waiting to be forwarded together (see `GossipSettings.forwardCoalescing`), with the
    /// most hops any of them has left.
    var forwardQueue: [NodeID: SignedRecord] = [:]
    var heldHops = 0
    var lastForward: Duration = .seconds(-3600)

    var nextProbeAt: Duration
    var nextGossipAt: Duration
    var nextDeadProbeAt: Duration
    var nextPruneAt: Duration
    var seenDirty = false
    var lastSigned: Duration
    public internal(set) var hasLeft = false

    public internal(set) var rejected: [RejectReason: Int] = [:]
    public internal(set) var duplicates = 0

    /// `record` is this node's first record; its node must be the signer's.
    public init(
        record: NodeRecord, signer: any RecordSigner, verifier: any SignatureVerifier,
        settings: GossipSettings = GossipSettings(), now: Duration,
        random: any RandomNumberGenerator & Sendable
    ) throws(GossipError) {
        precondition(record.node == signer.nodeID, "a node signs only its own record")
        self.id = signer.nodeID
        self.settings = settings
        self.signer = signer
        self.validator = RecordValidator(verifier: verifier)
        self.rng = random
        self.ownRecord = record
        self.ownSigned = try SignedRecord.sign(record, with: signer)
        self.lastSigned = now
        // Random phases, so a cluster started at once does not probe in lockstep.
        var r = random
        self.nextProbeAt = now + settings.probeInterval * Double.random(in: 0..<1, using: &r)
        self.nextGossipAt = now + settings.gossipInterval * Double.random(in: 0..<1, using: &r)
        self.nextDeadProbeAt = now + settings.deadProbeInterval
        self.nextPruneAt = now + .seconds(1)
        self.rng = r
        setVector(id, ownSigned.stamp)
    }

    // MARK: Events

    /// A message from `peer` (authenticated by the mesh).
    public mutating func receive(_ message: GossipMessage, from peer: NodeID, now: Duration) -> [GossipDirective] {
        var out: [GossipDirective] = []
        guard peer != id, !hasLeft else { return out }
        heard(peer, stamp: message.stamp, now: now, &out)
        for rumour in message.rumours { apply(rumour, from: peer, now: now, &out) }
        switch message.body {
        case .ping(let seq):
            send(.ack(seq: seq), to: peer, &out)
        case .ack(let seq):
            pendingProbes.removeAll { $0.seq == seq && $0.target == peer }
            if let relay = relays.firstIndex(where: { $0.seq == seq && $0.target == peer }) {
                let done = relays.remove(at: relay)
                send(.indirectAck(seq: done.requesterSeq, target: peer), to: done.requester, &out)
            }
        case .pingReq(let seq, let target):
            relay(seq, to: target, for: peer, now: now, &out)
        case .indirectAck(let seq, let target):
            pendingProbes.removeAll { $0.seq == seq && $0.target == target }
        case .syn(let summary, let count):
            if summary != vectorSummary || count != vector.count { openReconciliation(with: peer, &out) }
        case .buckets(let theirs):
            compare(theirs, from: peer, &out)
        case .digest(let theirs, let reply):
            answer(theirs.entries, reply: reply, to: peer, &out)
        case .bucketDigest(let theirs, let buckets):
            answer(theirs.entries, reply: true, scope: Set(buckets.filter { (0..<Self.bucketCount).contains($0) }), to: peer, &out)
        case .records(let records, let hops):
            var fresh: [SignedRecord] = []
            for signed in records where ingest(signed, now: now, &out) { fresh.append(signed) }
            if hops > 0, !fresh.isEmpty { forward(fresh, hops: hops - 1, from: peer, now: now, &out) }
        }
        return out
    }

    /// The mesh connected to `peer` (the handshake proved its key): exchange full digests.
    public mutating func peerConnected(_ peer: NodeID, now: Duration) -> [GossipDirective] {
        var out: [GossipDirective] = []
        guard peer != id, !hasLeft else { return out }
        heard(peer, stamp: nil, now: now, &out)
        openReconciliation(with: peer, &out)
        return out
    }

    /// The mesh lost its connection to `peer`. A crashed process's sockets close at once, so this starts a
    /// fast suspicion confirmed by direct probes; a merely paused process keeps its connection.
    public mutating func peerDisconnected(_ peer: NodeID, now: Duration) -> [GossipDirective] {
        var out: [GossipDirective] = []
        guard let member = members[peer], !hasLeft else { return out }
        switch member.liveness {
        case .alive:
            suspect(peer, because: .disconnected, now: now, &out)
        case .suspect:
            members[peer]?.suspicion = .disconnected
            members[peer]?.nextConfirmProbe = now
            nextSuspicionDeadline = min(nextSuspicionDeadline, member.since + settings.disconnectConfirmTimeout)
        case .dead, .left:
            break
        }
        return out
    }

    /// Advances timers: probes, suspicion deadlines, anti-entropy, pruning, `seen` refresh.
    public mutating func tick(now: Duration) -> [GossipDirective] {
        var out: [GossipDirective] = []
        guard !hasLeft else { return out }
        confirmBudget = settings.maxConfirmProbesPerTick
        expireProbes(now: now, &out)
        confirmSuspects(now: now, &out)
        if now >= nextProbeAt {
            nextProbeAt = now + settings.probeInterval
            if let target = nextProbeTarget() { probe(target, now: now, &out) }
        }
        if now >= nextGossipAt {
            nextGossipAt = now + settings.gossipInterval
            if let target = randomPeer(where: { $0 == .alive || $0 == .suspect }) {
                send(.syn(summary: vectorSummary, count: vector.count), to: target, &out)
            }
        }
        if now >= nextDeadProbeAt {
            nextDeadProbeAt = now + settings.deadProbeInterval
            if deadCount > 0, let target = randomPeer(where: { $0 == .dead }) { send(.ping(seq: 0), to: target, &out) }
        }
        if !forwardQueue.isEmpty, now >= lastForward + settings.forwardCoalescing {
            flushForwards(now: now, &out)
        }
        if now >= nextPruneAt {
            nextPruneAt = now + .seconds(1)
            prune(now: now, &out)
        }
        if seenDirty, let every = settings.seenRefreshInterval, now >= lastSigned + every {
            // Quiet: the new `seen` travels by anti-entropy only, never by eager push.
            try? resign(now: now, quiet: true) { _ in }
        }
        return out
    }

    /// Changes this node's own record (bumping its version), signs it and pushes it eagerly.
    public mutating func updateLocal(now: Duration, _ change: (inout NodeRecord) -> Void) throws(GossipError) -> [GossipDirective] {
        var out: [GossipDirective] = []
        try resign(now: now, change)
        push([ownSigned], hops: settings.pushHops, excluding: [], &out)
        return out
    }

    /// Graceful stop: a `leaving` record sent to every live member at once; afterwards the instance is silent.
    public mutating func leave(now: Duration) throws(GossipError) -> [GossipDirective] {
        var out: [GossipDirective] = []
        guard !hasLeft else { return out }
        try resign(now: now) { $0.leaving = true }
        for peer in peerIDs where members[peer]?.liveness == .alive || members[peer]?.liveness == .suspect {
            send(.records([ownSigned], hops: 1), to: peer, &out)
        }
        hasLeft = true
        return out
    }

    /// Adds a record learned out of band (a bootstrap list, a test), through the same checks as gossip.
    public mutating func learn(_ signed: SignedRecord, now: Duration) -> [GossipDirective] {
        var out: [GossipDirective] = []
        _ = ingest(signed, now: now, &out)
        return out
    }

    // MARK: Queries

    public func liveness(of node: NodeID) -> Liveness? {
        node == id ? (hasLeft ? .left : .alive) : members[node]?.liveness
    }

    /// The newest stamp held for `node` (self included).
    public func stamp(of node: NodeID) -> Stamp? { vector[node] }

    public var rejectedTotal: Int { rejected.values.reduce(0, +) }
}
