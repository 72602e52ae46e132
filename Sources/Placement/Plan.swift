/// Where a model's layers run: ranks in ring order, each a node and a contiguous layer range.
/// Rank 0 also holds the embedding; the last rank the output head. Identical on every node for the same
/// inputs, and named by `hash`.
public struct Plan: Sendable, Hashable, Codable {
    public struct Rank: Sendable, Hashable, Codable {
        public var node: String
        /// First layer of the range.
        public var layerStart: Int
        /// One past the last layer of the range.
        public var layerEnd: Int

        public init(node: String, layerStart: Int, layerEnd: Int) {
            self.node = node
            self.layerStart = layerStart
            self.layerEnd = layerEnd
        }

        public var layers: Range<Int> { layerStart..<max(layerStart, layerEnd) }
        public var layerCount: Int { layers.count }
    }

    public var model: String
    public var ranks: [Rank]

    public init(model: String, ranks: [Rank]) {
        self.model = model
        self.ranks = ranks
    }

    /// Ranks over `ring` (node ids in order) holding `layerCounts` consecutive layers each, from layer 0.
    init(model: String, ring: [String], layerCounts: [Int]) {
        var start = 0
        var ranks: [Rank] = []
        for (node, count) in zip(ring, layerCounts) {
            ranks.append(Rank(node: node, layerStart: start, layerEnd: start + count))
            start += count
        }
        self.init(model: model, ranks: ranks)
    }

    public var hash: PlanHash { PlanHash(of: self) }
    public var nodes: [String] { ranks.map(\.node) }

    public func rank(of node: String) -> Int? {
        ranks.firstIndex { $0.node == node }
    }

    /// True when the ranks cover layers 0..<layerCount contiguously, each with at least one layer, on
    /// distinct nodes: what every plan `place` returns satisfies.
    public func isWellFormed(layerCount: Int) -> Bool {
        var next = 0
        for rank in ranks {
            guard rank.layerStart == next, rank.layerEnd > rank.layerStart else { return false }
            next = rank.layerEnd
        }
        return !ranks.isEmpty && next == layerCount && Set(nodes).count == ranks.count
    }

    /// Bytes each rank needs, headroom included, in rank order; nil for an invalid model or headroom.
    public func memoryBytes(model description: ModelDescription, headroom: Double = PlacementPolicy.defaultHeadroom) -> [UInt64]? {
        guard let footprint = Footprint(model: description, headroom: headroom) else { return nil }
        return ranks.indices.map { i in
            footprint.bytes(layers: min(ranks[i].layerCount, description.layerCount), first: i == 0, last: i == ranks.count - 1)
        }
    }
}
