/// How to choose the nodes of a plan and share the layers among them.
public struct PlacementPolicy: Sendable, Hashable, Codable {
    public enum Strategy: String, Sendable, Hashable, Codable, CaseIterable {
        /// The fewest nodes that hold the model; among those, the set with the fastest predicted token, its
        /// layers on the fastest nodes first (a token's time is the sum of the stage times, so a pipeline
        /// only pays when one node cannot hold the model).
        case fit
        /// A node count by model size (`spreadTier`), layers shared in proportion to throughput so the stages
        /// take about the same time.
        case spread
    }

    public var strategy: Strategy
    /// At least this many nodes (default 1).
    public var minNodes: Int?
    /// At most this many nodes (default: all eligible).
    public var maxNodes: Int?
    /// Fraction added to a rank's weights and KV cache for everything else it allocates.
    public var headroom: Double

    public static let defaultHeadroom = 0.1
    public static let fit = PlacementPolicy(strategy: .fit)
    public static let spread = PlacementPolicy(strategy: .spread)

    public init(strategy: Strategy = .fit, minNodes: Int? = nil, maxNodes: Int? = nil, headroom: Double = Self.defaultHeadroom) {
        self.strategy = strategy
        self.minNodes = minNodes
        self.maxNodes = maxNodes
        self.headroom = headroom
    }

    /// How many nodes `spread` aims for (exo's fix for a hard-coded single node): above 10 GB of weights up
    /// to 4, from 2 GB to 10 GB up to 2, below 2 GB one. Decimal gigabytes.
    public static func spreadTier(weightBytes: UInt64) -> Int {
        let gigabyte: UInt64 = 1_000_000_000
        if weightBytes > 10 * gigabyte { return 4 }
        if weightBytes >= 2 * gigabyte { return 2 }
        return 1
    }

    /// Why the policy is unusable for a model of `layerCount` layers, or nil.
    func invalidity(layerCount: Int) -> String? {
        if !headroom.isFinite || headroom < 0 || headroom > 10 { return "headroom \(headroom) is not a fraction between 0 and 10" }
        let low = minNodes ?? 1
        if low < 1 { return "minNodes is \(low); it must be at least 1" }
        if let high = maxNodes {
            if high < 1 { return "maxNodes is \(high); it must be at least 1" }
            if high < low { return "maxNodes \(high) is below minNodes \(low)" }
        }
        if low > layerCount { return "minNodes \(low) exceeds the model's \(layerCount) layers; each rank needs a layer" }
        return nil
    }
}
