import Logging
import Mesh
import Synchronization

/// Moves pipeline messages between this node's runners, its driver and other nodes: a runner's output
/// goes to the next rank's node (or back to the driver), a message for this node to the local runner or
/// driver. Every message names its destination, so routing needs no view of the cluster.
final class PipelineRouter: Sendable {
    let me: NodeID
    private let mesh: MeshNode
    private let logger: Logger
    private let parts = Mutex<(supervisor: RunnerSupervisor?, driver: PipelineDriver?)>((nil, nil))

    init(me: NodeID, mesh: MeshNode, logger: Logger) {
        self.me = me
        self.mesh = mesh
        self.logger = logger
    }

    /// Set once at start: the router is built before the parts that send through it.
    func attach(supervisor: RunnerSupervisor, driver: PipelineDriver) {
        parts.withLock { $0 = (supervisor, driver) }
    }

    private var supervisor: RunnerSupervisor? { parts.withLock { $0.supervisor } }
    private var driver: PipelineDriver? { parts.withLock { $0.driver } }

    /// Output of a local runner.
    func route(_ reply: RunnerReply, floats: [Float]) async {
        switch reply {
        case .hidden(let step):
            guard step.route.indices.contains(step.rank) else { return }
            if !(await deliver(.step(step), floats: floats, to: step.route[step.rank])) {
                _ = await deliver(.failed(session: step.session, reason: "rank \(step.rank) cannot be reached"), to: step.driver)
            }
        case .sampled(let session, let driver, let token):
            _ = await deliver(.sampled(session: session, token: token), to: driver)
        case .stepFailed(let session, let driver, let reason):
            _ = await deliver(.failed(session: session, reason: reason), to: driver)
        case .event, .taskFailed:
            break
        }
    }

    /// Sends `message` to `node` (this one included); false when it cannot be delivered.
    func deliver(_ message: PipelineMessage, floats: [Float] = [], to node: String) async -> Bool {
        if node == me.hex { return await handle(message, floats: floats, remote: false) }
        guard let peer = NodeID(hex: node) else { return false }
        do {
            let bytes = try Envelope(message, floats: floats).encoded()
            try await mesh.send(Frame(kind: .tensor, bytes: bytes), to: peer)
            return true
        } catch {
            logger.debug("pipeline message not sent", metadata: ["peer": "\(peer.short)", "reason": "\(error)"])
            return false
        }
    }

    /// A `tensor` frame from a peer. Malformed ones are dropped and logged; they change nothing.
    func receive(_ bytes: [UInt8], from peer: NodeID) async {
        do {
            let envelope = try Envelope<PipelineMessage>.decode(bytes)
            _ = await handle(envelope.header, floats: envelope.floats, remote: true)
        } catch {
            logger.warning("dropped pipeline message", metadata: ["peer": "\(peer.short)", "reason": "\(error)"])
        }
    }

    private func handle(_ message: PipelineMessage, floats: [Float], remote: Bool) async -> Bool {
        switch message {
        case .step(let step):
            if await supervisor?.send(step, floats: floats) == true { return true }
            // The driver is told, unless it is this node and learns it from the return value.
            if remote {
                _ = await deliver(.failed(session: step.session, reason: "node \(me.short) has no ready runner for rank \(step.rank) of plan \(step.plan)"), to: step.driver)
            }
            return false
        case .close(let session, let plan):
            await supervisor?.close(session: session, plan: plan)
            return true
        case .sampled, .failed, .aborted:
            await driver?.receive(message)
            return true
        }
    }
}
