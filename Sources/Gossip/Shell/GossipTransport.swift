import Mesh

/// What the gossip shell needs from the mesh: deliver a message to a peer. Best effort; a lost message is
/// the protocol's problem, not the transport's. Inbound messages and connection changes are fed to
/// `GossipNode` (`receive`, `peerConnected`, `peerDisconnected`) by whoever owns the connections.
public protocol GossipTransport: Sendable {
    func send(_ message: GossipMessage, to peer: NodeID) async
}

/// Encodes and decodes gossip messages for the mesh's control frames (JSON, sorted keys).
public enum GossipWire {
    public static func encode(_ message: GossipMessage) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(message))
    }

    /// Malformed bytes from the network are an error value, never a crash.
    public static func decode(_ bytes: [UInt8]) throws(GossipWireError) -> GossipMessage {
        do { return try JSONDecoder().decode(GossipMessage.self, from: Data(bytes)) } catch { throw .malformed("\(error)") }
    }
}

public enum GossipWireError: Error, Equatable, CustomStringConvertible {
    case malformed(String)
    public var description: String {
        switch self {
        case .malformed(let why): "malformed gossip message (dropped): \(why)"
        }
    }
}

import Foundation
