import Gossip
import Placement

/// The instances as every node derives them from the gossiped records, with no master: the union
/// of all intents and tombstones, the live nodes and the models they hold go through
/// `deriveActiveInstances`, so every node that holds the same records shows the same plans.
struct InstanceView: Encodable, Sendable, Equatable {
    struct Rank: Encodable, Sendable, Equatable {
        var rank: Int
        var node: String
        var layerStart: Int
        var layerEnd: Int
        /// The runner's gossiped state for this plan, or "none" before its node reported one.
        var runner: String
    }
    struct Row: Encodable, Sendable, Equatable {
        var id: String
        var model: String
        var policy: String
        var minNodes: Int?
        var maxNodes: Int?
        var proposer: String
        var createdAt: UInt64
        var planHash: String
        var ranks: [Rank]
        var predictedTokensPerSecond: Double?
    }
    struct Unplaced: Encodable, Sendable, Equatable {
        var id: String
        var model: String
        var reason: String
    }
    var instances: [Row]
    var unplaced: [Unplaced]
    var superseded: [String]
    /// The plan of each active instance by id, for the runners (not served: `instances` shows it).
    var plans: [String: Plan] = [:]

    private enum CodingKeys: String, CodingKey { case instances, unplaced, superseded }

    /// Memory placement counts on per node: its total less a fifth for the system and other programs,
    /// at most the operator's `--max-memory`. Total, not currently free, so a plan does not move when
    /// its own weights fill the memory.
    static func usableMemory(_ resources: NodeRecord.Resources) -> UInt64 {
        min(resources.memoryTotalBytes / 5 * 4, resources.memoryLimitBytes ?? .max)
    }

    /// What placement needs of a gossiped model: nil without a shape (its header could not be read).
    static func description(of model: NodeRecord.ModelOnDisk) -> ModelDescription? {
        guard let s = model.shape else { return nil }
        return ModelDescription(
            id: model.id, layerCount: s.layerCount, bytesPerLayer: s.bytesPerLayer, embeddingBytes: s.embeddingBytes,
            outputBytes: s.outputBytes, tiedEmbeddings: s.tiedEmbeddings,
            kvBytesPerLayerPerPosition: s.kvBytesPerLayerPerPosition, contextLength: s.contextLength
        )
    }

    static func nodeView(of record: NodeRecord, alive: Bool) -> NodeView {
        NodeView(id: record.node.hex, memoryBytes: usableMemory(record.resources),
                 measuredThroughput: record.resources.throughputBytesPerSecond, alive: alive,
                 models: Set(record.models.map(\.id)))
    }

    /// The plans instances serve on or are starting on, rebuilt from the runners every node gossips: for each
    /// instance, a plan whose every rank reports a runner that has not failed or stopped, and whose rebuilt hash
    /// matches the one they report. Plans on their way up count too: a rank fetching its weights becomes a
    /// holder of the model when the fetch ends, and that must not re-place the instance from under it.
    /// Where an instance has more than one such plan, the one furthest along wins (then the lowest hash),
    /// so every node picks the same.
    static func servingPlans(_ records: [NodeRecord], intents: [InstanceIntent]) -> [String: Plan] {
        let models = Dictionary(intents.map { ($0.id, $0.model) }, uniquingKeysWith: { first, _ in first })
        let stopped: Set<String> = [RunnerState.failed.rawValue, RunnerState.shuttingDown.rawValue, RunnerState.shutdown.rawValue]
        var byPlan: [String: [(node: String, runner: NodeRecord.Runner)]] = [:]
        for record in records {
            for runner in record.runners where !stopped.contains(runner.state) {
                byPlan[runner.planHash, default: []].append((record.node.hex, runner))
            }
        }
        var plans: [String: (plan: Plan, serving: Bool)] = [:]
        for (hash, members) in byPlan.sorted(by: { $0.key < $1.key }) {
            let sorted = members.sorted { $0.runner.rank < $1.runner.rank }
            guard let instance = sorted.first?.runner.instance, let model = models[instance],
                  sorted.enumerated().allSatisfy({ $0.offset == $0.element.runner.rank && $0.element.runner.instance == instance })
            else { continue }
            var ranks: [Plan.Rank] = []
            for member in sorted {
                guard let start = member.runner.layerStart, let end = member.runner.layerEnd else { break }
                ranks.append(Plan.Rank(node: member.node, layerStart: start, layerEnd: end))
            }
            let plan = Plan(model: model, ranks: ranks)
            guard ranks.count == sorted.count, plan.hash.description == hash else { continue }
            let serving = sorted.allSatisfy { $0.runner.state == RunnerState.ready.rawValue || $0.runner.state == RunnerState.running.rawValue }
            if let kept = plans[instance], kept.serving || !serving { continue }
            plans[instance] = (plan, serving)
        }
        return plans.mapValues(\.plan)
    }

    /// `records`: every known node's record with whether it is alive (alive or suspect).
    static func derive(from records: [(record: NodeRecord, alive: Bool)]) -> InstanceView {
        var intents: [InstanceIntent] = []
        var tombstones: Set<String> = []
        var models: [ModelDescription] = []
        var nodes: [NodeView] = []
        for (record, alive) in records {
            tombstones.formUnion(record.tombstones ?? [])
            for intent in record.intents {
                let policy = PlacementPolicy(strategy: PlacementPolicy.Strategy(rawValue: intent.policy) ?? .fit,
                                             minNodes: intent.minNodes, maxNodes: intent.maxNodes)
                intents.append(InstanceIntent(id: intent.id, model: intent.model, policy: policy,
                                              proposer: intent.proposer.hex, timestamp: intent.createdAt))
            }
            models += record.models.compactMap(description(of:))
            nodes.append(nodeView(of: record, alive: alive))
        }
        let view = ClusterView(nodes: nodes)
        let derived = deriveActiveInstances(intents: intents, tombstones: tombstones, view: view, models: models,
                                            incumbents: servingPlans(records.map(\.record), intents: intents))
        let runners = Dictionary(
            records.flatMap { entry in entry.record.runners.map { ("\(entry.record.node.hex) \($0.planHash)", $0.state) } },
            uniquingKeysWith: { first, _ in first }
        )
        let byID = Dictionary(records.flatMap { $0.record.intents.map { ($0.id, $0) } }, uniquingKeysWith: { first, _ in first })
        return InstanceView(
            instances: derived.active.map { instance in
                let hash = instance.plan.hash.description
                let description = models.first { $0.id == instance.model }
                return Row(
                    id: instance.id, model: instance.model, policy: instance.intent.policy.strategy.rawValue,
                    minNodes: byID[instance.id]?.minNodes, maxNodes: byID[instance.id]?.maxNodes,
                    proposer: instance.intent.proposer, createdAt: instance.intent.timestamp, planHash: hash,
                    ranks: instance.plan.ranks.enumerated().map { index, rank in
                        Rank(rank: index, node: rank.node, layerStart: rank.layerStart, layerEnd: rank.layerEnd,
                             runner: runners["\(rank.node) \(hash)"] ?? "none")
                    },
                    predictedTokensPerSecond: description.flatMap { predictedTokensPerSecond(plan: instance.plan, model: $0, view: view) }
                )
            },
            unplaced: derived.unplaced.map { Unplaced(id: $0.intent.id, model: $0.intent.model, reason: "\($0.error)") },
            superseded: derived.superseded,
            plans: Dictionary(derived.active.map { ($0.id, $0.plan) }, uniquingKeysWith: { first, _ in first })
        )
    }
}
