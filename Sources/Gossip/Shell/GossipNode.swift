import Logging
import Mesh

/// The thin actor around `GossipInstance`: a real clock, a timer task, and a transport. All protocol
/// decisions are the instance's; this only performs its directives.
public actor GossipNode {
    private var instance: GossipInstance
    private let transport: any GossipTransport
    private let clock = ContinuousClock()
    private let origin: ContinuousClock.Instant
    private var logger: Logger
    private let changes: AsyncStream<GossipDirective>.Continuation
    /// Liveness changes and record changes, for the node's view consumers (placement, `/peers`).
    public nonisolated let events: AsyncStream<GossipDirective>

    public init(record: NodeRecord, identity: NodeIdentity, transport: any GossipTransport, settings: GossipSettings = GossipSettings(), logger: Logger) throws(GossipError) {
        try self.init(record: record, signer: Ed25519Signer(identity: identity), verifier: Ed25519Verifier(), transport: transport, settings: settings, logger: logger)
    }

    public init(record: NodeRecord, signer: any RecordSigner, verifier: any SignatureVerifier, transport: any GossipTransport, settings: GossipSettings = GossipSettings(), logger: Logger) throws(GossipError) {
        self.origin = clock.now
        self.instance = try GossipInstance(record: record, signer: signer, verifier: verifier, settings: settings, now: .zero, random: SystemRandomNumberGenerator())
        self.transport = transport
        self.logger = logger
        self.logger[metadataKey: "node"] = "\(signer.nodeID.short)"
        (events, changes) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1024))
    }

    private var now: Duration { clock.now - origin }

    /// Ticks until the task is cancelled; run it in the node's task group / service group.
    public func run() async {
        while !Task.isCancelled {
            await perform(instance.tick(now: now))
            try? await clock.sleep(for: instance.settings.tickInterval)
        }
    }

    public func receive(_ message: GossipMessage, from peer: NodeID) async {
        await perform(instance.receive(message, from: peer, now: now))
    }

    /// Bytes of a gossip frame from `peer`; malformed ones are logged and dropped.
    public func receive(bytes: [UInt8], from peer: NodeID) async {
        do {
            await receive(try GossipWire.decode(bytes), from: peer)
        } catch {
            logger.warning("dropped gossip message", metadata: ["peer": "\(peer.short)", "reason": "\(error)"])
        }
    }

    public func peerConnected(_ peer: NodeID) async { await perform(instance.peerConnected(peer, now: now)) }
    public func peerDisconnected(_ peer: NodeID) async { await perform(instance.peerDisconnected(peer, now: now)) }

    /// Changes the own record (the version is bumped and the record re-signed and pushed).
    public func updateRecord(_ change: @Sendable (inout NodeRecord) -> Void) async throws(GossipError) {
        let directives = try instance.updateLocal(now: now, change)
        await perform(directives)
    }

    /// Announces departure (graceful stop); afterwards the node is silent.
    public func leave() async throws(GossipError) {
        let directives = try instance.leave(now: now)
        await perform(directives)
    }

    // MARK: Reading the view

    public var ownRecord: NodeRecord { instance.ownRecord }
    public var members: [NodeID: Member] { instance.members }
    public func liveness(of node: NodeID) -> Liveness? { instance.liveness(of: node) }
    public func convergence() -> [Convergence] { instance.convergence() }
    /// Dropped records by reason, for `/metrics`.
    public var rejected: [RejectReason: Int] { instance.rejected }
    public var duplicates: Int { instance.duplicates }
    /// Seconds since each member was last heard from directly.
    public func lastHeard(_ node: NodeID) -> Double? {
        instance.members[node].map { Double((now - $0.lastHeard).components.seconds) + Double((now - $0.lastHeard).components.attoseconds) * 1e-18 }
    }

    private func perform(_ directives: [GossipDirective]) async {
        for directive in directives {
            switch directive {
            case .send(let message, let peer):
                await transport.send(message, to: peer)
            case .liveness(let peer, let liveness):
                logger.info("peer is \(liveness.rawValue)", metadata: ["peer": "\(peer.short)"])
                changes.yield(directive)
            case .recordChanged:
                changes.yield(directive)
            case .pruned(let peer):
                logger.info("pruned peer", metadata: ["peer": "\(peer.short)"])
                changes.yield(directive)
            }
        }
    }
}
