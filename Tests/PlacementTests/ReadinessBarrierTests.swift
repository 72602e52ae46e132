import Testing
@testable import Placement

@Suite("readiness barrier")
struct ReadinessBarrierTests {
    let plan = Plan(model: "m", ranks: [
        .init(node: "n0", layerStart: 0, layerEnd: 10),
        .init(node: "n1", layerStart: 10, layerEnd: 20),
        .init(node: "n2", layerStart: 20, layerEnd: 30),
    ])

    func states(_ entries: [String: RunnerState], plan: Plan? = nil) -> [RunnerKey: RunnerState] {
        let hash = (plan ?? self.plan).hash
        return Dictionary(uniqueKeysWithValues: entries.map { (RunnerKey(node: $0.key, plan: hash), $0.value) })
    }

    @Test("rank 0 never gets LoadModel while rank 1 is missing or behind")
    func noLoadBeforeAllConnected() {
        for rank1: RunnerState? in [nil, .idle, .connecting, .failed, .shuttingDown, .shutdown] {
            var entries: [String: RunnerState] = ["n0": .connected, "n2": .connected]
            entries["n1"] = rank1
            #expect(nextTask(forRank: 0, of: plan, states: states(entries)) == nil, "rank 1 \(String(describing: rank1))")
            #expect(laggingRanks(of: plan, states: states(entries), toReach: .connected) == [1])
        }
        #expect(nextTask(forRank: 0, of: plan, states: states(["n0": .connected, "n1": .connected, "n2": .connected])) == .loadModel)
        #expect(nextTask(forRank: 0, of: plan, states: states(["n0": .connected, "n1": .loading, "n2": .ready])) == .loadModel)
    }

    @Test("states reported under another plan hash do not count")
    func otherPlanDoesNotCount() {
        var other = plan
        other.ranks[2].layerEnd = 31
        var entries = states(["n0": .connected, "n2": .connected])
        entries.merge(states(["n1": .connected], plan: other)) { a, _ in a }
        #expect(nextTask(forRank: 0, of: plan, states: entries) == nil)
    }

    @Test("StartWarmup waits for every rank loaded")
    func warmupWaitsForAllLoaded() {
        #expect(nextTask(forRank: 1, of: plan, states: states(["n0": .loaded, "n1": .loaded, "n2": .loading])) == nil)
        #expect(nextTask(forRank: 1, of: plan, states: states(["n0": .loaded, "n1": .loaded, "n2": .connected])) == nil)
        #expect(nextTask(forRank: 1, of: plan, states: states(["n0": .ready, "n1": .loaded, "n2": .warmingUp])) == .startWarmup)
        #expect(laggingRanks(of: plan, states: states(["n0": .loaded, "n1": .loaded, "n2": .loading]), toReach: .loaded) == [2])
    }

    @Test("a rank with no runner yet connects; a rank busy or done asks nothing")
    func ownState() {
        #expect(nextTask(forRank: 2, of: plan, states: [:]) == .connectToGroup)
        #expect(nextTask(forRank: 2, of: plan, states: states(["n2": .idle])) == .connectToGroup)
        let everyoneReady = ["n0": RunnerState.ready, "n1": .ready]
        for own in [RunnerState.connecting, .loading, .warmingUp, .ready, .running, .shuttingDown, .shutdown, .failed] {
            #expect(nextTask(forRank: 2, of: plan, states: states(everyoneReady.merging(["n2": own]) { $1 })) == nil)
        }
        #expect(nextTask(forRank: 3, of: plan, states: [:]) == nil)
        #expect(nextTask(forRank: -1, of: plan, states: [:]) == nil)
    }

    @Test("whatever the others report, LoadModel and StartWarmup go out only when all are past the step",
          arguments: RunnerState.allCases, RunnerState.allCases)
    func safetyOverAllPairs(own: RunnerState, others: RunnerState) {
        let connectedOrLater: Set<RunnerState> = [.connected, .loading, .loaded, .warmingUp, .ready, .running]
        let loadedOrLater: Set<RunnerState> = [.loaded, .warmingUp, .ready, .running]
        let view = states(["n0": own, "n1": others, "n2": others])
        let task = nextTask(forRank: 0, of: plan, states: view)
        #expect((task == .loadModel) == (own == .connected && connectedOrLater.contains(others)))
        #expect((task == .startWarmup) == (own == .loaded && loadedOrLater.contains(others)))
        if let task, case .taskFailed(let reason) = own.handling(task) { Issue.record("the barrier sent a task its runner refuses: \(reason)") }
    }

    /// Three nodes each drive their runner from a gossiped view that lags behind: every task they send is
    /// accepted, no rank loads before all are connected or warms up before all are loaded, and all get ready.
    @Test("driven through lagging gossip, every runner becomes ready without a refused task", arguments: Array(UInt64(0)..<100))
    func lifecycleThroughLaggingGossip(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        let hash = plan.hash
        let nodes = plan.nodes
        var actual = [RunnerState](repeating: .idle, count: nodes.count)
        var views = [[RunnerKey: RunnerState]](repeating: [:], count: nodes.count)
        var steps = 0
        while actual.contains(where: { $0 != .ready }), steps < 20_000 {
            steps += 1
            let i = Int.random(in: 0..<nodes.count, using: &rng)
            switch Int.random(in: 0..<3, using: &rng) {
            case 0:
                let j = Int.random(in: 0..<nodes.count, using: &rng)
                views[i][RunnerKey(node: nodes[j], plan: hash)] = actual[j]
            case 1:
                views[i][RunnerKey(node: nodes[i], plan: hash)] = actual[i]
                guard let task = nextTask(forRank: i, of: plan, states: views[i]) else { continue }
                if task == .loadModel { #expect(actual.allSatisfy { $0.hasReached(.connected) }) }
                if task == .startWarmup { #expect(actual.allSatisfy { $0.hasReached(.loaded) }) }
                guard case .accepted(let next) = actual[i].handling(task) else {
                    Issue.record("\(task) refused in \(actual[i])")
                    return
                }
                actual[i] = next
            default:
                let event: RunnerEvent? = switch actual[i] {
                case .connecting: .connectionEstablished
                case .loading: .modelLoaded
                case .warmingUp: .warmupFinished
                default: nil
                }
                if let event { actual[i] = actual[i].handling(event).state(from: actual[i]) }
            }
        }
        #expect(actual.allSatisfy { $0 == .ready }, "stuck at \(actual) after \(steps) steps")
    }
}
