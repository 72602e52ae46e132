import Testing
@testable import Placement

@Suite("place: choosing nodes and splitting layers")
struct PlaceTests {
    /// 32 layers of 100 MiB and a 64 MiB output head: 3.26 GB read per token.
    let model = ModelDescription(id: "m", layerCount: 32, bytesPerLayer: 100 * MiB, embeddingBytes: 64 * MiB, outputBytes: 64 * MiB)
    var bytesPerToken: UInt64 { 32 * 100 * MiB + 64 * MiB }

    @Test("one node at 40 tok/s beats any pipeline with a 20 tok/s node, and a throughput split beats a memory split")
    func fastNodeAloneBeatsPipeline() throws {
        // The slow node sorts first by id, so only the speed can make the fast one win.
        let view = ClusterView(nodes: [
            NodeView(id: "a-slow", memoryBytes: 16 * GiB, throughputBytesPerSecond: 20 * bytesPerToken),
            NodeView(id: "b-fast", memoryBytes: 16 * GiB, throughputBytesPerSecond: 40 * bytesPerToken),
        ])
        let plan = try #require(place(model: model, view: view).value)
        #expect(plan.nodes == ["b-fast"])
        let alone = try #require(predictedTokensPerSecond(plan: plan, model: model, view: view))
        #expect(abs(alone - 40) < 0.01)

        let ring = ["b-fast", "a-slow"]
        let capacities = [32, 32], throughputs = [40 * bytesPerToken, 20 * bytesPerToken], memories = [16 * GiB, 16 * GiB]
        let byMemory = try #require(LayerSplit.split(.memoryWeighted, total: 32, capacities: capacities, throughputs: throughputs, memories: memories))
        let byThroughput = try #require(LayerSplit.split(.throughputWeighted, total: 32, capacities: capacities, throughputs: throughputs, memories: memories))
        #expect(byMemory == [16, 16])
        #expect(byThroughput[0] > byThroughput[1])
        let memorySplit = try #require(predictedTokensPerSecond(plan: Plan(model: "m", ring: ring, layerCounts: byMemory), model: model, view: view))
        let throughputSplit = try #require(predictedTokensPerSecond(plan: Plan(model: "m", ring: ring, layerCounts: byThroughput), model: model, view: view))
        #expect(memorySplit < throughputSplit)
        #expect(throughputSplit < alone)
    }

    @Test("fit uses the fewest nodes that hold the model, the fastest pair, and fills the faster node first")
    func fitTakesFewestAndFastest() throws {
        // 32 × 600 MiB = 18.75 GiB with headroom: too big for any 12 GiB node, so two of the three.
        let big = ModelDescription(id: "big", layerCount: 32, bytesPerLayer: 600 * MiB)
        let view = ClusterView(nodes: [
            NodeView(id: "n1", memoryBytes: 12 * GiB, throughputBytesPerSecond: 10 * GiB),
            NodeView(id: "n2", memoryBytes: 12 * GiB, throughputBytesPerSecond: 30 * GiB),
            NodeView(id: "n3", memoryBytes: 12 * GiB, throughputBytesPerSecond: 20 * GiB),
        ])
        let plan = try #require(place(model: big, view: view).value)
        #expect(Set(plan.nodes) == ["n2", "n3"])
        let fast = try #require(plan.ranks.first { $0.node == "n2" })
        let capacity = Int((12 * GiB * 10 / 11) / (600 * MiB))
        #expect(fast.layerCount == capacity)
        #expect(plan.isWellFormed(layerCount: 32))
    }

    @Test("spread follows the size tiers, capped by the alive nodes", arguments: [
        (weightGB: 12, alive: 6, expected: 4), (weightGB: 5, alive: 6, expected: 2), (weightGB: 1, alive: 6, expected: 1),
        (weightGB: 12, alive: 2, expected: 2), (weightGB: 10, alive: 6, expected: 2), (weightGB: 2, alive: 6, expected: 2),
    ])
    func spreadTiers(weightGB: Int, alive: Int, expected: Int) throws {
        let layers = 40
        let model = ModelDescription(id: "s", layerCount: layers, bytesPerLayer: UInt64(weightGB) * 1_000_000_000 / UInt64(layers))
        let nodes = (0..<6).map { NodeView(id: "n\($0)", memoryBytes: 64 * GiB, throughputBytesPerSecond: 10 * GiB, alive: $0 < alive) }
        let plan = try #require(place(model: model, view: ClusterView(nodes: nodes), policy: .spread).value)
        #expect(plan.ranks.count == expected)
        #expect(PlacementPolicy.spreadTier(weightBytes: model.weightBytes) == (weightGB > 10 ? 4 : weightGB >= 2 ? 2 : 1))
    }

    @Test("spread's tier counts only nodes that can hold a layer")
    func spreadTierSkipsTinyNodes() throws {
        let model = ModelDescription(id: "s", layerCount: 40, bytesPerLayer: 300_000_000)
        let nodes = (0..<4).map { NodeView(id: "n\($0)", memoryBytes: $0 == 0 ? 100 * MiB : 64 * GiB, throughputBytesPerSecond: 10 * GiB) }
        let plan = try #require(place(model: model, view: ClusterView(nodes: nodes), policy: .spread).value)
        #expect(Set(plan.nodes) == ["n1", "n2", "n3"])
    }

    @Test("spread shares layers in proportion to throughput")
    func spreadBalancesStages() throws {
        let model = ModelDescription(id: "s", layerCount: 30, bytesPerLayer: 170 * 1_000_000)
        let view = ClusterView(nodes: [
            NodeView(id: "a", memoryBytes: 64 * GiB, throughputBytesPerSecond: 20 * GiB),
            NodeView(id: "b", memoryBytes: 64 * GiB, throughputBytesPerSecond: 10 * GiB),
        ])
        let plan = try #require(place(model: model, view: view, policy: .spread).value)
        let layers = Dictionary(uniqueKeysWithValues: plan.ranks.map { ($0.node, $0.layerCount) })
        #expect(layers == ["a": 20, "b": 10])
    }

    @Test("minNodes and maxNodes bound the ring")
    func nodeCountConstraints() throws {
        let nodes = (0..<5).map { NodeView(id: "n\($0)", memoryBytes: 64 * GiB, throughputBytesPerSecond: UInt64($0 + 1) * GiB) }
        let view = ClusterView(nodes: nodes)
        let three = try #require(place(model: model, view: view, policy: PlacementPolicy(minNodes: 3)).value)
        #expect(three.ranks.count == 3)
        #expect(Set(three.nodes) == ["n4", "n3", "n2"])
        let capped = try #require(place(model: model, view: view, policy: PlacementPolicy(strategy: .spread, minNodes: 1, maxNodes: 1)).value)
        #expect(capped.ranks.count == 1)

        #expect(place(model: model, view: view, policy: PlacementPolicy(minNodes: 6)).error == .notEnoughNodes(required: 6, available: 5))
        guard case .invalidPolicy = place(model: model, view: view, policy: PlacementPolicy(minNodes: 33)).error else {
            Issue.record("minNodes above the layer count must be refused")
            return
        }
        guard case .invalidPolicy = place(model: model, view: view, policy: PlacementPolicy(minNodes: 3, maxNodes: 2)).error else {
            Issue.record("maxNodes below minNodes must be refused")
            return
        }
    }

    @Test("a model too big for maxNodes fails, saying by how much")
    func doesNotFitSaysByHowMuch() throws {
        let tenGiB = ModelDescription(id: "ten", layerCount: 10, bytesPerLayer: GiB)
        let view = ClusterView(nodes: [NodeView(id: "a", memoryBytes: 4 * GiB), NodeView(id: "b", memoryBytes: 4 * GiB)])
        let error = place(model: tenGiB, view: view, policy: PlacementPolicy(headroom: 0)).error
        #expect(error == .doesNotFit(model: "ten", neededBytes: 10 * GiB, usableBytes: 8 * GiB, nodes: 2, shortByBytes: 2 * GiB))
        #expect(error?.description.contains("short by 2048 MiB") == true)

        let capped = place(model: tenGiB, view: ClusterView(nodes: [NodeView(id: "a", memoryBytes: 6 * GiB), NodeView(id: "b", memoryBytes: 6 * GiB)]),
                           policy: PlacementPolicy(maxNodes: 1, headroom: 0)).error
        #expect(capped == .doesNotFit(model: "ten", neededBytes: 10 * GiB, usableBytes: 6 * GiB, nodes: 1, shortByBytes: 4 * GiB))
    }

    @Test("memory enough in total but not in whole layers still fails with a positive shortfall")
    func layerGranularity() throws {
        let model = ModelDescription(id: "g", layerCount: 3, bytesPerLayer: 4 * GiB)
        let view = ClusterView(nodes: [NodeView(id: "a", memoryBytes: 6 * GiB), NodeView(id: "b", memoryBytes: 6 * GiB)])
        guard case .doesNotFit(_, let needed, let usable, _, let short) = place(model: model, view: view, policy: PlacementPolicy(headroom: 0)).error else {
            Issue.record("three 4 GiB layers cannot fit in two 6 GiB nodes")
            return
        }
        #expect(needed <= usable)
        #expect(short > 0)
    }

    @Test("errors: no alive node, invalid model, duplicate ids, model on no node")
    func errors() {
        let dead = ClusterView(nodes: [NodeView(id: "a", memoryBytes: 64 * GiB, alive: false)])
        #expect(place(model: model, view: dead).error == .noAliveNodes)
        #expect(place(model: model, view: ClusterView(nodes: [])).error == .noAliveNodes)

        let view = ClusterView(nodes: [NodeView(id: "a", memoryBytes: 64 * GiB)])
        for bad in [
            ModelDescription(id: "", layerCount: 1, bytesPerLayer: 1),
            ModelDescription(id: "x", layerCount: 0, bytesPerLayer: 1),
            ModelDescription(id: "x", layerCount: 4, bytesPerLayer: 0),
            ModelDescription(id: "x", layerCount: 4, bytesPerLayer: .max / 2),
            ModelDescription(id: "x", layerCount: 4, bytesPerLayer: 1, kvBytesPerLayerPerPosition: .max, contextLength: 2),
        ] {
            guard case .invalidModel = place(model: bad, view: view).error else {
                Issue.record("\(bad) should be an invalid model")
                continue
            }
        }
        guard case .invalidPolicy = place(model: model, view: view, policy: PlacementPolicy(headroom: .nan)).error else {
            Issue.record("a NaN headroom must be refused")
            return
        }
        let twice = ClusterView(nodes: [NodeView(id: "a", memoryBytes: GiB), NodeView(id: "a", memoryBytes: 64 * GiB)])
        guard case .invalidView = place(model: model, view: twice).error else {
            Issue.record("a view naming a node twice must be refused")
            return
        }
        let elsewhere = ClusterView(nodes: [NodeView(id: "a", memoryBytes: 64 * GiB, models: ["other"])])
        #expect(place(model: model, view: elsewhere).error == .modelNotOnAnyNode("m"))
    }

    @Test("with a throughput unknown, layers are shared by memory and no speed is predicted")
    func unknownThroughputFallsBackToMemory() throws {
        let view = ClusterView(nodes: [
            NodeView(id: "a", memoryBytes: 24 * GiB, throughputBytesPerSecond: 0),
            NodeView(id: "b", memoryBytes: 8 * GiB, throughputBytesPerSecond: 10 * GiB),
        ])
        let plan = try #require(place(model: model, view: view, policy: PlacementPolicy(minNodes: 2)).value)
        #expect(plan.ranks.map(\.layerCount) == [24, 8])
        #expect(predictedTokensPerSecond(plan: plan, model: model, view: view) == nil)
    }

    @Test("rings whose throughput is measured rank before unmeasured ones, even larger")
    func measuredBeforeUnmeasured() throws {
        let view = ClusterView(nodes: [
            NodeView(id: "a", memoryBytes: 64 * GiB, throughputBytesPerSecond: 0),
            NodeView(id: "b", memoryBytes: 8 * GiB, throughputBytesPerSecond: GiB),
        ])
        #expect(try #require(place(model: model, view: view).value).nodes == ["b"])
    }

    @Test("a tied embedding is held once by a single node")
    func tiedEmbeddingsCountOnce() {
        func model(tied: Bool) -> ModelDescription {
            ModelDescription(id: "t", layerCount: 4, bytesPerLayer: GiB, embeddingBytes: 2 * GiB, outputBytes: 2 * GiB, tiedEmbeddings: tied)
        }
        let view = ClusterView(nodes: [NodeView(id: "a", memoryBytes: 7 * GiB)])
        let policy = PlacementPolicy(headroom: 0)
        #expect(place(model: model(tied: true), view: view, policy: policy).value?.nodes == ["a"])
        guard case .doesNotFit = place(model: model(tied: false), view: view, policy: policy).error else {
            Issue.record("untied, the model needs 8 GiB")
            return
        }
    }

    @Test("a node too small for the embedding or the head can only be a middle rank")
    func smallNodeInTheMiddle() throws {
        let model = ModelDescription(id: "r", layerCount: 10, bytesPerLayer: GiB, embeddingBytes: 3 * GiB, outputBytes: 3 * GiB)
        let view = ClusterView(nodes: [
            NodeView(id: "a", memoryBytes: 7 * GiB / 2, throughputBytesPerSecond: 90 * GiB),
            NodeView(id: "b", memoryBytes: 7 * GiB, throughputBytesPerSecond: GiB),
            NodeView(id: "c", memoryBytes: 7 * GiB, throughputBytesPerSecond: 2 * GiB),
        ])
        let plan = try #require(place(model: model, view: view, policy: PlacementPolicy(headroom: 0)).value)
        #expect(plan.ranks.count == 3)
        #expect(plan.ranks[1].node == "a")
        #expect(plan.ranks[1].layerCount == 3)
        #expect(plan.ranks.last?.node == "c")
    }

    @Test("a thousand-node view is placed quickly")
    func largeView() throws {
        var rng = SplitMix64(seed: 1000)
        let nodes = (0..<1000).map { i in
            NodeView(id: "node-\(i)", memoryBytes: UInt64.random(in: 8...64, using: &rng) * GiB,
                     throughputBytesPerSecond: UInt64.random(in: 1...100, using: &rng) * GiB)
        }
        let huge = ModelDescription(id: "huge", layerCount: 120, bytesPerLayer: 3 * GiB, embeddingBytes: 2 * GiB, outputBytes: 2 * GiB)
        let clock = ContinuousClock()
        var plan: Plan?
        let elapsed = clock.measure { plan = place(model: huge, view: ClusterView(nodes: nodes)).value }
        let placed = try #require(plan)
        #expect(placed.isWellFormed(layerCount: 120))
        #expect(placed.ranks.count >= 6)
        #expect(elapsed < .seconds(20))
    }

    /// A mixture-of-experts layer is placed by all its experts: a rank runs whichever experts each
    /// token's router picks, so it holds every one (ModelShape counts the layer's 3-D expert tensors
    /// whole). Qwen 3 30B-A3B at Q4_K, as ModelShape reports it: 48 layers, each 128 experts × 3
    /// matrices of 2048 × 768 at 144 bytes per 256 values (340 MiB), plus about 8 MiB of attention and
    /// router. Counted whole, 16.3 GiB do not fit one 12 GiB node; counted by the 8 experts a token
    /// uses (about 29 MiB a layer) they would.
    @Test("an MoE model is placed by the bytes of all its experts, not the few a token uses")
    func mixtureOfExpertsIsPlacedByAllItsExperts() throws {
        let experts: UInt64 = 128 * 3 * 2048 * 768 / 256 * 144
        let perLayer = experts + 8 * MiB
        let moe = ModelDescription(id: "qwen3moe", layerCount: 48, bytesPerLayer: perLayer, embeddingBytes: 170 * MiB, outputBytes: 170 * MiB)
        let view = ClusterView(nodes: [
            NodeView(id: "n1", memoryBytes: 12 * GiB, throughputBytesPerSecond: 20 * GiB),
            NodeView(id: "n2", memoryBytes: 12 * GiB, throughputBytesPerSecond: 20 * GiB),
        ])
        let plan = try #require(place(model: moe, view: view).value)
        #expect(plan.ranks.count == 2 && plan.isWellFormed(layerCount: 48))
        let needs = try #require(plan.memoryBytes(model: moe))
        for (rank, need) in zip(plan.ranks, needs) {
            #expect(need >= UInt64(rank.layerCount) * perLayer && need <= 12 * GiB)
        }
        // Counted by the experts used, the same model would have gone to one node.
        let active = ModelDescription(id: "qwen3moe", layerCount: 48, bytesPerLayer: experts / 16 + 8 * MiB, embeddingBytes: 170 * MiB, outputBytes: 170 * MiB)
        #expect(try #require(place(model: active, view: view).value).ranks.count == 1)
    }
}
