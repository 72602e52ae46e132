import Gossip
import Logging
import Mesh

/// Gossip messages travel as `gossip` frames on the mesh's authenticated links.
struct MeshGossipTransport: GossipTransport {
    let mesh: MeshNode
    let logger: Logger

    func send(_ message: GossipMessage, to peer: NodeID) async {
        do {
            try await mesh.send(Frame(kind: .gossip, bytes: GossipWire.encode(message)), to: peer)
        } catch {
            // No link right now: gossip is best effort and the protocol retries by itself.
            logger.trace("gossip not sent", metadata: ["peer": "\(peer.short)", "reason": "\(error)"])
        }
    }
}
