/// Decode speed a plan should reach: a token crosses every rank in turn, and each rank streams the weights it
/// owns (its layers, and the output head on the last rank) once per token at the node's measured throughput.
/// So a token takes the sum of the stage times. The KV-cache reads and the network hops are left out: at
/// short contexts on a LAN they are small beside the weights.
public func predictedTokensPerSecond(plan: Plan, model: ModelDescription, view: ClusterView) -> Double? {
    guard plan.model == model.id, !plan.ranks.isEmpty else { return nil }
    var throughputs: [UInt64] = []
    for rank in plan.ranks {
        guard let node = view[rank.node] else { return nil }
        throughputs.append(node.throughputBytesPerSecond)
    }
    guard let nanoseconds = TokenTime.nanoseconds(layerCounts: plan.ranks.map(\.layerCount), throughputs: throughputs, model: model)
    else { return nil }
    return 1e9 / Double(max(nanoseconds, 1))
}

/// Integer nanoseconds, so that every node ranks candidate plans identically.
enum TokenTime {
    /// Nil when a throughput is unknown (0).
    static func nanoseconds(layerCounts: [Int], throughputs: [UInt64], model: ModelDescription) -> UInt64? {
        guard throughputs.allSatisfy({ $0 > 0 }) else { return nil }
        var total: UInt64 = 0
        for (i, (layers, throughput)) in zip(layerCounts, throughputs).enumerated() {
            let head = i == layerCounts.count - 1 ? model.outputBytes : 0
            let bytes = UInt64(max(layers, 0)).saturatingMultiply(model.bytesPerLayer).saturatingAdd(head)
            total = total.saturatingAdd(stageNanoseconds(bytes: bytes, throughput: throughput))
        }
        return total
    }

    /// bytes × 10⁹ / throughput, exact in 128 bits, saturating.
    static func stageNanoseconds(bytes: UInt64, throughput: UInt64) -> UInt64 {
        let product = bytes.multipliedFullWidth(by: 1_000_000_000)
        guard product.high < throughput else { return .max }
        return throughput.dividingFullWidth(product).quotient
    }
}
