import Foundation
import Gossip
import Inference
import Mesh
import Placement

/// Where a chat job is served: by a ready instance (driven here when this node holds rank 0, else
/// forwarded to the node that does), else from this node's disk, else forwarded to a peer that holds
/// the model. A forwarded job is never forwarded again, so a request cannot loop between nodes.
extension Node {
    func generate(_ job: ChatJob, forwarded: Bool) async throws -> AsyncThrowingStream<GenerationEvent, any Error> {
        // One derivation of the instances serves every decision below.
        let view = await instanceView()
        if let plan = await readyPlan(for: job.model, in: view) {
            return try await serve(job, through: plan, forwarded: forwarded)
        }
        // An instance on its way up (loading, or re-placed after a failure) is waited for, bounded.
        if view.instances.contains(where: { $0.model == job.model }) {
            return try await serve(job, through: try await awaitReady(job.model), forwarded: forwarded)
        }
        // No instance: a model that fits this node is served from its disk at once...
        if catalog.scan().contains(where: { $0.id == job.model }), await fitsHere(job.model) {
            return try await local.generate(job)
        }
        guard !forwarded else { throw APIError.unavailable("Model '\(job.model)' has no ready instance on this node; retry shortly.") }
        // ...one that does not is placed over the mesh (fewest nodes that hold it), and the request waits for it.
        if let waiting = view.unplaced.first(where: { $0.model == job.model }) {
            throw APIError.unavailable("Model '\(job.model)' cannot be placed yet: \(waiting.reason)")
        }
        if await placeableModels().contains(job.model) {
            let id = try await proposeInstance(model: job.model, policy: .fit, minNodes: nil, maxNodes: nil)
            logger.info("proposed an instance for a chat request", metadata: ["instance": "\(id)", "model": "\(job.model)"])
            return try await serve(job, through: try await awaitReady(job.model), forwarded: forwarded)
        }
        if let peer = await peerHolding(job.model) {
            return try await relay.forward(job, to: peer)
        }
        throw APIError.modelNotFound(job.model, available: await availableModels())
    }

    /// Drives the generation when this node holds rank 0, else forwards it to the node that does.
    private func serve(_ job: ChatJob, through plan: (instance: String, plan: Plan), forwarded: Bool) async throws -> AsyncThrowingStream<GenerationEvent, any Error> {
        let driverNode = plan.plan.ranks[0].node
        if driverNode == identity.id.hex {
            let codec = try codec(forModel: plan.plan.model)
            return try await driver.generate(job, on: .init(id: plan.instance, plan: plan.plan, codec: codec))
        }
        guard !forwarded, let peer = NodeID(hex: driverNode) else {
            throw APIError.unavailable("The instance of '\(job.model)' moved; retry.")
        }
        return try await relay.forward(job, to: peer)
    }

    /// How long a request waits for an instance to become ready before it is told to retry.
    static let instanceWait: Duration = .seconds(30)

    private func awaitReady(_ model: String) async throws -> (instance: String, plan: Plan) {
        let deadline = ContinuousClock.now + Self.instanceWait
        while ContinuousClock.now < deadline {
            let view = await instanceView()
            if let plan = await readyPlan(for: model, in: view) { return plan }
            if let unplaced = view.unplaced.first(where: { $0.model == model }), !view.instances.contains(where: { $0.model == model }) {
                throw APIError.unavailable("Model '\(model)' cannot be placed: \(unplaced.reason)")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw APIError.unavailable("The instance of '\(model)' is not ready after \(Self.instanceWait); retry shortly.")
    }

    /// True when this node alone can hold `model` (weights, KV cache and headroom, as placement counts).
    private func fitsHere(_ model: String) async -> Bool {
        let own = await gossip.ownRecord
        guard let description = own.models.first(where: { $0.id == model }).flatMap(InstanceView.description(of:)) else { return true }
        let view = ClusterView(nodes: [InstanceView.nodeView(of: own, alive: true)])
        if case .success = place(model: description, view: view, policy: .fit) { return true }
        return false
    }

    /// Models on this node's disk or on any live peer's.
    func availableModels() async -> [String] {
        var ids = Set(catalog.scan().map(\.id))
        for member in (await gossip.members).values where member.liveness == .alive {
            ids.formUnion(member.record.models.map(\.id))
        }
        return ids.sorted()
    }

    /// An active instance of `model` whose every rank reports ready (or running), if any; the oldest
    /// first, so every node sends the model's requests to the same instance.
    func readyPlan(for model: String, in view: InstanceView) async -> (instance: String, plan: Plan)? {
        let candidates = view.instances.filter { $0.model == model }
        guard !candidates.isEmpty else { return nil }
        let states = await gossipedRunnerStates()
        for row in candidates.sorted(by: { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }) {
            guard let plan = view.plans[row.id] else { continue }
            let ready = plan.ranks.allSatisfy { rank in
                states[RunnerKey(node: rank.node, plan: plan.hash)]?.hasReached(.ready) ?? false
            }
            if ready { return (row.id, plan) }
        }
        return nil
    }

    private func peerHolding(_ model: String) async -> NodeID? {
        let holders = (await gossip.members).values.filter { member in
            member.liveness == .alive && !member.record.leaving && member.record.models.contains { $0.id == model }
        }
        return holders.randomElement()?.record.node
    }

    private func codec(forModel model: String) throws -> TextCodec {
        // The rank's file: the one on disk, or the one being fetched (its header is verified before the rank starts).
        guard let path = catalog.scan().first(where: { $0.id == model })?.path ?? rankModelPaths[model] else {
            throw APIError.unavailable("This node drives an instance of '\(model)' but its file is gone.")
        }
        if let cached = codecs[path] { return cached }
        do {
            let codec = try TextCodec(path: path)
            codecs[path] = codec
            return codec
        } catch {
            throw APIError.unavailable("Model '\(model)' could not be read: \(error)")
        }
    }
}

/// The node's chat backend: every request goes through `Node.generate`.
struct MeshChatBackend: ChatBackend {
    let node: Node

    func availableModels() async -> [String] { await node.availableModels() }

    func generate(_ job: ChatJob) async throws -> AsyncThrowingStream<GenerationEvent, any Error> {
        try await node.generate(job, forwarded: false)
    }
}
