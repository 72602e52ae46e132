/// Places `model` on the view's alive nodes that have it on disk. Pure and deterministic: the same model,
/// view (in any order) and policy give the same plan on every node.
///
/// `fit` takes the fewest nodes that hold the model, headroom included, and among rings of that size the one
/// with the fastest predicted token (`predictedTokensPerSecond`). `spread` starts from the size tier and
/// shares layers by throughput. Either grows the ring when the model does not fit, up to `maxNodes`. Where a
/// throughput is unknown, layers are shared by memory and such rings rank after measured ones.
public func place(model: ModelDescription, view: ClusterView, policy: PlacementPolicy = .fit) -> Result<Plan, PlacementError> {
    if let reason = model.invalidity { return .failure(.invalidModel(reason: reason)) }
    if let reason = policy.invalidity(layerCount: model.layerCount) { return .failure(.invalidPolicy(reason: reason)) }
    guard let footprint = Footprint(model: model, headroom: policy.headroom) else {
        return .failure(.invalidModel(reason: "the sizes of model \(model.id) overflow 64 bits"))
    }
    let duplicates = view.duplicateIDs
    guard duplicates.isEmpty else {
        return .failure(.invalidView(reason: "node id(s) \(duplicates.joined(separator: ", ")) appear more than once"))
    }

    let alive = view.nodes.filter(\.alive)
    guard !alive.isEmpty else { return .failure(.noAliveNodes) }
    let holders = alive.filter { $0.holds(model: model.id) }.sorted { $0.id < $1.id }
    guard !holders.isEmpty else { return .failure(.modelNotOnAnyNode(model.id)) }
    let minNodes = policy.minNodes ?? 1
    guard minNodes <= holders.count else { return .failure(.notEnoughNodes(required: minNodes, available: holders.count)) }
    let maxNodes = min(holders.count, policy.maxNodes ?? .max, model.layerCount)

    let candidates = holders.map { Candidate(node: $0, footprint: footprint) }.filter { $0.middleCapacity >= 1 }
    let search = RingSearch(candidates: candidates, model: model, strategy: policy.strategy)
    let tier = PlacementPolicy.spreadTier(weightBytes: model.weightBytes)
    let preferred = policy.strategy == .spread ? min(tier, maxNodes, max(candidates.count, 1)) : 1
    var nodeCount = max(minNodes, preferred, fewestNodesByCapacity(candidates, layerCount: model.layerCount))
    while nodeCount <= min(maxNodes, candidates.count) {
        if let best = search.best(nodeCount: nodeCount) {
            return .success(Plan(model: model.id, ring: best.ring.map { candidates[$0].id }, layerCounts: best.layers))
        }
        nodeCount += 1
    }

    let needed = footprint.wholeModelBytes
    let usable = holders.map(\.memoryBytes).sorted(by: >).prefix(maxNodes).reduce(UInt64(0)) { $0.saturatingAdd($1) }
    let short = needed > usable ? needed - usable : footprint.withHeadroom(footprint.bytesPerLayer)
    return .failure(.doesNotFit(model: model.id, neededBytes: needed, usableBytes: usable, nodes: maxNodes, shortByBytes: short))
}

/// A lower bound on the ring size: the fewest candidates whose capacities could add up to the layer count,
/// were the largest of them in the middle and the first and last places cost only the least any candidate
/// loses there. `Int.max` when all of them together fall short.
private func fewestNodesByCapacity(_ candidates: [Candidate], layerCount: Int) -> Int {
    if candidates.contains(where: { $0.aloneCapacity >= layerCount }) { return 1 }
    let firstLoss = candidates.map { $0.middleCapacity - $0.firstCapacity }.min() ?? 0
    let lastLoss = candidates.map { $0.middleCapacity - $0.lastCapacity }.min() ?? 0
    var held = -firstLoss - lastLoss
    for (i, capacity) in candidates.map(\.middleCapacity).sorted(by: >).enumerated() {
        held += capacity
        if i >= 1, held >= layerCount { return i + 1 }
    }
    return .max
}
