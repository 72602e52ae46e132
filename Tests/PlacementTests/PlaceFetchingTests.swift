import Testing
@testable import Placement

/// Nodes without a model's file may take ranks (they fetch it from the holders), but only when the
/// holders alone cannot run it.
@Suite("placement over nodes that fetch the model")
struct PlaceFetchingTests {
    let model = ModelDescription(id: "m", layerCount: 12, bytesPerLayer: GiB)

    func node(_ id: String, memory: UInt64, holds: Bool, alive: Bool = true) -> NodeView {
        NodeView(id: id, memoryBytes: memory, throughputBytesPerSecond: 10 * GiB, alive: alive, models: holds ? ["m"] : ["other"])
    }

    @Test("a holder that can run the model alone keeps it; nobody fetches")
    func holdersFirst() throws {
        let view = ClusterView(nodes: [node("a", memory: 64 * GiB, holds: true), node("b", memory: 64 * GiB, holds: false)])
        let plan = try #require(placeFetching(model: model, view: view).value)
        #expect(plan.nodes == ["a"])
    }

    @Test("when the holders are too few or too small, nodes without the file take ranks")
    func widensWhenNeeded() throws {
        let small = ClusterView(nodes: [node("a", memory: 8 * GiB, holds: true), node("b", memory: 8 * GiB, holds: false)])
        #expect(place(model: model, view: small).error != nil)
        let plan = try #require(placeFetching(model: model, view: small).value)
        #expect(Set(plan.nodes) == ["a", "b"])

        let roomy = ClusterView(nodes: [node("a", memory: 64 * GiB, holds: true), node("b", memory: 64 * GiB, holds: false),
                                        node("c", memory: 64 * GiB, holds: false)])
        let three = try #require(placeFetching(model: model, view: roomy, policy: PlacementPolicy(minNodes: 3)).value)
        #expect(Set(three.nodes) == ["a", "b", "c"])
    }

    @Test("with no live holder there is nothing to fetch from: the holders' own error stands")
    func noSourceNoPlan() {
        let view = ClusterView(nodes: [node("a", memory: 64 * GiB, holds: true, alive: false), node("b", memory: 64 * GiB, holds: false)])
        #expect(placeFetching(model: model, view: view).error == .modelNotOnAnyNode("m"))
        let tooBig = ClusterView(nodes: [node("a", memory: 2 * GiB, holds: true), node("b", memory: 2 * GiB, holds: false)])
        guard case .doesNotFit = placeFetching(model: model, view: tooBig).error else {
            Issue.record("a model that fits nowhere, even with fetchers, must not place")
            return
        }
    }

    @Test("a plan with fetching ranks stays valid while a holder lives, and the derivation keeps it")
    func incumbentWithFetchers() throws {
        let view = ClusterView(nodes: [node("a", memory: 8 * GiB, holds: true), node("b", memory: 8 * GiB, holds: false)])
        let plan = try #require(placeFetching(model: model, view: view).value)
        #expect(isStillValid(plan, of: model, policy: .fit, in: view))
        var holderGone = view
        holderGone.nodes[0].alive = false
        #expect(!isStillValid(plan, of: model, policy: .fit, in: holderGone))
        // The fetch finished: b holds the model too, and the plan it is on stays.
        var fetched = view
        fetched.nodes[1].models = ["m"]
        let intents = [InstanceIntent(id: "i", model: "m", proposer: "a", timestamp: 1)]
        let derived = deriveActiveInstances(intents: intents, view: fetched, models: [model], incumbents: ["i": plan])
        #expect(derived.active.first?.plan == plan)
    }
}
