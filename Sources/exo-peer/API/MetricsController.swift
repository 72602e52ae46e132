import Hummingbird

/// `GET /metrics` in the Prometheus text format.
struct MetricsController {
    let metrics: NodeMetrics

    func addRoutes(to router: Router<some RequestContext>) {
        router.get("metrics") { _, _ -> Response in
            Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(bytes: metrics.render()))
            )
        }
    }
}
