/// How the nodes of a ring share the layers. Every rule gives each node at least one layer and never more
/// than its capacity, and returns nil only when the capacities cannot hold the layers.
enum SplitRule: Sendable, Hashable, CaseIterable {
    /// Fill the fastest node to capacity, then the next: the least total time per token, because a token
    /// crosses every stage in turn and stage times add.
    case fastestFirst
    /// Layers in proportion to throughput: stages of equal duration, the best a pipeline of many requests
    /// can do.
    case throughputWeighted
    /// Layers in proportion to memory: the fallback when some throughput is unknown.
    case memoryWeighted
}

enum LayerSplit {
    /// Layer counts in ring order for `total` layers over nodes with the given capacities (in layers).
    static func split(
        _ rule: SplitRule, total: Int, capacities: [Int], throughputs: [UInt64], memories: [UInt64]
    ) -> [Int]? {
        switch rule {
        case .fastestFirst: fastestFirst(total: total, capacities: capacities, throughputs: throughputs)
        case .throughputWeighted: proportional(total: total, capacities: capacities, weights: throughputs)
        case .memoryWeighted: proportional(total: total, capacities: capacities, weights: memories)
        }
    }

    static func fastestFirst(total: Int, capacities: [Int], throughputs: [UInt64]) -> [Int]? {
        guard feasible(total: total, capacities: capacities) else { return nil }
        var counts = [Int](repeating: 1, count: capacities.count)
        var remaining = total - capacities.count
        let order = capacities.indices.sorted { (throughputs[$0], $1) > (throughputs[$1], $0) }
        for i in order where remaining > 0 {
            let extra = min(remaining, capacities[i] - 1)
            counts[i] += extra
            remaining -= extra
        }
        return counts
    }

    /// Water-filling: shares in proportion to `weights`; a node whose share exceeds its capacity is filled
    /// and the rest shared again among the others. Remainders go by largest fraction, then ring position.
    static func proportional(total: Int, capacities: [Int], weights rawWeights: [UInt64]) -> [Int]? {
        guard feasible(total: total, capacities: capacities) else { return nil }
        // Everyone gets one layer; the rest is shared. Weights are scaled so products stay within 64 bits.
        let room = capacities.map { UInt64(min($0, total) - 1) }
        var remaining = UInt64(total - capacities.count)
        let weights = scaled(rawWeights)
        var extra = [UInt64](repeating: 0, count: capacities.count)
        var active = capacities.indices.filter { room[$0] > 0 }
        while remaining > 0, !active.isEmpty {
            var weightSum = active.reduce(UInt64(0)) { $0 + weights[$1] }
            let weight: (Int) -> UInt64 = weightSum == 0 ? { _ in 1 } : { weights[$0] }
            if weightSum == 0 { weightSum = UInt64(active.count) }
            let full = active.filter { remaining * weight($0) >= room[$0] * weightSum }
            if !full.isEmpty {
                for i in full {
                    extra[i] = room[i]
                    remaining -= room[i]
                }
                active.removeAll { full.contains($0) }
                continue
            }
            var handedOut: UInt64 = 0
            for i in active {
                extra[i] = remaining * weight(i) / weightSum
                handedOut += extra[i]
            }
            let byFraction = active.sorted { (remaining * weight($0) % weightSum, $1) > (remaining * weight($1) % weightSum, $0) }
            for i in byFraction.prefix(Int(remaining - handedOut)) { extra[i] += 1 }
            remaining = 0
        }
        guard remaining == 0 else { return nil }
        return extra.map { Int($0) + 1 }
    }

    private static func feasible(total: Int, capacities: [Int]) -> Bool {
        !capacities.isEmpty && capacities.count <= total && capacities.allSatisfy { $0 >= 1 }
            && capacities.reduce(0) { $0 + min($1, total) } >= total
    }

    /// Shifts all weights right together until their sum fits in 32 bits, so that (layers < 2^20) × weight
    /// sums and products stay below 2^52.
    private static func scaled(_ weights: [UInt64]) -> [UInt64] {
        let largest = weights.max() ?? 0
        let countBits = 64 - UInt64(weights.count).leadingZeroBitCount
        let shift = max(0, (64 - largest.leadingZeroBitCount) - max(1, 32 - countBits))
        return weights.map { $0 >> UInt64(shift) }
    }
}
