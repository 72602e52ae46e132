import Logging
import NIOCore

/// Settings of a mesh node; the defaults suit a LAN.
public struct MeshConfiguration: Sendable {
    public var host: String
    /// 0 picks an ephemeral port (tests).
    public var port: Int
    public var networkKey: NetworkKey?
    public var maximumPayload: Int
    /// A peer that has not finished the handshake by then is dropped.
    public var handshakeTimeout: Duration
    /// Connections still in their handshake beyond this are refused at once (a slow-loris bound).
    public var maximumPendingHandshakes: Int
    public var backoff: Backoff
    /// Frames queued for one peer before `send` reports `.peerBusy`.
    public var outboundQueueLimit: Int
    /// Inbound frames waiting for the layer above before new ones are dropped (and counted).
    public var inboundQueueLimit: Int
    /// How often a link sends a ping, so a quiet but healthy link is never idle.
    public var keepaliveInterval: Duration
    /// A link that receives nothing this long is closed (then redialed): the peer vanished.
    public var idleTimeout: Duration
    /// A TCP connect that takes longer is abandoned and retried: on a LAN it takes milliseconds, and
    /// a dial stuck on an unreachable peer must not delay reaching it once it is back.
    public var connectTimeout: Duration = .milliseconds(500)
    /// Data a link sent that the peer's TCP has not acknowledged for this long closes the link (TCP_USER_TIMEOUT),
    /// which is then redialed. Without it a link cut by a partition stays open, TCP's retransmissions back off
    /// to seconds apart, and after the heal the link sat silent until the next one (heals took 3 s and more).
    /// A stopped or busy peer still acknowledges (its kernel does), so only a cut link trips it.
    public var unacknowledgedTimeout: Duration = .seconds(3)
    /// A duplicate link that lost the id rule stays open, read but unused, this long before it is closed.
    /// When both ends dial at once, each may take a different link first; closing the loser at once
    /// showed the end still using it a disconnect (and a reconnect) before it had finished the handshake
    /// on the winner.
    public var duplicateLinger: Duration = .seconds(1)

    public init(host: String = "0.0.0.0", port: Int = 52416, networkKey: NetworkKey? = nil,
                maximumPayload: Int = Frame.defaultMaximumPayload, handshakeTimeout: Duration = .seconds(5),
                maximumPendingHandshakes: Int = 64, backoff: Backoff = .lan,
                outboundQueueLimit: Int = 4096, inboundQueueLimit: Int = 65536,
                keepaliveInterval: Duration = .seconds(2), idleTimeout: Duration = .seconds(10)) {
        self.host = host
        self.port = port
        self.networkKey = networkKey
        self.maximumPayload = maximumPayload
        self.handshakeTimeout = handshakeTimeout
        self.maximumPendingHandshakes = maximumPendingHandshakes
        self.backoff = backoff
        self.outboundQueueLimit = outboundQueueLimit
        self.inboundQueueLimit = inboundQueueLimit
        self.keepaliveInterval = keepaliveInterval
        self.idleTimeout = idleTimeout
    }
}

/// A frame from an authenticated peer.
public struct InboundFrame: Sendable, Equatable {
    public let peer: NodeID
    public let frame: Frame
}

public enum PeerEvent: Sendable, Equatable {
    /// `address` is where the peer accepts connections (its IP and the listen port from its hello).
    case connected(NodeID, PeerAddress)
    case disconnected(NodeID, PeerAddress)
}

/// Counters for metrics; they only grow.
public struct MeshCounters: Sendable, Equatable {
    public var connectionsEstablished = 0
    /// Every failed handshake, including those that timed out.
    public var failedHandshakes = 0
    public var timedOutHandshakes = 0
    /// Frames that broke the protocol (oversized, unknown kind, undecryptable, out of place).
    public var droppedFrames = 0
    /// Inbound frames dropped because the layer above did not keep up.
    public var inboundOverflow = 0
    /// Connections refused because too many were still in their handshake.
    public var refusedConnections = 0
    /// Second connections to an already connected peer, closed by the id rule.
    public var duplicateConnections = 0

    public init() {}
}

public enum MeshError: Error, Equatable, CustomStringConvertible {
    case notConnected(NodeID)
    case peerBusy(NodeID)
    case notStarted
    case frameTooLarge(Int)
    case reservedKind(FrameKind)

    public var description: String {
        switch self {
        case .notConnected(let id): "no connection to node \(id); wait for its connected event"
        case .peerBusy(let id): "the send queue to node \(id) is full; the peer or the link is too slow"
        case .notStarted: "the mesh node is not running; call start() first"
        case .frameTooLarge(let n): "frame of \(n) bytes exceeds the configured cap"
        case .reservedKind(let kind): "\(kind) frames belong to the mesh itself and cannot be sent by the layers above"
        }
    }
}
