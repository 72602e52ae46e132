import Gossip
import Hummingbird
import Mesh

/// `GET /state`: the gossiped view as this node holds it, each member's liveness, and convergence
/// (a record is known by all when every live node's `seen` vector covers it).
struct StateController {
    let node: Node

    struct MemberState: Encodable {
        var id: String
        var liveness: String
        var lastHeardSeconds: Double?
        var record: NodeRecord
    }

    struct State: Encodable {
        var node: String
        var epoch: UInt64
        var converged: Bool
        var members: [MemberState]
        var convergence: [Convergence]
        var droppedRecords: [String: Int]
        var mesh: [String: Int]
    }

    func addRoutes(to router: Router<some RequestContext>) {
        router.get("state") { _, _ -> Response in
            let state = await node.stateSnapshot()
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: try JSON.encode(state))))
        }
    }
}

extension Node {
    func stateSnapshot() async -> StateController.State {
        let members = await gossip.members
        let own = await gossip.ownRecord
        var list = [StateController.MemberState(id: own.node.hex, liveness: "alive", lastHeardSeconds: nil, record: own)]
        for (id, member) in members.sorted(by: { $0.key < $1.key }) where id != identity.id {
            list.append(.init(id: id.hex, liveness: member.liveness.rawValue, lastHeardSeconds: await gossip.lastHeard(id), record: member.record))
        }
        let convergence = await gossip.convergence()
        let rejected = await gossip.rejected
        let counters = await mesh.counters
        return StateController.State(
            node: identity.id.hex, epoch: identity.epoch,
            converged: convergence.allSatisfy(\.isComplete),
            members: list, convergence: convergence,
            droppedRecords: Dictionary(uniqueKeysWithValues: rejected.map { ("\($0.key)", $0.value) }),
            mesh: [
                "connectionsEstablished": counters.connectionsEstablished, "failedHandshakes": counters.failedHandshakes,
                "timedOutHandshakes": counters.timedOutHandshakes, "droppedFrames": counters.droppedFrames,
                "refusedConnections": counters.refusedConnections, "duplicateConnections": counters.duplicateConnections,
            ]
        )
    }
}
