import Testing
@testable import Gossip

@Suite("Simulation targets", .serialized)
struct SimulationTests {
    @Test(arguments: [(10, SimulatedCluster.Signing.ed25519), (100, .simulated), (200, .simulated)])
    func theClusterMeetsDesignTargets(_ nodes: Int, _ signing: SimulatedCluster.Signing) throws {
        var settings = GossipSettings()
        // Signed `seen` vectors are exercised at 10 nodes; at 100 they only slow the debug build down.
        if signing == .simulated { settings.seenRefreshInterval = nil }
        let report = try SimulationReport.measure(nodes: nodes, seed: 7, signing: signing, settings: settings, spreadTrials: 3)
        let targets = report.targets
        #expect(report.spread99 != nil && report.spread99! <= targets.spread99, "spread p99 \(String(describing: report.spread99))")
        #expect(report.spread100 != nil, "an update reached every node")
        #expect(report.crashDetection != nil && report.crashDetection! <= targets.crashDetection, "crash detection \(String(describing: report.crashDetection))")
        #expect(report.falseDeathsUnderLoss == 0)
        #expect(report.falseDeathsUnderPause == 0)
        #expect(report.healConvergence != nil && report.healConvergence! <= targets.heal, "heal \(String(describing: report.healConvergence))")
        #expect(report.idleBytesPerSecondPerNode <= targets.idleBytesPerSecond, "idle \(report.idleBytesPerSecondPerNode) B/s")
        #expect(report.meetsTargets)
        #expect(report.idleBytesPerSecondPerNode > 0, "idle traffic was measured")
    }

    @Test func theSameSeedReplaysTheSameRun() throws {
        func run() throws -> (Int, [Int]) {
            let cluster = try SimulatedCluster(size: 12, seed: 3, signing: .simulated, conditions: .init(loss: 0.05))
            try cluster.update(0) { $0.apiPort = 1 }
            cluster.crash(5)
            cluster.run(for: .seconds(5))
            return (cluster.messagesDelivered, cluster.livenessLog.map { $0.observer * 1000 + $0.subject })
        }
        let first = try run()
        let second = try run()
        #expect(first.0 == second.0)
        #expect(first.1 == second.1)
        #expect(first.0 > 0)
    }

    @Test func aPartitionedSideIsDeclaredDeadAndComesBackAfterHealing() throws {
        let cluster = try SimulatedCluster(size: 8, seed: 11, signing: .simulated)
        cluster.partition((0..<8).map { $0 < 4 ? 0 : 1 })
        cluster.run(for: .seconds(12))
        #expect(cluster.nodes[0].liveness(of: cluster.ids[7]) == .dead)
        #expect(cluster.nodes[0].liveness(of: cluster.ids[1]) == .alive)
        cluster.heal()
        let healed = cluster.run(until: { SimulationReport.converged($0) }, limit: .seconds(10))
        #expect(healed != nil)
    }
}
