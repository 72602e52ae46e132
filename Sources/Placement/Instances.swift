/// A proposal to run a model, published by any node in its own gossiped record.
public struct InstanceIntent: Sendable, Hashable, Codable {
    public var id: String
    public var model: String
    public var policy: PlacementPolicy
    public var proposer: String
    /// The proposer's clock (or record version) when it proposed; for one model the earliest intent wins.
    public var timestamp: UInt64

    public init(id: String, model: String, policy: PlacementPolicy = .fit, proposer: String, timestamp: UInt64) {
        self.id = id
        self.model = model
        self.policy = policy
        self.proposer = proposer
        self.timestamp = timestamp
    }

    /// Earliest `(timestamp, proposer, id)` first; the remaining fields only order intents that reuse an id.
    static func precedes(_ a: InstanceIntent, _ b: InstanceIntent) -> Bool {
        if (a.timestamp, a.proposer, a.id, a.model) != (b.timestamp, b.proposer, b.id, b.model) {
            return (a.timestamp, a.proposer, a.id, a.model) < (b.timestamp, b.proposer, b.id, b.model)
        }
        let p = a.policy, q = b.policy
        return (p.strategy.rawValue, p.minNodes ?? 0, p.maxNodes ?? 0, p.headroom) < (q.strategy.rawValue, q.minNodes ?? 0, q.maxNodes ?? 0, q.headroom)
    }
}

/// A model running on a plan, named after the intent that won it.
public struct Instance: Sendable, Hashable, Codable {
    public var intent: InstanceIntent
    public var plan: Plan

    public init(intent: InstanceIntent, plan: Plan) {
        self.intent = intent
        self.plan = plan
    }

    public var id: String { intent.id }
    public var model: String { intent.model }
}

/// What every node derives from the same intents and view.
public struct InstanceDerivation: Sendable, Hashable {
    /// At most one per model, earliest intent first.
    public var active: [Instance]
    /// Intents of models that got no instance, each with the reason its own placement failed.
    public var unplaced: [Unplaced]
    /// Ids of intents that lost to another intent for the same model (an earlier one, or a later one when
    /// they could not be placed themselves), sorted.
    public var superseded: [String]

    public struct Unplaced: Sendable, Hashable {
        public var intent: InstanceIntent
        public var error: PlacementError
    }

    /// How much faster a fresh plan must be to replace one that serves: 5/4.
    public static let moveGain = (numerator: UInt64(5), denominator: UInt64(4))

    public func instance(forModel model: String) -> Instance? {
        active.first { $0.model == model }
    }
}

/// The active instances, identical on every node that holds the same intents, tombstones, view and model
/// descriptions, whatever their order: no master, no vote.
///
/// Per model, intents are tried earliest `(timestamp, proposer, id)` first and the first that places wins,
/// so concurrent proposals settle on one. Tombstoned intent ids never count again. Plans are made over the
/// alive nodes only, so when a rank's node dies or leaves, the next derivation places the instance on the
/// survivors. Models are served in the order of their earliest intent, each taking memory on its nodes before
/// the next is placed, so two instances never count on the same bytes.
///
/// `incumbents` are the plans instances already serve on (every rank ready), by intent id. An incumbent
/// is kept while it stays valid (its nodes alive and holding the model, its memory fitting, its size
/// within the policy) unless a fresh placement predicts tokens `InstanceDerivation.moveGain` times
/// faster: a node joining, or a throughput measured a little higher, must not restart a serving instance.
public func deriveActiveInstances(
    intents: [InstanceIntent], tombstones: Set<String> = [], view: ClusterView, models: [ModelDescription],
    incumbents: [String: Plan] = [:]
) -> InstanceDerivation {
    var byID: [String: InstanceIntent] = [:]
    for intent in intents where !tombstones.contains(intent.id) {
        if let kept = byID[intent.id], !InstanceIntent.precedes(intent, kept) { continue }
        byID[intent.id] = intent
    }
    var descriptions: [String: ModelDescription] = [:]
    for model in models {
        if let kept = descriptions[model.id], !precedes(model, kept) { continue }
        descriptions[model.id] = model
    }

    let ordered = byID.values.sorted(by: InstanceIntent.precedes)
    var modelOrder: [String] = []
    var intentsByModel: [String: [InstanceIntent]] = [:]
    for intent in ordered {
        if intentsByModel[intent.model] == nil { modelOrder.append(intent.model) }
        intentsByModel[intent.model, default: []].append(intent)
    }

    var remaining = view
    var result = InstanceDerivation(active: [], unplaced: [], superseded: [])
    for model in modelOrder {
        let contenders = intentsByModel[model] ?? []
        guard let description = descriptions[model] else {
            result.unplaced += contenders.map { .init(intent: $0, error: .unknownModel(model)) }
            continue
        }
        var failures: [InstanceDerivation.Unplaced] = []
        var placed = false
        for (i, intent) in contenders.enumerated() where !placed {
            var outcome = placeFetching(model: description, view: remaining, policy: intent.policy)
            if let current = incumbents[intent.id], isStillValid(current, of: description, policy: intent.policy, in: remaining) {
                if case .success(let fresh) = outcome, fresh != current,
                   isMuchFaster(fresh, than: current, model: description, view: remaining) {
                    // Worth a restart: keep the fresh plan.
                } else {
                    outcome = .success(current)
                }
            }
            switch outcome {
            case .success(let plan):
                placed = true
                result.active.append(Instance(intent: intent, plan: plan))
                result.superseded += contenders.indices.filter { $0 != i }.map { contenders[$0].id }
                remaining = reserving(plan, of: description, headroom: intent.policy.headroom, in: remaining)
            case .failure(let error):
                failures.append(.init(intent: intent, error: error))
            }
        }
        if !placed { result.unplaced += failures }
    }
    result.superseded.sort()
    return result
}

/// True when `plan` can go on serving `model` over `view`: well formed, within the policy's node counts, on
/// alive nodes that have the memory its ranks need and hold the model (or can fetch it: some alive node holds it).
func isStillValid(_ plan: Plan, of model: ModelDescription, policy: PlacementPolicy, in view: ClusterView) -> Bool {
    guard plan.model == model.id, plan.isWellFormed(layerCount: model.layerCount),
          plan.ranks.count >= (policy.minNodes ?? 1), plan.ranks.count <= (policy.maxNodes ?? .max),
          let needs = plan.memoryBytes(model: model, headroom: policy.headroom)
    else { return false }
    let fetchable = view.nodes.contains { $0.alive && $0.holds(model: model.id) }
    for (rank, need) in zip(plan.ranks, needs) {
        guard let node = view[rank.node], node.alive, node.holds(model: model.id) || fetchable, node.memoryBytes >= need else { return false }
    }
    return true
}

/// Places `model` on the nodes that hold it; when they cannot take it (too few, or too little memory
/// together) and an alive node holds it, on every alive node: the ranks without the file fetch it from
/// the holders before they load. A model one holder can serve is never spread to nodes that lack it.
public func placeFetching(model: ModelDescription, view: ClusterView, policy: PlacementPolicy = .fit) -> Result<Plan, PlacementError> {
    let direct = place(model: model, view: view, policy: policy)
    switch direct {
    case .success: return direct
    case .failure(.notEnoughNodes), .failure(.doesNotFit): break
    case .failure: return direct
    }
    guard view.nodes.contains(where: { $0.alive && $0.holds(model: model.id) }) else { return direct }
    var widened = view
    for i in widened.nodes.indices { widened.nodes[i].models?.insert(model.id) }
    let fetching = place(model: model, view: widened, policy: policy)
    if case .success = fetching { return fetching }
    return direct
}

/// True when `fresh` predicts tokens at least `moveGain` times faster than `current` (integer nanoseconds,
/// so every node decides alike). Unknown throughputs never justify a move.
func isMuchFaster(_ fresh: Plan, than current: Plan, model: ModelDescription, view: ClusterView) -> Bool {
    func nanoseconds(_ plan: Plan) -> UInt64? {
        let throughputs = plan.ranks.map { view[$0.node]?.throughputBytesPerSecond ?? 0 }
        return TokenTime.nanoseconds(layerCounts: plan.ranks.map(\.layerCount), throughputs: throughputs, model: model)
    }
    guard let new = nanoseconds(fresh), let old = nanoseconds(current) else { return false }
    // new × gain ≤ old, with the gain as a fraction (5/4) to stay in integers.
    return new.saturatingMultiply(InstanceDerivation.moveGain.numerator) <= old.saturatingMultiply(InstanceDerivation.moveGain.denominator)
}

/// The view with the memory `plan` takes subtracted from its nodes.
private func reserving(_ plan: Plan, of model: ModelDescription, headroom: Double, in view: ClusterView) -> ClusterView {
    guard let needs = plan.memoryBytes(model: model, headroom: headroom) else { return view }
    var view = view
    for (rank, need) in zip(plan.ranks, needs) {
        for i in view.nodes.indices where view.nodes[i].id == rank.node {
            view.nodes[i].memoryBytes -= min(need, view.nodes[i].memoryBytes)
        }
    }
    return view
}

/// An arbitrary but fixed order among descriptions that share an id, so a disagreement picks the same one everywhere.
private func precedes(_ a: ModelDescription, _ b: ModelDescription) -> Bool {
    let x = (a.layerCount, a.bytesPerLayer, a.embeddingBytes, a.outputBytes, a.kvBytesPerLayerPerPosition, a.contextLength)
    let y = (b.layerCount, b.bytesPerLayer, b.embeddingBytes, b.outputBytes, b.kvBytesPerLayerPerPosition, b.contextLength)
    return x != y ? x < y : (!a.tiedEmbeddings && b.tiedEmbeddings)
}
