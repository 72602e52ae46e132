import Gossip
import Mesh
import Placement
import Testing
@testable import exo_peer

/// The instance view every node derives from gossiped records.
struct InstanceViewTests {
    static let shape = NodeRecord.ModelOnDisk.Shape(
        architecture: "llama", layerCount: 30, bytesPerLayer: 2_200_000, embeddingBytes: 30_000_000, outputBytes: 0,
        tiedEmbeddings: true, kvBytesPerLayerPerPosition: 768, contextLength: 8192
    )

    static func record(memoryGiB: UInt64, intents: [NodeRecord.InstanceIntent] = [], tombstones: [String]? = nil) throws -> NodeRecord {
        let id = try NodeIdentity.ephemeral().id
        var r = NodeRecord(node: id, epoch: 1, resources: .init(memoryTotalBytes: memoryGiB << 30, memoryAvailableBytes: memoryGiB << 30, cores: 2,
                                                                  throughputBytesPerSecond: 10e9),
                           models: [.init(id: "m", sizeBytes: 98_000_000, sha256: "x", shape: shape)], intents: intents)
        r.tombstones = tombstones
        return r
    }

    @Test func everyOrderOfRecordsGivesTheSameInstancesAndTheEarliestIntentWins() throws {
        let a = try Self.record(memoryGiB: 8), b = try Self.record(memoryGiB: 16)
        var first = a, second = b
        first.intents = [.init(id: "late", model: "m", policy: "fit", createdAt: 2_000, proposer: a.node)]
        second.intents = [.init(id: "early", model: "m", policy: "fit", createdAt: 1_000, proposer: b.node)]
        let one = InstanceView.derive(from: [(first, true), (second, true)])
        let other = InstanceView.derive(from: [(second, true), (first, true)])
        #expect(one == other)
        #expect(one.instances.map(\.id) == ["early"])
        #expect(one.superseded == ["late"])
        #expect(one.instances[0].ranks.first?.layerStart == 0 && one.instances[0].ranks.last?.layerEnd == 30)
    }

    @Test func aTombstoneFromAnyNodeRemovesTheInstanceAndADeadNodeGetsNoRank() throws {
        var proposer = try Self.record(memoryGiB: 8)
        proposer.intents = [.init(id: "i1", model: "m", policy: "fit", createdAt: 1_000, proposer: proposer.node)]
        let other = try Self.record(memoryGiB: 8, tombstones: ["i1"])
        #expect(InstanceView.derive(from: [(proposer, true), (other, true)]).instances.isEmpty)

        // Without the tombstone, a dead node is never given a rank.
        let dead = try Self.record(memoryGiB: 64)
        let view = InstanceView.derive(from: [(proposer, true), (dead, false)])
        #expect(view.instances.count == 1)
        #expect(view.instances[0].ranks.allSatisfy { $0.node == proposer.node.hex })
        #expect(view.instances[0].ranks.allSatisfy { $0.runner == "none" })
    }

    @Test func aModelThatFitsNowhereIsUnplacedWithAReason() throws {
        var tiny = try Self.record(memoryGiB: 0)
        tiny.resources.memoryTotalBytes = 10_000_000
        tiny.intents = [.init(id: "i1", model: "m", policy: "fit", createdAt: 1, proposer: tiny.node)]
        let view = InstanceView.derive(from: [(tiny, true)])
        #expect(view.instances.isEmpty)
        #expect(view.unplaced.map(\.id) == ["i1"])
        #expect(!(view.unplaced.first?.reason.isEmpty ?? true))
    }

    /// A serving plan is rebuilt from the runners every node gossips, and a node joining does not move it;
    /// a runner of another build (no layer range) or a hash that does not match gives no incumbent.
    @Test func aServingPlanStaysWhenAFasterNodeJoins() throws {
        var a = try Self.record(memoryGiB: 8)
        a.intents = [.init(id: "i1", model: "m", policy: "fit", createdAt: 1, proposer: a.node)]
        let placed = InstanceView.derive(from: [(a, true)])
        let plan = try #require(placed.plans["i1"])
        #expect(plan.nodes == [a.node.hex])

        var serving = a
        serving.runners = [.init(instance: "i1", rank: 0, state: "ready", planHash: plan.hash.description, layerStart: 0, layerEnd: 30)]
        var faster = try Self.record(memoryGiB: 8)
        faster.resources.throughputBytesPerSecond = 11e9  // 1.1×: not worth a restart
        faster.node = try NodeIdentity.ephemeral().id
        let joined = InstanceView.derive(from: [(serving, true), (faster, true)])
        #expect(joined.plans["i1"] == plan)

        // Without the runners' report the fresh placement would have taken the faster node.
        #expect(InstanceView.derive(from: [(a, true), (faster, true)]).plans["i1"]?.nodes == [faster.node.hex])
        var unranged = serving
        unranged.runners[0].layerStart = nil
        #expect(InstanceView.derive(from: [(unranged, true), (faster, true)]).plans["i1"]?.nodes == [faster.node.hex])
        var forged = serving
        forged.runners[0].layerEnd = 29
        #expect(InstanceView.derive(from: [(forged, true), (faster, true)]).plans["i1"]?.nodes == [faster.node.hex])
    }

    /// A plan on its way up (a rank fetching its weights reports idle) is kept like a serving one, so the fetch
    /// finishing does not re-place it; a failed rank's plan is not kept; of two candidate plans, a serving one wins.
    @Test func aPlanOnItsWayUpIsKeptAndAFailedOneIsNot() throws {
        var a = try Self.record(memoryGiB: 8)
        a.intents = [.init(id: "i1", model: "m", policy: "fit", createdAt: 1, proposer: a.node)]
        let plan = try #require(InstanceView.derive(from: [(a, true)]).plans["i1"])
        var faster = try Self.record(memoryGiB: 8)
        faster.resources.throughputBytesPerSecond = 11e9

        for state in ["idle", "connected", "loading"] {
            var starting = a
            starting.runners = [.init(instance: "i1", rank: 0, state: state, planHash: plan.hash.description, layerStart: 0, layerEnd: 30)]
            #expect(InstanceView.derive(from: [(starting, true), (faster, true)]).plans["i1"] == plan, "\(state)")
        }
        var failed = a
        failed.runners = [.init(instance: "i1", rank: 0, state: "failed", planHash: plan.hash.description, layerStart: 0, layerEnd: 30)]
        #expect(InstanceView.derive(from: [(failed, true), (faster, true)]).plans["i1"]?.nodes == [faster.node.hex])

        // Two complete plans for one instance: the serving one is the incumbent, whatever the order of records.
        let other = Placement.Plan(model: "m", ranks: [.init(node: faster.node.hex, layerStart: 0, layerEnd: 30)])
        var servingA = a
        servingA.runners = [.init(instance: "i1", rank: 0, state: "ready", planHash: plan.hash.description, layerStart: 0, layerEnd: 30)]
        var loadingB = faster
        loadingB.runners = [.init(instance: "i1", rank: 0, state: "loading", planHash: other.hash.description, layerStart: 0, layerEnd: 30)]
        let intents = [Placement.InstanceIntent(id: "i1", model: "m", proposer: a.node.hex, timestamp: 1)]
        #expect(InstanceView.servingPlans([servingA, loadingB], intents: intents)["i1"] == plan)
        #expect(InstanceView.servingPlans([loadingB, servingA], intents: intents)["i1"] == plan)
    }
}
