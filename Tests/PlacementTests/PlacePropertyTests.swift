import Testing
@testable import Placement

@Suite("place: properties over generated views")
struct PlacePropertyTests {
    static let seeds = Array(UInt64(0)..<300)

    @Test("every layer once, contiguous, on distinct alive holders within memory, whatever the input order", arguments: seeds)
    func planInvariants(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        let model = Generate.model(&rng)
        let view = Generate.view(&rng)
        let policy = Generate.policy(&rng)
        let result = place(model: model, view: view, policy: policy)

        for _ in 0..<3 {
            let shuffled = ClusterView(nodes: view.nodes.shuffled(using: &rng))
            let again = place(model: model, view: shuffled, policy: policy)
            #expect(again == result)
            #expect(again.value?.hash == result.value?.hash)
        }

        let eligible = view.nodes.filter { $0.alive && ($0.models?.contains(model.id) ?? true) }
        guard let plan = result.value else {
            switch result.error {
            case .noAliveNodes: #expect(!view.nodes.contains { $0.alive })
            case .modelNotOnAnyNode: #expect(eligible.isEmpty)
            case .notEnoughNodes(let required, let available):
                #expect(required == (policy.minNodes ?? 1) && available == eligible.count && required > available)
            case .doesNotFit(_, _, _, _, let short): #expect(short > 0)
            case .invalidPolicy: #expect((policy.minNodes ?? 1) > model.layerCount)
            case let other: Issue.record("unexpected \(String(describing: other))")
            }
            return
        }
        var owners = [Int](repeating: 0, count: model.layerCount)
        for rank in plan.ranks {
            #expect(rank.layerCount >= 1)
            for layer in rank.layers { owners[layer] += 1 }
        }
        #expect(owners.allSatisfy { $0 == 1 })
        #expect(zip(plan.ranks, plan.ranks.dropFirst()).allSatisfy { $0.layerEnd == $1.layerStart })
        #expect(plan.ranks.first?.layerStart == 0)
        #expect(Set(plan.nodes).count == plan.ranks.count)
        #expect(plan.isWellFormed(layerCount: model.layerCount))
        for (i, rank) in plan.ranks.enumerated() {
            let node = try #require(eligible.first { $0.id == rank.node })
            #expect(expectedBytes(rank: i, of: plan, model: model, headroom: policy.headroom) <= node.memoryBytes)
        }
        #expect(plan.ranks.count >= (policy.minNodes ?? 1))
        #expect(plan.ranks.count <= (policy.maxNodes ?? .max))
    }

    @Test("fit uses the fewest nodes, and fails only when no ring within maxNodes exists", arguments: seeds)
    func fitUsesFewestNodes(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        let model = Generate.model(&rng)
        let view = Generate.view(&rng)
        var policy = Generate.policy(&rng)
        policy.strategy = .fit
        let eligible = view.nodes.filter { $0.alive && ($0.models?.contains(model.id) ?? true) }
        let minNodes = policy.minNodes ?? 1
        guard minNodes <= eligible.count, minNodes <= model.layerCount else { return }
        let maxNodes = min(policy.maxNodes ?? .max, eligible.count)

        switch place(model: model, view: view, policy: policy) {
        case .success(let plan):
            for size in minNodes..<plan.ranks.count {
                for subset in subsets(of: eligible, size: size) {
                    #expect(!ringExists(over: subset, model: model, headroom: policy.headroom),
                            "\(subset.map(\.id)) could hold the model with fewer nodes than \(plan.nodes)")
                }
            }
        case .failure(.doesNotFit):
            for size in minNodes...max(minNodes, maxNodes) {
                for subset in subsets(of: eligible, size: size) {
                    #expect(!ringExists(over: subset, model: model, headroom: policy.headroom), "\(subset.map(\.id)) could hold the model")
                }
            }
        case .failure(let error):
            Issue.record("unexpected \(error)")
        }
    }

    @Test("no ring of the same size predicts a faster token than fit's", arguments: seeds)
    func fitIsFastestForItsSize(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        let model = Generate.model(&rng)
        let view = Generate.view(&rng, maxGiB: 8, measuredOnly: true)
        let policy = PlacementPolicy(headroom: 0.1)
        guard let plan = place(model: model, view: view, policy: policy).value else { return }
        let eligible = view.nodes.filter { $0.alive && ($0.models?.contains(model.id) ?? true) }
        let throughput = Dictionary(uniqueKeysWithValues: view.nodes.map { ($0.id, $0.throughputBytesPerSecond) })
        let chosen = secondsPerToken(layers: plan.ranks.map(\.layerCount), throughputs: plan.nodes.map { throughput[$0]! }, model: model)
        #expect(abs(1 / chosen - (predictedTokensPerSecond(plan: plan, model: model, view: view) ?? 0)) <= 1e-6 / chosen)

        let k = plan.ranks.count
        for _ in 0..<200 {
            let ring = Array(eligible.shuffled(using: &rng).prefix(k))
            let capacities = ring.indices.map { i in
                expectedCapacity(memory: ring[i].memoryBytes, first: i == 0, last: i == k - 1, model: model, headroom: policy.headroom)
            }
            guard capacities.allSatisfy({ $0 >= 1 }), capacities.reduce(0, +) >= model.layerCount else { continue }
            var layers = [Int](repeating: 1, count: k)
            var remaining = model.layerCount - k
            while remaining > 0 {
                let i = Int.random(in: 0..<k, using: &rng)
                let add = min(remaining, capacities[i] - layers[i], Int.random(in: 1...remaining, using: &rng))
                layers[i] += add
                remaining -= add
            }
            let alternative = secondsPerToken(layers: layers, throughputs: ring.map(\.throughputBytesPerSecond), model: model)
            #expect(alternative >= chosen * (1 - 1e-9), "\(ring.map(\.id)) with \(layers) beats \(plan)")
        }
    }

    @Test("layer splits stay within capacities and sum to the layer count", arguments: Array(UInt64(0)..<200))
    func splitRules(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        let count = Int.random(in: 1...8, using: &rng)
        let total = Int.random(in: 1...60, using: &rng)
        let capacities = (0..<count).map { _ in Int.random(in: 0...20, using: &rng) }
        let throughputs = (0..<count).map { _ in rng.chance(0.1) ? UInt64.max - UInt64.random(in: 0...9, using: &rng) : UInt64.random(in: 0...1_000, using: &rng) }
        let memories = (0..<count).map { _ in UInt64.random(in: 0...(1 << 40), using: &rng) }
        let possible = capacities.allSatisfy { $0 >= 1 } && count <= total && capacities.reduce(0, +) >= total
        for rule in SplitRule.allCases {
            let split = LayerSplit.split(rule, total: total, capacities: capacities, throughputs: throughputs, memories: memories)
            #expect((split != nil) == possible, "\(rule)")
            guard let split else { continue }
            #expect(split.reduce(0, +) == total)
            #expect(zip(split, capacities).allSatisfy { $0 >= 1 && $0 <= $1 }, "\(rule): \(split) within \(capacities)")
        }
    }
}
