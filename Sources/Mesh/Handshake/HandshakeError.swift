/// Why a handshake failed. Each is logged with the peer address and the connection closed.
public enum HandshakeError: Error, Equatable, Sendable, CustomStringConvertible {
    case malformed(String)
    case unexpectedFrame(FrameKind)
    case protocolMismatch(ours: UInt16, theirs: UInt16)
    case selfConnection
    case unexpectedPeer(expected: NodeID, got: NodeID)
    case badSignature(NodeID)
    /// We hold a network key and the peer did not prove it holds the same one.
    case networkKeyMismatch
    /// The peer proved a network key we do not have.
    case networkKeyRequiredByPeer
    case timedOut
    case connectionClosed

    public var description: String {
        switch self {
        case .malformed(let what): "malformed handshake (\(what)); the peer is not an exo-peer node or is broken"
        case .unexpectedFrame(let kind): "unexpected \(kind) frame during the handshake"
        case .protocolMismatch(let ours, let theirs): "peer speaks protocol \(theirs), we speak \(ours); upgrade the older node"
        case .selfConnection: "connected to ourselves; our own address was discovered or configured as a peer"
        case .unexpectedPeer(let expected, let got): "expected node \(expected) at this address, found \(got)"
        case .badSignature(let id): "node \(id) did not prove it holds its key (bad signature)"
        case .networkKeyMismatch: "peer does not hold our network key; give every node the same --network-key file"
        case .networkKeyRequiredByPeer: "peer uses a network key and we have none; start this node with the same --network-key file"
        case .timedOut: "handshake did not finish in time"
        case .connectionClosed: "peer closed the connection during the handshake"
        }
    }
}
