import Foundation
import Hummingbird

/// `GET /health`: is this node up, and who is it.
struct HealthController {
    let node: Node

    struct Health: ResponseEncodable {
        var status: String
        var node: String
        var epoch: UInt64
        var uptimeSeconds: Double
        var version: String
    }

    func addRoutes(to router: Router<some RequestContext>) {
        router.get("health") { _, _ -> Health in
            Health(
                status: "ok",
                node: node.identity.id.hex,
                epoch: node.identity.epoch,
                uptimeSeconds: Date().timeIntervalSince(node.startedAt),
                version: ExoPeerVersion.string
            )
        }
    }
}
