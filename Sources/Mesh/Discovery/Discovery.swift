/// A node found on the network. Static peers have no id until the handshake tells it.
public struct DiscoveredPeer: Sendable, Hashable, CustomStringConvertible {
    public var id: NodeID?
    public var host: String
    public var meshPort: Int
    public var apiPort: Int?
    public var protocolVersion: UInt16?

    public init(id: NodeID?, host: String, meshPort: Int, apiPort: Int? = nil, protocolVersion: UInt16? = nil) {
        self.id = id
        self.host = host
        self.meshPort = meshPort
        self.apiPort = apiPort
        self.protocolVersion = protocolVersion
    }

    /// Where to dial it.
    public var address: PeerAddress { PeerAddress(host: host, port: meshPort) }

    public var description: String { "\(id?.short ?? "?")@\(address)" }
}

public enum DiscoveryEvent: Sendable, Hashable {
    case found(DiscoveredPeer)
    case lost(DiscoveredPeer)
}

/// A source of peers. `start()` returns the events; the stream finishes on `stop()` (or at once when the
/// source is unavailable, e.g. no Avahi daemon, after saying so once in the log).
public protocol Discovery: Sendable {
    func start() async -> AsyncStream<DiscoveryEvent>
    func stop() async
}

/// The DNS-SD service type every node publishes and browses.
public enum MeshService {
    public static let type = "_exo-peer._tcp"
}
