/// Peers given on the command line (`--peer host:port`, repeatable). Their ids are learned at the handshake.
public actor StaticDiscovery: Discovery {
    public let addresses: [PeerAddress]
    private var continuations: [AsyncStream<DiscoveryEvent>.Continuation] = []

    public init(addresses: [PeerAddress]) {
        self.addresses = addresses
    }

    /// Parses `host:port` strings; the error names the first bad one.
    public init(peers: [String]) throws(DiscoveryError) {
        var parsed: [PeerAddress] = []
        for text in peers {
            guard let address = PeerAddress(text) else { throw .badPeerAddress(text) }
            parsed.append(address)
        }
        self.init(addresses: parsed)
    }

    public func start() -> AsyncStream<DiscoveryEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: DiscoveryEvent.self)
        for address in addresses {
            continuation.yield(.found(DiscoveredPeer(id: nil, host: address.host, meshPort: address.port)))
        }
        continuations.append(continuation)
        return stream
    }

    public func stop() {
        for c in continuations { c.finish() }
        continuations = []
    }
}

public enum DiscoveryError: Error, Equatable, CustomStringConvertible {
    case badPeerAddress(String)

    public var description: String {
        switch self {
        case .badPeerAddress(let text): "peer '\(text)' is not host:port (e.g. 10.0.0.5:52416)"
        }
    }
}
