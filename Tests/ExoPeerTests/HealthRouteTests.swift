import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Testing
@testable import exo_peer

@Suite struct HealthRouteTests {
    @Test func healthReportsThisNodesIdentity() async throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("exo-health-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: home) }
        let configuration = NodeConfiguration(
            home: home, modelsDirectory: home.appendingPathComponent("models"),
            apiHost: "127.0.0.1", apiPort: 0, meshPort: 0, logLevel: .error, useMDNS: false
        )
        let node = try await Node.start(configuration: configuration, logger: Logger(label: "test"))
        let app = Application(router: buildRouter(node: node, backend: EchoBackend()))
        try await app.test(.router) { client in
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .ok)
                let body = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                #expect(body?["status"] as? String == "ok")
                #expect(body?["node"] as? String == node.identity.id.hex)
            }
        }
    }
}
