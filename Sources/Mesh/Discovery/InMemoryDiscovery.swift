/// Discovery driven by hand, for tests: whatever `announce` and `withdraw` say is what the node sees.
public actor InMemoryDiscovery: Discovery {
    private var known: Set<DiscoveredPeer> = []
    private var continuations: [AsyncStream<DiscoveryEvent>.Continuation] = []

    public init(peers: [DiscoveredPeer] = []) {
        known = Set(peers)
    }

    /// Replays every peer known so far, then follows `announce` and `withdraw`.
    public func start() -> AsyncStream<DiscoveryEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: DiscoveryEvent.self)
        for peer in known { continuation.yield(.found(peer)) }
        continuations.append(continuation)
        return stream
    }

    public func announce(_ peer: DiscoveredPeer) {
        guard known.insert(peer).inserted else { return }
        for c in continuations { c.yield(.found(peer)) }
    }

    public func withdraw(_ peer: DiscoveredPeer) {
        guard known.remove(peer) != nil else { return }
        for c in continuations { c.yield(.lost(peer)) }
    }

    public func stop() {
        for c in continuations { c.finish() }
        continuations = []
    }
}
