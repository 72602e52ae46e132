import Hummingbird

/// `GET /peers`: every node this node knows of, itself included.
struct PeersController {
    let node: Node

    func addRoutes(to router: Router<some RequestContext>) {
        router.get("peers") { _, _ -> Response in
            let body = PeersResponse(node: node.identity.id.hex, peers: await node.peerSummaries())
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: try JSON.encode(body))))
        }
    }
}
