import Hummingbird

/// `GET /`: the dashboard page.
struct DashboardController {
    func addRoutes(to router: Router<some RequestContext>) {
        router.get("/") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: DashboardPage.html)))
        }
    }
}
