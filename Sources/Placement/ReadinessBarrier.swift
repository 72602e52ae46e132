/// Identifies a rank's runner in the gossiped view: the node it runs on and the plan it belongs to (a node
/// holds at most one rank of a plan).
public struct RunnerKey: Sendable, Hashable, Codable {
    public var node: String
    public var plan: PlanHash

    public init(node: String, plan: PlanHash) {
        self.node = node
        self.plan = plan
    }
}

/// The task a node should send next to its runner for `rank` of `plan`, given the runner states gossiped by
/// all nodes, or nil to wait. The barrier: `loadModel` only once every rank of the plan reports `connected` or
/// later, `startWarmup` only once every rank reports `loaded` or later. It waits on gossip, never on time, so
/// rank 0 cannot load before rank 1's `connected` has reached it. A runner with no report is taken as idle.
public func nextTask(forRank rank: Int, of plan: Plan, states: [RunnerKey: RunnerState]) -> RunnerTask? {
    guard plan.ranks.indices.contains(rank) else { return nil }
    let hash = plan.hash
    let own = states[RunnerKey(node: plan.ranks[rank].node, plan: hash)] ?? .idle
    switch own {
    case .idle:
        return .connectToGroup
    case .connected:
        return laggingRanks(of: plan, states: states, toReach: .connected).isEmpty ? .loadModel : nil
    case .loaded:
        return laggingRanks(of: plan, states: states, toReach: .loaded).isEmpty ? .startWarmup : nil
    case .connecting, .loading, .warmingUp, .ready, .running, .shuttingDown, .shutdown, .failed:
        return nil
    }
}

/// Ranks of `plan` whose runner has not reported `milestone` or later, for logs ("waiting for rank 1").
public func laggingRanks(of plan: Plan, states: [RunnerKey: RunnerState], toReach milestone: RunnerState) -> [Int] {
    let hash = plan.hash
    return plan.ranks.indices.filter { i in
        !(states[RunnerKey(node: plan.ranks[i].node, plan: hash)] ?? .idle).hasReached(milestone)
    }
}
