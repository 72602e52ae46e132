/// One node as placement sees it, built by the caller from the node's gossiped record.
public struct NodeView: Sendable, Hashable, Codable {
    public var id: String
    /// Bytes the mesh may use on the node. Feed a figure that does not fall when this mesh's own runners load
    /// (total memory less a reserve, say): a plan computed from memory its own shards already took would not
    /// fit any more, and the instance would be re-planned away from under itself.
    public var memoryBytes: UInt64
    /// Weight bytes per second the node streams while decoding, as measured; 0 when unknown. Measure it once
    /// per process start: plans follow it, so a figure that wobbles moves plans.
    public var throughputBytesPerSecond: UInt64
    public var alive: Bool
    /// Ids of the models the node has on disk, or nil when any model may be placed on it.
    public var models: Set<String>?

    public init(id: String, memoryBytes: UInt64, throughputBytesPerSecond: UInt64 = 0, alive: Bool = true, models: Set<String>? = nil) {
        self.id = id
        self.memoryBytes = memoryBytes
        self.throughputBytesPerSecond = throughputBytesPerSecond
        self.alive = alive
        self.models = models
    }

    /// Takes a throughput as gossiped (a `Double`, possibly negative, infinite or NaN from a bad record).
    public init(id: String, memoryBytes: UInt64, measuredThroughput: Double, alive: Bool = true, models: Set<String>? = nil) {
        let throughput: UInt64 = measuredThroughput.isFinite && measuredThroughput >= 1 ? UInt64(min(measuredThroughput, 1.0e18)) : 0
        self.init(id: id, memoryBytes: memoryBytes, throughputBytesPerSecond: throughput, alive: alive, models: models)
    }

    func holds(model: String) -> Bool { models?.contains(model) ?? true }
}

/// The cluster as one node currently sees it. Order does not matter: placement sorts by node id.
public struct ClusterView: Sendable, Hashable, Codable {
    public var nodes: [NodeView]

    public init(nodes: [NodeView]) {
        self.nodes = nodes
    }

    public subscript(id: String) -> NodeView? {
        nodes.first { $0.id == id }
    }

    /// Node ids that appear more than once, sorted; placement refuses such a view rather than guess.
    var duplicateIDs: [String] {
        var seen = Set<String>(), duplicates = Set<String>()
        for node in nodes where !seen.insert(node.id).inserted { duplicates.insert(node.id) }
        return duplicates.sorted()
    }
}
