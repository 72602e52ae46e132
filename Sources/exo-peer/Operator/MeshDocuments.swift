import Gossip

// What the operator commands (`doctor`, `models`) read from a node's API, decoded on the client side.
// Only the fields the checks use are declared, so a node of a slightly different build still decodes.

/// `GET /health`.
struct HealthDocument: Codable, Sendable, Equatable {
    var status: String
    var node: String
    var epoch: UInt64
    var uptimeSeconds: Double
    var version: String
}

/// `GET /state`: the gossiped view as the asked node holds it.
struct StateDocument: Codable, Sendable, Equatable {
    var node: String
    var epoch: UInt64
    var converged: Bool
    var members: [Member]
    var convergence: [ConvergenceEntry]

    struct Member: Codable, Sendable, Equatable {
        var id: String
        var liveness: String
        var lastHeardSeconds: Double?
        var record: Record
    }

    struct Record: Codable, Sendable, Equatable {
        var node: String
        var epoch: UInt64
        var version: UInt64
        var contentVersion: UInt64
        var addresses: [String]
        var apiPort: Int
        var models: [Model]
        var runners: [Runner]
        var health: Health
        var seen: [String: Stamp]
        var leaving: Bool
        var transfers: [NodeRecord.Transfer]?

        var contentStamp: Stamp { Stamp(epoch: epoch, version: contentVersion) }
    }

    struct Model: Codable, Sendable, Equatable {
        var id: String
        var sizeBytes: UInt64
        var sha256: String
        var shape: Shape?
        struct Shape: Codable, Sendable, Equatable {
            var architecture: String
            var layerCount: Int
        }
    }

    struct Runner: Codable, Sendable, Equatable {
        var instance: String
        var rank: Int
        var state: String
        var planHash: String
    }

    struct Health: Codable, Sendable, Equatable {
        var score: Double
        var processAlive: Bool
        var recentErrors: [String]
    }

    /// One record's spread: how many of the live nodes' `seen` vectors cover it.
    struct ConvergenceEntry: Codable, Sendable, Equatable {
        var node: String
        var stamp: Stamp
        var knownBy: Int
        var liveNodes: Int
    }
}

/// `GET /instances`: the instances the asked node derives from the gossiped intents.
struct InstancesDocument: Codable, Sendable, Equatable {
    var instances: [Instance]
    var unplaced: [Unplaced]
    var superseded: [String]

    struct Instance: Codable, Sendable, Equatable {
        var id: String
        var model: String
        var planHash: String
        var ranks: [Rank]
    }

    struct Rank: Codable, Sendable, Equatable {
        var rank: Int
        var node: String
        var layerStart: Int
        var layerEnd: Int
        var runner: String
    }

    struct Unplaced: Codable, Sendable, Equatable {
        var id: String
        var model: String
        var reason: String
    }
}

/// `GET /v1/models`: the ids a chat request may name.
struct ModelListDocument: Codable, Sendable, Equatable {
    var data: [Entry]
    struct Entry: Codable, Sendable, Equatable { var id: String }
}

/// Liveness as gossip names it; anything else a node reports is kept as text.
enum Liveness {
    static func isUp(_ liveness: String) -> Bool { liveness == "alive" || liveness == "suspect" }
}

extension String {
    /// The 8-digit prefix operators see for a node id everywhere (status, dashboard, logs).
    var shortNodeID: String { String(prefix(8)) }
}
