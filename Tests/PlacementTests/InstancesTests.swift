import Testing
@testable import Placement

@Suite("instances derived without a master")
struct InstancesTests {
    let small = ModelDescription(id: "small", layerCount: 8, bytesPerLayer: 256 * MiB)
    let large = ModelDescription(id: "large", layerCount: 32, bytesPerLayer: 600 * MiB)
    var models: [ModelDescription] { [small, large] }

    func view(alive: Set<String> = ["n1", "n2", "n3"]) -> ClusterView {
        ClusterView(nodes: [
            NodeView(id: "n1", memoryBytes: 12 * GiB, throughputBytesPerSecond: 30 * GiB, alive: alive.contains("n1")),
            NodeView(id: "n2", memoryBytes: 12 * GiB, throughputBytesPerSecond: 20 * GiB, alive: alive.contains("n2")),
            NodeView(id: "n3", memoryBytes: 12 * GiB, throughputBytesPerSecond: 10 * GiB, alive: alive.contains("n3")),
        ])
    }

    @Test("concurrent proposals for one model settle on the earliest (timestamp, proposer)")
    func earliestWins() throws {
        let intents = [
            InstanceIntent(id: "late", model: "small", proposer: "n1", timestamp: 9),
            InstanceIntent(id: "tie-b", model: "small", policy: .spread, proposer: "n2", timestamp: 5),
            InstanceIntent(id: "tie-a", model: "small", policy: PlacementPolicy(minNodes: 2), proposer: "n1", timestamp: 5),
        ]
        let derived = deriveActiveInstances(intents: intents, view: view(), models: models)
        #expect(derived.active.map(\.id) == ["tie-a"])
        #expect(derived.active.first?.plan.ranks.count == 2)
        #expect(derived.superseded == ["late", "tie-b"])
        #expect(derived.unplaced.isEmpty)
    }

    @Test("a tombstone withdraws an intent, and the next one takes over")
    func tombstones() {
        let intents = [
            InstanceIntent(id: "first", model: "small", proposer: "n1", timestamp: 1),
            InstanceIntent(id: "second", model: "small", proposer: "n2", timestamp: 2),
        ]
        #expect(deriveActiveInstances(intents: intents, tombstones: ["first"], view: view(), models: models).active.map(\.id) == ["second"])
        #expect(deriveActiveInstances(intents: intents, tombstones: ["first", "second"], view: view(), models: models).active.isEmpty)
    }

    @Test("when a rank's node dies, the instance is placed again on the survivors")
    func replacementPlan() throws {
        let intents = [InstanceIntent(id: "big", model: "large", proposer: "n3", timestamp: 1)]
        let before = try #require(deriveActiveInstances(intents: intents, view: view(), models: models).active.first)
        #expect(Set(before.plan.nodes) == ["n1", "n2"])

        let after = try #require(deriveActiveInstances(intents: intents, view: view(alive: ["n1", "n3"]), models: models).active.first)
        #expect(after.id == "big")
        #expect(Set(after.plan.nodes) == ["n1", "n3"])
        #expect(after.plan.hash != before.plan.hash)

        let stranded = deriveActiveInstances(intents: intents, view: view(alive: ["n3"]), models: models)
        #expect(stranded.active.isEmpty)
        guard case .doesNotFit = stranded.unplaced.first?.error else {
            Issue.record("one 12 GiB node cannot hold 18.75 GiB")
            return
        }
    }

    @Test("an intent that cannot be placed yields to a later one that can")
    func unplaceableEarliest() {
        let intents = [
            InstanceIntent(id: "greedy", model: "small", policy: PlacementPolicy(minNodes: 4), proposer: "n1", timestamp: 1),
            InstanceIntent(id: "modest", model: "small", proposer: "n2", timestamp: 2),
        ]
        let derived = deriveActiveInstances(intents: intents, view: view(), models: models)
        #expect(derived.active.map(\.id) == ["modest"])
        #expect(derived.superseded == ["greedy"])
    }

    @Test("two instances never count on the same memory")
    func memoryIsShared() throws {
        let intents = [
            InstanceIntent(id: "big", model: "large", proposer: "n1", timestamp: 1),
            InstanceIntent(id: "tiny", model: "small", proposer: "n1", timestamp: 2),
        ]
        let derived = deriveActiveInstances(intents: intents, view: view(), models: models)
        #expect(derived.active.count == 2)
        var used: [String: UInt64] = [:]
        for instance in derived.active {
            let model = try #require(models.first { $0.id == instance.model })
            for i in instance.plan.ranks.indices {
                used[instance.plan.ranks[i].node, default: 0] += expectedBytes(rank: i, of: instance.plan, model: model, headroom: 0.1)
            }
        }
        #expect(used.values.allSatisfy { $0 <= 12 * GiB })
        // Alone, the small model would take n1, the fastest; the large one filled n1 (18 layers) and left 3 GiB
        // on n2, enough for the small one's 2.2 GiB.
        #expect(place(model: small, view: view()).value?.nodes == ["n1"])
        #expect(derived.instance(forModel: "small")?.plan.nodes == ["n2"])
    }

    @Test("an intent for a model nobody describes stays unplaced")
    func unknownModel() {
        let derived = deriveActiveInstances(intents: [InstanceIntent(id: "x", model: "ghost", proposer: "n1", timestamp: 1)], view: view(), models: models)
        #expect(derived.active.isEmpty)
        #expect(derived.unplaced.map(\.error) == [.unknownModel("ghost")])
    }

    @Test("every node derives the same instances whatever the order of intents, nodes and models", arguments: Array(UInt64(0)..<150))
    func orderIndependent(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        let models = (0..<3).map { Generate.model(&rng, id: "m\($0)") }
        var view = Generate.view(&rng, maxNodes: 6, model: "m0")
        for i in view.nodes.indices where view.nodes[i].models != nil { view.nodes[i].models = ["m0", "m1", "m2"] }
        let proposers = view.nodes.map(\.id) + ["gone"]
        var intents = (0..<Int.random(in: 1...8, using: &rng)).map { i in
            InstanceIntent(id: "i\(i)", model: "m\(Int.random(in: 0...3, using: &rng))", policy: Generate.policy(&rng),
                           proposer: proposers.randomElement(using: &rng)!, timestamp: UInt64.random(in: 0...4, using: &rng))
        }
        if rng.chance(0.3), let reused = intents.first {
            intents.append(InstanceIntent(id: reused.id, model: "m1", proposer: "other", timestamp: 0))
        }
        let tombstones = Set(intents.map(\.id).filter { _ in rng.chance(0.2) })
        let derived = deriveActiveInstances(intents: intents, tombstones: tombstones, view: view, models: models)

        for _ in 0..<3 {
            let again = deriveActiveInstances(
                intents: intents.shuffled(using: &rng), tombstones: tombstones,
                view: ClusterView(nodes: view.nodes.shuffled(using: &rng)), models: models.shuffled(using: &rng))
            #expect(again == derived)
        }

        #expect(Set(derived.active.map(\.model)).count == derived.active.count)
        #expect(derived.active.allSatisfy { !tombstones.contains($0.id) })
        var used: [String: UInt64] = [:]
        for instance in derived.active {
            let model = try #require(models.first { $0.id == instance.model })
            #expect(instance.plan.isWellFormed(layerCount: model.layerCount))
            for i in instance.plan.ranks.indices {
                let node = try #require(view[instance.plan.ranks[i].node])
                #expect(node.alive)
                used[node.id, default: 0] += expectedBytes(rank: i, of: instance.plan, model: model, headroom: instance.intent.policy.headroom)
            }
        }
        for (id, bytes) in used { #expect(bytes <= view[id]!.memoryBytes) }
        // Every surviving intent is accounted for exactly once.
        let accounted = derived.active.map(\.id) + derived.unplaced.map(\.intent.id) + derived.superseded
        #expect(Set(accounted) == Set(intents.map(\.id)).subtracting(tombstones))
        #expect(accounted.count == Set(accounted).count)
    }

    @Test("a serving plan is kept when a node joins, unless the fresh plan is 5/4 as fast")
    func incumbentsStay() throws {
        let intents = [InstanceIntent(id: "s", model: "small", proposer: "n1", timestamp: 1)]
        // Serving on n2 (say n1 was busy or absent when it was placed).
        let serving = Plan(model: "small", ranks: [Plan.Rank(node: "n2", layerStart: 0, layerEnd: 8)])
        let fresh = try #require(deriveActiveInstances(intents: intents, view: view(), models: models).active.first)
        #expect(fresh.plan.nodes == ["n1"])  // from scratch: the fastest node

        // n1 is 1.5× as fast as n2: worth the move.
        let moved = try #require(deriveActiveInstances(intents: intents, view: view(), models: models, incumbents: ["s": serving]).active.first)
        #expect(moved.plan.nodes == ["n1"])

        // A joining node only 1.2× as fast does not move it.
        var close = view()
        close.nodes[0].throughputBytesPerSecond = 24 * GiB
        let kept = try #require(deriveActiveInstances(intents: intents, view: close, models: models, incumbents: ["s": serving]).active.first)
        #expect(kept.plan == serving)

        // The incumbent's node dies: placed afresh over the others.
        let replaced = try #require(deriveActiveInstances(intents: intents, view: view(alive: ["n1", "n3"]), models: models, incumbents: ["s": serving]).active.first)
        #expect(replaced.plan.nodes == ["n1"])
    }

    @Test("an incumbent that no longer fits its policy or the model is ignored")
    func invalidIncumbents() throws {
        let intents = [InstanceIntent(id: "s", model: "small", policy: PlacementPolicy(minNodes: 2), proposer: "n1", timestamp: 1)]
        var close = view()
        close.nodes[0].throughputBytesPerSecond = 20 * GiB
        let expected = try #require(deriveActiveInstances(intents: intents, view: close, models: models).active.first).plan
        let oneNode = Plan(model: "small", ranks: [Plan.Rank(node: "n2", layerStart: 0, layerEnd: 8)])
        let gap = Plan(model: "small", ranks: [Plan.Rank(node: "n2", layerStart: 0, layerEnd: 3), Plan.Rank(node: "n3", layerStart: 4, layerEnd: 8)])
        let otherModel = Plan(model: "large", ranks: [Plan.Rank(node: "n2", layerStart: 0, layerEnd: 4), Plan.Rank(node: "n3", layerStart: 4, layerEnd: 8)])
        for incumbent in [oneNode, gap, otherModel] {
            let derived = try #require(deriveActiveInstances(intents: intents, view: close, models: models, incumbents: ["s": incumbent]).active.first)
            #expect(derived.plan == expected, "kept \(incumbent)")
        }
        // A valid two-node incumbent on the slower pair is kept (the fresh plan is not 5/4 as fast).
        let slower = Plan(model: "small", ranks: [Plan.Rank(node: "n2", layerStart: 0, layerEnd: 4), Plan.Rank(node: "n3", layerStart: 4, layerEnd: 8)])
        var similar = close
        similar.nodes[2].throughputBytesPerSecond = 20 * GiB
        let derived = try #require(deriveActiveInstances(intents: intents, view: similar, models: models, incumbents: ["s": slower]).active.first)
        #expect(derived.plan == slower)
    }
}
