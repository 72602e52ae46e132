import Foundation
import Hummingbird
import Placement

/// `GET /instances`, `POST /instances` {model, policy, min_nodes, max_nodes}, `DELETE /instances/{id}`.
/// Changing endpoints are limited to loopback clients or API-key holders by `AccessMiddleware`.
struct InstancesController {
    let node: Node

    struct Proposal: Decodable {
        var model: String
        var policy: String?
        var minNodes: Int?
        var maxNodes: Int?
        enum CodingKeys: String, CodingKey { case model, policy, minNodes = "min_nodes", maxNodes = "max_nodes" }
    }

    struct Proposed: Encodable {
        var id: String
        /// The instance as this node derives it right after proposing (nil if it could not be placed).
        var instance: InstanceView.Row?
        var unplacedReason: String?
    }

    func addRoutes(to router: Router<some RequestContext>) {
        router.get("instances") { _, _ -> Response in
            try Self.json(await node.instanceView())
        }
        router.post("instances") { request, _ -> Response in
            let proposal = try await Self.decode(request)
            guard let strategy = PlacementPolicy.Strategy(rawValue: proposal.policy ?? "fit") else {
                throw APIError.badRequest("'policy' must be one of \(PlacementPolicy.Strategy.allCases.map(\.rawValue).joined(separator: ", ")).", code: "invalid_policy")
            }
            for (name, value) in [("min_nodes", proposal.minNodes), ("max_nodes", proposal.maxNodes)] {
                if let value, !(1...1024).contains(value) { throw APIError.badRequest("'\(name)' must be 1…1024.", code: "invalid_value") }
            }
            if let lo = proposal.minNodes, let hi = proposal.maxNodes, lo > hi {
                throw APIError.badRequest("'min_nodes' is larger than 'max_nodes'.", code: "invalid_value")
            }
            let id: String
            do {
                id = try await node.proposeInstance(model: proposal.model, policy: strategy, minNodes: proposal.minNodes, maxNodes: proposal.maxNodes)
            } catch Node.InstanceRequestError.unknownModel(let model, let available) {
                throw APIError.modelNotFound(model, available: available)
            }
            let view = await node.instanceView()
            let body = Proposed(id: id, instance: view.instances.first { $0.id == id },
                                unplacedReason: view.unplaced.first { $0.id == id }?.reason)
            var response = try Self.json(body)
            response.status = .created
            return response
        }
        router.delete("instances/:id") { _, context -> Response in
            let id = try context.parameters.require("id")
            do {
                try await node.removeInstance(id)
            } catch Node.InstanceRequestError.unknownInstance {
                throw APIError(status: .notFound, message: "No instance '\(id)'.", type: "invalid_request_error", code: "instance_not_found")
            }
            return try Self.json(["deleted": id])
        }
    }

    private static func decode(_ request: Request) async throws -> Proposal {
        let buffer: ByteBuffer
        do { buffer = try await request.body.collect(upTo: 64 << 10) } catch { throw APIError.tooLarge(limit: 64 << 10) }
        do {
            return try JSONDecoder().decode(Proposal.self, from: Data(buffer: buffer))
        } catch let error as DecodingError {
            throw APIError.badRequest("Invalid request body: \(JSON.describe(error))", code: "invalid_json")
        }
    }

    private static func json(_ value: some Encodable) throws -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: try JSON.encode(value))))
    }
}
