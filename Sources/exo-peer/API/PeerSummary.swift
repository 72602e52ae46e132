/// One row of `GET /peers`: what an operator wants to see about a node at a glance.
struct PeerSummary: Codable, Sendable, Equatable {
    var id: String
    var address: String
    var apiPort: Int
    var liveness: String          // alive, suspect, dead, left
    var lastHeardSeconds: Double?  // nil for this node itself
    var memoryTotalBytes: UInt64
    var memoryAvailableBytes: UInt64
    var cores: Int
    var models: [String]
    var healthScore: Double
    var isSelf: Bool
}

struct PeersResponse: Codable, Sendable {
    var node: String
    var peers: [PeerSummary]
}
