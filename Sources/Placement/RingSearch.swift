/// A node that can hold at least one layer, with its capacity in layers in each position of a ring.
struct Candidate: Sendable {
    let id: String
    let memory: UInt64
    /// 0 when unknown.
    let throughput: UInt64
    let middleCapacity: Int
    let firstCapacity: Int
    let lastCapacity: Int
    let aloneCapacity: Int

    init(node: NodeView, footprint: Footprint) {
        id = node.id
        memory = node.memoryBytes
        throughput = node.throughputBytesPerSecond
        middleCapacity = footprint.capacity(memory: memory, first: false, last: false)
        firstCapacity = footprint.capacity(memory: memory, first: true, last: false)
        lastCapacity = footprint.capacity(memory: memory, first: false, last: true)
        aloneCapacity = footprint.capacity(memory: memory, first: true, last: true)
    }

    func capacity(at position: Int, of count: Int) -> Int {
        switch (position == 0, position == count - 1) {
        case (true, true): aloneCapacity
        case (true, false): firstCapacity
        case (false, true): lastCapacity
        case (false, false): middleCapacity
        }
    }
}

/// A ring of candidates with its layer split, and how it ranks against others.
struct Arrangement: Sendable {
    let ring: [Int]
    let layers: [Int]
    let rank: Ranking

    /// Lower is better. Rings whose throughputs are all measured rank by predicted token time; the others
    /// after them, by total memory. Equal rings go by node ids, so the choice never depends on input order.
    struct Ranking: Comparable, Sendable {
        let unmeasured: Bool
        let cost: UInt64
        let ids: [String]

        static func < (a: Ranking, b: Ranking) -> Bool {
            if a.unmeasured != b.unmeasured { return !a.unmeasured }
            if a.cost != b.cost { return a.cost < b.cost }
            return a.ids.lexicographicallyPrecedes(b.ids)
        }
    }
}

/// Finds, for a node count, the best ring over the candidates. Exhaustive over the subsets that could win,
/// within a budget so that a view of a thousand nodes still takes milliseconds.
struct RingSearch: Sendable {
    /// Subsets examined per node count; beyond it the pool is cut to the largest and the fastest nodes.
    static let subsetBudget = 2_000
    /// Rings up to this size try every (first, last) pair; larger ones a shortlist of each subset.
    static let fullArrangementLimit = 5

    let candidates: [Candidate]
    let model: ModelDescription
    let strategy: PlacementPolicy.Strategy
    /// For each candidate, how many others are at least as fast and as large (ties broken by id). A node with
    /// `k` such others never needs to be in a `k`-node ring: one of them can take its place at no loss.
    private let dominators: [Int]

    /// `candidates` must be sorted by id.
    init(candidates: [Candidate], model: ModelDescription, strategy: PlacementPolicy.Strategy) {
        self.candidates = candidates
        self.model = model
        self.strategy = strategy
        dominators = candidates.indices.map { i in
            candidates.indices.count { j in
                let a = candidates[j], b = candidates[i]
                guard j != i, a.throughput >= b.throughput, a.memory >= b.memory else { return false }
                return a.throughput > b.throughput || a.memory > b.memory || j < i
            }
        }
    }

    func best(nodeCount k: Int) -> Arrangement? {
        guard k >= 1, k <= candidates.count, k <= model.layerCount else { return nil }
        var best: Arrangement?
        forEachSubset(of: pool(nodeCount: k), size: k) { subset in
            for arrangement in arrangements(of: subset) where best.map({ arrangement.rank < $0.rank }) ?? true {
                best = arrangement
            }
        }
        return best
    }

    /// Candidates worth trying for `k` nodes, ascending (so by id).
    private func pool(nodeCount k: Int) -> [Int] {
        let useful = candidates.indices.filter { dominators[$0] < k }
        guard binomial(useful.count, k) > Self.subsetBudget else { return useful }
        var size = k
        while size < useful.count, binomial(size + 1, k) <= Self.subsetBudget { size += 1 }
        let fastest = useful.sorted { (candidates[$0].throughput, candidates[$0].memory, $1) > (candidates[$1].throughput, candidates[$1].memory, $0) }
        let largest = useful.sorted { (candidates[$0].memory, candidates[$0].throughput, $1) > (candidates[$1].memory, candidates[$1].throughput, $0) }
        // The k largest come first, so that the ring most likely to hold the model is always tried.
        var chosen = Array(largest.prefix(k)), taken = Set(chosen)
        for (a, b) in zip(fastest, largest) where chosen.count < size {
            if taken.insert(a).inserted { chosen.append(a) }
            if chosen.count < size, taken.insert(b).inserted { chosen.append(b) }
        }
        return chosen.sorted()
    }

    /// Every ring over `subset` worth evaluating: a choice of first and last node, the rest in id order.
    private func arrangements(of subset: [Int]) -> [Arrangement] {
        let k = subset.count
        if k == 1 { return evaluate(ring: subset).map { [$0] } ?? [] }
        var ends = subset
        if k > Self.fullArrangementLimit {
            let fastest = subset.sorted { (candidates[$0].throughput, $1) > (candidates[$1].throughput, $0) }.prefix(3)
            let largest = subset.sorted { (candidates[$0].memory, $1) > (candidates[$1].memory, $0) }.prefix(3)
            ends = Array(Set(fastest).union(largest)).sorted()
        }
        var result: [Arrangement] = []
        for first in ends {
            for last in ends where last != first {
                let ring = [first] + subset.filter { $0 != first && $0 != last } + [last]
                if let arrangement = evaluate(ring: ring) { result.append(arrangement) }
            }
        }
        return result
    }

    private func evaluate(ring: [Int]) -> Arrangement? {
        let nodes = ring.map { candidates[$0] }
        let capacities = nodes.indices.map { nodes[$0].capacity(at: $0, of: nodes.count) }
        let throughputs = nodes.map(\.throughput)
        let measured = throughputs.allSatisfy { $0 > 0 }
        let rule: SplitRule = !measured ? .memoryWeighted : strategy == .fit ? .fastestFirst : .throughputWeighted
        guard let layers = LayerSplit.split(rule, total: model.layerCount, capacities: capacities,
                                            throughputs: throughputs, memories: nodes.map(\.memory))
        else { return nil }
        let cost = measured
            ? TokenTime.nanoseconds(layerCounts: layers, throughputs: throughputs, model: model) ?? .max
            : .max - nodes.reduce(UInt64(0)) { $0.saturatingAdd($1.memory) }
        return Arrangement(ring: ring, layers: layers, rank: .init(unmeasured: !measured, cost: cost, ids: nodes.map(\.id)))
    }
}

/// Calls `body` with every `size`-element subset of `items`, in lexicographic order of positions.
func forEachSubset(of items: [Int], size: Int, _ body: ([Int]) -> Void) {
    guard size >= 1, size <= items.count else { return }
    var positions = Array(0..<size)
    while true {
        body(positions.map { items[$0] })
        var i = size - 1
        while i >= 0, positions[i] == items.count - size + i { i -= 1 }
        guard i >= 0 else { return }
        positions[i] += 1
        for j in (i + 1)..<size { positions[j] = positions[j - 1] + 1 }
    }
}

/// n choose k, saturating at `Int.max`.
func binomial(_ n: Int, _ k: Int) -> Int {
    guard k >= 0, k <= n else { return 0 }
    let k = min(k, n - k)
    var result = 1
    for i in 0..<k {
        let (product, overflow) = result.multipliedReportingOverflow(by: n - i)
        if overflow { return .max }
        result = product / (i + 1)
    }
    return result
}
