import Foundation
import Gossip
import Placement

/// The runners of this node follow the instances every node derives from gossip: reconciled whenever
/// the view may have changed (each gossip event) and once a second as a safety net.
extension Node {
    func driveRunners() async {
        for await _ in nudges {
            guard !Task.isCancelled else { return }
            await reconcileRunners()
        }
    }

    func nudgePeriodically() async {
        var ticks = 0
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            nudge.yield()
            await fetcher.tick()
            ticks += 1
            if ticks % 30 == 0 { await supervisor.forgetOldErrors() }
        }
    }

    func reconcileRunners() async {
        await adoptOrphanedIntents()
        let view = await instanceView()
        let me = identity.id.hex
        var files: [ModelFile]?
        var desired: [RankAssignment] = []
        for row in view.instances {
            guard let plan = view.plans[row.id], let rank = plan.rank(of: me) else { continue }
            if files == nil { files = catalog.scan() }
            if let file = files?.first(where: { $0.id == plan.model }) {
                rankModelPaths[plan.model] = file.path
                desired.append(RankAssignment(instance: row.id, plan: plan, rank: rank, modelPath: file.path))
                continue
            }
            // Placed here without the file: fetch it from the peers that hold it; the runner waits idle meanwhile.
            guard let weights = await fetchWeights(of: plan.model, layers: plan.ranks[rank].layers) else { continue }
            if let path = weights.path { rankModelPaths[plan.model] = path }
            desired.append(RankAssignment(instance: row.id, plan: plan, rank: rank, modelPath: weights.path ?? "", weightsReady: weights.ready))
        }
        await supervisor.reconcile(desired: desired, states: await gossipedRunnerStates())
    }

    /// Every runner state in the view, from the records of live nodes (this one's included).
    func gossipedRunnerStates() async -> [RunnerKey: RunnerState] {
        var states: [RunnerKey: RunnerState] = [:]
        func add(_ record: NodeRecord) {
            for runner in record.runners {
                guard let plan = PlanHash(hex: runner.planHash), let state = RunnerState(rawValue: runner.state) else { continue }
                states[RunnerKey(node: record.node.hex, plan: plan)] = state
            }
        }
        add(await gossip.ownRecord)
        for member in (await gossip.members).values where member.liveness == .alive || member.liveness == .suspect {
            add(member.record)
        }
        return states
    }

    /// The node ids of each active plan's ranks, by plan hash.
    func activeRoutes() async -> [String: [String]] {
        let view = await instanceView()
        return Dictionary(view.plans.values.map { ($0.hash.description, $0.nodes) }, uniquingKeysWith: { first, _ in first })
    }
}
