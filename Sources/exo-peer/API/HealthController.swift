import Foundation
import Hummingbird
import Placement

/// `GET /health`: is this node up, and who is it.
struct HealthController {
    let node: Node

    struct Health: ResponseEncodable {
        var status: String
        var node: String
        var epoch: UInt64
        var uptimeSeconds: Double
        var version: String
        /// This node's runners and the supervisor's report (score, resources, recent errors).
        var runners: [Runner]
        var report: HealthReport
    }

    struct Runner: Codable, Sendable {
        var instance: String
        var rank: Int
        var plan: String
        var state: String
        var pid: Int32?
    }

    func addRoutes(to router: Router<some RequestContext>) {
        router.get("health") { _, _ -> Health in
            let pids = await node.supervisor.processes
            let runners = await node.gossip.ownRecord.runners.map {
                Runner(instance: $0.instance, rank: $0.rank, plan: $0.planHash, state: $0.state, pid: pids[$0.planHash])
            }
            return Health(
                status: "ok",
                node: node.identity.id.hex,
                epoch: node.identity.epoch,
                uptimeSeconds: Date().timeIntervalSince(node.startedAt),
                version: ExoPeerVersion.string,
                runners: runners,
                report: await node.supervisor.health
            )
        }
    }
}
