@testable import Placement

/// SplitMix64: every generated view follows from its seed, so a failing case replays exactly.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    mutating func chance(_ probability: Double) -> Bool {
        Double.random(in: 0..<1, using: &self) < probability
    }
}

let MiB: UInt64 = 1 << 20
let GiB: UInt64 = 1 << 30

enum Generate {
    static func model(_ rng: inout SplitMix64, id: String = "model") -> ModelDescription {
        let layers = Int.random(in: 1...40, using: &rng)
        let perLayer = UInt64.random(in: 16...900, using: &rng) * MiB
        let tied = rng.chance(0.5)
        let embedding = UInt64.random(in: 0...600, using: &rng) * MiB
        return ModelDescription(
            id: id, layerCount: layers, bytesPerLayer: perLayer, embeddingBytes: embedding,
            outputBytes: tied ? embedding : UInt64.random(in: 0...600, using: &rng) * MiB, tiedEmbeddings: tied,
            kvBytesPerLayerPerPosition: UInt64.random(in: 0...4096, using: &rng), contextLength: [0, 512, 2048, 8192].randomElement(using: &rng)!
        )
    }

    /// 1 to `maxNodes` nodes with ids in scrambled order, some dead, some unmeasured, some lacking the model.
    static func view(
        _ rng: inout SplitMix64, maxNodes: Int = 7, maxGiB: UInt64 = 24, model: String = "model", measuredOnly: Bool = false
    ) -> ClusterView {
        let count = Int.random(in: 1...maxNodes, using: &rng)
        let nodes = (0..<count).map { i -> NodeView in
            let id = String(UInt64.random(in: 0..<(1 << 32), using: &rng), radix: 16) + "-\(i)"
            let memory = UInt64.random(in: 1...(2 * maxGiB), using: &rng) * GiB / 2
            let measured = measuredOnly || rng.chance(0.8)
            let throughput = measured ? UInt64.random(in: 1...400, using: &rng) * 100 * MiB : 0
            let holds = rng.chance(0.9)
            return NodeView(id: id, memoryBytes: memory, throughputBytesPerSecond: throughput,
                            alive: rng.chance(0.85), models: holds ? (rng.chance(0.5) ? nil : [model]) : ["other"])
        }
        return ClusterView(nodes: nodes)
    }

    static func policy(_ rng: inout SplitMix64) -> PlacementPolicy {
        let minNodes: Int? = rng.chance(0.3) ? Int.random(in: 1...3, using: &rng) : nil
        let maxNodes: Int? = rng.chance(0.3) ? Int.random(in: (minNodes ?? 1)...5, using: &rng) : nil
        return PlacementPolicy(strategy: rng.chance(0.7) ? .fit : .spread, minNodes: minNodes, maxNodes: maxNodes,
                               headroom: [0, 0.1, 0.25].randomElement(using: &rng)!)
    }
}

/// The memory a rank needs, computed here independently of `Footprint`.
func expectedBytes(layers: Int, first: Bool, last: Bool, model: ModelDescription, headroom: Double) -> UInt64 {
    var bytes = UInt64(layers) * (model.bytesPerLayer + model.kvBytesPerLayerPerPosition * UInt64(model.contextLength))
    if first && last && model.tiedEmbeddings {
        bytes += max(model.embeddingBytes, model.outputBytes)
    } else {
        if first { bytes += model.embeddingBytes }
        if last { bytes += model.outputBytes }
    }
    return bytes + UInt64((Double(bytes) * headroom).rounded(.up))
}

func expectedBytes(rank: Int, of plan: Plan, model: ModelDescription, headroom: Double) -> UInt64 {
    expectedBytes(layers: plan.ranks[rank].layerCount, first: rank == 0, last: rank == plan.ranks.count - 1, model: model, headroom: headroom)
}

/// The most layers a node can hold in a role, by counting down.
func expectedCapacity(memory: UInt64, first: Bool, last: Bool, model: ModelDescription, headroom: Double) -> Int {
    (0...model.layerCount).last { expectedBytes(layers: $0, first: first, last: last, model: model, headroom: headroom) <= memory } ?? 0
}

/// Whether some ring over exactly these nodes can hold the model, trying every first and last node.
func ringExists(over nodes: [NodeView], model: ModelDescription, headroom: Double) -> Bool {
    guard !nodes.isEmpty, nodes.count <= model.layerCount else { return false }
    if nodes.count == 1 {
        return expectedCapacity(memory: nodes[0].memoryBytes, first: true, last: true, model: model, headroom: headroom) == model.layerCount
    }
    for first in nodes.indices {
        for last in nodes.indices where last != first {
            let capacities = nodes.indices.map { i in
                expectedCapacity(memory: nodes[i].memoryBytes, first: i == first, last: i == last, model: model, headroom: headroom)
            }
            if capacities.allSatisfy({ $0 >= 1 }) && capacities.reduce(0, +) >= model.layerCount { return true }
        }
    }
    return false
}

/// All subsets of `items` of the given size.
func subsets<T>(of items: [T], size: Int) -> [[T]] {
    guard size > 0 else { return [[]] }
    guard items.count >= size else { return [] }
    let rest = Array(items.dropFirst())
    return subsets(of: rest, size: size - 1).map { [items[0]] + $0 } + subsets(of: rest, size: size)
}

/// Seconds per token as the sum of stage times, in floating point, independently of `TokenTime`.
func secondsPerToken(layers: [Int], throughputs: [UInt64], model: ModelDescription) -> Double {
    zip(layers, throughputs).enumerated().reduce(0) { total, item in
        let (i, (count, throughput)) = item
        let bytes = Double(count) * Double(model.bytesPerLayer) + (i == layers.count - 1 ? Double(model.outputBytes) : 0)
        return total + bytes / Double(throughput)
    }
}

extension Result {
    var value: Success? {
        if case .success(let value) = self { value } else { nil }
    }

    var error: Failure? {
        if case .failure(let error) = self { error } else { nil }
    }
}
